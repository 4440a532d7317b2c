"""`entk_init`: kernel ridge regression with the empirical NTK of the network at initialisation."""

from __future__ import annotations

from .._plugins import CellCost, CostContext, Learner, LearnerResult, LearnerTask
from ._options import EmpiricalNTKOptions


class InitEmpiricalNTKLearner(Learner):
    """The linearisation of this seed's network around its initial parameters, trained to convergence."""

    Options = EmpiricalNTKOptions
    api_version = 1

    def fit_predict(self, task: LearnerTask) -> LearnerResult:
        from ..numerics._kernels import empirical_ntk, empirical_ntk_key, resolve_implementation
        from ._kernel_regression import regress_with_kernel

        model = task.init_model()
        implementation = resolve_implementation(model, task.x_test, self.options.implementation)
        result = regress_with_kernel(
            lambda x1, x2: empirical_ntk(model, x1, x2, implementation), task, self.options.ridge,
            kernel_key=empirical_ntk_key(model, implementation),
        )
        result.info["implementation"] = implementation
        return result

    def estimate_cost(self, context: CostContext) -> CellCost:
        from ..numerics._costs import empirical_kernel_fn, initial_model, kernel_regression_cost

        kernel = empirical_kernel_fn(initial_model(context), context, self.options.implementation) if context.detailed else None
        return kernel_regression_cost(kernel, context)
