"""`network`: the architecture's finite network, trained with optax and evaluated on the test set."""

from __future__ import annotations

from typing import Any

from ..api import Architecture, CellCost, CostContext, DynamicsRequest, Learner, LearnerResult, LearnerTask, TestLoss
from ..numerics._options import TrainingOptions


class TrainedNetworkLearner(Learner):
    """What the learners that train a network (or its linearisation) by `TrainingOptions` share: the
    loss they are measured by, the optimizers the architecture allows, and validation data for a
    learning-rate list or early stopping."""

    Options = TrainingOptions

    def test_loss(self) -> TestLoss:
        return "cross_entropy" if self.options.loss == "cross_entropy" else "squared_error"

    def architecture_problem(self, architecture: Architecture) -> str | None:
        return self.options.architecture_problem(architecture)

    def needs_validation(self) -> bool:
        return self.options.needs_validation()


class NetworkLearner(TrainedNetworkLearner):
    """Train the network from this seed's initialisation and predict with its outputs."""

    api_version = 1
    follows_kernel_dynamics = True

    def fit_predict(self, task: LearnerTask) -> LearnerResult:
        from ..training import predict

        initial = task.init_model()
        trained, info = train_for_task(initial, task, self.options)
        predictions = predict(trained, task.x_test, initial=initial if self.options.center else None)
        return LearnerResult(predictions=predictions, info=info)

    def kernel_dynamics(self, task: LearnerTask, request: DynamicsRequest) -> LearnerResult:
        from ..numerics._dynamics import kernel_trajectory

        return kernel_trajectory(task, self.options, request)

    def estimate_cost(self, context: CostContext) -> CellCost:
        from ..numerics._costs import initial_model, training_cost

        return training_cost(initial_model(context), self.options, context, context.n_train)


def train_for_task(initial: Any, task: LearnerTask, options: TrainingOptions) -> tuple[Any, dict[str, Any]]:
    """Train `initial` on the cell's training set, at the one learning rate of `options` or at the one
    of its list with the lowest validation error; return the network and the facts to record."""
    from ..training import train_choosing_learning_rate, train_network

    if options.learning_rates() is None:
        trained, log = train_network(
            initial, task.x_train, task.y_train, task.num_classes, options, seed=task.seed, validation=task.validation
        )
        return trained, log.summary()
    trained, log, choice = train_choosing_learning_rate(
        initial, task.x_train, task.y_train, task.num_classes, options, seed=task.seed, validation=task.validation
    )
    return trained, {**log.summary(), **choice}
