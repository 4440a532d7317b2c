"""`network_linearized`: the network's first-order Taylor expansion at its initialisation, trained
exactly as `network` trains the network (optimizer, schedule, minibatches, loss, budget, stopping rule).

Its predictions are `f(x; theta_0) + J(x; theta_0) delta`. Against `network` it measures what the
features the network learns are worth; against `entk_init` (kernel regression with the same
network's empirical NTK, solved exactly) what finite training and the optimizer change: trained
to convergence on the squared loss, centred, it is kernel regression with the full logit-by-logit
empirical NTK at initialisation.
"""

from __future__ import annotations

from ..api import CellCost, CostContext, InputError, LearnerResult, LearnerTask, StatefulModel
from .network import TrainedNetworkLearner, train_for_task


class LinearizedNetworkLearner(TrainedNetworkLearner):
    """Train the linearisation of this seed's network around its initial parameters."""

    api_version = 1

    def fit_predict(self, task: LearnerTask) -> LearnerResult:
        from ..training import Linearized
        from ..training import predict

        network = task.init_model()
        if isinstance(network, StatefulModel):
            raise InputError("network_linearized needs a network without batch norm (its Jacobian mixes the batch)")
        initial = Linearized(network)
        trained, info = train_for_task(initial, task, self.options)
        predictions = predict(trained, task.x_test, initial=initial if self.options.center else None)
        return LearnerResult(predictions=predictions, info=info)

    def estimate_cost(self, context: CostContext) -> CellCost:
        import equinox as eqx

        from ..costs import initial_model, training_cost
        from ..training import Linearized

        model = initial_model(context)
        return training_cost(
            eqx.filter_eval_shape(Linearized, model) if context.detailed else model, self.options, context, context.n_train,
            steps=context.recorded.get("steps"),
        )
