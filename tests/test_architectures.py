"""Architectures: each equinox network and its stax twin are the same function, ntkbench's
empirical NTK is neural-tangents' own, and the empirical NTK converges to the infinite one."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from ntkbench import StatefulModel, parse_spec
from ntkbench.architectures.mlp import MLPArchitecture
from ntkbench.architectures.myrtle import MyrtleArchitecture
from ntkbench.architectures.resnet import ResNet18Architecture
from ntkbench.nt_compat import import_neural_tangents
from ntkbench.numerics._convergence import log_log_slope, ntk_distances
from ntkbench.numerics._kernels import empirical_ntk
from ntkbench.numerics._networks import batch_logits, split_model
from ntkbench.numerics._prediction import predict
from ntkbench.numerics._training import train_network
from ntkbench.training import SGDOptions, TrainingOptions

CLASSES = 3
TWINNED = [
    (MLPArchitecture, {"width": 64, "depth": 2}),
    (MLPArchitecture, {"width": 32, "depth": 1, "b_std": 0.0}),
    (MyrtleArchitecture, {"depth": 5, "width": 16}),
    (MyrtleArchitecture, {"depth": 7, "width": 8, "b_std": 0.1}),
    (MyrtleArchitecture, {"depth": 10, "width": 8}),
    (ResNet18Architecture, {"width": 4, "norm": "none"}),
    (ResNet18Architecture, {"width": 4, "norm": "layer", "b_std": 0.1}),
]
IDS = [f"{cls.__name__.removesuffix('Architecture').lower()}-{'-'.join(f'{k}{v}' for k, v in o.items())}" for cls, o in TWINNED]


def images(count: int, size: int = 8, channels: int = 2, seed: int = 5) -> np.ndarray:
    return np.asarray(jax.random.normal(jax.random.PRNGKey(seed), (count, size, size, channels)))


def build(cls, options, x, parameterization="ntk", **scaling):
    architecture = cls(cls.Options(**options, parameterization=parameterization, **scaling))
    model = architecture.init_model(input_shape=x.shape[1:], num_classes=CLASSES, key=jax.random.PRNGKey(4))
    return architecture, model, architecture.stax_twin(num_classes=CLASSES)


@pytest.mark.parametrize(
    ("parameterization", "scaling"),
    [("ntk", {}), ("standard", {}), ("mup", {}), ("ntk", {"output_scale": 4.0}), ("standard", {"output_scale": 0.5})],
    ids=["ntk", "standard", "mup", "ntk-scaled", "standard-scaled"],
)
@pytest.mark.parametrize(("cls", "options"), [TWINNED[0], TWINNED[3], TWINNED[6]], ids=[IDS[0], IDS[3], IDS[6]])
@pytest.mark.parity
def test_equinox_and_stax_networks_agree(cls, options, parameterization, scaling):
    """A `mup` or rescaled network's twin is the `ntk` (`standard`) one fed the same effective weights.
    Once per built-in architecture: each layer is tested alone in test_layers.py."""
    x = images(6)
    architecture, model, twin = build(cls, options, x, parameterization, **scaling)
    ours = np.asarray(jax.vmap(model)(x))
    theirs = np.asarray(twin.apply_fn(architecture.stax_parameters(model), x))
    assert ours.shape == theirs.shape == (6, CLASSES)
    assert np.linalg.norm(ours - theirs) / np.linalg.norm(theirs) < 1e-5


@pytest.mark.slow
@pytest.mark.parametrize("parameterization", ["ntk", "standard"])
@pytest.mark.parametrize(("cls", "options"), TWINNED, ids=IDS)
@pytest.mark.parity
def test_empirical_ntk_matches_neural_tangents_on_the_twin(cls, options, parameterization):
    """Also in standard parameterisation with `b_std` 0, where a zero-initialised bias would be
    trainable and add to the kernel: such a network has no bias, as its twin."""
    nt = import_neural_tangents()
    x = images(5)
    architecture, model, twin = build(cls, options, x, parameterization)
    ours = np.asarray(empirical_ntk(model, x, x))
    reference = np.asarray(
        nt.empirical_ntk_fn(twin.apply_fn, trace_axes=(-1,), vmap_axes=0, implementation=1)(
            x, x, architecture.stax_parameters(model)
        )
    )
    assert ours.shape == (5, 5)
    assert np.linalg.norm(ours - reference) / np.linalg.norm(reference) < 1e-5


def test_ntk_parameterisation_initialises_standard_normal_weights():
    x = images(2)
    _, model, _ = build(MyrtleArchitecture, {"depth": 5, "width": 64}, x)
    convolutions = [layer for layer in model.body.layers if hasattr(layer, "weight")]
    assert len(convolutions) == 4
    weights = np.concatenate([np.ravel(conv.weight) for conv in convolutions])
    assert abs(weights.mean()) < 0.01 and abs(weights.std() - 1) < 0.01
    _, standard, _ = build(MyrtleArchitecture, {"depth": 5, "width": 64}, x, "standard")
    second = np.ravel([layer for layer in standard.body.layers if hasattr(layer, "weight")][1].weight)
    assert abs(second.std() - np.sqrt(2 / (64 * 9))) < 0.002  # w_std / sqrt(fan_in)


@pytest.mark.slow
@pytest.mark.parity
def test_twin_kernels_evaluate_for_every_twinned_architecture():
    x = images(3, size=4)
    for cls, options in TWINNED:
        _, _, twin = build(cls, options, x)
        kernel = np.asarray(jax.jit(lambda inputs, twin=twin: twin.kernel_fn(inputs, inputs, "ntk"))(x))
        assert kernel.shape == (3, 3) and np.all(np.isfinite(kernel))
        assert np.all(np.linalg.eigvalsh(kernel) > 0)


@pytest.mark.slow
def test_resnet_with_batch_norm_trains_and_predicts_with_running_statistics():
    architecture = ResNet18Architecture(ResNet18Architecture.Options(width=4, norm="batch"))
    assert not architecture.has_stax_twin()
    x = images(32, channels=3)
    y = np.arange(32) % CLASSES
    model = architecture.init_model(input_shape=x.shape[1:], num_classes=CLASSES, key=jax.random.PRNGKey(0))
    assert isinstance(model, StatefulModel)
    # One full-batch step (one compiled step: a ResNet's compilation is this test's cost) lowers the
    # training loss, which uses the batch statistics.
    options = TrainingOptions(optimizer=SGDOptions(name="sgd", learning_rate=0.05, momentum=0.9), batch_size=32, steps=1)
    trained, log = train_network(model, x, y, CLASSES, options, seed=0)

    def training_loss(network) -> float:  # the default loss: half the squared error to one-hot targets
        logits = np.asarray(batch_logits(*split_model(network), x, training=True)[0], dtype=np.float64)
        return float(np.mean(0.5 * np.sum((logits - np.eye(CLASSES)[y]) ** 2, axis=1)))

    assert training_loss(model) == pytest.approx(log.summary()["train_loss_initial"], rel=1e-4)
    assert training_loss(trained) < training_loss(model)
    # Inference is per example: a prediction does not depend on the rest of the batch.
    alone = predict(trained, x[:1])
    together = predict(trained, x)[:1]
    np.testing.assert_allclose(alone, together, rtol=1e-5, atol=1e-6)
    # Training mode uses batch statistics, which do depend on the batch.
    module, state = split_model(trained)
    logits_small, _ = batch_logits(module, state, x[:4], training=True)
    logits_large, _ = batch_logits(module, state, x, training=True)
    assert not np.allclose(logits_small, logits_large[:4])
    kernel = np.asarray(empirical_ntk(trained, x[:4], x[:4]))
    assert kernel.shape == (4, 4) and np.allclose(kernel, kernel.T, rtol=1e-4)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("cls", "options"),
    [(MLPArchitecture, {"depth": 2}), (MyrtleArchitecture, {"depth": 5})],
    ids=["mlp", "myrtle5"],
)
def test_empirical_ntk_converges_to_the_infinite_ntk_like_width_to_minus_half(cls, options):
    x = images(12, size=8, channels=1)
    results = ntk_distances(cls(cls.Options(**options)), x, widths=[16, 64, 256], seeds=3)
    means = [r.mean for r in results]
    print(f"{cls.__name__}: " + ", ".join(f"width {r.width}: {r.mean:.4f} ± {r.std:.4f}" for r in results))
    assert means[0] > means[1] > means[2]
    assert -0.75 < log_log_slope(results) < -0.3


# ----------------------------------------------------------------------------- validation


SPEC = """\
name: arch
dataset: {name: cifar10, n_test: 100}
architecture: {name: resnet18, width: 16, norm: batch}
learners: [{name: network}, {name: ntk_infinite}]
sweep: {n_train: [16, 32, 64], seeds: [0]}
"""


def test_ntk_infinite_on_batch_norm_resnet_is_refused_with_the_alternatives():
    from ntkbench import SpecError

    with pytest.raises(SpecError) as caught:
        parse_spec(SPEC, "arch.yaml")
    (problem,) = caught.value.problems
    assert problem.key == "learners[1].name"
    assert "architecture 'resnet18' with these options has none" in problem.reason
    assert "mlp (always)" in problem.reason and "resnet18 (with norm: none or norm: layer)" in problem.reason
    parse_spec(SPEC.replace("norm: batch", "norm: layer"))


def test_convolutional_networks_refuse_flat_inputs_before_computing():
    from ntkbench import SpecError

    flat = SPEC.replace("n_test: 100}", "n_test: 100, flatten: true}").replace("norm: batch", "norm: none")
    with pytest.raises(SpecError, match="resnet18 needs images .*shape \\[3072\\]"):
        parse_spec(flat)
    with pytest.raises(SpecError, match="myrtle needs images"):
        parse_spec(flat.replace("{name: resnet18, width: 16, norm: none}", "{name: myrtle}"))
    with pytest.raises(SpecError, match="at least 4x4 pixels"):
        parse_spec(SPEC.replace("n_test: 100}", "n_test: 100, image_size: [2, 2]}").replace(
            "{name: resnet18, width: 16, norm: batch}", "{name: myrtle}"))
    parse_spec(flat.replace("{name: resnet18, width: 16, norm: none}", "{name: mlp}"))  # an MLP flattens anyway


def test_check_ntk_reports_distances_per_width(write_spec, capsys):
    from ntkbench.cli import main

    spec = write_spec(
        """\
        name: check
        dataset: {name: teacher_student, dim: 16, n_test: 20, num_classes: 4}
        architecture: {name: mlp, depth: 2}
        learners: [{name: ntk_infinite}]
        sweep: {n_train: [8, 16, 32], seeds: [0]}
        """
    )
    assert main(["check-ntk", str(spec), "--widths", "16", "256", "--seeds", "4", "--inputs", "12"]) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("|") and line.split("|")[1].strip().isdigit()]
    distances = [float(row.split("|")[2]) for row in rows]
    assert len(distances) == 2 and distances[0] > distances[1] > 0
    assert "log-log slope" in out and "decreasing with width: True" in out


def test_check_ntk_needs_a_twin(write_spec, capsys):
    from ntkbench.cli import main

    spec = write_spec(SPEC.replace("learners: [{name: network}, {name: ntk_infinite}]", "learners: [{name: network}]"))
    assert main(["check-ntk", str(spec)]) == 2
    assert "has no infinite-width kernel" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("parameterization", "scaling"), [("ntk", {}), ("standard", {}), ("mup", {}), ("ntk", {"output_scale": 3.0})],
    ids=["ntk", "standard", "mup", "ntk-scaled"],
)
@pytest.mark.parametrize(("cls", "options"), [TWINNED[0], TWINNED[2], TWINNED[6]], ids=["mlp", "myrtle5", "resnet18-layer"])
def test_readout_features_reproduce_the_readout_and_give_the_nngp(cls, options, parameterization, scaling):
    """The output is exactly features · [N_W; N_b], with N the readout's standard normal draws, so the
    features' inner product is the covariance of the output over the readout's initialisation."""
    x = images(4)
    architecture, model, _ = build(cls, options, x, parameterization, **scaling)
    assert architecture.has_readout_features()
    psi = np.asarray(jax.vmap(architecture.readout_features(model))(x))
    readout = model.readout
    draws = np.asarray(readout.weight) / readout.scaling.weight_init
    bias = np.zeros(draws.shape[1]) if readout.bias is None else np.asarray(readout.bias) / readout.scaling.bias_init
    np.testing.assert_allclose(psi @ np.concatenate([draws, bias[None, :]]), np.asarray(jax.vmap(model)(x)), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    ("cls", "options", "input_shape"),
    [
        (MLPArchitecture, {"width": 16, "depth": 3}, (8,)),
        (MLPArchitecture, {"width": 16, "depth": 1, "b_std": 0.0}, (4, 4, 1)),
        (MyrtleArchitecture, {"width": 8, "depth": 7, "b_std": 0.1}, (8, 8, 3)),
        (ResNet18Architecture, {"width": 4, "norm": "batch"}, (8, 8, 3)),
        (ResNet18Architecture, {"width": 4, "norm": "layer", "b_std": 0.1}, (8, 8, 1)),
    ],
    ids=["mlp", "mlp-no-bias", "myrtle7", "resnet-batch", "resnet-layer"],
)
def test_parameter_counts_are_those_of_the_network(cls, options, input_shape):
    """Validation counts parameters without creating them; the count is what `init_model` creates."""
    import equinox as eqx

    architecture = cls(cls.Options(**options))
    model = architecture.init_model(input_shape=input_shape, num_classes=5, key=jax.random.PRNGKey(0))
    module = model.module if isinstance(model, StatefulModel) else model
    created = sum(leaf.size for leaf in jax.tree_util.tree_leaves(eqx.filter(module, eqx.is_inexact_array)))
    assert architecture.parameter_count(input_shape=input_shape, num_classes=5) == created
