"""The equinox network of the `mlp` architecture (imports jax; loaded only when a model is built)."""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp

from ._layers import Dense, Parameterization


class MLP(eqx.Module):
    """Flatten one input, `depth` hidden ReLU layers of `width` units, a linear readout."""

    layers: tuple[Dense, ...]

    def __init__(
        self,
        input_size: int,
        num_classes: int,
        *,
        width: int,
        depth: int,
        w_std: float,
        b_std: float,
        parameterization: Parameterization,
        key: jax.Array,
    ):
        sizes = [input_size] + [width] * depth + [num_classes]
        keys = jax.random.split(key, len(sizes) - 1)
        self.layers = tuple(
            Dense(a, b, w_std, b_std, parameterization, key=k)
            for a, b, k in zip(sizes[:-1], sizes[1:], keys, strict=True)
        )

    def features(self, x: jax.Array) -> jax.Array:
        """What the readout layer sees: the last hidden layer's activations."""
        x = jnp.ravel(x)
        for layer in self.layers[:-1]:
            x = jax.nn.relu(layer(x))
        return x

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.layers[-1](self.features(x))

    def stax_parameters(self) -> list[tuple[Any, ...]]:
        """The parameters laid out for the twin `serial(Flatten, Dense, Relu, ..., Dense)`.

        One entry per layer: `()` for the parameter-free ones, `(W, b)` for `Dense` with `b` shaped
        `(1, fan_out)`, or `None` when the twin has no bias (`b_std` 0).
        """
        params: list[tuple[Any, ...]] = [()]
        for index, layer in enumerate(self.layers):
            params.append(layer.stax_parameters())
            if index < len(self.layers) - 1:
                params.append(())
        return params
