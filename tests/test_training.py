"""Training the network: minibatches, convergence, divergence and centring."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from ntkbench import CellFailure
from ntkbench.architectures.mlp import MLPArchitecture, MLPOptions
from ntkbench.numerics._prediction import predict
from ntkbench.numerics._training import train_network
from ntkbench.numerics._training_steps import MinibatchOrder
from ntkbench.training import SGDOptions, TrainingOptions


def data(n=64, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4, 4, 1)).astype(np.float32)
    y = (x.reshape(n, -1).sum(1) > 0).astype(np.int32)
    return x, y


def model():
    return MLPArchitecture(MLPOptions(width=64, depth=1)).init_model(
        input_shape=(4, 4, 1), num_classes=2, key=jax.random.PRNGKey(0)
    )


def minibatch_indices(n: int, batch_size: int, steps: int, seed: int) -> np.ndarray:
    return MinibatchOrder(n, batch_size, seed).take(0, steps)


def test_minibatches_cover_each_epoch_once():
    batches = minibatch_indices(n=10, batch_size=5, steps=6, seed=0)
    assert batches.shape == (6, 5)
    for epoch in range(3):
        assert sorted(batches[2 * epoch : 2 * epoch + 2].ravel()) == list(range(10))
    assert minibatch_indices(n=3, batch_size=8, steps=2, seed=0).shape == (2, 3)  # whole set when n < batch


def test_training_fits_the_training_set():
    x, y = data()
    options = TrainingOptions(optimizer=SGDOptions(name="sgd", learning_rate=0.5, momentum=0.9), batch_size=16, steps=300)
    trained, log = train_network(model(), x, y, 2, options, seed=0)
    summary = log.summary()
    assert summary["train_loss_final"] < 0.01 * summary["train_loss_initial"]
    assert np.mean(np.argmax(predict(trained, x), 1) == y) == 1.0


def test_divergence_is_a_cell_failure():
    x, y = data()
    options = TrainingOptions(optimizer=SGDOptions(name="sgd", learning_rate=1e4), steps=50)
    with pytest.raises(CellFailure, match="diverged"):
        train_network(model(), x, y, 2, options, seed=0)


def test_centred_training_starts_from_the_zero_function():
    x, y = data()
    options = TrainingOptions(optimizer=SGDOptions(name="sgd", learning_rate=0.1), batch_size=64, steps=1, center=True)
    initial = model()
    _, log = train_network(initial, x, y, 2, options, seed=0)
    assert log.losses[0] == pytest.approx(0.5)  # 0.5 * ||0 - one_hot||^2, whatever the initial outputs
    assert np.allclose(predict(initial, x, initial=initial), 0.0)


def test_the_minibatch_order_is_drawn_as_needed_and_is_the_same_for_any_budget():
    eager = minibatch_indices(n=10, batch_size=4, steps=11, seed=3)
    order = MinibatchOrder(10, 4, seed=3)
    pieces = [order.take(0, 3), order.take(3, 7), order.take(7, 11)]
    assert np.array_equal(np.concatenate(pieces), eager)
    assert order._first_epoch == 3 and len(order._epochs) == 3  # epochs 0-2, already trained on, are dropped


def test_an_epoch_budget_takes_epochs_times_the_batches_per_epoch():
    x, y = data(n=20)
    options = TrainingOptions(optimizer=SGDOptions(name="sgd", learning_rate=0.1), batch_size=8, epochs=3)
    assert options.steps is None and options.step_budget(20) == 6 and options.budget() == "3 epochs"
    _, log = train_network(model(), x, y, 2, options, seed=0)
    assert log.steps == 6 and len(log.losses) == 6 and log.converged is None


def test_until_stops_at_the_first_check_that_meets_the_rule():
    from ntkbench.numerics._stopping import training_fit

    x, y = data()
    options = TrainingOptions(
        optimizer=SGDOptions(name="sgd", learning_rate=0.5, momentum=0.9), batch_size=16,
        until={"train_error": 0.0}, max_steps=2000, check_every=5,
    )
    trained, log = train_network(model(), x, y, 2, options, seed=0)
    assert log.converged is True and log.train_error == 0.0 and log.steps % 5 == 0 and log.steps < 2000
    assert training_fit(trained, x, y, np.zeros((len(x), 2)), "mse", 2)[0] == 0.0
    shorter = options.model_copy(update={"max_steps": log.steps - 5})
    _, unfinished = train_network(model(), x, y, 2, shorter, seed=0)  # the same steps, stopped one check earlier
    assert unfinished.converged is False and unfinished.steps == log.steps - 5 and unfinished.train_error > 0
    summary = unfinished.summary()
    assert summary["converged"] is False and summary["steps"] == log.steps - 5 and summary["train_error"] > 0


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"steps": 10, "epochs": 2}, "give one training budget: steps and epochs are both set"),
        ({"until": {"train_error": 0.0}}, "`until` needs `max_steps`"),
        ({"max_steps": 100}, "`max_steps` belongs to an `until` budget"),
        ({"until": {"train_error": 0.0, "train_loss": 0.1}, "max_steps": 10}, "exactly one of train_error and train_loss"),
        ({"until": {}, "max_steps": 10}, "exactly one of train_error and train_loss"),
    ],
)
def test_a_budget_is_one_of_steps_epochs_or_until(options, message):
    import pydantic

    with pytest.raises(pydantic.ValidationError, match=message):
        TrainingOptions(**options)


def test_schedules_follow_their_definitions():
    from ntkbench.numerics._optimizers import learning_rate_schedule

    def schedule(spec):
        options = TrainingOptions(optimizer=SGDOptions(name="sgd", learning_rate=0.2), schedule=spec)
        return learning_rate_schedule(options, total_steps=100)

    assert schedule({"name": "constant"}) == 0.2
    cosine = schedule({"name": "cosine", "final_fraction": 0.1})
    assert float(cosine(0)) == pytest.approx(0.2) and float(cosine(100)) == pytest.approx(0.02)
    assert float(cosine(50)) == pytest.approx(0.02 + 0.18 * 0.5)
    warm = schedule({"name": "warmup_cosine", "warmup_steps": 10})
    assert float(warm(0)) == 0.0 and float(warm(5)) == pytest.approx(0.1) and float(warm(10)) == pytest.approx(0.2)
    assert float(warm(100)) == pytest.approx(0.0, abs=1e-9)
    step = schedule({"name": "step", "every": 30, "factor": 0.5})
    assert [float(step(t)) for t in (0, 29, 30, 60)] == pytest.approx([0.2, 0.2, 0.1, 0.05])


@pytest.mark.parametrize("optimizer", [{"name": "sgd", "learning_rate": 0.1}, {"name": "adam", "learning_rate": 0.1}])
def test_weight_decay_shrinks_the_weights_by_learning_rate_times_decay(optimizer):
    import jax.numpy as jnp

    from ntkbench.numerics._optimizers import build_optimizer

    options = TrainingOptions(optimizer=optimizer, weight_decay=0.01)
    transform = build_optimizer(options, 10)
    params = {"w": jnp.array([1.0, -2.0])}
    updates, _ = transform.update({"w": jnp.zeros(2)}, transform.init(params), params)
    np.testing.assert_allclose(updates["w"], -0.1 * 0.01 * params["w"], rtol=1e-6)


def test_new_training_options_at_their_defaults_leave_the_canonical_spec_and_its_keys_unchanged():
    options = TrainingOptions(steps=100)
    canonical = options.canonical()
    assert not {"epochs", "until", "max_steps", "check_every", "schedule", "weight_decay"} & set(canonical)
    assert canonical["steps"] == 100
    tuned = TrainingOptions(epochs=5, weight_decay=1e-4).canonical()
    assert tuned["epochs"] == 5 and tuned["weight_decay"] == 1e-4 and tuned["steps"] is None


def test_the_test_loss_of_cross_entropy_predictions_is_their_cross_entropy():
    from ntkbench.learners.network import NetworkLearner
    from ntkbench.runner._metrics import test_outcomes

    logits = np.array([[2.0, 0.0, -1.0], [0.0, 0.0, 0.0]])
    labels = np.array([0, 2])
    expected = -np.log(np.exp(logits[[0, 1], labels]) / np.exp(logits).sum(axis=1))
    np.testing.assert_allclose(test_outcomes(logits, labels, 3, "cross_entropy")["test_loss"], expected)
    np.testing.assert_allclose(test_outcomes(logits, labels, 3)["test_loss"], [1 + 0 + 1, 0 + 0 + 1])
    assert NetworkLearner(TrainingOptions(loss="cross_entropy")).test_loss() == "cross_entropy"
    assert NetworkLearner(TrainingOptions()).test_loss() == "squared_error"


@pytest.mark.parametrize("rule", ["until", "patience"])
def test_networks_trained_together_match_each_trained_alone(rule):
    """Seeds as one computation: each member stops by its own rule (a training loss, or early
    stopping on its validation samples) and ends where it would alone; one that diverges fails alone."""
    from ntkbench.training import TrainingMember, train_networks

    budget = {"until": {"train_loss": 0.02}, "max_steps": 400} if rule == "until" else {"steps": 400, "patience": 3, "check_every": 2}
    options = TrainingOptions(
        optimizer=SGDOptions(name="sgd", learning_rate=0.5, momentum=0.9), batch_size=16, center=True, **budget,
    )
    architecture = MLPArchitecture(MLPOptions(width=64, depth=1))
    members = [
        TrainingMember(
            architecture.init_model(input_shape=(4, 4, 1), num_classes=2, key=jax.random.PRNGKey(seed)),
            *data(seed=seed), seed=seed, validation=data(n=24, seed=10 + seed),
        )
        for seed in range(3)
    ]
    members.append(TrainingMember(members[0].model, *data(seed=0), seed=0, learning_rate=1e4, validation=data(n=24, seed=10)))
    together = train_networks(members, 2, options)
    steps = []
    for member, outcome in zip(members[:3], together):
        alone, alone_log = train_network(
            member.model, member.x, member.y, 2, options, seed=member.seed, validation=member.validation
        )
        trained, log = outcome
        assert log.steps == alone_log.steps and log.train_loss == pytest.approx(alone_log.train_loss, rel=1e-5)
        assert log.converged is (True if rule == "until" else None) and log.early_stopping == alone_log.early_stopping
        x_test = data(n=32, seed=9)[0]
        np.testing.assert_allclose(predict(trained, x_test, initial=member.model), predict(alone, x_test, initial=member.model), atol=1e-5)
        steps.append(log.early_stopping["steps_trained"] if rule == "patience" else log.steps)
    assert len(set(steps)) > 1  # the members stopped at different checks
    assert isinstance(together[3], CellFailure) and "diverged" in str(together[3])


def test_a_learning_rate_list_trains_as_one_computation_and_keeps_the_rate_chosen_alone():
    from ntkbench.training import train_choosing_learning_rate

    x, y = data()
    validation = data(n=32, seed=5)
    rates = (0.05, 0.5, 1e4)
    options = TrainingOptions(optimizer=SGDOptions(name="sgd", learning_rate=rates), batch_size=16, steps=60)
    trained, log, choice = train_choosing_learning_rate(model(), x, y, 2, options, seed=0, validation=validation)
    errors = []
    for rate in rates[:2]:
        alone, _ = train_network(model(), x, y, 2, options.at_learning_rate(rate), seed=0)
        errors.append(float(np.mean(np.argmax(predict(alone, validation[0]), 1) != validation[1])))
        if rate == choice["learning_rate"]:
            np.testing.assert_allclose(predict(trained, validation[0]), predict(alone, validation[0]), atol=1e-5)
    assert choice["validation_errors"][:2] == errors and choice["validation_errors"][2] is None
    assert log.steps == 60


def test_the_cells_of_a_sweep_share_one_compiled_training_step_and_train_exactly_as_alone(monkeypatch, caplog):
    """Training sets are padded on the device to a common number of rows (within
    `SHARED_PADDING_BYTES`), so that a sweep compiles its training step once instead of once per
    size; the padding is never gathered, so a network trains bit for bit as on its own power of two."""
    import logging

    from ntkbench.numerics import _training_steps

    options = TrainingOptions(optimizer=SGDOptions(name="sgd", learning_rate=0.5, momentum=0.9), batch_size=16, steps=30)
    sizes = (20, 40, 100)
    shared = {}
    with caplog.at_level(logging.WARNING), jax.log_compiles(True):
        for n in sizes:
            shared[n] = train_network(model(), *data(n=n, seed=n), 2, options, seed=0)
    compiled = [record for record in caplog.records if "Finished XLA compilation of jit(_compiled_steps)" in record.getMessage()]
    assert len(compiled) <= 1  # none when an earlier test compiled this step for these rows
    monkeypatch.setattr(_training_steps, "SHARED_PADDING_BYTES", 0)
    assert {_training_steps.padded_rows(n, 4 * 16) for n in sizes} == {32, 64, 128}
    for n in sizes:
        alone, alone_log = train_network(model(), *data(n=n, seed=n), 2, options, seed=0)
        trained, log = shared[n]
        assert np.array_equal(log.losses, alone_log.losses)
        for ours, theirs in zip(jax.tree.leaves(trained), jax.tree.leaves(alone)):
            assert np.array_equal(ours, theirs)


def test_the_until_check_stops_computing_a_training_set_once_part_of_it_fails_the_rule(monkeypatch):
    """Per-example losses are non-negative, so a chunk of the training set whose loss alone, over n,
    exceeds the rule decides the check: the rest is not computed, and training stops at the same
    step with the same fit as when every chunk of every check is computed."""
    from ntkbench.numerics import _prediction, _stopping, _training_steps

    for module in (_prediction, _training_steps):
        monkeypatch.setattr(module, "PREDICT_BATCH", 64)
    options = TrainingOptions(
        optimizer=SGDOptions(name="sgd", learning_rate=0.5, momentum=0.9), batch_size=64, center=True,
        until={"train_loss": 5e-3}, max_steps=3000,
    )
    computed = []
    chunks = _training_steps.NetworkGroup.chunks

    def counted(self, inputs):
        for rows, outputs in chunks(self, inputs):
            computed.append(rows.start)
            yield rows, outputs

    monkeypatch.setattr(_training_steps.NetworkGroup, "chunks", counted)
    x, y = data(n=512)
    _, log = train_network(model(), x, y, 2, options, seed=0)
    with_shortcut = len(computed)
    computed.clear()
    monkeypatch.setattr(_stopping, "BOUND_MARGIN", 2.0)  # a negative bound never fails a loss rule: every chunk is computed
    _, full = train_network(model(), x, y, 2, options, seed=0)
    assert log.converged and (log.steps, log.train_loss, log.train_error) == (full.steps, full.train_loss, full.train_error)
    assert np.array_equal(log.losses, full.losses)
    checks = full.steps // (512 // 64)  # one per epoch
    assert len(computed) == checks * (512 // 64) and with_shortcut < len(computed) / 2


def test_a_training_curve_keeps_64_log_spaced_means_and_the_checks_that_computed_a_fit():
    from ntkbench.numerics._training import CURVE_POINTS, training_curve

    losses = np.arange(1, 10_001, dtype=np.float64)  # the loss at step k is k
    checked = [(step, 1.0 / step, 2.0 / step) for step in range(100, 10_001, 100)]
    curve = training_curve(losses, checked)
    assert len(curve["step"]) <= CURVE_POINTS and curve["step"][0] == 1 and curve["step"][-1] == 10_000
    assert curve["step"] == sorted(set(curve["step"]))
    previous = [0, *curve["step"][:-1]]
    # Each point is the mean of the steps since the point before: (start + 1 + end) / 2 for losses 1, 2, ...
    assert curve["loss"] == [pytest.approx((start + 1 + end) / 2) for start, end in zip(previous, curve["step"])]
    assert len(curve["check_step"]) == CURVE_POINTS and curve["check_step"][0] == 100 and curve["check_step"][-1] == 10_000
    assert curve["train_error"][-1] == pytest.approx(1e-4) and curve["train_loss"][-1] == pytest.approx(2e-4)
