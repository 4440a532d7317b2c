"""What a learner receives for one cell and what it returns."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Hashable, Mapping
from typing import Any, TypeVar

import numpy as np

from ._architecture import Architecture
from ._kernel_store import KernelStore, StoredKernel, TileTally

T = TypeVar("T")


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
    validation: tuple[np.ndarray, np.ndarray] | None = None
    """This seed's validation samples `(x, y)` (`dataset.validation_n` of them), disjoint from every
    training, held-out and test sample; None when the spec has none."""
    n_train_values: tuple[int, ...] = ()
    """Every n_train of the sweep, ascending, so that per-seed work can serve all of them at once
    (empty: only this cell's n is known)."""
    kernel_store: KernelStore | None = None
    """Where kernels are kept tile by tile (`ntkbench.kernels.regress_with_kernel` keeps a kernel
    there when told what it is); None: kernels are computed in memory only."""
    on_tiles: Callable[[int, int], None] | None = None
    """Told (tiles done, tiles in all) as a stored kernel is evaluated: the run's progress display."""
    spread_tiles: Callable[[Any, Callable[[int], None]], None] | None = None
    """Spreads a stored kernel's tiles over the run's other processes (`StoredKernel.spread`);
    None: this process computes them."""
    tile_tally: TileTally | None = None
    """Counts the stored kernels' tiles this cell read and computed, for its record."""
    on_solve: Callable[[int, float, float], None] | None = None
    """Told (iteration, relative residual, tolerance) as an iterative solver runs: the run's progress display."""

    def stored_kernel(self, description: Mapping[str, Any] | None) -> StoredKernel | None:
        """The kernel that `description` names, kept in this task's store; None without a store or a description."""
        if self.kernel_store is None or description is None:
            return None
        return StoredKernel(self.kernel_store, description, self.on_tiles, self.spread_tiles, self.tile_tally)

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
class RegressionKernel:
    """The kernel a learner regresses with, as a spec's `spectrum` section evaluates it on a pool of
    samples: `function(x1, x2)` maps two batches of inputs to their `(len(x1), len(x2))` kernel
    matrix (jax arrays in, an array out; `ntkbench.kernels.evaluate_tiled` calls it tile by tile).
    `key` names the computation, not its parameters (`ntkbench.kernels.empirical_ntk_key`, say), so
    that the tile size is measured once for it; None measures on every call."""

    function: Callable[[Any, Any], Any]
    key: Hashable | None = None
    description: Mapping[str, Any] | None = None
    """What determines the kernel's values, as JSON (its architecture and options for an infinite
    kernel, a hash of its network's parameters for an empirical one): given, its tiles are kept in
    the run's kernel store under it and read back by every run that evaluates it on the same inputs."""


@dataclasses.dataclass(frozen=True)
class DynamicsRequest:
    """What a spec's `dynamics` section asks of a learner that follows its kernel through training.

    The test labels stay with ntkbench: `test_error(predictions)` scores predictions of `task.x_test`.
    """

    x_probe: np.ndarray
    """The fixed probe inputs (taken from the test set) on which the kernels are compared."""
    checkpoints: int
    """Checkpoints, log-spaced in steps from 0 to the end of training."""
    every_epoch: bool
    """Instead: a checkpoint at step 0 and after every epoch."""
    test_error: Callable[[np.ndarray], float]

    def checkpoint_steps(self, steps: int, n: int, batch_size: int) -> list[int]:
        """Step counts at which to take the kernel: log-spaced from 0 to `steps`, or every epoch."""
        if self.every_epoch:
            per_epoch = max(1, n // min(batch_size, n))
            return sorted({0, *range(per_epoch, steps + 1, per_epoch), steps})
        spaced = np.geomspace(1, steps, self.checkpoints - 1)
        return sorted({0, *np.unique(np.round(spaced).astype(int)).tolist(), steps})
