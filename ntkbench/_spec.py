"""The spec: a YAML file naming a dataset, an architecture, learners, a sweep and a fit.

Validation runs in two phases. The core fields are checked by `SpecModel`; each
plugin section (`dataset`, `architecture`, every learner) is then checked by
the options model its plugin declares. Every problem is reported at once, with
the file, the line and column of the key in the YAML, the dotted key and the
reason (plus "did you mean" for unknown keys and plugin names).
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import typing
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeInt,
    PositiveInt,
    ValidationError,
    field_validator,
    model_validator,
)

from ._errors import SpecError, SpecProblem
from ._plugins import PluginOptions
from ._registry import PluginKind, PluginLoadError, registered

NAME_PATTERN = r"^[a-z0-9_-]+$"
Identifier = Annotated[str, Field(pattern=NAME_PATTERN, max_length=64)]
Metric = Literal["test_error", "test_loss"]
METRICS: tuple[str, ...] = typing.get_args(Metric)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PluginSection(BaseModel):
    """A plugin reference: `name` plus the plugin's own options (checked in phase two)."""

    model_config = ConfigDict(extra="allow", frozen=True)
    name: str


class LearnerSection(PluginSection):
    id: Identifier | None = None
    """Label of this learner in records and the leaderboard (default: its name)."""


class SweepSpec(_Strict):
    n_train: list[PositiveInt] | None = Field(None, min_length=1)
    """Training-set sizes; each training set is nested in every larger one. (A dynamics spec
    leaves it out: its one size is `dynamics.train_n`.)"""
    seeds: list[NonNegativeInt] = Field(min_length=1)
    width: list[PositiveInt] | None = Field(None, min_length=1)
    """Widths to run every learner at, overriding the architecture's `width`."""

    @field_validator("n_train", "seeds", "width")
    @classmethod
    def _distinct_sorted(cls, values: list[int] | None) -> list[int] | None:
        if values is None:
            return None
        repeated = sorted({v for v in values if values.count(v) > 1})
        if repeated:
            raise ValueError(f"values must be distinct; repeated: {repeated}")
        return sorted(values)


class DynamicsSpec(_Strict):
    """Follow the empirical NTK through the training of one network (per seed)."""

    train_n: PositiveInt
    """Training samples the network is trained on."""
    probe_n: PositiveInt = 256
    """Test inputs the kernels are compared on (at most `dataset.n_test`)."""
    checkpoints: Annotated[int, Field(ge=2)] = 20
    """Checkpoints, log-spaced in steps from 0 to the end of training."""
    every_epoch: bool = False
    """Instead: a checkpoint at step 0 and after every epoch."""


class FitSpec(_Strict):
    n_min: PositiveInt | None = None
    """Smallest n_train in the fit window (default: the smallest in the sweep)."""
    n_max: PositiveInt | None = None
    """Largest n_train in the fit window (default: the largest in the sweep)."""
    model: Literal["power_law", "saturating", "auto"] = "power_law"
    """The law whose exponent is ranked: `power_law` (metric = a n^-alpha), `saturating`
    (a n^-alpha + c, c >= 0), or `auto` (the one that better predicts the largest n when fitted
    without it, summed over learners). Both laws are always reported."""

    @model_validator(mode="after")
    def _ordered(self) -> FitSpec:
        if self.n_min is not None and self.n_max is not None and self.n_min > self.n_max:
            raise ValueError(f"n_min ({self.n_min}) is larger than n_max ({self.n_max})")
        return self


class SpecModel(_Strict):
    """The core fields of a spec; plugin sections are validated by their plugins."""

    name: Identifier
    description: str = ""
    dataset: PluginSection
    architecture: PluginSection
    learners: list[LearnerSection] = Field(min_length=1)
    sweep: SweepSpec
    metric: Metric = "test_error"
    fit: FitSpec = FitSpec()
    dynamics: DynamicsSpec | None = None


PERFORMANCE_ONLY = "_performance_only"
"""Key, in a plugin section of a spec's canonical dict, listing its options that do not affect results."""


@dataclasses.dataclass(frozen=True)
class PluginChoice:
    """A plugin class with its validated options."""

    kind: PluginKind
    name: str
    plugin: type
    options: PluginOptions

    def instantiate(self) -> Any:
        return self.plugin(self.options)

    def as_dict(self) -> dict[str, Any]:
        performance_only = sorted(type(self.options).performance_only)
        return (
            {"name": self.name, **self.options.model_dump(mode="json")}
            | ({PERFORMANCE_ONLY: performance_only} if performance_only else {})
        )


@dataclasses.dataclass(frozen=True)
class LearnerChoice(PluginChoice):
    id: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, **super().as_dict()}


@dataclasses.dataclass(frozen=True)
class Spec:
    """A validated spec: core fields plus each plugin resolved to its class and options."""

    source: str
    name: str
    description: str
    dataset: PluginChoice
    architecture: PluginChoice
    learners: tuple[LearnerChoice, ...]
    n_train: tuple[int, ...]
    seeds: tuple[int, ...]
    widths: tuple[int, ...] | None
    metric: str
    fit_n_min: int | None
    fit_n_max: int | None
    fit_model: str
    dynamics: DynamicsSpec | None = None

    def as_dict(self) -> dict[str, Any]:
        """The spec with every default filled in: what the spec hash and the run directory record."""
        return {
            "name": self.name,
            "description": self.description,
            "dataset": self.dataset.as_dict(),
            "architecture": self.architecture.as_dict(),
            "learners": [learner.as_dict() for learner in self.learners],
            "sweep": {"n_train": list(self.n_train), "seeds": list(self.seeds)}
            | ({"width": list(self.widths)} if self.widths else {}),
            "metric": self.metric,
            "fit": {"n_min": self.fit_n_min, "n_max": self.fit_n_max, "model": self.fit_model},
        } | ({"dynamics": self.dynamics.model_dump()} if self.dynamics else {})

    @property
    def hash(self) -> str:
        return content_hash(self.as_dict())

    def learner(self, learner_id: str) -> LearnerChoice:
        return next(learner for learner in self.learners if learner.id == learner_id)


def content_hash(value: Any) -> str:
    """SHA-256 of the canonical JSON form of `value` (sorted keys, no whitespace)."""
    canonical = json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


# --------------------------------------------------------------------------- YAML


Path_ = tuple[str | int, ...]


MAX_NODES = 100_000
"""A spec that expands to more YAML nodes than this (aliases expanded) is refused: the defence
against "billion laughs" documents, whose aliases multiply a few lines into billions of values."""


class _TooLarge(Exception):
    pass


def _node_positions(root: yaml.Node) -> dict[Path_, tuple[int, int]]:
    """Map each key path in a composed YAML document to the 1-based (line, column) of its key.

    **Raises:** `_TooLarge` when the document expands to more than `MAX_NODES` nodes.
    """
    positions: dict[Path_, tuple[int, int]] = {}
    stack: list[tuple[yaml.Node, Path_, yaml.Node]] = [(root, (), root)]
    visited = 0
    while stack:
        node, path, key = stack.pop()
        visited += 1
        if visited > MAX_NODES:
            raise _TooLarge
        positions[path] = (key.start_mark.line + 1, key.start_mark.column + 1)
        if isinstance(node, yaml.MappingNode):
            stack.extend((value, path + (str(key_node.value),), key_node) for key_node, value in node.value)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((item, path + (index,), item) for index, item in enumerate(node.value))
    return positions


def _parse_yaml(text: str, source: str) -> tuple[Any, dict[Path_, tuple[int, int]]]:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
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
        return data, _node_positions(node)
    except _TooLarge:
        reason = f"the document expands to more than {MAX_NODES} values (aliases expanded); refusing a possible YAML bomb"
        raise SpecError([SpecProblem(source, "", reason)]) from None


def _display_key(path: Path_) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The Pydantic models inside a field annotation (through list, Optional, Union, Annotated)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [model for arg in typing.get_args(annotation) for model in _models_in(arg)]


def _allowed_keys(model: type[BaseModel], parts: Path_) -> set[str]:
    current = [model]
    for part in parts:
        inner = [
            nested
            for candidate in current
            if isinstance(part, str) and part in candidate.model_fields
            for nested in _models_in(candidate.model_fields[part].annotation)
        ]
        if inner:  # otherwise `part` is a list index or a union tag: same models
            current = inner
    return {key for candidate in current for key in candidate.model_fields}


def suggest(word: str, candidates: typing.Iterable[str]) -> str:
    """' (did you mean 'x'?)' for the closest candidate, or '' when none is close."""
    close = difflib.get_close_matches(word, sorted(candidates), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


class _ProblemCollector:
    def __init__(self, source: str, positions: dict[Path_, tuple[int, int]]):
        self.source = source
        self.positions = positions
        self.problems: list[SpecProblem] = []

    def add(self, path: Path_, reason: str) -> None:
        located = path
        while located not in self.positions and located:
            located = located[:-1]
        line, column = self.positions.get(located, (None, None))
        self.problems.append(SpecProblem(self.source, _display_key(path), reason, line, column))

    def add_validation_error(
        self, error: ValidationError, prefix: Path_, model: type[BaseModel], extra_keys: set[str] = frozenset()
    ) -> None:
        for item in error.errors():
            loc = tuple(item["loc"])
            # Keep the parts of `loc` that are keys in the YAML (drops union tags such as 'sgd');
            # the last part stays even when absent (a missing key).
            path: Path_ = prefix
            for index, part in enumerate(loc):
                if path + (part,) in self.positions or index == len(loc) - 1:
                    path = path + (part,)
            if item["type"] == "extra_forbidden":
                key = str(loc[-1])
                allowed = _allowed_keys(model, loc[:-1]) | (extra_keys if len(loc) == 1 else set())
                self.add(path, f"unknown key{suggest(key, allowed)}")
            elif item["type"] == "missing":
                self.add(path, "required key is missing")
            else:
                self.add(path, str(item["msg"]).removeprefix("Value error, "))


def _resolve_plugin(
    kind: PluginKind, section: Any, path: Path_, collector: _ProblemCollector, extra_keys: set[str]
) -> PluginChoice | None:
    if not isinstance(section, dict) or not isinstance(section.get("name"), str):
        return None  # phase one already reported it
    name = section["name"]
    entries = registered(kind)
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
    return PluginChoice(kind=kind, name=name, plugin=plugin, options=options)


def parse_spec(text: str, source: str = "<spec>") -> Spec:
    """Validate spec text and resolve its plugins.

    **Raises:** `SpecError` listing every problem found.
    """
    data, positions = _parse_yaml(text, source)
    collector = _ProblemCollector(source, positions)
    try:
        core = SpecModel.model_validate(data)
    except ValidationError as error:
        core = None
        collector.add_validation_error(error, (), SpecModel)

    dataset = _resolve_plugin("dataset", data.get("dataset"), ("dataset",), collector, set())
    architecture = _resolve_plugin("architecture", data.get("architecture"), ("architecture",), collector, set())
    learners: list[LearnerChoice] = []
    raw_learners = data.get("learners")
    for index, section in enumerate(raw_learners if isinstance(raw_learners, list) else []):
        choice = _resolve_plugin("learner", section, ("learners", index), collector, {"id"})
        if choice is not None:
            learner_id = section.get("id") or choice.name
            learners.append(
                LearnerChoice(kind="learner", name=choice.name, plugin=choice.plugin, options=choice.options, id=learner_id)
            )

    if core is not None:
        _check_consistency(core, dataset, architecture, learners, collector)
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
        dynamics=core.dynamics,
    )


def _check_consistency(
    core: SpecModel,
    dataset: PluginChoice | None,
    architecture: PluginChoice | None,
    learners: list[LearnerChoice],
    collector: _ProblemCollector,
) -> None:
    """Checks that involve more than one section."""
    if core.dynamics is None and core.sweep.n_train is None:
        collector.add(("sweep", "n_train"), "required key is missing (only a spec with a `dynamics` section leaves it out)")
        return
    if core.dynamics is not None and core.sweep.n_train not in (None, [core.dynamics.train_n]):
        collector.add(("sweep", "n_train"), "a dynamics spec trains on dynamics.train_n samples; leave sweep.n_train out")
    n_train = core.sweep.n_train or [core.dynamics.train_n]
    ids = [section.id or section.name for section in core.learners]
    for index, learner_id in enumerate(ids):
        if ids.index(learner_id) != index:
            collector.add(
                ("learners", index, "id" if core.learners[index].id else "name"),
                f"learner id {learner_id!r} is used twice; give one of them a distinct 'id'",
            )
    pool_size = dataset.instantiate().pool_size() if dataset is not None else None
    if pool_size is not None:
        held_out = max(((learner.instantiate().held_out_samples(), learner.id) for learner in learners), default=(0, ""))
        largest = max(n_train)
        if largest + held_out[0] > pool_size:
            detail = f" plus the {held_out[0]} samples learner {held_out[1]!r} holds out" if held_out[0] else ""
            collector.add(
                ("sweep", "n_train"),
                f"the largest n_train ({largest}){detail} exceeds the {dataset.name} training pool "
                f"with these options ({pool_size} samples)",
            )
    if architecture is not None:
        network = architecture.instantiate()
        input_shape = dataset.instantiate().input_shape() if dataset is not None else None
        problem = network.input_problem(tuple(input_shape)) if input_shape is not None else None
        if problem is not None:
            collector.add(("architecture", "name"), problem)
        for index, learner in enumerate(learners):
            learner_problem = learner.instantiate().architecture_problem(network)
            if learner_problem is not None:
                collector.add(("learners", index, "name"), learner_problem)
            if learner.plugin.needs_stax_twin and not network.has_stax_twin():
                collector.add(
                    ("learners", index, "name"),
                    f"learner {learner.name!r} needs an infinite-width (stax) twin, and architecture "
                    f"{architecture.name!r} with these options has none; {_twin_availability()}",
                )
    for bound in ("n_min", "n_max"):
        value = getattr(core.fit, bound)
        if value is not None and value not in n_train:
            nearest = min(n_train, key=lambda n: abs(n - value))
            collector.add(("fit", bound), f"{value} is not one of sweep.n_train {n_train} (nearest: {nearest})")
    if core.sweep.width and architecture is not None and "width" not in architecture.plugin.Options.model_fields:
        collector.add(("sweep", "width"), f"architecture {architecture.name!r} has no 'width' option to sweep")
    if core.dynamics is not None:
        if len(core.learners) != 1 or core.learners[0].name != "network":
            collector.add(("learners",), "a dynamics spec has exactly one learner, a `network`")
        if dataset is not None and core.dynamics.probe_n > dataset.options.n_test:
            collector.add(
                ("dynamics", "probe_n"),
                f"{core.dynamics.probe_n} probe inputs are taken from the test set, which has n_test={dataset.options.n_test}",
            )


def _twin_availability() -> str:
    """Which installed architectures have an infinite-width twin, and when."""
    available = []
    for name, entry in registered("architecture").items():
        try:
            when = entry.load().stax_twin_availability
        except PluginLoadError:
            continue
        if when is not None:
            available.append(f"{name} ({when})")
    return "architectures with one: " + (", ".join(available) or "none installed")


def load_spec(path: str | Path) -> Spec:
    """Read and validate the spec file at `path`.

    **Raises:** `SpecError` (exit code 2) for an unreadable or invalid spec.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError([SpecProblem(str(path), "", "no such file")]) from None
    except (OSError, UnicodeDecodeError) as error:
        raise SpecError([SpecProblem(str(path), "", f"cannot read the file: {error}")]) from None
    return parse_spec(text, str(path))


# --------------------------------------------------------------------------- JSON Schema


def spec_json_schema() -> dict[str, Any]:
    """JSON Schema of a spec, with each section a union over the installed plugins' options.

    Plugins that fail to import are left out (`ntkbench list` names them).
    """
    from pydantic import create_model

    def section_union(kind: PluginKind, with_id: bool) -> Any:
        variants = []
        for name, entry in registered(kind).items():
            try:
                plugin = entry.load()
            except PluginLoadError:
                continue
            fields: dict[str, Any] = {"name": (Literal[name], ...)}
            if with_id:
                fields["id"] = (Identifier | None, None)
            variants.append(create_model(f"{kind}_{name}", __base__=plugin.Options, **fields))
        if not variants:
            return PluginSection
        if len(variants) == 1:
            return variants[0]
        return Annotated[typing.Union[tuple(variants)], Field(discriminator="name")]

    schema_model = create_model(
        "ntkbench_spec",
        __base__=SpecModel,
        dataset=(section_union("dataset", False), ...),
        architecture=(section_union("architecture", False), ...),
        learners=(list[section_union("learner", True)], Field(min_length=1)),
    )
    schema = schema_model.model_json_schema()
    schema["title"] = "ntkbench spec"
    return schema
