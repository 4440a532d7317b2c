"""From spec text to a `Spec`: the core fields, then every plugin section by its plugin's options
model, then the rules that involve several sections. Every problem is reported at once, with the
file, the line and column of the key in the YAML, the dotted key and the reason (plus "did you
mean" for unknown keys and plugin names)."""

from __future__ import annotations

import stat
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ..api import PluginEntry, PluginKind, PluginLoadError, SpecError, SpecProblem, load_local, plugin_source, registered
from ._grids import expand_grids
from ._models import LearnerChoice, PluginChoice, Spec, SpecModel
from ._overrides import apply_overrides
from ._rules import Sections, check_consistency
from ._yaml import MAX_BYTES, Path_, ProblemCollector, QuotedText, parse_yaml, suggest, unplaced_positions


TRUST_FLAG = "--trust-plugins"


def _resolve_plugin(
    kind: PluginKind, section: Any, path: Path_, collector: ProblemCollector, extra_keys: set[str],
    local: dict[str, PluginEntry], unimported: bool = False,
) -> PluginChoice | None:
    """The section's plugin with its validated options; with `unimported` plugin files, a name that
    no installed or loaded plugin has may be theirs, and is left unchecked."""
    if not isinstance(section, dict) or not isinstance(section.get("name"), str):
        return None  # phase one already reported it
    name = section["name"]
    entries = {**registered(kind), **local}
    if name not in entries and unimported:
        return None
    if name not in entries:
        known = ", ".join(sorted(entries)) or "none installed"
        collector.add(path + ("name",), f"unknown {kind} {name!r}{suggest(name, entries)}; known: {known}")
        return None
    try:
        plugin = entries[name].load()
    except PluginLoadError as error:
        collector.add(path + ("name",), str(error))
        return None
    raw_options = {key: value for key, value in section.items() if key not in {"name", *extra_keys}}
    try:
        options = plugin.Options.model_validate(raw_options)
    except ValidationError as error:
        collector.add_validation_error(error, path, plugin.Options, {"name", *extra_keys})
        return None
    if _report_coerced_scalars(raw_options, options.model_dump(), path, collector):
        return None
    return PluginChoice(kind=kind, name=name, plugin=plugin, options=options)


def _report_coerced_scalars(raw: Any, validated: Any, path: Path_, collector: ProblemCollector) -> bool:
    """Report every YAML scalar that validation turned into another kind of value: a boolean into a
    number (`true` read as n = 1), a quoted string into a number or a boolean (`"1e-6"` read as
    1e-6; plain `1e-6`, which PyYAML reads as text too, is a number); return whether there was one."""
    if isinstance(raw, bool):
        if isinstance(validated, bool):
            return False
        collector.add(path, f"expected {type(validated).__name__}, got the boolean {str(raw).lower()}")
        return True
    if isinstance(raw, QuotedText) and isinstance(validated, bool | int | float):
        kind = "a boolean" if isinstance(validated, bool) else "a number"
        collector.add(path, f"expected {kind}, got the string {raw!r}: write it without quotes")
        return True
    found = False
    if isinstance(raw, dict) and isinstance(validated, dict):
        for key, value in raw.items():
            if key in validated:
                found |= _report_coerced_scalars(value, validated[key], path + (key,), collector)
    elif isinstance(raw, list) and isinstance(validated, list | tuple) and len(raw) == len(validated):
        for index, (value, checked) in enumerate(zip(raw, validated, strict=True)):
            found |= _report_coerced_scalars(value, checked, path + (index,), collector)
    return found


def _local_plugins(
    references: Any, base_dir: Path, collector: ProblemCollector, trusted: set[int] | None
) -> tuple[dict[PluginKind, dict[str, PluginEntry]], tuple[str, ...], list[str]]:
    """The plugins of the spec's `plugins:` list, by kind and name, the list resolved (files as
    absolute paths), and the entries not imported: all but the `trusted` indices (None: all are
    trusted), each described with its file and SHA-256. A file that does not load is reported at
    its entry."""
    found: dict[PluginKind, dict[str, PluginEntry]] = {"dataset": {}, "architecture": {}, "learner": {}}
    if not isinstance(references, list):
        return found, (), []  # absent, or phase one reported it
    resolved, unimported = [], []
    for index, reference in enumerate(references):
        if not isinstance(reference, str):
            continue
        if trusted is not None and index not in trusted:
            path, digest = plugin_source(reference, base_dir)
            where = "not found" if path is None else f"{path}, sha256 {digest}"
            unimported.append(f"{reference} ({where})")
            resolved.append(str((base_dir / reference).resolve()) if reference.endswith(".py") else reference)
            continue
        try:
            loaded = load_local([reference], base_dir)
        except PluginLoadError as error:
            collector.add(("plugins", index), str(error))
            continue
        for kind, entries in loaded.items():
            for name, entry in entries.items():
                installed = registered(kind).get(name)
                if installed is not None:
                    collector.add(("plugins", index), f"{kind} {name!r} of {reference} has the name of the installed plugin "
                                                     f"from {installed.distribution}; give it another plugin_name")
                elif name in found[kind]:
                    collector.add(("plugins", index), f"{kind} {name!r} is defined by {found[kind][name].source} and {reference}")
                found[kind][name] = entry
        resolved.append(str((base_dir / reference).resolve()) if reference.endswith(".py") else reference)
    return found, tuple(resolved), unimported


def parse_spec(
    text: str | Mapping[str, Any],
    source: str = "<spec>",
    *,
    overrides: Sequence[str] = (),
    learners: Sequence[str] | None = None,
    plugins: Sequence[str] = (),
    base_dir: Path | None = None,
    trust_plugins: bool = False,
) -> Spec:
    """Validate a spec, given as YAML text or as the mapping it would load to, and resolve its plugins.

    `overrides` (`dotted.path=YAML`, as `ntkbench run --set` takes them) and `learners` (the ids
    to keep, as `--learners`) change the spec before validation; a problem they cause names them.
    `plugins` (files or modules, as `--plugin` takes them) are added to the spec's `plugins:`;
    the spec's own entries are relative to `base_dir` (default: the working directory).

    A spec may come from a stranger, and importing a plugin runs its code: the spec's own
    `plugins:` are imported only with `trust_plugins` (`--trust-plugins`); `plugins` given here are
    consent already. Without it everything else is checked, and one problem lists each file with
    its SHA-256 and the flag that allows it.

    **Raises:** `SpecError` listing every problem found.
    """
    if isinstance(text, str):
        data, positions = parse_yaml(text, source)
    elif isinstance(text, Mapping):
        data = dict(text)
        positions = unplaced_positions(data)
    else:
        raise SpecError([SpecProblem(source, "", f"a spec is YAML text or a mapping, not {type(text).__name__}")])
    changed = apply_overrides(data, positions, list(overrides), list(learners) if learners is not None else None, source)
    data = changed.data
    own = data.get("plugins") if isinstance(data.get("plugins"), list) else []
    trusted = None if trust_plugins else set(range(len(own), len(own) + len(plugins)))
    if plugins:  # given on the command line: relative to the working directory
        extra = [str(Path(p).resolve()) if p.endswith(".py") else p for p in plugins]
        data["plugins"] = [*own, *extra]
    collector = ProblemCollector(source, changed.positions, changed.overrides)
    data = expand_grids(data, collector)
    try:
        core = SpecModel.model_validate(data)
    except ValidationError as error:
        core = None
        collector.add_validation_error(error, (), SpecModel)
    if core is not None and _report_coerced_scalars(data, core.model_dump(), (), collector):
        core = None

    base_dir = base_dir if base_dir is not None else Path.cwd()
    local, plugins, unimported = _local_plugins(data.get("plugins"), base_dir, collector, trusted)
    unchecked = bool(unimported)
    dataset = _resolve_plugin("dataset", data.get("dataset"), ("dataset",), collector, set(), local["dataset"], unchecked)
    architecture = _resolve_plugin("architecture", data.get("architecture"), ("architecture",), collector, set(),
                                   local["architecture"], unchecked)
    learners: list[LearnerChoice] = []
    raw_learners = data.get("learners")
    for index, section in enumerate(raw_learners if isinstance(raw_learners, list) else []):
        choice = _resolve_plugin("learner", section, ("learners", index), collector, {"id"}, local["learner"], unchecked)
        if choice is not None:
            learner_id = section.get("id") or choice.name
            learners.append(
                LearnerChoice(kind="learner", name=choice.name, plugin=choice.plugin, options=choice.options, id=learner_id)
            )

    listed = raw_learners if isinstance(raw_learners, list) else []
    resolved = dataset is not None and architecture is not None and len(learners) == len(listed)
    if core is not None and (resolved or not unchecked):
        check_consistency(Sections(core, dataset, architecture, learners), collector)
    if unchecked:
        collector.add(("plugins",), (
            f"not imported, since importing a plugin runs its code: {'; '.join(unimported)}. Read the code; to run it, "
            f"pass {TRUST_FLAG} (ntkbench.run(..., trust_plugins=True)). The rest of the spec was checked, except the "
            "sections that name plugins no installed package provides" + ("" if resolved else " and the rules across sections")
        ))
    if collector.problems or core is None or dataset is None or architecture is None:
        raise SpecError(collector.problems)
    return Spec(
        source=source,
        name=core.name,
        description=core.description,
        dataset=dataset,
        architecture=architecture,
        learners=tuple(learners),
        n_train=tuple(core.sweep.n_train or [core.dynamics.train_n]),
        seeds=tuple(core.sweep.seeds),
        widths=tuple(core.sweep.width) if core.sweep.width else None,
        metric=core.metric,
        fit_n_min=core.fit.n_min,
        fit_n_max=core.fit.n_max,
        fit_model=core.fit.model,
        fit_one_seed=core.fit.one_seed,
        reference=core.compare.reference,
        margin=core.compare.margin,
        dynamics=core.dynamics,
        spectrum=core.spectrum,
        plugins=plugins,
    )


def load_spec(
    path: str | Path, *, overrides: Sequence[str] = (), learners: Sequence[str] | None = None, plugins: Sequence[str] = (),
    trust_plugins: bool = False,
) -> Spec:
    """Read and validate the spec file at `path` (with `overrides`, `learners` and `plugins` as
    `parse_spec` takes them; the spec's `plugins:` are relative to its folder).

    **Raises:** `SpecError` (exit code 2) for an unreadable or invalid spec.
    """
    path = Path(path)
    try:
        text = _read_spec_file(path)
    except FileNotFoundError:
        raise SpecError([SpecProblem(str(path), "", "no such file")]) from None
    except (OSError, UnicodeDecodeError) as error:
        raise SpecError([SpecProblem(str(path), "", f"cannot read the file: {error}")]) from None
    return parse_spec(text, str(path), overrides=overrides, learners=learners, plugins=plugins, base_dir=path.resolve().parent,
                      trust_plugins=trust_plugins)


def _read_spec_file(path: Path) -> str:
    """The text of a regular file of at most `MAX_BYTES` (a FIFO would block, `/dev/zero` never ends)."""
    info = path.stat()
    if not stat.S_ISREG(info.st_mode):
        kind = "a directory" if stat.S_ISDIR(info.st_mode) else "not a regular file (a pipe, socket or device)"
        raise SpecError([SpecProblem(str(path), "", f"cannot read the spec: it is {kind}")])
    if info.st_size > MAX_BYTES:
        raise SpecError([SpecProblem(str(path), "", f"the file has {info.st_size} bytes; a spec is at most {MAX_BYTES}")])
    with open(path, encoding="utf-8") as handle:
        return handle.read(MAX_BYTES + 1)
