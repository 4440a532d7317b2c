"""The equinox network of the `resnet18` architecture (imports jax; loaded only when a model is built)."""

from __future__ import annotations

from typing import Any, Literal

import equinox as eqx
import jax

from ._layers import Conv, Dense, Scaling, global_avg_pool, layer_norm_channels
from ._topology import block_shapes

Norm = Literal["batch", "layer", "none"]


class Normalization(eqx.Module):
    """`norm` before an activation: nothing, parameter-free layer norm over channels, or batch norm."""

    kind: str = eqx.field(static=True)
    batch_norm: eqx.nn.BatchNorm | None

    def __init__(self, kind: Norm, channels: int):
        self.kind = kind
        self.batch_norm = eqx.nn.BatchNorm(channels, axis_name="batch", mode="batch") if kind == "batch" else None

    def __call__(self, x: jax.Array, state: Any) -> tuple[jax.Array, Any]:
        if self.kind == "layer":
            return layer_norm_channels(x), state
        if self.kind == "batch":
            y, state = self.batch_norm(x.transpose(2, 0, 1), state)  # equinox normalises channels-first
            return y.transpose(1, 2, 0), state
        return x, state


class PreActBlock(eqx.Module):
    """Pre-activation basic block (He et al. 2016, "Identity Mappings in Deep Residual Networks"):
    `h = relu(norm(x))`, output `conv2(relu(norm(conv1(h)))) + shortcut`, where the shortcut is `x`
    or, when the shape changes, a 1x1 convolution of `h`. The residual stream is a sum of
    convolution outputs, which is what lets the infinite-width kernel pass through `FanInSum`."""

    norm1: Normalization
    conv1: Conv
    norm2: Normalization
    conv2: Conv
    shortcut: Conv | None

    def __init__(self, in_channels, out_channels, stride, norm, scaling: Scaling, *, key):
        keys = jax.random.split(key, 3)
        self.norm1 = Normalization(norm, in_channels)
        self.conv1 = Conv(in_channels, out_channels, 3, stride, scaling, "hidden", key=keys[0])
        self.norm2 = Normalization(norm, out_channels)
        self.conv2 = Conv(out_channels, out_channels, 3, 1, scaling, "hidden", key=keys[1])
        projection = stride != 1 or in_channels != out_channels
        self.shortcut = Conv(in_channels, out_channels, 1, stride, scaling, "hidden", key=keys[2]) if projection else None

    def __call__(self, x: jax.Array, state: Any) -> tuple[jax.Array, Any]:
        h, state = self.norm1(x, state)
        h = jax.nn.relu(h)
        out, state = self.norm2(self.conv1(h), state)
        out = self.conv2(jax.nn.relu(out))
        return out + (x if self.shortcut is None else self.shortcut(h)), state


class ResNet18(eqx.Module):
    """Pre-activation ResNet-18 for small images: a 3x3 stem (no max-pool), four stages of two
    blocks with `width`, 2, 4 and 8 times `width` channels, a final norm and ReLU, global average
    pooling, a dense readout.

    Called as `model(x)` (norm `none` or `layer`) or `model(x, state)` (norm `batch`, whose running
    statistics live in an `eqx.nn.State`; batch statistics need a `vmap` with `axis_name="batch"`).
    """

    stem: Conv
    blocks: tuple[PreActBlock, ...]
    final_norm: Normalization
    readout: Dense

    def __init__(self, input_shape, num_classes, *, width, norm, scaling: Scaling, key):
        shapes = block_shapes(width)
        keys = iter(jax.random.split(key, 2 + len(shapes)))
        self.stem = Conv(input_shape[-1], width, 3, 1, scaling, "input", key=next(keys))
        self.blocks = tuple(
            PreActBlock(channels, out, stride, norm, scaling, key=next(keys))
            for channels, out, stride in shapes
        )
        channels = shapes[-1][1]
        self.final_norm = Normalization(norm, channels)
        self.readout = Dense(channels, num_classes, scaling, "readout", key=next(keys))

    def features(self, x: jax.Array, state: Any = None) -> tuple[jax.Array, Any]:
        """What the readout layer sees (global average of the last activations), and the new state."""
        x, state = self.stem(x), state
        for block in self.blocks:
            x, state = block(x, state)
        x, state = self.final_norm(x, state)
        return global_avg_pool(jax.nn.relu(x)), state

    def __call__(self, x: jax.Array, state: Any = None) -> Any:
        features, new_state = self.features(x, state)
        logits = self.readout(features)
        return logits if state is None else (logits, new_state)

    def stax_parameters(self) -> list[Any]:
        """Parameters laid out for the twin built by `ResNet18Architecture.stax_twin` (norm none or layer).

        Layer norm has no parameters: it contributes `()` where the twin has a `LayerNorm`.
        """
        norm = [()] if self.final_norm.kind == "layer" else []

        params: list[Any] = [self.stem.stax_parameters()]
        for block in self.blocks:
            main = [block.conv1.stax_parameters(), *norm, (), block.conv2.stax_parameters()]
            if block.shortcut is None:  # FanOut, parallel(norm-relu-main, identity), FanInSum
                params.append([(), [[*norm, (), *main], ()], ()])
            else:  # norm, relu, FanOut, parallel(main, shortcut conv), FanInSum
                params.append([*norm, (), (), [main, block.shortcut.stax_parameters()], ()])
        params += [*norm, (), (), self.readout.stax_parameters()]
        return params
