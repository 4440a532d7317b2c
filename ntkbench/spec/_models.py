"""The spec as data: the core fields' models, each plugin resolved to its class and options, and
the canonical dict whose hash identifies a spec."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, field_validator, model_validator

from ..api import PluginKind, PluginOptions, StrictModel

NAME_PATTERN = r"^[a-z0-9_-]+$"
Identifier = Annotated[str, Field(pattern=NAME_PATTERN, max_length=64)]
LEARNER_ID_PATTERN = r"^[a-z0-9_-]+(\[[^\]\[\s/]+\])?$"
LearnerId = Annotated[str, Field(pattern=LEARNER_ID_PATTERN, max_length=160)]
"""A learner's id: an identifier, or one a grid made (`random_features[width=64]`)."""
Metric = Literal["test_error", "test_loss"]
DEFAULT_REFERENCE = "network"
DEFAULT_MARGIN = 0.05
"""`compare.margin`: differences of α smaller than this are equivalent. 0.05 changes the ratio of two
errors by 10^0.05 ≈ 1.12, about 12%, per decade of n."""

Seed = Annotated[int, Field(ge=0, le=2**32 - 1)]
"""A seed: what numpy's and jax's generators take (jax keys are 32-bit)."""
MAX_DESCRIPTION = 10_000


class PluginSection(BaseModel):
    """A plugin reference: `name` plus the plugin's own options (checked in phase two)."""

    model_config = ConfigDict(extra="allow", frozen=True)
    name: str


class LearnerSection(PluginSection):
    id: LearnerId | None = None
    """Label of this learner in records and the leaderboard (default: its name)."""


class SweepSpec(StrictModel):
    n_train: list[PositiveInt] | None = Field(None, min_length=1)
    """Training-set sizes; each training set is nested in every larger one. (A dynamics spec
    leaves it out: its one size is `dynamics.train_n`.)"""
    seeds: list[Seed] = Field(min_length=1)
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


class DynamicsSpec(StrictModel):
    """Follow the empirical NTK through the training of one network (per seed)."""

    train_n: PositiveInt
    """Training samples the network is trained on."""
    probe_n: PositiveInt = 256
    """Test inputs the kernels are compared on (at most `dataset.n_test`)."""
    checkpoints: Annotated[int, Field(ge=2)] = 20
    """Checkpoints, log-spaced in steps from 0 to the end of training."""
    every_epoch: bool = False
    """Instead: a checkpoint at step 0 and after every epoch."""


SPECTRUM_POOL_PER_N = 4
"""`spectrum.pool` is at least this many times the largest n_train: a pool's last modes are biased,
and the prediction at n rests on the modes up to a few times n."""


class SpectrumSpec(StrictModel):
    """Eigendecompose the kernel of every learner that regresses with one on a pool of samples, per
    seed, and predict its test error at every n from the spectrum (kernel regression theory)."""

    pool: PositiveInt
    """Samples of the training pool the kernel is eigendecomposed on (float64, per seed): at least
    4 times the largest n_train. They are the seed's samples after its training and validation
    samples, so no kernel was learned on them."""
    fit_modes: tuple[PositiveInt, PositiveInt] | None = None
    """The modes (1-based, inclusive) the capacity and source exponents are fitted over (default:
    4 to pool / 16, where a pool's eigenvalues are reliable); beyond them the spectrum continues
    those power laws."""
    learners: list[LearnerId] | None = Field(None, min_length=1)
    """The ids of the learners whose spectra are taken (default: every learner that regresses with a
    kernel), to leave out one whose kernel on the pool would cost too much."""

    @model_validator(mode="after")
    def _modes_inside_the_pool(self) -> SpectrumSpec:
        first, last = self.modes
        if not first < last < self.pool:
            raise ValueError(f"fit_modes [{first}, {last}] must be increasing and below pool ({self.pool})")
        return self

    @property
    def modes(self) -> tuple[int, int]:
        return self.fit_modes if self.fit_modes is not None else (4, self.pool // 16)

    def as_dict(self) -> dict[str, Any]:
        return {"pool": self.pool, "fit_modes": list(self.modes)} | ({"learners": self.learners} if self.learners else {})


class FitSpec(StrictModel):
    n_min: PositiveInt | None = None
    """Smallest n_train in the fit window (default: the smallest in the sweep)."""
    n_max: PositiveInt | None = None
    """Largest n_train in the fit window (default: the largest in the sweep)."""
    model: Literal["power_law", "saturating", "auto"] = "power_law"
    """The law whose exponent is ranked and gives the verdicts: `power_law` (metric = a n^-alpha),
    `saturating` (a n^-alpha + c, c >= 0), or `auto`: the one whose fits without the two largest
    sizes predict them better (mean |log(predicted / observed)|, summed over learners). Both laws
    are always reported, and a verdict holds only if the other law and metric agree in sign."""
    one_seed: Literal["no_interval", "test_set"] = "no_interval"
    """With a single seed: no interval and no verdict, or (`test_set`) intervals from the test set's
    sampling error alone, which leave out everything a seed changes (initialisation, training set)."""

    @model_validator(mode="after")
    def _ordered(self) -> FitSpec:
        if self.n_min is not None and self.n_max is not None and self.n_min > self.n_max:
            raise ValueError(f"n_min ({self.n_min}) is larger than n_max ({self.n_max})")
        return self


class CompareSpec(StrictModel):
    """How the learners are compared."""

    reference: LearnerId = DEFAULT_REFERENCE
    """The id of the learner every other is compared with (Δα and the error ratio). When the spec
    has no learner of that id and leaves this out, the leaderboard shows no comparison."""
    margin: Annotated[float, Field(gt=0, allow_inf_nan=False)] = DEFAULT_MARGIN
    """The margin of equivalence, in units of α: a learner is "equivalent" to the reference when the
    90% interval of Δα lies inside ±margin. The default, 0.05, changes the ratio of two errors by
    about 12% per decade of n."""


class SpecModel(StrictModel):
    """The core fields of a spec; plugin sections are validated by their plugins."""

    name: Identifier
    description: str = Field("", max_length=MAX_DESCRIPTION)
    dataset: PluginSection
    architecture: PluginSection
    learners: list[LearnerSection] = Field(min_length=1)
    sweep: SweepSpec
    metric: Metric = "test_error"
    fit: FitSpec = FitSpec()
    compare: CompareSpec = CompareSpec()
    dynamics: DynamicsSpec | None = None
    spectrum: SpectrumSpec | None = None
    plugins: list[str] = []
    """Plugin files (`path/to/file.py`, relative to the spec's folder) and modules (`my_pkg.module`)
    whose classes that declare `plugin_name` this spec may name, without installing them."""


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

    def result_dict(self) -> dict[str, Any]:
        """The plugin and the options that determine its results (what a cell key holds of it)."""
        canonical = self.options.canonical()
        return {"name": self.name, **{key: value for key, value in canonical.items() if key not in self.options.performance_only}}

    def as_dict(self) -> dict[str, Any]:
        performance_only = sorted(type(self.options).performance_only)
        return (
            {"name": self.name, **self.options.canonical()}
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
    reference: str = DEFAULT_REFERENCE
    margin: float = DEFAULT_MARGIN
    fit_one_seed: str = "no_interval"
    dynamics: DynamicsSpec | None = None
    spectrum: SpectrumSpec | None = None
    plugins: tuple[str, ...] = ()
    """The plugin files (absolute paths) and modules of the spec's `plugins:`."""

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
            "fit": {"n_min": self.fit_n_min, "n_max": self.fit_n_max, "model": self.fit_model}
            | ({"one_seed": self.fit_one_seed} if self.fit_one_seed != "no_interval" else {}),
            "compare": {"reference": self.reference, "margin": self.margin},
        } | ({"dynamics": self.dynamics.model_dump()} if self.dynamics else {}) | (
            {"spectrum": self.spectrum.as_dict()} if self.spectrum else {}
        ) | (
            {"plugins": list(self.plugins)} if self.plugins else {}
        )

    def as_input(self) -> dict[str, Any]:
        """`as_dict` without what it derives (each plugin section's `PERFORMANCE_ONLY` list): a
        mapping `parse_spec` takes back, to re-validate the spec with overrides."""
        data = self.as_dict()
        for section in (data["dataset"], data["architecture"], *data["learners"]):
            section.pop(PERFORMANCE_ONLY, None)
        return data

    @property
    def hash(self) -> str:
        return content_hash(self.as_dict())

    def learner(self, learner_id: str) -> LearnerChoice:
        return next(learner for learner in self.learners if learner.id == learner_id)

    def comparison_note(self) -> str | None:
        """Why this spec's learners are compared with nothing, when they are: it has several, none
        is the reference (`compare.reference`, by default `network`) and no dynamics asks for one."""
        ids = [learner.id for learner in self.learners]
        if len(ids) < 2 or self.dynamics is not None or self.reference in ids:
            return None
        return (
            f"no learner is compared: compare.reference is {self.reference!r}, which no learner is, so no Δα, "
            f"verdict or claim will be computed; name one of {', '.join(ids)} as compare.reference"
        )

    def architecture_at(self, width: int | None) -> PluginChoice:
        """The architecture section with the sweep's `width` in place of its own (itself for None)."""
        if width is None:
            return self.architecture
        return dataclasses.replace(self.architecture, options=self.architecture.instantiate().at_width(width).options)


def content_hash(value: Any) -> str:
    """SHA-256 of the canonical JSON form of `value` (sorted keys, no whitespace)."""
    canonical = json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(canonical.encode()).hexdigest()
