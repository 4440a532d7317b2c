"""Layers described once (`ntkbench.layers`): each layer's equinox module computes what its `stax`
counterpart computes, its native kernel equals neural-tangents' within 1e-5, its parameter count
and output shape are its module's; and an architecture written from the layers alone runs every
learner, its infinite kernel included, with no other code."""

from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ntkbench
from ntkbench import layers
from ntkbench.kernels import architecture_kernel_fn, infinite_kernel_fn
from ntkbench.testing import check_plugin, tiny_dataset

pytestmark = pytest.mark.parity
CLASSES = 3
TOLERANCE = 1e-5

IMAGE_LAYERS = {
    "conv": [layers.Conv(6, 3)],
    "conv-stride-2": [layers.Conv(6, 3, 2)],
    "conv-1x1": [layers.Conv(6, 1)],
    "relu": [layers.Conv(6, 3), layers.Relu()],
    "avg-pool": [layers.Conv(6, 3), layers.AvgPool(2, 2)],
    "avg-pool-3-1": [layers.Conv(6, 3), layers.AvgPool(3, 1)],
    "layer-norm": [layers.Conv(6, 3), layers.LayerNorm()],
    "residual-identity": [layers.Conv(6, 3), layers.Residual(layers.serial(layers.Relu(), layers.Conv(6, 3)))],
    "residual-projection": [
        layers.Residual(layers.serial(layers.Conv(6, 3, 2), layers.Relu(), layers.Conv(6, 3)), layers.Conv(6, 1, 2)),
    ],
}
"""Each image layer, after what it needs in front; a network around it reads out by global average pooling."""
VECTOR_LAYERS = {
    "dense": [layers.Flatten(), layers.Dense(7)],
    "dense-relu": [layers.Flatten(), layers.Dense(7), layers.Relu()],
    "flatten": [layers.Conv(4, 3), layers.Relu(), layers.Flatten()],
}
SCALINGS = {
    "ntk": layers.Scaling(1.4, 0.0, "ntk"),
    "ntk-bias": layers.Scaling(1.4, 0.2, "ntk"),
    "standard-bias": layers.Scaling(1.2, 0.3, "standard"),
    "mup-scaled": layers.Scaling(1.4, 0.1, "mup", 2.0),
}


class Described(layers.LayeredArchitecture):
    """An architecture whose description the test gives."""

    Options = layers.LayeredOptions
    api_version = 1

    def __init__(self, network: layers.Serial, scaling: layers.Scaling):
        super().__init__(layers.LayeredOptions(w_std=scaling.w_std, b_std=scaling.b_std,
                                               parameterization=scaling.parameterization, output_scale=scaling.output_scale))
        self.network = network

    def layers(self, *, num_classes: int) -> layers.Serial:
        return layers.serial(*self.network.layers, layers.Dense(num_classes))


def network_of(name: str) -> layers.Serial:
    if name in IMAGE_LAYERS:
        return layers.serial(*IMAGE_LAYERS[name], layers.GlobalAvgPool())
    return layers.serial(*VECTOR_LAYERS[name])


def inputs(count: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(count, 7, 7, 2)).astype(np.float32)


@pytest.mark.parametrize("scaling", SCALINGS, ids=list(SCALINGS))
@pytest.mark.parametrize("name", [*IMAGE_LAYERS, *VECTOR_LAYERS])
def test_a_layers_module_twin_kernel_and_count_agree(name, scaling):
    architecture = Described(network_of(name), SCALINGS[scaling])
    x1, x2 = inputs(4, 0), inputs(3, 1)
    model = architecture.init_model(input_shape=x1.shape[1:], num_classes=CLASSES, key=jax.random.PRNGKey(2))
    twin = architecture.stax_twin(num_classes=CLASSES)

    ours = np.asarray(jax.vmap(model)(x1))
    theirs = np.asarray(twin.apply_fn(architecture.stax_parameters(model), x1))
    assert ours.shape == (4, CLASSES) and np.linalg.norm(ours - theirs) <= 1e-5 * np.linalg.norm(theirs)

    parameters = sum(leaf.size for leaf in jax.tree.leaves(eqx.filter(model, eqx.is_inexact_array)))
    assert architecture.parameter_count(input_shape=x1.shape[1:], num_classes=CLASSES) == parameters

    described = architecture.layers(num_classes=CLASSES)
    for depth in range(len(described.layers)):  # every layer's output shape is its module's
        body = layers.serial(*described.layers[: depth + 1])
        module = body.build(iter(jax.random.split(jax.random.PRNGKey(0), body.keys())), x1.shape[1:],
                            _build(architecture, body))
        assert module(x1[0], None)[0].shape == body.output_shape(x1.shape[1:])

    for kind in ("ntk", "nngp"):
        reference = np.asarray(infinite_kernel_fn(twin, kind)(x1, x2))
        native = np.asarray(architecture_kernel_fn(architecture, num_classes=CLASSES, kind=kind)(x1, x2))
        assert np.max(np.abs(native - reference)) <= TOLERANCE * np.max(np.abs(reference))


def _build(architecture: Described, body: layers.Serial):
    from ntkbench.numerics._layer_descriptions import _Build

    return _Build(architecture.scaling(), body.weighted_layers())


def test_batch_norm_keeps_running_statistics_and_has_no_kernel():
    network = layers.serial(layers.Conv(4, 3), layers.BatchNorm(), layers.Relu(), layers.GlobalAvgPool())
    architecture = Described(network, SCALINGS["ntk"])
    assert not architecture.has_kernel_map() and not architecture.has_stax_twin()
    model = architecture.init_model(input_shape=(7, 7, 2), num_classes=CLASSES, key=jax.random.PRNGKey(0))
    assert isinstance(model, ntkbench.StatefulModel)
    count = architecture.parameter_count(input_shape=(7, 7, 2), num_classes=CLASSES)
    assert count == 3 * 3 * 2 * 4 + 2 * 4 + 4 * CLASSES
    x = inputs(5, 0)
    logits, state = jax.vmap(model.module, axis_name="batch", in_axes=(0, None), out_axes=(0, None))(x, model.state)
    assert logits.shape == (5, CLASSES) and np.all(np.isfinite(logits))
    means = [leaf for leaf in jax.tree.leaves(state) if leaf.shape == (4,)]
    assert any(np.any(mean != 0) for mean in means)  # the running mean moved from its start


@pytest.mark.parametrize("updates", [0, 3])
def test_batch_norm_in_inference_mode_is_equinoxs_to_the_bit(updates):
    """ntkbench normalises channels last in inference mode, without equinox's transposes and vmap:
    the same numbers, before any update of the running statistics and after a few."""
    from ntkbench.numerics._network_layers import BatchNorm

    norm = BatchNorm(4)
    norm = eqx.tree_at(lambda n: (n.norm.weight, n.norm.bias), norm,
                       (jax.random.normal(jax.random.PRNGKey(1), (4,)), jax.random.normal(jax.random.PRNGKey(2), (4,))))
    state = eqx.nn.State(norm)
    for step in range(updates):  # training steps move the running statistics and the counter
        batch = 3.0 + 2.0 * jax.random.normal(jax.random.PRNGKey(10 + step), (6, 5, 5, 4))
        _, state = jax.vmap(norm, axis_name="batch", in_axes=(0, None), out_axes=(0, None))(batch, state)
    inference = eqx.nn.inference_mode(norm)
    x = 3.0 + 2.0 * jax.random.normal(jax.random.PRNGKey(3), (5, 5, 4))
    ours, _ = jax.jit(inference.__call__)(x, state)
    theirs, _ = jax.jit(lambda x, state: inference.norm(jnp.moveaxis(x, -1, 0), state))(x, state)
    assert np.array_equal(np.asarray(ours), np.asarray(jnp.moveaxis(theirs, 0, -1)))


def test_a_residual_sum_of_a_nonlinear_branch_has_no_kernel():
    """Its branches' kernels would not add: a ReLU's output is not mean-zero."""
    nonlinear = layers.Residual(layers.serial(layers.Conv(6, 3), layers.Relu()), layers.Conv(6, 1))
    architecture = Described(layers.serial(nonlinear, layers.GlobalAvgPool()), SCALINGS["ntk"])
    assert not architecture.has_kernel_map() and not architecture.has_stax_twin()
    linear = layers.Residual(layers.serial(layers.Relu(), layers.Conv(6, 3)))
    assert Described(layers.serial(layers.Conv(6, 3), linear, layers.GlobalAvgPool()), SCALINGS["ntk"]).has_kernel_map()


def test_a_network_description_must_end_in_its_dense_readout():
    from ntkbench.numerics._layer_descriptions import build_network

    with pytest.raises(ValueError, match="ends in its Dense readout"):
        build_network(layers.serial(layers.Flatten(), layers.Relu()), (4,), SCALINGS["ntk"], jax.random.PRNGKey(0))


ARCHITECTURE_FILE = '''
"""A third-party architecture written from ntkbench.layers only (no kernel map, no twin, no counts),
and images for it."""

import numpy as np
from pydantic import PositiveInt

import ntkbench
from ntkbench.layers import AvgPool, Conv, Dense, GlobalAvgPool, LayeredArchitecture, LayeredOptions, Relu, Residual, serial


class SmallResOptions(LayeredOptions):
    width: PositiveInt = 16


class SmallRes(LayeredArchitecture):
    Options = SmallResOptions
    api_version = 1
    plugin_name = "small_res"

    def layers(self, *, num_classes):
        width = self.options.width
        block = Residual(serial(Relu(), Conv(width, 3), Relu(), Conv(width, 3)))
        return serial(Conv(width, 3), block, AvgPool(2, 2), Relu(), GlobalAvgPool(), Dense(num_classes))


class TinyImages(ntkbench.Dataset):
    Options = ntkbench.DatasetOptions
    api_version = 1
    plugin_name = "tiny_images"

    def load(self):
        rng = np.random.default_rng(0)
        x = rng.normal(size=(700, 4, 4, 1)).astype(np.float32)
        y = (x[:, :2].sum(axis=(1, 2, 3)) > 0).astype(np.int32)
        return ntkbench.LabelledData(x[:600], y[:600], x[600:], y[600:], num_classes=2)
'''


def test_an_architecture_written_from_layers_gets_its_infinite_kernel_with_no_other_code(tmp_path):
    plugin = tmp_path / "small_res.py"
    plugin.write_text(ARCHITECTURE_FILE)
    spec = {
        "name": "small_res",
        "plugins": [str(plugin)],
        "dataset": {"name": "tiny_images", "n_test": 60},
        "architecture": {"name": "small_res", "width": 8},
        "learners": [
            {"name": "network", "steps": 20, "optimizer": {"name": "sgd", "learning_rate": 0.5}},
            {"name": "ntk_infinite"},
            {"name": "entk_init", "implementation": 1},
        ],
        "sweep": {"n_train": [16, 32], "seeds": [0]},
    }
    results = ntkbench.run(spec, out=tmp_path / "out", trust_plugins=True, leaderboard=False)
    assert results.run.computed == 6 and not results.run.failed
    architecture = ntkbench.parse_spec(spec, trust_plugins=True).architecture.instantiate()
    assert architecture.has_kernel_map() and architecture.has_stax_twin() and architecture.has_width()
    report = check_plugin(type(architecture), {"width": 8}, data=tiny_dataset(input_shape=(4, 4, 1)))
    assert report.ok, report
    count = architecture.parameter_count(input_shape=(4, 4, 1), num_classes=2)
    assert count == 9 * 8 + 2 * 9 * 64 + 8 * 2 and math.isfinite(count)


@pytest.mark.parametrize("contraction", ["trace", "sum_logits"])
@pytest.mark.parametrize("scaling", ["ntk-bias", "mup-scaled"])
@pytest.mark.parametrize("name", [*IMAGE_LAYERS, *VECTOR_LAYERS])
def test_a_layers_native_empirical_ntk_equals_neural_tangents_by_every_strategy(name, scaling, contraction):
    """The structured empirical NTK (`implementation: native`) of a network around each layer kind
    equals neural-tangents' `empirical_ntk_fn` on the same network and parameters (the derivatives
    are the network's own: a `mup` network's differ from its twin's), with every convolution
    computed by each strategy: its per-example Jacobians, and its pairs of positions."""
    from ntkbench.nt_compat import import_neural_tangents
    from ntkbench.numerics._network_layers import Dense
    from ntkbench.numerics._structured_ntk import StructuredNTK, weighted_layers

    architecture = Described(network_of(name), SCALINGS[scaling])
    x1, x2 = inputs(4, 0), inputs(3, 1)
    model = architecture.init_model(input_shape=x1.shape[1:], num_classes=CLASSES, key=jax.random.PRNGKey(2))
    parameters, static = eqx.partition(model, eqx.is_inexact_array)

    def apply(p, x):
        logits = jax.vmap(eqx.combine(p, static))(x)
        return logits.sum(-1, keepdims=True) / np.sqrt(CLASSES) if contraction == "sum_logits" else logits

    nt = import_neural_tangents()
    reference = np.asarray(nt.empirical_ntk_fn(apply, trace_axes=(-1,), vmap_axes=0, implementation=1)(x1, x2, parameters))
    for convolutions in ("jacobian", "positions"):
        strategies = tuple("gram" if isinstance(layer, Dense) else convolutions for layer in weighted_layers(model))
        native = np.asarray(StructuredNTK(model, contraction, strategies)(x1, x2))
        assert np.max(np.abs(native - reference)) <= TOLERANCE * np.max(np.abs(reference)), convolutions
