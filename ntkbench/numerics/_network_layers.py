"""Equinox layers that compute exactly what their neural-tangents `stax` counterparts compute, and the
containers that a network built from `ntkbench.layers` descriptions is made of.

Every layer acts on ONE example (`(features,)` or `(height, width, channels)`), like equinox's
own layers; the batch dimension comes from `jax.vmap`. Weights are laid out as stax lays them
out (`(fan_in, fan_out)` for dense, HWIO for convolutions), so parameters can be copied
across for parity checks.

A layer with `b_std` 0 has no bias (`bias` is None), as a `stax` layer with `b_std=None`: a bias
that is multiplied by 0 (NTK parameterisation) would still be differentiated, and its Jacobian
costs memory in every empirical-NTK tile; a bias that starts at 0 (standard parameterisation)
would be trained, and the network would no longer be its twin's.

Parameterisations. Every parameter is stored as `init * N(0, 1)` and used as `multiplier *
stored`, so an SGD step with learning rate eta on the stored parameter is an SGD step with
learning rate `eta * multiplier**2` on the effective one: a parameterisation is a choice of
init and multiplier per parameter.

- `ntk` (as `stax.Dense` / `stax.Conv`): weights and biases start standard normal; the layer
  computes `w_std / sqrt(fan_in) * (x . W) + b_std * b`.
- `standard` (as stax's): weights start with deviation `w_std / sqrt(fan_in)`, biases with
  `b_std`; the layer computes `x . W + b`.
- `mup`, the maximal-update parameterisation for SGD (Yang & Hu 2021, "Tensor Programs IV";
  Yang et al. 2022, "Tensor Programs V", table 3) with one global learning rate eta: effective
  weights start with variance `w_std**2 / fan_in` in the input and hidden layers and
  `w_std**2 / fan_in**2` in the readout, biases with `b_std**2`; their effective learning rates
  are `eta * w_std**2 * fan_out / fan_in` in the input layer, `eta` in hidden layers,
  `eta / fan_in` in the readout and `eta * b_std**2 * fan_out` for biases. In width these are
  table 3's `fan_out`, 1 and `1 / fan_in`; the constants make a step move the input layer's
  preactivations as much as in NTK parameterisation, whatever the input size. Multipliers:
  `w_std * sqrt(fan_out / fan_in)`, 1, `1 / sqrt(fan_in)`, and `b_std * sqrt(fan_out)` for
  biases (the abc-parameterisation of Tensor Programs IV, a = -1/2, 0, 1/2, b = 1/2, c = 0).

`output_scale` alpha (Chizat, Oyallon & Bach 2019, "On Lazy Training"): the network computes
`alpha * f(x; theta)`, and SGD with learning rate eta moves theta as SGD on
`R(alpha * f) / alpha**2` would. The stored parameters are `alpha * theta`, every multiplier
is divided by alpha and the readout's multiplied back by alpha; theta's effective learning
rate is `eta / alpha**2`. The tangent kernel does not depend on alpha. Large alpha: lazy
(with `center`, the trained network tends to kernel regression with that kernel); small
alpha: rich.

The twin of a `mup` or rescaled network is the `ntk` twin (`standard` for `standard`)
computing the same function: `stax_parameters` hands it the effective parameters divided by
the twin's multipliers.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Literal, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp

Parameterization = Literal["ntk", "standard", "mup"]
Role = Literal["input", "hidden", "readout"]
"""Where a layer sits: `input` reads the data, `readout` produces the logits, every other layer is `hidden`."""


class LayerScaling(NamedTuple):
    """One layer's init deviations and multipliers, and those of its twin's layer."""

    weight_init: float
    bias_init: float
    weight_multiplier: float
    bias_multiplier: float
    twin_weight_multiplier: float
    twin_bias_multiplier: float


@dataclasses.dataclass(frozen=True)
class Scaling:
    """How every layer of a network is initialised and multiplied (see the module docstring)."""

    w_std: float
    b_std: float
    parameterization: Parameterization
    output_scale: float = 1.0

    def layer(self, fan_in: int, fan_out: int, role: Role) -> LayerScaling:
        """The scaling of a layer with `fan_in` inputs (per output) and `fan_out` outputs (channels)."""
        w_std, b_std, alpha = self.w_std, self.b_std, self.output_scale
        if self.parameterization == "ntk":
            weight_init, bias_init, weight_multiplier, bias_multiplier = 1.0, 1.0, w_std / math.sqrt(fan_in), b_std
        elif self.parameterization == "standard":
            weight_init, bias_init, weight_multiplier, bias_multiplier = w_std / math.sqrt(fan_in), b_std, 1.0, 1.0
        else:
            effective = w_std / (fan_in if role == "readout" else math.sqrt(fan_in))
            weight_multiplier = {"input": w_std * math.sqrt(fan_out / fan_in), "hidden": 1.0, "readout": 1 / math.sqrt(fan_in)}[role]
            weight_init, bias_init, bias_multiplier = effective / weight_multiplier, 1 / math.sqrt(fan_out), b_std * math.sqrt(fan_out)
        if alpha != 1.0:
            readout = alpha if role == "readout" else 1.0
            weight_init, bias_init = weight_init * alpha, bias_init * alpha
            weight_multiplier, bias_multiplier = weight_multiplier * readout / alpha, bias_multiplier * readout / alpha
        twin = (1.0, 1.0) if self.parameterization == "standard" else (w_std / math.sqrt(fan_in), b_std)
        return LayerScaling(weight_init, bias_init, weight_multiplier, bias_multiplier, *twin)


def _in_twin_layout(stored: jax.Array, multiplier: float, twin_multiplier: float) -> jax.Array:
    """A stored parameter as the twin holds it: the same effective value under the twin's multiplier."""
    return stored if multiplier == twin_multiplier else stored * (multiplier / twin_multiplier)


class Dense(eqx.Module):
    """Fully connected layer on a vector; `weight` is `(fan_in, fan_out)`."""

    weight: jax.Array
    bias: jax.Array | None
    scaling: LayerScaling = eqx.field(static=True)

    def __init__(self, fan_in: int, fan_out: int, scaling: Scaling, role: Role, *, key: jax.Array):
        weight_key, bias_key = jax.random.split(key)
        self.scaling = scaling.layer(fan_in, fan_out, role)
        self.weight = self.scaling.weight_init * jax.random.normal(weight_key, (fan_in, fan_out))
        self.bias = self.scaling.bias_init * jax.random.normal(bias_key, (fan_out,)) if scaling.b_std else None

    def __call__(self, x: jax.Array) -> jax.Array:
        out = self.scaling.weight_multiplier * (x @ self.weight)
        return out if self.bias is None else out + self.scaling.bias_multiplier * self.bias

    def stax_parameters(self) -> tuple[jax.Array, jax.Array | None]:
        """`(W, b)` as `stax.Dense` holds them: `b` shaped `(1, fan_out)`, or None without a bias."""
        return _twin_parameters(self.weight, self.bias, self.scaling, (1, -1))


class Conv(eqx.Module):
    """2-D convolution with SAME padding on an `(H, W, C)` image; `weight` is HWIO like stax's."""

    weight: jax.Array
    bias: jax.Array | None
    stride: int = eqx.field(static=True)
    scaling: LayerScaling = eqx.field(static=True)

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int,
        scaling: Scaling,
        role: Role,
        *,
        key: jax.Array,
    ):
        weight_key, bias_key = jax.random.split(key)
        self.scaling = scaling.layer(in_channels * kernel_size * kernel_size, out_channels, role)
        shape = (kernel_size, kernel_size, in_channels, out_channels)
        self.weight = self.scaling.weight_init * jax.random.normal(weight_key, shape)
        self.bias = self.scaling.bias_init * jax.random.normal(bias_key, (out_channels,)) if scaling.b_std else None
        self.stride = stride

    def __call__(self, x: jax.Array) -> jax.Array:
        out = jax.lax.conv_general_dilated(
            x[None],
            self.weight,
            window_strides=(self.stride, self.stride),
            padding="SAME",
            dimension_numbers=("NHWC", "HWIO", "NHWC"),
        )[0]
        out = self.scaling.weight_multiplier * out
        return out if self.bias is None else out + self.scaling.bias_multiplier * self.bias

    def stax_parameters(self) -> tuple[jax.Array, jax.Array | None]:
        """`(W, b)` as `stax.Conv` holds them: `b` shaped `(1, 1, 1, out_channels)`, or None without a bias."""
        return _twin_parameters(self.weight, self.bias, self.scaling, (1, 1, 1, -1))


def _twin_parameters(
    weight: jax.Array, bias: jax.Array | None, scaling: LayerScaling, bias_shape: tuple[int, ...]
) -> tuple[jax.Array, jax.Array | None]:
    """A layer's parameters as its twin holds them: the same effective values under the twin's multipliers."""
    weight = _in_twin_layout(weight, scaling.weight_multiplier, scaling.twin_weight_multiplier)
    if bias is None:
        return weight, None
    return weight, _in_twin_layout(bias, scaling.bias_multiplier, scaling.twin_bias_multiplier).reshape(bias_shape)


class Relu(eqx.Module):
    def __call__(self, x: jax.Array) -> jax.Array:
        return jax.nn.relu(x)


class Flatten(eqx.Module):
    def __call__(self, x: jax.Array) -> jax.Array:
        return jnp.ravel(x)


class AvgPool(eqx.Module):
    """Average pooling of `window` x `window` patches at `stride`, VALID padding (`stax.AvgPool`)."""

    window: int = eqx.field(static=True)
    stride: int = eqx.field(static=True)

    def __call__(self, x: jax.Array) -> jax.Array:
        shape, strides = (self.window, self.window, 1), (self.stride, self.stride, 1)
        summed = jax.lax.reduce_window(x, 0.0, jax.lax.add, shape, strides, "VALID")
        return summed / float(self.window * self.window)


class GlobalAvgPool(eqx.Module):
    """Mean over the spatial axes (`stax.GlobalAvgPool()`)."""

    def __call__(self, x: jax.Array) -> jax.Array:
        return jnp.mean(x, axis=(0, 1))


class LayerNorm(eqx.Module):
    """Normalise over the channel axis at every position, without parameters (`stax.LayerNorm(axis=-1)`)."""

    def __call__(self, x: jax.Array, eps: float = 1e-12) -> jax.Array:
        mean = jnp.mean(x, axis=-1, keepdims=True)
        var = jnp.mean((x - mean) ** 2, axis=-1, keepdims=True)
        return (x - mean) / jnp.sqrt(eps + var)


class WithState(eqx.Module):
    """A layer called as `layer(x, state) -> (x, state)`: batch norm, and the containers that may hold it."""


class BatchNorm(WithState):
    """Batch norm over the channels (last axis): batch statistics in training (a `vmap` named
    "batch"), running statistics otherwise (equinox's, which normalises channels first)."""

    norm: eqx.nn.BatchNorm

    def __init__(self, channels: int):
        self.norm = eqx.nn.BatchNorm(channels, axis_name="batch", mode="batch")

    def __call__(self, x: jax.Array, state: Any) -> tuple[jax.Array, Any]:
        if self.norm.inference:
            return self._inference(x, state), state
        if x.ndim == 1:
            return self.norm(x, state)
        y, state = self.norm(jnp.moveaxis(x, -1, 0), state)
        return jnp.moveaxis(y, 0, -1), state

    def _inference(self, x: jax.Array, state: Any) -> jax.Array:
        """equinox's inference-mode normalisation (its running statistics, debiased as it does, and
        the same operations on each entry), on the channels last: without equinox's transposes to
        channels first and its `vmap` over them, so that every empirical NTK of the network traces
        fewer operations."""
        norm = self.norm
        counter = state.get(norm.batch_counter)
        hidden_mean, hidden_var = state.get(norm.batch_state_index)
        debias = jnp.where(counter == 0, 1, 1 - norm.momentum**counter)
        out = (x - hidden_mean / debias) / jnp.sqrt(hidden_var / debias + norm.eps)
        return out * norm.weight + norm.bias if norm.channelwise_affine else out


def apply_layer(layer: eqx.Module, x: jax.Array, state: Any) -> tuple[jax.Array, Any]:
    """`layer` on one example, threading the state through the layers that have one."""
    return layer(x, state) if isinstance(layer, WithState) else (layer(x), state)


class Chain(WithState):
    """Layers one after the other."""

    layers: tuple[eqx.Module, ...]

    def __call__(self, x: jax.Array, state: Any) -> tuple[jax.Array, Any]:
        for layer in self.layers:
            x, state = apply_layer(layer, x, state)
        return x, state


class ResidualSum(WithState):
    """`main(x) + shortcut(x)`, the shortcut the identity when None."""

    main: eqx.Module
    shortcut: eqx.Module | None

    def __call__(self, x: jax.Array, state: Any) -> tuple[jax.Array, Any]:
        out, state = apply_layer(self.main, x, state)
        if self.shortcut is None:
            return out + x, state
        short, state = apply_layer(self.shortcut, x, state)
        return out + short, state


class Network(eqx.Module):
    """A network: its body, then a dense readout. Called as `network(x)` (logits), or, holding batch
    norm, as `network(x, state)` (logits and the new state; the state lives in an `eqx.nn.State`)."""

    body: Chain
    readout: Dense

    def features(self, x: jax.Array, state: Any = None) -> tuple[jax.Array, Any]:
        """What the readout sees, and the new state."""
        return self.body(x, state)

    def __call__(self, x: jax.Array, state: Any = None) -> Any:
        features, new_state = self.features(x, state)
        logits = self.readout(features)
        return logits if state is None else (logits, new_state)


def readout_covariance_features(features: jax.Array, readout: Dense) -> jax.Array:
    """`[sigma_w * phi, sigma_b]`, with sigma_w and sigma_b the deviations of `readout`'s effective
    weights and bias at initialisation: features whose inner product is the covariance of the
    readout's output at initialisation, i.e. the empirical NNGP (in any parameterisation)."""
    scaling = readout.scaling
    weight_std = scaling.weight_init * scaling.weight_multiplier
    bias_std = 0.0 if readout.bias is None else scaling.bias_init * scaling.bias_multiplier
    return jnp.concatenate([weight_std * features, jnp.full((1,), bias_std, dtype=features.dtype)])
