"""`resnet18`: ResNet-18 adapted to 32x32 inputs, described once with `ntkbench.layers`; its infinite
kernel and `stax` twin exist when it has no batch norm.

The CIFAR variant of the pre-activation ResNet-18 (He et al. 2016, "Identity Mappings in Deep
Residual Networks"; 3x3 stem, no max-pool; four stages of two basic blocks with `width`, 2, 4,
8 x `width` channels; final norm and ReLU; global average pooling; dense readout). A block computes
`h = relu(norm(x))` and `conv2(relu(norm(conv1(h)))) + shortcut`, the shortcut `x`, or a 1x1
convolution of `h` where the shape changes. Pre-activation keeps the residual stream a sum of
convolution outputs, which is what carries the infinite-width kernel through the residual sums.
`norm`:

- `none`: no normalisation.
- `layer`: parameter-free layer norm over channels at every position (`stax.LayerNorm(axis=-1)`,
  the form whose infinite-width limit exists).
- `batch`: batch norm (batch statistics while training, running statistics to predict). No
  infinite-width kernel: batch statistics couple the examples of a batch. Its empirical NTK is
  that of the network as a per-example function (running statistics).
"""

from __future__ import annotations

from typing import Literal

from pydantic import PositiveInt

from ..layers import (
    BatchNorm,
    Conv,
    Dense,
    GlobalAvgPool,
    Layer,
    LayeredArchitecture,
    LayeredOptions,
    LayerNorm,
    Relu,
    Residual,
    Serial,
    serial,
)

STAGES = ((1, 1), (2, 2), (4, 2), (8, 2))
"""(channel multiple of `width`, blocks) per stage; every stage after the first starts with stride 2."""


class ResNet18Options(LayeredOptions):
    width: PositiveInt = 64
    """Channels of the first stage (64 in the original)."""
    norm: Literal["batch", "layer", "none"] = "none"


class ResNet18Architecture(LayeredArchitecture):
    """ResNet-18 for small images; infinite kernel and `stax` twin for `norm: none` and `norm: layer`."""

    Options = ResNet18Options
    api_version = 1
    stax_twin_availability = "with norm: none or norm: layer"

    def layers(self, *, num_classes: int) -> Serial:
        norm: list[Layer] = {"none": [], "layer": [LayerNorm()], "batch": [BatchNorm()]}[self.options.norm]
        width = self.options.width
        layers: list[Layer] = [Conv(width, 3)]
        channels = width
        for stage, (multiple, count) in enumerate(STAGES):
            for index in range(count):
                out, stride = width * multiple, 2 if stage > 0 and index == 0 else 1
                if stride == 1 and channels == out:
                    layers.append(Residual(serial(*norm, Relu(), Conv(out, 3), *norm, Relu(), Conv(out, 3))))
                else:  # the projection reads the normalised input as the main branch does
                    main = serial(Conv(out, 3, stride), *norm, Relu(), Conv(out, 3))
                    layers += [*norm, Relu(), Residual(main, Conv(out, 1, stride))]
                channels = out
        return serial(*layers, *norm, Relu(), GlobalAvgPool(), Dense(num_classes))

    def input_problem(self, input_shape: tuple[int, ...]) -> str | None:
        if len(input_shape) != 3:
            return f"resnet18 needs images (height, width, channels); the dataset gives inputs of shape {list(input_shape)}"
        return None
