"""`ntk_infinite`: kernel ridge regression with the architecture's infinite-width NTK (native from
its kernel map, else from its `stax` twin)."""

from __future__ import annotations

from ..api import CellCost, CostContext, Learner, LearnerResult, LearnerTask, RegressionKernel
from ._learner_options import KernelRidgeOptions, ridge_count


class InfiniteNTKLearner(Learner):
    """The infinite-width limit of the network trained by gradient flow on the squared loss."""

    Options = KernelRidgeOptions
    api_version = 1
    network_kernel = "infinite"
    needs_infinite_kernel = True
    same_at_every_width = True
    regresses_with_kernel = True

    def __init__(self, options: KernelRidgeOptions):
        super().__init__(options)
        self._kernel_fn = None

    def needs_validation(self) -> bool:
        return self.options.chooses_ridge()

    def regression_kernel(self, task: LearnerTask) -> RegressionKernel:
        from ..kernels import architecture_kernel_fn, infinite_kernel_description

        if self._kernel_fn is None:  # compiled once per run, shared by every seed
            self._kernel_fn = architecture_kernel_fn(task.architecture, num_classes=task.num_classes)
        description = infinite_kernel_description(task.architecture, num_classes=task.num_classes)
        return RegressionKernel(self._kernel_fn, key=self._kernel_fn, description=description)

    def fit_predict(self, task: LearnerTask) -> LearnerResult:
        from ..kernels import regress_with_kernel

        kernel = self.regression_kernel(task)
        return regress_with_kernel(
            kernel.function, task, self.options.ridges(), kernel_key=kernel.key, same_for_every_seed=True,
            kernel_description=kernel.description, solver=self.options.solver, tolerance=self.options.solver_tolerance,
        )

    def estimate_cost(self, context: CostContext) -> CellCost:
        from ..costs import KernelComputation, kernel_regression_cost
        from ..kernels import architecture_kernel_fn, infinite_kernel_description

        if not context.detailed:
            return kernel_regression_cost(None, context, same_for_every_seed=True, solver=self.options.solver)
        architecture = context.architecture
        kernel_fn = architecture_kernel_fn(architecture, num_classes=context.num_classes)
        source = "native" if architecture.has_kernel_map() else "stax"
        name = ("infinite_ntk", source, type(architecture).__qualname__, repr(architecture.options), context.num_classes)
        description = infinite_kernel_description(architecture, num_classes=context.num_classes)
        return kernel_regression_cost(
            KernelComputation(kernel_fn, (), name, description), context, same_for_every_seed=True,
            ridges=ridge_count(self.options), solver=self.options.solver,
        )
