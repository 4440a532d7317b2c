"""The equinox network of the `mlp` architecture (imports jax; loaded only when a model is built)."""

from __future__ import annotations

import math
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp


class DenseNTK(eqx.Module):
    """A dense layer in NTK parameterisation: `w_std / sqrt(fan_in) * x @ weight + b_std * bias`.

    `weight` is `(fan_in, fan_out)` and both arrays are standard normal at initialisation, as in
    `stax.Dense(..., parameterization="ntk")`.
    """

    weight: jax.Array
    bias: jax.Array
    w_std: float = eqx.field(static=True)
    b_std: float = eqx.field(static=True)

    def __init__(self, fan_in: int, fan_out: int, w_std: float, b_std: float, *, key: jax.Array):
        weight_key, bias_key = jax.random.split(key)
        self.weight = jax.random.normal(weight_key, (fan_in, fan_out))
        self.bias = jax.random.normal(bias_key, (fan_out,))
        self.w_std, self.b_std = w_std, b_std

    def __call__(self, x: jax.Array) -> jax.Array:
        fan_in = self.weight.shape[0]
        return (self.w_std / math.sqrt(fan_in)) * (x @ self.weight) + self.b_std * self.bias


class MLP(eqx.Module):
    """Flatten one input, `depth` hidden ReLU layers of `width` units, a linear readout."""

    layers: tuple[DenseNTK, ...]

    def __init__(
        self, input_size: int, num_classes: int, *, width: int, depth: int, w_std: float, b_std: float, key: jax.Array
    ):
        sizes = [input_size] + [width] * depth + [num_classes]
        keys = jax.random.split(key, len(sizes) - 1)
        self.layers = tuple(
            DenseNTK(a, b, w_std, b_std, key=k) for a, b, k in zip(sizes[:-1], sizes[1:], keys, strict=True)
        )

    def __call__(self, x: jax.Array) -> jax.Array:
        x = jnp.ravel(x)
        for layer in self.layers[:-1]:
            x = jax.nn.relu(layer(x))
        return self.layers[-1](x)


def stax_parameters(model: MLP) -> list[tuple[Any, ...]]:
    """The parameters of `model` laid out as its `stax` twin expects them.

    `stax.serial(Flatten, Dense, Relu, ..., Dense)` takes one entry per layer: `()` for the
    parameter-free layers, `(W, b)` for `Dense`, with `b` shaped `(1, fan_out)` (`None` when
    `b_std` is 0: the twin then has no bias).
    """
    params: list[tuple[Any, ...]] = [()]
    for index, layer in enumerate(model.layers):
        params.append((layer.weight, layer.bias[None, :] if layer.b_std else None))
        if index < len(model.layers) - 1:
            params.append(())
    return params
