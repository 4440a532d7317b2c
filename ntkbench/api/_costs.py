"""What a learner says, before running, about the cost of one cell (`ntkbench plan`, the memory check)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

from ._architecture import Architecture


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
    """False: return only what needs no tracing (the memory held); True: also trace (and time) to count FLOPs."""
    seeds: int = 1
    """How many seeds of the spec one run computes together (work that does not depend on the seed can be shared)."""
    seed_index: int = 0
    """This cell's seed's place among them: shared work is done (and counted) at the first seed."""
    pool_size: int | None = None
    """Size of the training pool when the dataset knows it (how much the seeds' training sets overlap)."""
    stored: Callable[[Mapping[str, Any], int], float] | None = None
    """For a kernel's description (`ntkbench.kernels` describes the built-in ones) and a tile edge:
    the share of this seed's kernel (its largest training set, and the test set against it) whose
    tiles of that edge the kernel store already holds, which the run reads instead of computing.
    None: the store holds nothing."""
    n_train_values: tuple[int, ...] = ()
    """Every n of the sweep, ascending (empty: only this cell's is known): a ridge chosen on
    validation data is searched among the sizes (see `ntkbench.kernels.regress_with_kernel`)."""
    recorded: Mapping[str, float] = dataclasses.field(default_factory=dict)
    """What earlier runs of this learner recorded at this n (the numeric facts of its records'
    `info`, averaged over seeds, interpolated in n from the n recorded), e.g. `steps`: how long an
    `until` rule took. Empty when the plan was given no records."""


@dataclasses.dataclass(frozen=True)
class CellCost:
    """Estimated cost of one cell. `flops` count its JAX work (as XLA counts it: 2 per multiply-add, 1
    per element of element-wise work); `factor_flops` the float64 LAPACK factorisations (timed at
    the device's Cholesky rate).

    `timed_flops` of the `flops` belong to work whose speed the estimate measured (a small
    instance run on zeros), which takes `timed_seconds`; the rest is estimated at the device's
    GEMM rate, which small matrix products, convolutions and element-wise work do not reach.
    """

    peak_bytes: int
    flops: float | None = None
    factor_flops: float = 0.0
    timed_flops: float = 0.0
    timed_seconds: float = 0.0
    upper_bound: bool = False
    """True when the work may stop well short of what is counted (an `until` rule counted at its
    `max_steps`, with no records that say how long it takes)."""
    read_bytes: float = 0.0
    """Bytes read from memory-mapped files on disk (an iterative solve's products with a kernel too
    large for memory), which the time does not count."""

    def seconds(self, rates: dict[str, float]) -> float | None:
        """Estimated wall time with the device's measured `gemm_flops` and `cholesky_flops` rates."""
        if self.flops is None:
            return None
        untimed = max(self.flops - self.timed_flops, 0.0)
        return self.timed_seconds + untimed / rates["gemm_flops"] + self.factor_flops / rates["cholesky_flops"]
