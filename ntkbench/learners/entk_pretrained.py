"""`entk_pretrained`: the empirical NTK of the network after training on `pretrain_n` samples.

The network is trained once per seed, from the same initialisation as the `network`
learner, on `pretrain_n` held-out samples of the pool: samples that no training set of the
sweep contains, so the kernel regression never sees the data the kernel was learned on. Its
empirical NTK at that checkpoint then serves kernel ridge regression at every n of the
sweep. The spec is refused when the largest n plus `pretrain_n` exceeds the pool.
"""

from __future__ import annotations

from pydantic import PositiveInt

from ..api import Architecture, CellCost, CostContext, Learner, LearnerResult, LearnerTask, RegressionKernel
from ._learner_options import EmpiricalNTKOptions, OneLearningRate, ridge_count


class PretrainedEmpiricalNTKOptions(OneLearningRate, EmpiricalNTKOptions):
    pretrain_n: PositiveInt
    """Samples the network is trained on before its empirical NTK is taken."""


class PretrainedEmpiricalNTKLearner(Learner):
    """How much of the network's scaling a kernel learned from `pretrain_n` samples explains."""

    Options = PretrainedEmpiricalNTKOptions
    api_version = 1
    network_kernel = "pretrained"
    regresses_with_kernel = True

    def held_out_samples(self) -> int:
        return self.options.pretrain_n

    def architecture_problem(self, architecture: Architecture) -> str | None:
        return self.options.architecture_problem(architecture)

    def needs_validation(self) -> bool:
        return self.options.chooses_ridge()

    def _pretrained(self, task: LearnerTask):
        from ..training import train_network

        def pretrain():
            x, y = task.held_out_subset(self.options.pretrain_n)
            return train_network(task.init_model(), x, y, task.num_classes, self.options, seed=task.seed)

        return task.cache.get_or_create("pretrained", pretrain)

    def regression_kernel(self, task: LearnerTask) -> RegressionKernel:
        from ..kernels import empirical_ntk_kernel

        model, _ = self._pretrained(task)
        return empirical_ntk_kernel(
            model, task.x_test, self.options.implementation, self.options.contraction, task.architecture
        )

    def fit_predict(self, task: LearnerTask) -> LearnerResult:
        from ..kernels import regress_with_empirical_ntk

        model, log = self._pretrained(task)
        result = regress_with_empirical_ntk(model, task, self.options.ridges(), self.options.implementation,
                                          contraction=self.options.contraction,
                                          solver=self.options.solver, tolerance=self.options.solver_tolerance)
        result.info.update({f"pretrain_{key}": value for key, value in log.summary().items()})
        return result

    def estimate_cost(self, context: CostContext) -> CellCost:
        from ..costs import combine, empirical_kernel, initial_model, kernel_regression_cost, training_cost

        if not context.first_of_seed:
            return kernel_regression_cost(None, context, solver=self.options.solver)
        model = initial_model(context)
        options = self.options
        kernel = empirical_kernel(model, context, options.implementation, options.contraction) if context.detailed else None
        pretraining = training_cost(model, options, context, options.pretrain_n, steps=context.recorded.get("pretrain_steps"))
        return combine(pretraining, kernel_regression_cost(kernel, context, ridges=ridge_count(options), solver=options.solver))
