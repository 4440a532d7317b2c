"""The equinox network of the `myrtle` architecture (imports jax; loaded only when a model is built)."""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax

from ._layers import Conv, Dense, Scaling, avg_pool, global_avg_pool
from ._topology import STAGE_DEPTHS


class Myrtle(eqx.Module):
    """Three stages of 3x3 convolutions with ReLU, 2x2 average pooling after the first two,
    global average pooling after the third, and a dense readout (Shankar et al. 2020)."""

    stages: tuple[tuple[Conv, ...], ...]
    readout: Dense

    def __init__(
        self,
        input_shape: tuple[int, int, int],
        num_classes: int,
        *,
        depth: int,
        width: int,
        scaling: Scaling,
        key: jax.Array,
    ):
        counts = STAGE_DEPTHS[depth]
        keys = iter(jax.random.split(key, sum(counts) + 1))
        channels = input_shape[-1]
        stages = []
        for count in counts:
            stage = []
            for _ in range(count):
                role = "hidden" if stages or stage else "input"
                stage.append(Conv(channels, width, 3, 1, scaling, role, key=next(keys)))
                channels = width
            stages.append(tuple(stage))
        self.stages = tuple(stages)
        self.readout = Dense(width, num_classes, scaling, "readout", key=next(keys))

    def features(self, x: jax.Array) -> jax.Array:
        """What the readout layer sees: the globally pooled last stage."""
        for index, stage in enumerate(self.stages):
            for conv in stage:
                x = jax.nn.relu(conv(x))
            x = avg_pool(x) if index < len(self.stages) - 1 else global_avg_pool(x)
        return x

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.readout(self.features(x))

    def stax_parameters(self) -> list[Any]:
        """Parameters laid out for `serial(Conv, Relu, ..., AvgPool, ..., GlobalAvgPool, Dense)`."""
        params: list[Any] = []
        for index, stage in enumerate(self.stages):
            for conv in stage:
                params += [conv.stax_parameters(), ()]
            params.append(())  # AvgPool or GlobalAvgPool
        params.append(self.readout.stax_parameters())
        return params
