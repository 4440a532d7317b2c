"""Early stopping on validation error (`patience`): where it stops and which network it keeps,
checked against the validation errors of the same training followed to its end."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from ntkbench import SpecError, parse_spec, run_spec
from ntkbench.architectures.mlp import MLPArchitecture
from ntkbench.numerics._prediction import predict
from ntkbench.numerics._stopping import training_fit
from ntkbench.numerics._training import train_network
from ntkbench.storage import RecordStore
from ntkbench.training import SGDOptions, TrainingOptions

CLASSES = 3


def noisy_problem(seed: int = 0):
    """Labels that depend on the input's first coordinate, a third of them flipped: a network that
    keeps training memorises the flips and its validation error stops falling."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(200, 6)).astype(np.float32)
    y = np.digitize(x[:, 0], [-0.4, 0.4])
    flip = rng.random(len(y)) < 0.35
    y[flip] = rng.integers(0, CLASSES, flip.sum())
    return (x[:64], y[:64]), (x[64:], y[64:])


@pytest.mark.parametrize("patience", [2, 4])
def test_training_stops_after_patience_checks_without_a_lower_error_and_keeps_the_first_best(patience):
    (x, y), (x_val, y_val) = noisy_problem()
    architecture = MLPArchitecture(MLPArchitecture.Options(width=64, depth=2))
    model = architecture.init_model(input_shape=(6,), num_classes=CLASSES, key=jax.random.PRNGKey(0))
    every, budget = 20, 600
    base = TrainingOptions(optimizer=SGDOptions(name="sgd", learning_rate=0.5, momentum=0.9), batch_size=16, steps=budget)

    # The same training followed to its end, its validation error read at every check.
    errors, networks = {}, {}

    def checkpoint(step, network):
        errors[step] = training_fit(network, x_val, y_val, np.zeros((len(x_val), CLASSES)), "mse", CLASSES)[0]
        networks[step] = network

    checks = list(range(every, budget + 1, every))
    train_network(model, x, y, CLASSES, base, seed=0, checkpoints=checks, on_checkpoint=checkpoint)
    best, without_gain, stop = None, 0, budget
    for step in checks:
        if best is None or errors[step] < errors[best]:
            best, without_gain = step, 0
        else:
            without_gain += 1
        if without_gain >= patience:
            stop = step
            break
    assert stop < budget, "the problem must make training stop early for this test to mean anything"

    options = base.model_copy(update={"patience": patience, "check_every": every})
    trained, log = train_network(model, x, y, CLASSES, options, seed=0, validation=(x_val, y_val))
    assert log.early_stopping == {"steps_trained": stop, "validation_error": errors[best]}
    assert log.steps == best and len(log.losses) == stop
    np.testing.assert_allclose(predict(trained, x_val), predict(networks[best], x_val), rtol=1e-5, atol=1e-5)
    assert (log.train_error, log.train_loss) == pytest.approx(
        training_fit(networks[best], x, y, np.zeros((len(x), CLASSES)), "mse", CLASSES)
    )


SPEC = """\
name: patience
dataset: {name: teacher_student, dim: 4, pool: 300, n_test: 20, validation_n: 40}
architecture: {name: mlp, width: 16, depth: 1}
learners:
  - {name: network, batch_size: 16, epochs: 40, patience: 3, optimizer: {name: sgd, learning_rate: 0.5}}
sweep: {n_train: [16, 64], seeds: [0]}
"""


def test_records_hold_the_kept_network_and_the_steps_trained(tmp_path):
    spec = parse_spec(SPEC)
    assert "stopped early after 3 validation checks" in spec.learners[0].instantiate().options.budget()
    summary = run_spec(spec, tmp_path / "out", progress=False)
    assert summary.computed == 2 and not summary.failed
    for record in RecordStore(tmp_path / "out").load(spec.as_dict()).current.values():
        info = record.info
        assert 0 < info["steps"] <= info["steps_trained"] <= 40 * (record.cell.n_train // 16)
        assert 0.0 <= info["validation_error"] <= 1.0


def test_patience_needs_validation_data_a_network_learner_and_no_dynamics():
    with pytest.raises(SpecError, match="learner 'network' chooses on validation data"):
        parse_spec(SPEC.replace(", validation_n: 40", ""))
    with pytest.raises(SpecError, match=r"early stopping on validation data \(`patience`\) is for network learners"):
        parse_spec(SPEC.replace("{name: network,", "{name: entk_final,"))
    with pytest.raises(SpecError, match="`check_every` belongs to an `until` budget or to early stopping"):
        parse_spec(SPEC.replace("patience: 3", "check_every: 5"))
    assert parse_spec(SPEC.replace("patience: 3", "patience: 3, check_every: 5")).learners[0].options.check_every == 5


def test_patience_at_its_default_leaves_the_key_unchanged():
    assert "patience" not in TrainingOptions().canonical()
