"""`entk_init`: kernel ridge regression with the empirical NTK of the network at initialisation."""

from __future__ import annotations

from ..api import CellCost, CostContext, Learner, LearnerResult, LearnerTask, RegressionKernel
from ._learner_options import EmpiricalNTKOptions, ridge_count


class InitEmpiricalNTKLearner(Learner):
    """The linearisation of this seed's network around its initial parameters, trained to convergence."""

    Options = EmpiricalNTKOptions
    api_version = 1
    network_kernel = "initial"
    regresses_with_kernel = True

    def needs_validation(self) -> bool:
        return self.options.chooses_ridge()

    def regression_kernel(self, task: LearnerTask) -> RegressionKernel:
        from ..kernels import empirical_ntk_kernel

        return empirical_ntk_kernel(
            task.init_model(), task.x_test, self.options.implementation, self.options.contraction, task.architecture
        )

    def fit_predict(self, task: LearnerTask) -> LearnerResult:
        from ..kernels import regress_with_empirical_ntk

        return regress_with_empirical_ntk(task.init_model(), task, self.options.ridges(), self.options.implementation,
                                          contraction=self.options.contraction,
                                          solver=self.options.solver, tolerance=self.options.solver_tolerance)

    def estimate_cost(self, context: CostContext) -> CellCost:
        from ..costs import empirical_kernel, initial_model, kernel_regression_cost

        options = self.options
        if not context.detailed:
            return kernel_regression_cost(None, context, solver=self.options.solver)
        kernel = empirical_kernel(initial_model(context), context, options.implementation, options.contraction)
        return kernel_regression_cost(kernel, context, ridges=ridge_count(self.options), solver=self.options.solver)
