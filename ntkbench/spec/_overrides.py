"""Changing a spec from the command line before it is validated: `--set dotted.path=YAML` and
`--learners id,id`.

Overrides edit the spec's data, so the result is validated exactly like a file that said so, and
a problem in an overridden value names the override that put it there. A segment that follows
`learners` is a learner's id (its name when it has no id) or an index.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

import yaml

from ..api import SpecError, SpecProblem
from ._yaml import Path_, SpecLoader, display_key, suggest


@dataclasses.dataclass(frozen=True)
class Override:
    """One `--set` as given, and the path in the spec's data it resolved to."""

    text: str
    path: Path_
    keys: frozenset[Path_]
    """Every key path the override names: those on the way to `path`, and those inside its value."""


@dataclasses.dataclass(frozen=True)
class Overridden:
    """A spec's data after its overrides, with the file positions of what still comes from the file."""

    data: dict[str, Any]
    positions: dict[Path_, tuple[int, int]]
    overrides: list[Override]


def _problem(source: str, flag: str, reason: str) -> SpecError:
    return SpecError([SpecProblem(f"{source}, {flag}", "", reason)])


def _learner_ids(learners: list[Any]) -> list[str]:
    return [str(item.get("id") or item.get("name")) if isinstance(item, dict) else f"[{i}]" for i, item in enumerate(learners)]


def _select_learners(data: dict[str, Any], positions: dict[Path_, tuple[int, int]], chosen: list[str], source: str
                     ) -> dict[Path_, tuple[int, int]]:
    """Keep the learners `chosen` names, in the spec's order; return the positions re-indexed to match."""
    flag = f"--learners {','.join(chosen)}"
    learners = data.get("learners")
    if not isinstance(learners, list):
        raise _problem(source, flag, "the spec has no list of learners to choose from")
    ids = _learner_ids(learners)
    unknown = [name for name in chosen if name not in ids]
    if unknown:
        raise _problem(source, flag, f"no learner has the id {unknown[0]!r}{suggest(unknown[0], ids)}; the ids are {', '.join(ids)}")
    compare = data.get("compare")
    reference = compare.get("reference") if isinstance(compare, dict) else None
    if isinstance(reference, str) and reference in ids and reference not in chosen:
        raise _problem(source, flag, f"it leaves out the reference learner {reference!r} (compare.reference); keep it, "
                                     "or name another with --set compare.reference=ID")
    kept = [index for index, learner_id in enumerate(ids) if learner_id in chosen]
    data["learners"] = [learners[index] for index in kept]
    moved = {old: new for new, old in enumerate(kept)}
    repositioned = {}
    for path, position in positions.items():
        if len(path) >= 2 and path[0] == "learners":
            if path[1] in moved:
                repositioned[("learners", moved[path[1]], *path[2:])] = position
        else:
            repositioned[path] = position
    return repositioned


def _resolve(data: dict[str, Any], dotted: str, flag: str, source: str) -> tuple[Any, str | int, Path_]:
    """The container that holds the last segment of `dotted`, that segment, and the full path; missing
    mappings on the way are created."""
    segments = dotted.split(".")
    if any(not segment for segment in segments):
        raise _problem(source, flag, f"{dotted!r} is not a dotted path of keys (e.g. learners.network.steps)")
    container: Any = data
    path: Path_ = ()
    for depth, segment in enumerate(segments):
        last = depth == len(segments) - 1
        key: str | int = segment
        if isinstance(container, list):
            if path == ("learners",) and not segment.isdigit():
                ids = _learner_ids(container)
                if segment not in ids:
                    raise _problem(source, flag, f"no learner has the id {segment!r}{suggest(segment, ids)}; the ids are {', '.join(ids)}")
                key = ids.index(segment)
            elif segment.isdigit() and int(segment) < len(container):
                key = int(segment)
            else:
                raise _problem(source, flag, f"{display_key(path)} is a list of {len(container)}; {segment!r} is not an index of it")
        elif not isinstance(container, dict):
            raise _problem(source, flag, f"{display_key(path)} is {container!r}, which has no key {segment!r}")
        path += (key,)
        if last:
            return container, key, path
        if isinstance(container, dict) and key not in container:
            container[key] = {}
        container = container[key]
    raise AssertionError("unreachable: the loop returns at its last segment")


def _key_paths(path: Path_, value: Any) -> list[Path_]:
    found = [path[:depth] for depth in range(1, len(path) + 1)]
    if isinstance(value, dict):
        found += [p for key, inner in value.items() for p in _key_paths(path + (str(key),), inner)]
    elif isinstance(value, list):
        found += [p for index, inner in enumerate(value) for p in _key_paths(path + (index,), inner)]
    return found


def apply_overrides(
    data: dict[str, Any],
    positions: dict[Path_, tuple[int, int]],
    settings: list[str],
    learners: list[str] | None,
    source: str,
) -> Overridden:
    """`data` (not changed) with the learners chosen by `learners` kept and each `settings` entry
    (`dotted.path=YAML`) applied in order.

    **Raises:** `SpecError` naming the flag, for a malformed setting, a path that leads nowhere or
    a learner that is not in the spec.
    """
    data = copy.deepcopy(data)
    if learners is not None:
        positions = _select_learners(data, positions, learners, source)
    applied = []
    for text in settings:
        flag = f"--set {text}"
        dotted, equals, value_text = text.partition("=")
        if not equals:
            raise _problem(source, flag, "expected dotted.path=VALUE (the value is YAML, e.g. sweep.seeds=[0,1])")
        try:
            value = yaml.load(value_text, Loader=SpecLoader)  # noqa: S506 (a safe loader)
        except yaml.YAMLError as error:
            raise _problem(source, flag, f"the value is not YAML: {str(error).splitlines()[0]}") from None
        container, key, path = _resolve(data, dotted.strip(), flag, source)
        container[key] = value
        positions = {known: position for known, position in positions.items() if known[: len(path)] != path}
        applied.append(Override(text, path, frozenset(_key_paths(path, value))))
    return Overridden(data, positions, applied)

