"""`network`: the architecture's finite network, trained with optax and evaluated on the test set."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..api import (
    Architecture,
    CellCost,
    CellFailure,
    CostContext,
    DynamicsRequest,
    InputError,
    Learner,
    LearnerResult,
    LearnerTask,
    TestLoss,
    TrainingOptions,
)


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
    trains_network = True
    follows_kernel_dynamics = True
    trains_seeds_together = True

    def fit_predict(self, task: LearnerTask) -> LearnerResult:
        (result,) = self.fit_predict_seeds([task])
        if isinstance(result, CellFailure):
            raise result
        return result

    def fit_predict_seeds(self, tasks: Sequence[LearnerTask]) -> list[LearnerResult | CellFailure]:
        """Every seed's network (and, with a list of learning rates, every rate's) trained as one
        computation; each keeps its own rate choice."""
        from ..training import predict

        initials = [task.init_model() for task in tasks]
        results: list[LearnerResult | CellFailure] = []
        for task, initial, outcome in zip(tasks, initials, train_for_tasks(initials, tasks, self.options)):
            if isinstance(outcome, CellFailure):
                results.append(outcome)
                continue
            trained, info = outcome
            predictions = predict(trained, task.x_test, initial=initial if self.options.center else None)
            results.append(LearnerResult(predictions=predictions, info=info))
        return results

    def kernel_dynamics(self, task: LearnerTask, request: DynamicsRequest) -> LearnerResult:
        from ..kernels import kernel_trajectory

        return kernel_trajectory(task, self.options, request)

    def estimate_cost(self, context: CostContext) -> CellCost:
        from ..costs import initial_model, training_cost

        return training_cost(
            initial_model(context), self.options, context, context.n_train, steps=context.recorded.get("steps")
        )


def train_for_task(initial: Any, task: LearnerTask, options: TrainingOptions) -> tuple[Any, dict[str, Any]]:
    """Train `initial` on the cell's training set, at the one learning rate of `options` or at the one
    of its list with the lowest validation error; return the network and the facts to record.

    **Raises:** `CellFailure` when the training diverges (at every rate of a list)."""
    (outcome,) = train_for_tasks([initial], [task], options)
    if isinstance(outcome, CellFailure):
        raise outcome
    return outcome


def train_for_tasks(
    initials: Sequence[Any], tasks: Sequence[LearnerTask], options: TrainingOptions
) -> list[tuple[Any, dict[str, Any]] | CellFailure]:
    """`train_for_task` for cells of one n, all their trainings (seeds, and rates of a list) as one
    computation; per task, the network and its facts, or the `CellFailure` of that cell."""
    from ..training import TrainingMember, choose_learning_rate, train_networks

    rates = options.learning_rates()
    if rates is not None and any(task.validation is None for task in tasks):
        raise InputError("choosing the learning rate needs validation samples: set dataset.validation_n")
    members = [
        TrainingMember(initial, task.x_train, task.y_train, task.seed, rate, task.validation)
        for initial, task in zip(initials, tasks)
        for rate in (rates or (None,))
    ]
    outcomes = train_networks(members, tasks[0].num_classes, options)
    if rates is None:
        return [outcome if isinstance(outcome, CellFailure) else (outcome[0], outcome[1].summary()) for outcome in outcomes]
    chosen: list[tuple[Any, dict[str, Any]] | CellFailure] = []
    for index in range(len(tasks)):
        mine = slice(index * len(rates), (index + 1) * len(rates))
        try:
            trained, log, choice = choose_learning_rate(members[mine], outcomes[mine], tasks[0].num_classes, options)
        except CellFailure as failure:
            chosen.append(failure)
            continue
        chosen.append((trained, {**log.summary(), **choice}))
    return chosen
