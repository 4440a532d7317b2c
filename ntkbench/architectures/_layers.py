"""Equinox layers that compute exactly what their neural-tangents `stax` counterparts compute.

Every layer acts on ONE example (`(features,)` or `(height, width, channels)`), like equinox's
own layers; the batch dimension comes from `jax.vmap`. Weights are laid out as stax lays them
out (`(fan_in, fan_out)` for dense, HWIO for convolutions), so parameters can be copied
across for parity checks.

A layer with `b_std` 0 has no bias (`bias` is None), as a `stax` layer with `b_std=None`: a bias
that is multiplied by 0 (NTK parameterisation) would still be differentiated, and its Jacobian
costs memory in every empirical-NTK tile; a bias that starts at 0 (standard parameterisation)
would be trained, and the network would no longer be its twin's.

Parameterisations, as in `stax.Dense` / `stax.Conv`:

- `ntk`: weights and biases start standard normal; the layer computes
  `w_std / sqrt(fan_in) * (x . W) + b_std * b`.
- `standard`: weights start with deviation `w_std / sqrt(fan_in)`, biases with `b_std`; the
  layer computes `x . W + b`.
"""

from __future__ import annotations

import math
from typing import Literal

import equinox as eqx
import jax
import jax.numpy as jnp

Parameterization = Literal["ntk", "standard"]


def _scales(fan_in: int, w_std: float, b_std: float, parameterization: Parameterization) -> tuple[float, float, float, float]:
    """(weight init scale, bias init scale, weight multiplier, bias multiplier)."""
    if parameterization == "ntk":
        return 1.0, 1.0, w_std / math.sqrt(fan_in), b_std
    return w_std / math.sqrt(fan_in), b_std, 1.0, 1.0


class Dense(eqx.Module):
    """Fully connected layer on a vector; `weight` is `(fan_in, fan_out)`."""

    weight: jax.Array
    bias: jax.Array | None
    weight_multiplier: float = eqx.field(static=True)
    bias_multiplier: float = eqx.field(static=True)

    def __init__(
        self, fan_in: int, fan_out: int, w_std: float, b_std: float, parameterization: Parameterization, *, key: jax.Array
    ):
        weight_key, bias_key = jax.random.split(key)
        weight_init, bias_init, self.weight_multiplier, self.bias_multiplier = _scales(fan_in, w_std, b_std, parameterization)
        self.weight = weight_init * jax.random.normal(weight_key, (fan_in, fan_out))
        self.bias = bias_init * jax.random.normal(bias_key, (fan_out,)) if b_std else None

    def __call__(self, x: jax.Array) -> jax.Array:
        out = self.weight_multiplier * (x @ self.weight)
        return out if self.bias is None else out + self.bias_multiplier * self.bias

    def stax_parameters(self) -> tuple[jax.Array, jax.Array | None]:
        """`(W, b)` as `stax.Dense` holds them: `b` shaped `(1, fan_out)`, or None without a bias."""
        return self.weight, None if self.bias is None else self.bias[None, :]


class Conv(eqx.Module):
    """2-D convolution with SAME padding on an `(H, W, C)` image; `weight` is HWIO like stax's."""

    weight: jax.Array
    bias: jax.Array | None
    stride: int = eqx.field(static=True)
    weight_multiplier: float = eqx.field(static=True)
    bias_multiplier: float = eqx.field(static=True)

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int,
        w_std: float,
        b_std: float,
        parameterization: Parameterization,
        *,
        key: jax.Array,
    ):
        weight_key, bias_key = jax.random.split(key)
        fan_in = in_channels * kernel_size * kernel_size
        weight_init, bias_init, self.weight_multiplier, self.bias_multiplier = _scales(fan_in, w_std, b_std, parameterization)
        self.weight = weight_init * jax.random.normal(weight_key, (kernel_size, kernel_size, in_channels, out_channels))
        self.bias = bias_init * jax.random.normal(bias_key, (out_channels,)) if b_std else None
        self.stride = stride

    def __call__(self, x: jax.Array) -> jax.Array:
        out = jax.lax.conv_general_dilated(
            x[None],
            self.weight,
            window_strides=(self.stride, self.stride),
            padding="SAME",
            dimension_numbers=("NHWC", "HWIO", "NHWC"),
        )[0]
        out = self.weight_multiplier * out
        return out if self.bias is None else out + self.bias_multiplier * self.bias

    def stax_parameters(self) -> tuple[jax.Array, jax.Array | None]:
        """`(W, b)` as `stax.Conv` holds them: `b` shaped `(1, 1, 1, out_channels)`, or None without a bias."""
        return self.weight, None if self.bias is None else self.bias.reshape(1, 1, 1, -1)


def avg_pool(x: jax.Array) -> jax.Array:
    """2x2 average pooling with stride 2 and VALID padding (`stax.AvgPool((2, 2), (2, 2))`)."""
    summed = jax.lax.reduce_window(x, 0.0, jax.lax.add, (2, 2, 1), (2, 2, 1), "VALID")
    return summed / 4.0


def global_avg_pool(x: jax.Array) -> jax.Array:
    """Mean over the spatial axes (`stax.GlobalAvgPool()`)."""
    return jnp.mean(x, axis=(0, 1))


def layer_norm_channels(x: jax.Array, eps: float = 1e-12) -> jax.Array:
    """Normalise over the channel axis at every position, without parameters (`stax.LayerNorm(axis=-1)`)."""
    mean = jnp.mean(x, axis=-1, keepdims=True)
    var = jnp.mean((x - mean) ** 2, axis=-1, keepdims=True)
    return (x - mean) / jnp.sqrt(eps + var)


def readout_covariance_features(features: jax.Array, w_std: float, b_std: float) -> jax.Array:
    """`[w_std * phi / sqrt(d), b_std]`: features whose inner product is the covariance at initialisation
    of a readout `Dense` on `phi` (in either parameterisation), i.e. the empirical NNGP."""
    scaled = w_std * features / math.sqrt(features.shape[-1])
    return jnp.concatenate([scaled, jnp.full((1,), b_std, dtype=features.dtype)])
