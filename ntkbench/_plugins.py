"""The plugin API: what datasets, architectures and learners receive and return.

A plugin is a class registered under an entry point in one of the groups
`ntkbench.datasets`, `ntkbench.architectures`, `ntkbench.learners`. It declares
its spec options as a Pydantic model (`Options`), is constructed with the
validated options, and implements the one or two methods its kind needs. The
built-in plugins use exactly this API and register exactly this way.

This module imports no numerical library, so that `ntkbench validate` and
`ntkbench list` stay fast: plugins import jax and friends inside their methods.
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple, TypeVar

import numpy as np
from pydantic import BaseModel, ConfigDict, PositiveInt

if TYPE_CHECKING:
    from .datasets._storage import FileStore

T = TypeVar("T")

API_VERSION = 1
"""The version of this plugin API. A plugin class declares the version it was written for as
`api_version`; ntkbench refuses to load a plugin written for another version, and says so."""


class PluginOptions(BaseModel):
    """Base of every plugin's options model: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    performance_only: ClassVar[frozenset[str]] = frozenset()
    """Options that change how fast a result is computed, not the result (up to round-off): they do
    not enter the key that decides whether a stored result is still valid."""


class DatasetOptions(PluginOptions):
    """Options every dataset accepts; a dataset plugin subclasses this."""

    n_test: PositiveInt = 1000
    """Size of the fixed, class-balanced test set drawn from the official test split."""
    balanced: bool = False
    """Draw each seed's nested training sets class-balanced (round-robin over the classes)."""


class ArchitectureOptions(PluginOptions):
    """Base of an architecture plugin's options."""


class LearnerOptions(PluginOptions):
    """Base of a learner plugin's options."""


@dataclasses.dataclass(frozen=True)
class LabelledData:
    """A dataset as arrays: the training pool and the official test split.

    Inputs are float32, NHWC for images; labels are integers in `[0, num_classes)`.
    """

    x_pool: np.ndarray
    y_pool: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int


class Dataset(abc.ABC):
    """A dataset plugin: loads (and if needed fetches) its arrays, preprocessed."""

    Options: ClassVar[type[DatasetOptions]] = DatasetOptions
    api_version: ClassVar[int | None] = None
    """The plugin API version this class was written for (`ntkbench.API_VERSION`)."""

    def __init__(self, options: DatasetOptions):
        self.options = options

    @abc.abstractmethod
    def load(self) -> LabelledData:
        """Return the full training pool and the full official test split, preprocessed."""

    def pool_size(self) -> int | None:
        """Size of the training pool under these options, when known without loading the data.

        Lets `ntkbench validate` check the sweep's sizes offline; `None`: checked at run time.
        """
        return None

    def input_shape(self) -> tuple[int, ...] | None:
        """Shape of one input under these options, when known without loading (for architecture checks)."""
        return None

    def num_classes(self) -> int | None:
        """Number of classes under these options, when known without loading (for `ntkbench plan`)."""
        return None

    @classmethod
    def file_store(cls) -> FileStore | None:
        """The files this dataset reads (for `ntkbench data`); `None` for generated data."""
        return None


@dataclasses.dataclass(frozen=True)
class StaxTwin:
    """A neural-tangents `stax` network computing the same function as an architecture's model.

    `apply_fn(params, x)` on a batch, `kernel_fn(x1, x2, "ntk")` for infinite width.
    """

    init_fn: Callable[..., Any]
    apply_fn: Callable[..., Any]
    kernel_fn: Callable[..., Any]


class StatefulModel(NamedTuple):
    """A network with state (batch-norm running statistics): `module(x, state) -> (logits, state)`.

    `module` contains `eqx.nn.BatchNorm(..., axis_name="batch")` layers; `state` is the
    `eqx.nn.State` from `eqx.nn.make_with_state`. ntkbench trains it with batch statistics and
    predicts (and takes its empirical NTK) in inference mode, with the running statistics.
    """

    module: Any
    state: Any


class Architecture(abc.ABC):
    """An architecture plugin: an equinox model and, if it has one, its infinite-width `stax` twin."""

    Options: ClassVar[type[ArchitectureOptions]] = ArchitectureOptions
    api_version: ClassVar[int | None] = None
    """The plugin API version this class was written for (`ntkbench.API_VERSION`)."""
    stax_twin_availability: ClassVar[str | None] = None
    """When the architecture has an infinite-width twin, in words ("always", "with norm: none"),
    for error messages; `None`: never."""

    def __init__(self, options: ArchitectureOptions):
        self.options = options

    @abc.abstractmethod
    def init_model(self, *, input_shape: tuple[int, ...], num_classes: int, key: Any) -> Any:
        """Return an initialised network for ONE input of `input_shape`: an `eqx.Module` mapping it
        to `num_classes` logits, or a `StatefulModel` for networks with batch norm."""

    def input_problem(self, input_shape: tuple[int, ...]) -> str | None:
        """Why inputs of this shape cannot be used (for example "needs images"), or None."""
        return None

    def has_stax_twin(self) -> bool:
        """Whether `stax_twin` returns a twin for these options (checked when a spec is validated)."""
        return False

    def stax_twin(self, *, num_classes: int) -> StaxTwin:
        """Return the `stax` twin; only called when `has_stax_twin()` is true."""
        raise NotImplementedError(f"{type(self).__name__} has no stax twin")

    def stax_parameters(self, model: Any) -> Any:
        """The parameters of `model` laid out for the twin's `apply_fn` (for parity checks)."""
        raise NotImplementedError(f"{type(self).__name__} has no stax twin")

    def has_readout_features(self) -> bool:
        """Whether `readout_features` is implemented (learners that need it check at validation)."""
        return False

    def readout_features(self, model: Any) -> Callable[[Any], Any]:
        """ONE input -> the features the readout layer sees, scaled so that their inner product is the
        covariance of the network's output at initialisation: `[w_std * phi / sqrt(d), b_std]`.

        Their kernel is the network's empirical NNGP; feature-based learners use it.
        """
        raise NotImplementedError(f"{type(self).__name__} does not expose its readout features")


class ArtifactCache:
    """Storage for artefacts a learner reuses across the n of one seed (a pre-trained network,
    a kernel computed once on the largest training set).

    Each (learner, seed) gets its own cache, dropped when the run moves on to the next seed (cells
    run learner by learner, seed by seed, n ascending), so keys need not mention the seed.
    Artefacts that do not depend on the seed (a compiled function) can live on the learner itself.
    """

    def __init__(self) -> None:
        self._items: dict[Hashable, Any] = {}

    def get_or_create(self, key: Hashable, create: Callable[[], T]) -> T:
        """Return the artefact stored under `key`, creating and storing it first if absent."""
        if key not in self._items:
            self._items[key] = create()
        return self._items[key]


class AcrossSeeds:
    """What the seeds that one process computes for a learner (at one width) can share.

    Work that depends only on the samples, not on the seed (an infinite-width kernel), can be done
    once on `union_inputs()`, the union of those seeds' largest training sets, and each seed takes
    its part at `positions(seed)`. That pays when the seeds' sets overlap much (a large n_train_max
    against the pool); `cache` keeps such work for the other seeds.
    """

    def __init__(self, pool_inputs: np.ndarray, largest_sets: dict[int, np.ndarray]):
        """`largest_sets`: per seed, the pool indices of its largest training set, in its order."""
        self.seeds = tuple(largest_sets)
        self.cache = ArtifactCache()
        self._pool_inputs = pool_inputs
        self._largest_sets = largest_sets
        self._union = np.unique(np.concatenate(list(largest_sets.values())))

    @property
    def union_size(self) -> int:
        return len(self._union)

    def union_inputs(self) -> np.ndarray:
        return self._pool_inputs[self._union]

    def positions(self, seed: int) -> np.ndarray:
        """Where the seed's largest training set (in its order) lies in `union_inputs()`."""
        return np.searchsorted(self._union, self._largest_sets[seed])


@dataclasses.dataclass(frozen=True)
class LearnerTask:
    """Everything a learner receives for one cell (n_train, seed).

    `x_train, y_train` are the first `n_train` samples of this seed's fixed order of the training
    pool; `nested_subset(m)` returns the first `m` of the same order (a subset that contains, or is
    contained in, the training set).
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    num_classes: int
    seed: int
    n_train_max: int
    """The largest n_train of the sweep: `nested_subset(n_train_max)` contains every training set of
    this seed, so a learner can compute on it once and take what each smaller n needs."""
    architecture: Architecture
    nested_subset: Callable[[int], tuple[np.ndarray, np.ndarray]]
    held_out_subset: Callable[[int], tuple[np.ndarray, np.ndarray]]
    """`held_out_subset(m)`: m pool samples that no training set of the sweep contains (the last m of
    this seed's order), for example to pre-train on data the kernel regression never sees."""
    cache: ArtifactCache
    across_seeds: AcrossSeeds | None = None
    """What this seed shares with the other seeds this process computes for the learner; None when
    it computes no other."""

    @property
    def n_train(self) -> int:
        return int(self.x_train.shape[0])

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])

    def init_key(self) -> Any:
        """The PRNG key that initialises the network for this seed.

        Every learner that derives from "the network" (training it, or taking its empirical NTK)
        uses this key, so that they all start from the same parameters.
        """
        import jax

        return jax.random.fold_in(jax.random.PRNGKey(self.seed), 0)

    @property
    def device(self) -> Any:
        """The JAX device computations run on by default."""
        import jax

        return jax.devices()[0]

    def init_model(self) -> Any:
        """The architecture's network at initialisation for this seed."""
        return self.architecture.init_model(
            input_shape=self.input_shape, num_classes=self.num_classes, key=self.init_key()
        )


@dataclasses.dataclass(frozen=True)
class LearnerResult:
    """What a learner returns: predictions on the test inputs, and facts worth recording.

    `predictions` has shape `(n_test, num_classes)`: regression outputs or logits; the runner
    computes the metrics from them (error of the argmax, squared error to one-hot targets).
    """

    predictions: np.ndarray
    info: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class CostContext:
    """What a learner knows when asked, before running, what one cell will cost (`ntkbench plan`)."""

    architecture: Architecture
    input_shape: tuple[int, ...]
    num_classes: int
    n_train: int
    n_train_max: int
    n_test: int
    first_of_seed: bool
    """Whether this is the first cell of its seed (where per-seed work such as a kernel happens)."""
    detailed: bool
    """False: return only what needs no compilation (the memory held); True: also compile to count FLOPs."""
    seeds: int = 1
    """How many seeds of the spec one run computes together (work that does not depend on the seed can be shared)."""
    seed_index: int = 0
    """This cell's seed's place among them: shared work is done (and counted) at the first seed."""
    pool_size: int | None = None
    """Size of the training pool when the dataset knows it (how much the seeds' training sets overlap)."""


@dataclasses.dataclass(frozen=True)
class CellCost:
    """Estimated cost of one cell. `flops` are XLA's count for compiled work; `factor_flops` the float64
    LAPACK factorisations (timed at the device's Cholesky rate).

    `timed_flops` of the `flops` belong to work the estimate ran and timed (cheap compiled work, on
    zeros), which takes `timed_seconds`; the rest is estimated at the device's GEMM rate, which
    small matrix products and element-wise work do not reach.
    """

    peak_bytes: int
    flops: float | None = None
    factor_flops: float = 0.0
    timed_flops: float = 0.0
    timed_seconds: float = 0.0

    def seconds(self, rates: dict[str, float]) -> float | None:
        """Estimated wall time with the device's measured `gemm_flops` and `cholesky_flops` rates."""
        if self.flops is None:
            return None
        untimed = max(self.flops - self.timed_flops, 0.0)
        return self.timed_seconds + untimed / rates["gemm_flops"] + self.factor_flops / rates["cholesky_flops"]


class Learner(abc.ABC):
    """A learner plugin: fits on one cell's training set and predicts the test inputs."""

    Options: ClassVar[type[LearnerOptions]] = LearnerOptions
    api_version: ClassVar[int | None] = None
    """The plugin API version this class was written for (`ntkbench.API_VERSION`)."""
    needs_stax_twin: ClassVar[bool] = False
    """True when the learner needs the architecture's infinite-width twin."""
    deterministic: ClassVar[bool] = True
    """True when the result depends only on the data, the options and the seed (recorded with each cell)."""

    def __init__(self, options: LearnerOptions):
        self.options = options

    def held_out_samples(self) -> int:
        """How many pool samples this learner takes with `task.held_out_subset` (checked at validation)."""
        return 0

    def architecture_problem(self, architecture: Architecture) -> str | None:
        """Why this learner cannot work with `architecture` (checked at validation), or None."""
        return None

    def estimate_cost(self, context: CostContext) -> CellCost | None:
        """What one cell will cost, for `ntkbench plan` and the memory check of `ntkbench run` (None: unknown)."""
        return None

    @abc.abstractmethod
    def fit_predict(self, task: LearnerTask) -> LearnerResult:
        """Train on `task.x_train, task.y_train` and predict `task.x_test`.

        Raise `ntkbench.CellFailure` with a reason when this cell cannot give a result.
        """
