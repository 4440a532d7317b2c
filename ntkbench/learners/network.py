"""`network`: the architecture's finite network, trained with optax and evaluated on the test set."""

from __future__ import annotations

from ..api import CellCost, CostContext, DynamicsRequest, Learner, LearnerResult, LearnerTask, TestLoss
from ..numerics._options import TrainingOptions


class NetworkLearner(Learner):
    """Train the network from this seed's initialisation and predict with its outputs."""

    Options = TrainingOptions
    api_version = 1
    follows_kernel_dynamics = True

    def test_loss(self) -> TestLoss:
        return "cross_entropy" if self.options.loss == "cross_entropy" else "squared_error"

    def fit_predict(self, task: LearnerTask) -> LearnerResult:
        from ..training import predict, train_network

        initial = task.init_model()
        trained, log = train_network(initial, task.x_train, task.y_train, task.num_classes, self.options, seed=task.seed)
        predictions = predict(trained, task.x_test, initial=initial if self.options.center else None)
        return LearnerResult(predictions=predictions, info=log.summary())

    def kernel_dynamics(self, task: LearnerTask, request: DynamicsRequest) -> LearnerResult:
        from ..numerics._dynamics import kernel_trajectory

        return kernel_trajectory(task, self.options, request)

    def estimate_cost(self, context: CostContext) -> CellCost:
        from ..numerics._costs import initial_model, training_cost

        return training_cost(initial_model(context), self.options, context, context.n_train)
