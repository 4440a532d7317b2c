"""`entk_final`: the empirical NTK of the network at the end of its training on the same n.

The "after kernel": the network is trained exactly as the `network` learner trains it (same
initialisation, data, options), and kernel ridge regression with its final empirical NTK is
fitted on the same training set. No kernel taken from the same run is better placed to explain
the network, so the gap between its exponent and the network's bounds what any such kernel can
explain. Unlike `entk_pretrained`, the kernel differs for every n: one training per cell.
"""

from __future__ import annotations

from ..api import Architecture, CellCost, CostContext, Learner, LearnerResult, LearnerTask, RegressionKernel
from ._learner_options import EmpiricalNTKOptions, OneLearningRate, ridge_count


class FinalEmpiricalNTKOptions(OneLearningRate, EmpiricalNTKOptions):
    """The network's training options, and the kernel's."""


class FinalEmpiricalNTKLearner(Learner):
    """Kernel ridge regression with the empirical NTK of the network trained on this cell's data."""

    Options = FinalEmpiricalNTKOptions
    api_version = 1
    network_kernel = "final"
    regresses_with_kernel = True
    kernel_depends_on_n = True

    def architecture_problem(self, architecture: Architecture) -> str | None:
        return self.options.architecture_problem(architecture)

    def needs_validation(self) -> bool:
        return self.options.chooses_ridge()

    def _trained(self, task: LearnerTask):
        from ..training import train_network

        return train_network(task.init_model(), task.x_train, task.y_train, task.num_classes, self.options, seed=task.seed)

    def regression_kernel(self, task: LearnerTask) -> RegressionKernel:
        from ..kernels import empirical_ntk_kernel

        trained, _ = self._trained(task)
        return empirical_ntk_kernel(
            trained, task.x_test, self.options.implementation, self.options.contraction, task.architecture
        )

    def fit_predict(self, task: LearnerTask) -> LearnerResult:
        from ..kernels import regress_with_empirical_ntk

        trained, log = self._trained(task)
        result = regress_with_empirical_ntk(trained, task, self.options.ridges(), self.options.implementation, per_seed=False,
                                            contraction=self.options.contraction,
                                          solver=self.options.solver, tolerance=self.options.solver_tolerance)
        result.info.update({f"train_{key}": value for key, value in log.summary().items()})
        return result

    def estimate_cost(self, context: CostContext) -> CellCost:
        from ..costs import combine, empirical_kernel, initial_model, kernel_regression_cost, training_cost

        model = initial_model(context)
        options = self.options
        kernel = (empirical_kernel(model, context, options.implementation, options.contraction, examples=context.n_train)
                  if context.detailed else None)
        return combine(
            training_cost(model, self.options, context, context.n_train, steps=context.recorded.get("steps")),
            kernel_regression_cost(kernel, context, per_seed=False, ridges=ridge_count(self.options), solver=self.options.solver),
        )
