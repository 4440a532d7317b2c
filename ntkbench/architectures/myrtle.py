"""`myrtle`: the Myrtle CNNs of Shankar et al. (2020), "Neural Kernels Without Tangents", with
their `stax` twins (as in neural-tangents' own Myrtle example).

Depth 5, 7 or 10: three stages of 2/1/1, 2/2/2 or 3/3/3 3x3 convolutions (SAME padding) with
ReLU, 2x2 average pooling after the first two stages, global average pooling after the third
(on 32x32 inputs this equals the original's three further 2x2 poolings), and a dense readout.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from pydantic import PositiveInt

from ..api import StaxTwin
from ._base import LayeredArchitecture, LayeredOptions, conv_parameters, dense_parameters
from ._topology import STAGE_DEPTHS


class MyrtleOptions(LayeredOptions):
    """`b_std` 0 by default, as in Shankar et al.: no bias."""

    depth: Literal[5, 7, 10] = 5
    width: PositiveInt = 128
    """Channels of every convolution."""


class MyrtleArchitecture(LayeredArchitecture):
    """Myrtle CNN with an exact `stax` twin; needs image inputs of at least 4x4 pixels."""

    Options = MyrtleOptions
    api_version = 1

    def init_model(self, *, input_shape: tuple[int, ...], num_classes: int, key: Any) -> Any:
        from ._myrtle_network import Myrtle

        options = self.options
        return Myrtle(
            input_shape,
            num_classes,
            depth=options.depth,
            width=options.width,
            scaling=self.scaling(),
            key=key,
        )

    def parameter_count(self, *, input_shape: tuple[int, ...], num_classes: int) -> int:
        options = self.options
        channels, count = input_shape[-1], 0
        for _ in range(sum(STAGE_DEPTHS[options.depth])):
            count += conv_parameters(channels, options.width, 3, options.b_std)
            channels = options.width
        return count + dense_parameters(options.width, num_classes, options.b_std)

    def input_problem(self, input_shape: tuple[int, ...]) -> str | None:
        if len(input_shape) != 3:
            return f"myrtle needs images (height, width, channels); the dataset gives inputs of shape {list(input_shape)}"
        if min(input_shape[:2]) < 4:
            return f"myrtle pools twice by 2x2, so it needs images of at least 4x4 pixels; got {list(input_shape[:2])}"
        return None

    def stax_twin(self, *, num_classes: int) -> StaxTwin:
        from ..nt_compat import import_neural_tangents

        stax = import_neural_tangents().stax
        options = self.options
        b_std = options.b_std or None
        conv = dict(W_std=options.w_std, b_std=b_std, padding="SAME", parameterization=self.twin_parameterization())
        layers = []
        counts = STAGE_DEPTHS[options.depth]
        for index, count in enumerate(counts):
            layers += [stax.Conv(options.width, (3, 3), **conv), stax.Relu()] * count
            layers.append(stax.AvgPool((2, 2), strides=(2, 2)) if index < len(counts) - 1 else stax.GlobalAvgPool())
        layers.append(stax.Dense(num_classes, options.w_std, b_std, parameterization=self.twin_parameterization()))
        return StaxTwin(*stax.serial(*layers))

    def kernel_map(self, *, num_classes: int) -> Any:
        from .. import infinite

        options = self.options
        b_std = options.b_std or None
        layers: list[Any] = []
        counts = STAGE_DEPTHS[options.depth]
        conv = infinite.Conv(options.width, 3, 1, "SAME", options.w_std, b_std, self.twin_parameterization())
        for index, count in enumerate(counts):
            layers += [conv, infinite.Relu()] * count
            layers.append(infinite.AvgPool(2, 2) if index < len(counts) - 1 else infinite.GlobalAvgPool())
        layers.append(infinite.Dense(num_classes, options.w_std, b_std, self.twin_parameterization()))
        return infinite.serial(*layers)

    def readout_input(self, model: Any) -> Callable[[Any], Any]:
        return model.features
