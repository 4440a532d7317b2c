"""The equinox network of the `mlp` architecture (imports jax; loaded only when a model is built)."""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp

from ._layers import Dense, Scaling


class MLP(eqx.Module):
    """Flatten one input, `depth` hidden ReLU layers of `width` units, a linear readout."""

    hidden: tuple[Dense, ...]
    readout: Dense

    def __init__(self, input_size: int, num_classes: int, *, width: int, depth: int, scaling: Scaling, key: jax.Array):
        keys = jax.random.split(key, depth + 1)
        sizes = [input_size] + [width] * depth
        self.hidden = tuple(
            Dense(a, b, scaling, "input" if index == 0 else "hidden", key=keys[index])
            for index, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True))
        )
        self.readout = Dense(width, num_classes, scaling, "readout", key=keys[-1])

    def features(self, x: jax.Array) -> jax.Array:
        """What the readout layer sees: the last hidden layer's activations."""
        x = jnp.ravel(x)
        for layer in self.hidden:
            x = jax.nn.relu(layer(x))
        return x

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.readout(self.features(x))

    def stax_parameters(self) -> list[tuple[Any, ...]]:
        """The parameters laid out for the twin `serial(Flatten, Dense, Relu, ..., Dense)`.

        One entry per layer: `()` for the parameter-free ones, `(W, b)` for `Dense` with `b` shaped
        `(1, fan_out)`, or `None` when the twin has no bias (`b_std` 0).
        """
        params: list[tuple[Any, ...]] = [()]
        for layer in self.hidden:
            params += [layer.stax_parameters(), ()]
        return [*params, self.readout.stax_parameters()]
