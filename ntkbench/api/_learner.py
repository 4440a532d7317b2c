"""Learner plugins: fit on one cell's training set, predict its test inputs."""

from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import ClassVar, Literal

from ._architecture import Architecture
from ._costs import CellCost, CostContext
from ._errors import CellFailure
from ._options import LearnerOptions
from ._task import DynamicsRequest, LearnerResult, LearnerTask, RegressionKernel

TestLoss = Literal["squared_error", "cross_entropy"]


class Learner(abc.ABC):
    """A learner plugin: fits on one cell's training set and predicts the test inputs."""

    Options: ClassVar[type[LearnerOptions]] = LearnerOptions
    api_version: ClassVar[int | None] = None
    """The plugin API version this class was written for (`ntkbench.API_VERSION`)."""
    plugin_name: ClassVar[str | None] = None
    """The name a spec gives a plugin loaded from a file or module its `plugins:` list names (an
    installed plugin's name is its entry point's)."""
    needs_infinite_kernel: ClassVar[bool] = False
    """True when the learner needs the architecture's infinite-width kernel (`ntkbench.kernels.
    architecture_kernel_fn`: native from its kernel map, else from its `stax` twin)."""
    needs_stax_twin: ClassVar[bool] = False
    """True when the learner needs the architecture's `stax` twin itself (its `apply_fn` or
    `init_fn`, say), which needs neural-tangents installed."""
    deterministic: ClassVar[bool] = True
    """True when the result depends only on the data, the options and the seed (recorded with each cell)."""
    needs_readout_features: ClassVar[bool] = False
    """True when the learner uses `Architecture.readout_features` (validation refuses architectures
    whose `has_readout_features()` is false)."""
    same_at_every_width: ClassVar[bool] = False
    """True when the result does not depend on the architecture's width (an infinite-width kernel):
    the leaderboard draws it as one line across a width sweep."""
    network_kernel: ClassVar[str | None] = None
    """Which kernel of the network the learner regresses with, for the leaderboard's claims:
    `infinite` (its infinite-width NTK), `initial` (its empirical NTK at initialisation),
    `pretrained` (its empirical NTK after pre-training on held-out samples), `final` (its
    empirical NTK after training on the cell's own samples), or None."""
    trains_network: ClassVar[bool] = False
    """True when the learner is the architecture's finite network trained on the cell's samples: the
    learner the paper's claims are about. The leaderboard tests a claim only in a spec whose
    reference (`compare.reference`) is such a learner."""
    follows_kernel_dynamics: ClassVar[bool] = False
    """True when the learner implements `kernel_dynamics`, so that a spec with a `dynamics` section
    can name it."""
    regresses_with_kernel: ClassVar[bool] = False
    """True when the learner is kernel ridge regression whose kernel `regression_kernel` gives, so
    that a spec's `spectrum` section can eigendecompose it and predict the learner's test error."""
    kernel_depends_on_n: ClassVar[bool] = False
    """True when that kernel depends on the cell's training set (one learned on it, as `entk_final`'s):
    its spectrum is then taken for every cell, not once per seed."""
    trains_seeds_together: ClassVar[bool] = False
    """True when `fit_predict_seeds` computes several seeds' cells as one computation (faster than
    one after the other), so that a run may hand it a group of them."""

    def __init__(self, options: LearnerOptions):
        self.options = options

    def test_loss(self) -> TestLoss:
        """What `test_loss` measures for this learner's predictions: `squared_error` to one-hot targets
        (regression outputs, or logits of a network trained on the squared loss), or `cross_entropy`
        of logits (a network trained on it). A spec ranking learners by `test_loss` must use one kind."""
        return "squared_error"

    def needs_validation(self) -> bool:
        """Whether the learner chooses something on the validation samples (`task.validation`):
        validation refuses a spec without `dataset.validation_n` then."""
        return False

    def held_out_samples(self) -> int:
        """How many pool samples this learner takes with `task.held_out_subset` (checked at validation)."""
        return 0

    def architecture_problem(self, architecture: Architecture) -> str | None:
        """Why this learner cannot work with `architecture` (checked at validation), or None."""
        return None

    def estimate_cost(self, context: CostContext) -> CellCost | None:
        """What one cell will cost, for `ntkbench plan` and the memory check of `ntkbench run`.

        Return a `CellCost`: `peak_bytes`, the memory the cell holds at its peak (inputs, kernel
        matrices, parameters and optimiser state), always; `flops`, the floating-point work, when
        `context.detailed` (for jax code, `jax.jit(f).lower(*args).cost_analysis()` counts it without
        compiling or running; `jax.ShapeDtypeStruct` stands in for the arrays; a plan should not
        compile more than small instances); float64 factorisations as `factor_flops`. Without
        `context.detailed` give only `peak_bytes`: the memory check of every run asks, and must not
        trace or compile. Work shared by a seed's cells is
        counted at `context.first_of_seed`. None (the default): unknown, shown as `?` by
        `ntkbench plan` and left out of the memory check.
        """
        return None

    def kernel_dynamics(self, task: LearnerTask, request: DynamicsRequest) -> LearnerResult:
        """Train as `fit_predict` does while following the empirical NTK on `request.x_probe` at
        `request.checkpoint_steps(...)`; return the test predictions with the trajectory in `info`
        (`checkpoints`, a list of rows, and `settled_fraction`). Only called when
        `follows_kernel_dynamics` is true."""
        raise NotImplementedError(f"{type(self).__name__} does not follow kernel dynamics")

    def regression_kernel(self, task: LearnerTask) -> RegressionKernel:
        """The kernel this learner regresses with on `task`'s cell: the same kernel `fit_predict`
        uses, for a spec's `spectrum` section. Only called when `regresses_with_kernel` is true,
        with `task` the seed's largest cell (or each cell, with `kernel_depends_on_n`); a learner
        that learns its kernel may use `task.cache` as `fit_predict` does."""
        raise NotImplementedError(f"{type(self).__name__} does not say which kernel it regresses with")

    def fit_predict_seeds(self, tasks: Sequence[LearnerTask]) -> list[LearnerResult | CellFailure]:
        """`fit_predict` for cells that differ only in their seed (one n, one width), each with the
        result it would have alone; per task, its result or the `CellFailure` that fails its cell
        alone. Called with a group only when `trains_seeds_together`; the default fits one task
        after the other."""
        results: list[LearnerResult | CellFailure] = []
        for task in tasks:
            try:
                results.append(self.fit_predict(task))
            except CellFailure as failure:
                results.append(failure)
        return results

    @abc.abstractmethod
    def fit_predict(self, task: LearnerTask) -> LearnerResult:
        """Train on `task.x_train, task.y_train` and predict `task.x_test`.

        Raise `ntkbench.CellFailure` with a reason when this cell cannot give a result.
        """
