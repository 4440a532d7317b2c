"""`network`: the architecture's finite network, trained with optax and evaluated on the test set."""

from __future__ import annotations

from .._plugins import Learner, LearnerResult, LearnerTask
from ._options import TrainingOptions


class NetworkLearner(Learner):
    """Train the network from this seed's initialisation and predict with its outputs."""

    Options = TrainingOptions

    def fit_predict(self, task: LearnerTask) -> LearnerResult:
        from ..numerics._training import predict, train_network

        trained, log = train_network(
            task.init_model(), task.x_train, task.y_train, task.num_classes, self.options, seed=task.seed
        )
        return LearnerResult(predictions=predict(trained, task.x_test), info=log.summary())
