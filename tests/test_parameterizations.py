"""`parameterization: mup` and `output_scale`, tested against their definitions: the effective
weights' initial deviations and the effective learning rate per layer of one SGD step (computed
here from a plain re-implementation of the MLP on its effective weights), feature learning that
does not vanish with width, Chizat-Bach's lazy scaling, and refusal with other optimizers."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ntkbench.architectures.mlp import MLPArchitecture
from ntkbench.cli import main
from ntkbench.numerics._kernels import empirical_ntk
from ntkbench.numerics._training import train_network
from ntkbench.training import SGDOptions, TrainingOptions

CLASSES = 3
INPUT = 12


def mlp(width: int, *, depth: int = 2, seed: int = 0, **options):
    architecture = MLPArchitecture(MLPArchitecture.Options(width=width, depth=depth, b_std=0.2, **options))
    return architecture.init_model(input_shape=(INPUT,), num_classes=CLASSES, key=jax.random.PRNGKey(seed))


def effective(model) -> list[tuple[jax.Array, jax.Array]]:
    """Every layer's (weight, bias) as the network uses them: multiplier times stored value."""
    return [
        (layer.scaling.weight_multiplier * layer.weight, layer.scaling.bias_multiplier * layer.bias)
        for layer in dense_layers(model)
    ]


def dense_layers(model) -> list:
    """The MLP's dense layers, input first and readout last (its body also holds flatten and ReLUs)."""
    return [layer for layer in model.body.layers if hasattr(layer, "weight")] + [model.readout]


def plain_mlp(params, x):
    """The MLP written out on effective weights, with no parameterisation at all."""
    for weight, bias in params[:-1]:
        x = jax.nn.relu(x @ weight + bias)
    weight, bias = params[-1]
    return x @ weight + bias


def mse(params, x, y, scale: float = 1.0):
    """ntkbench's `mse`: half the squared error to one-hot targets, averaged over the batch."""
    logits = scale * plain_mlp(params, x)
    return 0.5 * jnp.mean(jnp.sum((logits - jax.nn.one_hot(y, CLASSES)) ** 2, axis=-1))


def data(count: int = 24):
    x = np.asarray(jax.random.normal(jax.random.PRNGKey(7), (count, INPUT)))
    return x, np.arange(count) % CLASSES


def one_sgd_step(model, x, y, rate: float):
    options = TrainingOptions(optimizer=SGDOptions(name="sgd", learning_rate=rate), batch_size=len(x), steps=1)
    trained, _ = train_network(model, x, y, CLASSES, options, seed=0)
    return trained


def test_mup_plain_network_is_the_network():
    model = mlp(64, parameterization="mup")
    x, _ = data()
    np.testing.assert_allclose(jax.vmap(model)(x), plain_mlp(effective(model), x), rtol=1e-5, atol=1e-6)


def test_mup_initialises_effective_weights_as_defined():
    width, w_std = 1024, np.sqrt(2.0)
    model = mlp(width, parameterization="mup")
    (w_in, b_in), (w_hidden, _), (w_out, b_out) = [(np.asarray(w), np.asarray(b)) for w, b in effective(model)]
    assert abs(w_in.std() - w_std / np.sqrt(INPUT)) < 0.02 * w_std / np.sqrt(INPUT)
    assert abs(w_hidden.std() - w_std / np.sqrt(width)) < 0.02 * w_std / np.sqrt(width)
    assert abs(w_out.std() - w_std / width) < 0.1 * w_std / width  # 1/fan_in, not 1/sqrt(fan_in)
    assert abs(b_in.std() - 0.2) < 0.03


@pytest.mark.parametrize("width", [32, 256])
def test_mup_sgd_step_has_the_per_layer_learning_rates_of_its_definition(width):
    """eta * w_std^2 * fan_out / fan_in (input), eta (hidden), eta / fan_in (readout), eta * b_std^2 * fan_out (biases)."""
    rate, w_std, b_std = 0.05, np.sqrt(2.0), 0.2
    model = mlp(width, parameterization="mup")
    x, y = data()
    before = effective(model)
    gradients = jax.grad(mse)(before, x, y)
    after = effective(one_sgd_step(model, x, y, rate))
    weight_rates = [w_std**2 * width / INPUT, 1.0, 1.0 / width]
    bias_rates = [b_std**2 * width, b_std**2 * width, b_std**2 * CLASSES]
    for layer in range(3):
        for part, layer_rate in ((0, weight_rates[layer]), (1, bias_rates[layer])):
            step = np.asarray(after[layer][part] - before[layer][part])
            expected = -rate * layer_rate * np.asarray(gradients[layer][part])
            np.testing.assert_allclose(step, expected, rtol=2e-3, atol=2e-3 * np.abs(expected).max())


def feature_movement(width: int, parameterization: str) -> float:
    """RMS change of the last hidden layer's activations after one full-batch SGD step."""
    x, y = data()
    model = mlp(width, parameterization=parameterization)
    trained = one_sgd_step(model, x, y, 0.5)
    change = jax.vmap(lambda v: trained.features(v)[0])(x) - jax.vmap(lambda v: model.features(v)[0])(x)
    return float(jnp.sqrt(jnp.mean(change**2)))


def test_mup_features_move_at_every_width_while_ntk_features_freeze():
    """The point of mup: a step moves features by order one at any width; in NTK
    parameterisation by order 1/sqrt(width)."""
    mup = feature_movement(128, "mup") / feature_movement(2048, "mup")
    ntk = feature_movement(128, "ntk") / feature_movement(2048, "ntk")
    assert 0.5 < mup < 2.0
    assert 2.5 < ntk < 6.5  # sqrt(16) = 4


@pytest.mark.parametrize("parameterization", ["ntk", "standard", "mup"])
def test_output_scale_multiplies_the_function_and_leaves_the_tangent_kernel(parameterization):
    x, _ = data(6)
    plain, scaled = mlp(32, parameterization=parameterization), mlp(32, parameterization=parameterization, output_scale=8.0)
    np.testing.assert_allclose(jax.vmap(scaled)(x), 8.0 * jax.vmap(plain)(x), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(empirical_ntk(scaled, x, x), empirical_ntk(plain, x, x), rtol=1e-4)


@pytest.mark.parametrize("alpha", [0.25, 10.0])
def test_output_scale_sgd_step_is_gradient_descent_on_the_rescaled_loss(alpha):
    """theta, the parameters of the plain (output_scale 1) network, moves by
    -eta * grad_theta [R(alpha f(theta)) / alpha^2]."""
    rate = 0.1
    model, plain = mlp(32, output_scale=alpha), mlp(32)
    x, y = data()
    multipliers = [(layer.scaling.weight_multiplier, layer.scaling.bias_multiplier) for layer in dense_layers(plain)]
    alphas = [1.0, 1.0, alpha]  # the readout carries alpha * f

    def theta_of(network):
        return [
            (w / (m_w * a), b / (m_b * a)) for (w, b), (m_w, m_b), a in zip(effective(network), multipliers, alphas, strict=True)
        ]

    def rescaled_loss(theta):
        params = [(m_w * w, m_b * b) for (w, b), (m_w, m_b) in zip(theta, multipliers, strict=True)]
        return mse(params, x, y, alpha) / alpha**2

    theta = theta_of(model)
    gradients = jax.grad(rescaled_loss)(theta)
    moved = theta_of(one_sgd_step(model, x, y, rate))
    for layer in range(3):
        for part in range(2):
            step = np.asarray(moved[layer][part] - theta[layer][part])
            expected = -rate * np.asarray(gradients[layer][part])
            np.testing.assert_allclose(step, expected, rtol=2e-3, atol=2e-3 * np.abs(expected).max())


def test_large_output_scale_is_lazy():
    """Chizat & Bach: the relative change of the weights over training falls like 1 / alpha."""
    x, y = data()
    options = TrainingOptions(optimizer=SGDOptions(name="sgd", learning_rate=0.5), batch_size=len(x), steps=50, center=True)

    def relative_change(alpha: float) -> float:
        model = mlp(64, output_scale=alpha)
        trained, _ = train_network(model, x, y, CLASSES, options, seed=0)
        before, after = effective(model)[1][0], effective(trained)[1][0]
        return float(jnp.linalg.norm(after - before) / jnp.linalg.norm(before))

    assert relative_change(1.0) / relative_change(16.0) > 8.0


SPEC = """\
name: regime
dataset: {name: teacher_student, n_test: 32}
architecture: {name: mlp, width: 16, depth: 1, ARCH}
learners: [{name: LEARNER, optimizer: {name: adam, learning_rate: 0.001}, steps: 5}]
sweep: {n_train: [8], seeds: [0]}
"""


@pytest.mark.parametrize("learner", ["network", "network_linearized", "entk_final"])
@pytest.mark.parametrize(("arch", "named"), [("parameterization: mup", "mup"), ("output_scale: 4.0", "output_scale")])
def test_regime_controls_are_refused_with_adam(tmp_path, capsys, learner, arch, named):
    path = tmp_path / "spec.yaml"
    path.write_text(SPEC.replace("ARCH", arch).replace("LEARNER", learner))
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert named in err and "sgd" in err and "learners[0]" in err
    path.write_text(SPEC.replace("ARCH", arch).replace("LEARNER", learner).replace("adam", "sgd"))
    assert main(["validate", str(path)]) == 0


def test_output_scale_at_its_default_leaves_the_key_unchanged():
    from ntkbench.architectures.mlp import MLPOptions

    assert "output_scale" not in MLPOptions(width=8).canonical()
    assert MLPOptions(width=8, output_scale=2.0).canonical()["output_scale"] == 2.0


def test_mup_on_an_architecture_without_the_option_is_refused(tmp_path, capsys, third_party_plugins):
    path = tmp_path / "spec.yaml"
    path.write_text(SPEC.replace("{name: mlp, width: 16, depth: 1, ARCH}", "{name: twinless, parameterization: mup}")
                    .replace("LEARNER", "network").replace("adam", "sgd"))
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert "architecture.parameterization" in err and "unknown key" in err
