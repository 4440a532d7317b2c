"""Reading a spec's YAML: the data, where each key sits in the file, and problems located there."""

from __future__ import annotations

import difflib
import re
import typing
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from ..api import SpecError, SpecProblem

Path_ = tuple[str | int, ...]


MAX_NODES = 100_000
"""A spec that expands to more YAML nodes than this (aliases expanded) is refused: the defence
against "billion laughs" documents, whose aliases multiply a few lines into billions of values."""
MAX_BYTES = 1 << 20
"""A spec file larger than this (1 MiB) is refused before it is parsed."""
MAX_DEPTH = 32
"""Collections nested deeper than this are refused (a spec needs four or five levels); PyYAML
builds documents recursively, so a deeper one would end in a RecursionError."""
MERGE_KEY = "<<"


class QuotedText(str):
    """A YAML scalar its author wrote in quotes: text by choice, which validation never reads as a
    number or a boolean (`ridge: "1e-6"` is refused, located, where `ridge: 1e-6` is a number)."""


class SpecLoader(yaml.SafeLoader):
    """PyYAML's safe loader, keeping which strings were quoted (`QuotedText`)."""

    def construct_yaml_str(self, node: yaml.ScalarNode) -> str:
        value = super().construct_yaml_str(node)
        return QuotedText(value) if node.style in ("'", '"') else value


SpecLoader.add_constructor("tag:yaml.org,2002:str", SpecLoader.construct_yaml_str)


class TooLarge(Exception):
    """The document expands to more than `MAX_NODES` nodes."""


def node_positions(root: yaml.Node) -> dict[Path_, tuple[int, int]]:
    """Map each key path in a composed YAML document to the 1-based (line, column) of its key.

    **Raises:** `TooLarge` when the document expands to more than `MAX_NODES` nodes.
    """
    positions: dict[Path_, tuple[int, int]] = {}
    stack: list[tuple[yaml.Node, Path_, yaml.Node]] = [(root, (), root)]
    visited = 0
    while stack:
        node, path, key = stack.pop()
        visited += 1
        if visited > MAX_NODES:
            raise TooLarge
        positions[path] = (key.start_mark.line + 1, key.start_mark.column + 1)
        if isinstance(node, yaml.MappingNode):
            stack.extend((value, path + (str(key_node.value),), key_node) for key_node, value in node.value)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((item, path + (index,), item) for index, item in enumerate(node.value))
    return positions


def unplaced_positions(data: Any) -> dict[Path_, tuple[None, None]]:
    """Every key path of a spec given as data rather than text, without a line or column (so that
    problems are still reported at the key that holds them)."""
    positions: dict[Path_, tuple[None, None]] = {(): (None, None)}
    stack: list[tuple[Any, Path_]] = [(data, ())]
    while stack:
        value, path = stack.pop()
        items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
        for key, inner in items:
            positions[path + (key if isinstance(key, int) else str(key),)] = (None, None)
            stack.append((inner, path + (key if isinstance(key, int) else str(key),)))
    return positions


def _problem_at(source: str, mark: yaml.Mark, reason: str) -> SpecError:
    return SpecError([SpecProblem(source, "", reason, mark.line + 1, mark.column + 1)])


def check_structure(text: str, source: str) -> None:
    """Refuse, from one pass over the parser's events (PyYAML's parser is iterative, so this pass is
    safe on any input), what would hang or crash the loader or silently lose a value: nesting
    deeper than `MAX_DEPTH`, an alias to a collection that contains it, a key given twice in one
    mapping. Syntax errors are left to the loader, which reports them.

    **Raises:** `SpecError` located at the offending line and column.
    """
    if len(text) > MAX_BYTES:
        raise SpecError([SpecProblem(source, "", f"the spec has {len(text)} characters; a spec is at most {MAX_BYTES}")])
    open_collections: list[tuple[str | None, set[str] | None, list[int]]] = []  # (anchor, keys of a mapping, [children])
    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, yaml.CollectionEndEvent):
                open_collections.pop()
                continue
            if not isinstance(event, yaml.NodeEvent):
                continue
            if open_collections:
                _, keys, children = open_collections[-1]
                is_key = keys is not None and children[0] % 2 == 0
                children[0] += 1
                if is_key and isinstance(event, yaml.ScalarEvent) and event.value != MERGE_KEY:
                    if event.value in keys:
                        raise _problem_at(source, event.start_mark, f"key {event.value!r} is given twice in one mapping")
                    keys.add(event.value)
            if isinstance(event, yaml.AliasEvent) and any(anchor == event.anchor for anchor, _, _ in open_collections):
                raise _problem_at(source, event.start_mark, f"the alias *{event.anchor} refers to a collection that contains it")
            if isinstance(event, yaml.CollectionStartEvent):
                if len(open_collections) >= MAX_DEPTH:
                    raise _problem_at(source, event.start_mark, f"collections are nested more than {MAX_DEPTH} deep")
                keys = set() if isinstance(event, yaml.MappingStartEvent) else None
                open_collections.append((event.anchor, keys, [0]))
    except yaml.YAMLError:
        return  # the loader reports it, located


def parse_yaml(text: str, source: str) -> tuple[Any, dict[Path_, tuple[int, int]]]:
    check_structure(text, source)
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.load(text, Loader=SpecLoader)  # noqa: S506 (a safe loader)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (None, None)
        reason = f"invalid YAML: {error.problem or error.context}"
        raise SpecError([SpecProblem(source, "", reason, line, column)]) from None
    except yaml.YAMLError as error:
        raise SpecError([SpecProblem(source, "", f"invalid YAML: {error}")]) from None
    if node is None:
        raise SpecError([SpecProblem(source, "", "the file is empty; a spec is a YAML mapping")])
    if not isinstance(data, dict):
        raise SpecError([SpecProblem(source, "", "a spec must be a YAML mapping of keys to values", 1, 1)])
    try:
        return data, node_positions(node)
    except TooLarge:
        reason = f"the document expands to more than {MAX_NODES} values (aliases expanded); refusing a possible YAML bomb"
        raise SpecError([SpecProblem(source, "", reason)]) from None


def display_key(path: Path_) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def models_in(annotation: Any) -> list[type[BaseModel]]:
    """The Pydantic models inside a field annotation (through list, Optional, Union, Annotated)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [model for arg in typing.get_args(annotation) for model in models_in(arg)]


def allowed_keys(model: type[BaseModel], parts: Path_) -> set[str]:
    current = [model]
    for part in parts:
        inner = [
            nested
            for candidate in current
            if isinstance(part, str) and part in candidate.model_fields
            for nested in models_in(candidate.model_fields[part].annotation)
        ]
        if inner:  # otherwise `part` is a list index or a union tag: same models
            current = inner
    return {key for candidate in current for key in candidate.model_fields}


def suggest(word: str, candidates: typing.Iterable[str]) -> str:
    """' (did you mean 'x'?)' for the closest candidate, or '' when none is close."""
    close = difflib.get_close_matches(word, sorted(candidates), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


class ProblemCollector:
    """Every problem found in one spec, each located at its key's line and column."""

    def __init__(self, source: str, positions: dict[Path_, tuple[int, int]], overrides: typing.Sequence[Any] = ()):
        """`overrides`: the command line's `--set`s (with `.text` and `.path`); a problem at or under
        one of their paths names the flag instead of a line of the file."""
        self.source = source
        self.positions = positions
        self.overrides = list(overrides)
        self.aliases: dict[Path_, str] = {}
        """How to name a key path that the file does not have (a learner a grid made): its prefix
        is shown as the alias."""
        self.problems: list[SpecProblem] = []

    def _display(self, path: Path_) -> str:
        for length in range(len(path), 0, -1):
            if path[:length] in self.aliases:
                rest = display_key(path[length:])
                return self.aliases[path[:length]] + ("" if not rest else rest if rest.startswith("[") else "." + rest)
        return display_key(path)

    def add(self, path: Path_, reason: str) -> None:
        setting = [override for override in self.overrides if path[: len(override.path)] == override.path]
        if setting:
            self.problems.append(SpecProblem(f"{self.source}, --set {setting[-1].text}", self._display(path), reason))
            return
        within = [override.text for override in self.overrides if path and override.path[: len(path)] == path]
        located = path
        while located not in self.positions and located:
            located = located[:-1]
        line, column = self.positions.get(located, (None, None))
        if within:
            reason += f" (with --set {', --set '.join(within)})"
        self.problems.append(SpecProblem(self.source, self._display(path), reason, line, column))

    def _overridden(self, path: Path_) -> bool:
        """Whether `path` is a key an override names (see `Override.keys`)."""
        return any(path in override.keys for override in self.overrides)

    def add_validation_error(
        self, error: ValidationError, prefix: Path_, model: type[BaseModel], extra_keys: set[str] = frozenset()
    ) -> None:
        reported: set[Path_] = set()
        for item in error.errors():
            loc = tuple(item["loc"])
            # Keep the parts of `loc` that are keys in the YAML (drops union tags such as 'sgd');
            # the last part stays even when absent (a missing key), unless it is a union branch
            # ('constrained-float'), which is no key.
            path: Path_ = prefix
            for index, part in enumerate(loc):
                last = index == len(loc) - 1 and (isinstance(part, int) or re.fullmatch(r"\w+", str(part)))
                if path + (part,) in self.positions or self._overridden(path + (part,)) or last:
                    path = path + (part,)
            if path in reported:  # another branch of a union failing at the same key: one message
                continue
            reported.add(path)
            if item["type"] == "extra_forbidden":
                key = str(loc[-1])
                allowed = allowed_keys(model, loc[:-1]) | (extra_keys if len(loc) == 1 else set())
                self.add(path, f"unknown key{suggest(key, allowed)}")
            elif item["type"] == "missing":
                self.add(path, "required key is missing")
            else:
                self.add(path, _reason(item))


SCIENTIFIC = re.compile(r"[-+]?\d+(\.\d*)?[eE][-+]?\d+")


def _reason(item: dict[str, Any]) -> str:
    """Pydantic's message for one error, with what a spec's author needs that it leaves out: the
    form a tuple takes, and why YAML read `5e2` as text."""
    value, reason = item.get("input"), str(item["msg"]).removeprefix("Value error, ")
    if item["type"] == "int_parsing" and isinstance(value, str) and SCIENTIFIC.fullmatch(value) and float(value).is_integer():
        return (f"{value!r} is text to YAML, which reads a number in scientific notation only with a dot and a signed "
                f"exponent (5.0e+2); write {int(float(value))}")
    if item["type"] == "tuple_type":
        return f"{reason}: give a list, e.g. [8, 8]"
    return reason

