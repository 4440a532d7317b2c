"""`resnet18`: ResNet-18 adapted to 32x32 inputs, with a `stax` twin when it has no batch norm.

The CIFAR variant of the pre-activation ResNet-18 (He et al. 2016; 3x3 stem, no max-pool; four
stages of two basic blocks with `width`, 2, 4, 8 x `width` channels; final norm and ReLU; global
average pooling; dense readout). Pre-activation keeps the residual stream a sum of convolution
outputs, which is what neural-tangents needs to carry the infinite-width kernel through the
residual sums (`FanInSum`). `norm`:

- `none`: no normalisation; twin through `FanOut` / `FanInSum`.
- `layer`: parameter-free layer norm over channels at every position (`stax.LayerNorm(axis=-1)`,
  the form whose infinite-width limit exists); twin as above.
- `batch`: batch norm (equinox, batch statistics while training, running statistics to
  predict). No infinite-width twin: batch statistics couple the examples of a batch. Its
  empirical NTK is that of the network as a per-example function (running statistics).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from pydantic import PositiveInt

from ..api import StatefulModel, StaxTwin
from ._base import LayeredArchitecture, LayeredOptions, conv_parameters, dense_parameters
from ._topology import block_shapes


class ResNet18Options(LayeredOptions):
    width: PositiveInt = 64
    """Channels of the first stage (64 in the original)."""
    norm: Literal["batch", "layer", "none"] = "none"


class ResNet18Architecture(LayeredArchitecture):
    """ResNet-18 for small images; `stax` twin for `norm: none` and `norm: layer`."""

    Options = ResNet18Options
    api_version = 1
    stax_twin_availability = "with norm: none or norm: layer"

    def init_model(self, *, input_shape: tuple[int, ...], num_classes: int, key: Any) -> Any:
        import equinox as eqx

        from ._resnet_network import ResNet18

        options = self.options
        arguments = dict(
            width=options.width,
            norm=options.norm,
            scaling=self.scaling(),
            key=key,
        )
        if options.norm == "batch":
            return StatefulModel(*eqx.nn.make_with_state(ResNet18)(input_shape, num_classes, **arguments))
        return ResNet18(input_shape, num_classes, **arguments)

    def input_problem(self, input_shape: tuple[int, ...]) -> str | None:
        if len(input_shape) != 3:
            return f"resnet18 needs images (height, width, channels); the dataset gives inputs of shape {list(input_shape)}"
        return None

    def has_stax_twin(self) -> bool:
        return self.options.norm != "batch"

    def parameter_count(self, *, input_shape: tuple[int, ...], num_classes: int) -> int:
        options = self.options
        norm = 2 if options.norm == "batch" else 0  # batch norm's scale and shift per channel
        count = conv_parameters(input_shape[-1], options.width, 3, options.b_std)
        for channels, out, stride in block_shapes(options.width):
            count += norm * channels + conv_parameters(channels, out, 3, options.b_std)
            count += norm * out + conv_parameters(out, out, 3, options.b_std)
            if stride != 1 or channels != out:
                count += conv_parameters(channels, out, 1, options.b_std)
        channels = 8 * options.width
        return count + norm * channels + dense_parameters(channels, num_classes, options.b_std)

    def stax_twin(self, *, num_classes: int) -> StaxTwin:
        from ..nt_compat import import_neural_tangents

        stax = import_neural_tangents().stax
        options = self.options
        b_std = options.b_std or None
        norm = [stax.LayerNorm(axis=-1)] if options.norm == "layer" else []

        def conv(channels: int, size: int, stride: int) -> Any:
            return stax.Conv(
                channels, (size, size), (stride, stride), "SAME", options.w_std, b_std,
                parameterization=self.twin_parameterization(),
            )

        layers = [conv(options.width, 3, 1)]
        for channels, out, stride in block_shapes(options.width):
            main = [conv(out, 3, stride), *norm, stax.Relu(), conv(out, 3, 1)]
            if stride == 1 and channels == out:
                block = [stax.FanOut(2), stax.parallel(stax.serial(*norm, stax.Relu(), *main), stax.Identity()), stax.FanInSum()]
            else:
                block = [*norm, stax.Relu(), stax.FanOut(2), stax.parallel(stax.serial(*main), conv(out, 1, stride)), stax.FanInSum()]
            layers.append(stax.serial(*block))
        layers += [*norm, stax.Relu(), stax.GlobalAvgPool(), stax.Dense(num_classes, options.w_std, b_std, parameterization=self.twin_parameterization())]
        return StaxTwin(*stax.serial(*layers))

    def kernel_map(self, *, num_classes: int) -> Any:
        from .. import infinite

        options = self.options
        b_std = options.b_std or None
        norm = [infinite.LayerNorm()] if options.norm == "layer" else []

        def conv(channels: int, size: int, stride: int) -> Any:
            return infinite.Conv(channels, size, stride, "SAME", options.w_std, b_std, self.twin_parameterization())

        layers: list[Any] = [conv(options.width, 3, 1)]
        for channels, out, stride in block_shapes(options.width):
            main = [conv(out, 3, stride), *norm, infinite.Relu(), conv(out, 3, 1)]
            if stride == 1 and channels == out:
                layers.append(infinite.Residual(infinite.serial(*norm, infinite.Relu(), *main), infinite.identity))
            else:
                layers += [*norm, infinite.Relu(), infinite.Residual(infinite.serial(*main), conv(out, 1, stride))]
        layers += [*norm, infinite.Relu(), infinite.GlobalAvgPool(), infinite.Dense(num_classes, options.w_std, b_std, self.twin_parameterization())]
        return infinite.serial(*layers)

    def readout_input(self, model: Any) -> Callable[[Any], Any]:
        if isinstance(model, StatefulModel):  # batch norm: inference mode, running statistics
            import equinox as eqx

            module, state = eqx.nn.inference_mode(model.module), model.state
            return lambda x: module.features(x, state)[0]
        return lambda x: model.features(x)[0]
