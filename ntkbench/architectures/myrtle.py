"""`myrtle`: the Myrtle CNNs of Shankar et al. (2020), "Neural Kernels Without Tangents", described
once with `ntkbench.layers` (as in neural-tangents' own Myrtle example).

Depth 5, 7 or 10: three stages of 2/1/1, 2/2/2 or 3/3/3 3x3 convolutions (SAME padding) with
ReLU, 2x2 average pooling after the first two stages, global average pooling after the third
(on 32x32 inputs this equals the original's three further 2x2 poolings), and a dense readout.
"""

from __future__ import annotations

from typing import Literal

from pydantic import PositiveInt

from ..layers import AvgPool, Conv, Dense, GlobalAvgPool, LayeredArchitecture, LayeredOptions, Relu, Serial, serial

STAGE_DEPTHS = {5: (2, 1, 1), 7: (2, 2, 2), 10: (3, 3, 3)}
"""Convolutions per stage; with the dense readout they make the network's depth."""


class MyrtleOptions(LayeredOptions):
    """`b_std` 0 by default, as in Shankar et al.: no bias."""

    depth: Literal[5, 7, 10] = 5
    width: PositiveInt = 128
    """Channels of every convolution."""


class MyrtleArchitecture(LayeredArchitecture):
    """Myrtle CNN; needs image inputs of at least 4x4 pixels."""

    Options = MyrtleOptions
    api_version = 1

    def layers(self, *, num_classes: int) -> Serial:
        counts = STAGE_DEPTHS[self.options.depth]
        layers = []
        for index, count in enumerate(counts):
            layers += [Conv(self.options.width, 3), Relu()] * count
            layers.append(AvgPool(2, 2) if index < len(counts) - 1 else GlobalAvgPool())
        return serial(*layers, Dense(num_classes))

    def input_problem(self, input_shape: tuple[int, ...]) -> str | None:
        if len(input_shape) != 3:
            return f"myrtle needs images (height, width, channels); the dataset gives inputs of shape {list(input_shape)}"
        if min(input_shape[:2]) < 4:
            return f"myrtle pools twice by 2x2, so it needs images of at least 4x4 pixels; got {list(input_shape[:2])}"
        return None
