"""Training the network: minibatches, convergence, divergence and centring."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from ntkbench import CellFailure
from ntkbench.architectures.mlp import MLPArchitecture, MLPOptions
from ntkbench.numerics._training import minibatch_indices, predict, train_network
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
