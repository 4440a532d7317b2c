"""The `mlp` architecture: the equinox network and its stax twin are the same function,
and ntkbench's empirical NTK is neural-tangents' own."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from ntkbench.architectures._mlp_network import stax_parameters
from ntkbench.architectures.mlp import MLPArchitecture, MLPOptions
from ntkbench.nt_compat import import_neural_tangents
from ntkbench.numerics._kernels import empirical_ntk_fn, model_parameters

INPUT_SHAPE = (6, 6, 1)
CLASSES = 4


def build(width: int, depth: int, b_std: float = 0.1):
    architecture = MLPArchitecture(MLPOptions(width=width, depth=depth, b_std=b_std))
    model = architecture.init_model(input_shape=INPUT_SHAPE, num_classes=CLASSES, key=jax.random.PRNGKey(4))
    twin = architecture.stax_twin(num_classes=CLASSES)
    x = np.asarray(jax.random.normal(jax.random.PRNGKey(5), (12, *INPUT_SHAPE)))
    return model, twin, x


@pytest.mark.parametrize(("width", "depth", "b_std"), [(64, 1, 0.1), (128, 3, 0.1), (32, 2, 0.0)])
def test_equinox_and_stax_networks_agree(width, depth, b_std):
    model, twin, x = build(width, depth, b_std)
    ours = np.asarray(jax.vmap(model)(x))
    theirs = np.asarray(twin.apply_fn(stax_parameters(model), x))
    assert ours.shape == theirs.shape == (12, CLASSES)
    relative = np.linalg.norm(ours - theirs) / np.linalg.norm(theirs)
    assert relative < 1e-5


def test_parameters_initialise_as_stax_does():
    """NTK parameterisation: every weight and bias starts standard normal."""
    model, _, _ = build(256, 2)
    weights = np.concatenate([np.ravel(layer.weight) for layer in model.layers])
    assert abs(weights.mean()) < 0.01 and abs(weights.std() - 1) < 0.01


def test_empirical_ntk_matches_neural_tangents_on_the_twin():
    nt = import_neural_tangents()
    model, twin, x = build(48, 2)
    ours = np.asarray(empirical_ntk_fn(model, implementation=3)(model_parameters(model), x, x))
    reference = np.asarray(
        nt.empirical_ntk_fn(twin.apply_fn, trace_axes=(-1,), vmap_axes=0, implementation=1)(x, x, stax_parameters(model))
    )
    np.testing.assert_allclose(ours, reference, rtol=2e-5, atol=1e-5)


def test_empirical_ntk_approaches_the_infinite_ntk_with_width():
    distances = []
    for width in (32, 2048):
        model, twin, x = build(width, 2)
        empirical = np.asarray(empirical_ntk_fn(model)(model_parameters(model), x, x))
        infinite = np.asarray(twin.kernel_fn(x, x, "ntk"))
        distances.append(np.linalg.norm(empirical - infinite) / np.linalg.norm(infinite))
    # Fluctuations shrink like width^-1/2: 64x the width, about 1/8 the distance.
    assert distances[1] < 0.35 * distances[0]
    assert distances[1] < 0.1
