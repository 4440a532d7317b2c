"""Layers described once: each description builds its equinox module, its native infinite-width
kernel map and its neural-tangents `stax` counterpart, lays its parameters out for that twin, and
counts its parameters and output shape without jax. A network is a tree of them (`serial`,
`Residual`), ending in the dense readout.

Nothing here imports jax at module level: validating a spec counts parameters from descriptions.

How a network is initialised, so that a description reproduces a network written by hand: the
root splits the network's key into one key per layer that takes one (a dense or convolutional
layer, or a residual block), in order; a residual block splits its key into one per such layer of
its main branch, then one for its shortcut (used only by a projection). A layer's role (the
maximal-update parameterisation scales its layers by it) follows from its place: the first layer
with weights reads the input, the last is the readout, every other is hidden.
"""

from __future__ import annotations

import abc
import dataclasses
import math
from collections.abc import Iterator
from typing import Any, Literal

Role = Literal["input", "hidden", "readout"]


@dataclasses.dataclass(frozen=True)
class Scaling:
    """How every layer of a network is initialised and multiplied (`ntkbench.architectures` options)."""

    w_std: float
    b_std: float
    parameterization: Literal["ntk", "standard", "mup"] = "ntk"
    output_scale: float = 1.0

    @property
    def twin_parameterization(self) -> Literal["ntk", "standard"]:
        """The parameterisation of the infinite-width limit: NTK unless the network is `standard`."""
        return "standard" if self.parameterization == "standard" else "ntk"

    @property
    def twin_b_std(self) -> float | None:
        """The twin's bias deviation: None (no bias) where the network has none."""
        return self.b_std or None


class _Build:
    """What building a network's modules shares: its scaling and the roles of its weighted layers, in order."""

    def __init__(self, scaling: Scaling, weighted: int):
        self.scaling = scaling
        self._roles = iter(["input"] + ["hidden"] * (weighted - 2) + ["readout"] if weighted > 1 else ["readout"])

    def role(self) -> Role:
        return next(self._roles)

    def layer_scaling(self) -> Any:
        from ._network_layers import Scaling as ModuleScaling

        s = self.scaling
        return ModuleScaling(s.w_std, s.b_std, s.parameterization, s.output_scale)


class Layer(abc.ABC):
    """One layer's description: what it builds, and what it computes at infinite width."""

    def keys(self) -> int:
        """How many PRNG keys the layer takes from its parent."""
        return 0

    def weighted_layers(self) -> int:
        """How many layers with weights it holds (each has a role)."""
        return 0

    def parameter_count(self, input_shape: tuple[int, ...], scaling: Scaling) -> int:
        return 0

    def has_kernel(self) -> bool:
        """Whether its infinite-width kernel exists (batch norm's does not: it couples a batch's examples)."""
        return True

    def stateful(self) -> bool:
        """Whether its module keeps a state (batch norm's running statistics)."""
        return False

    def input_problem(self, input_shape: tuple[int, ...]) -> str | None:
        """Why it cannot take one example of `input_shape` (None: it can)."""
        return None

    @abc.abstractmethod
    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        """The shape of one example's output."""

    @abc.abstractmethod
    def build(self, keys: Iterator[Any], input_shape: tuple[int, ...], build: _Build) -> Any:
        """The equinox module, taking `keys()` keys from `keys`."""

    @abc.abstractmethod
    def kernel(self, scaling: Scaling) -> Any:
        """The `ntkbench.infinite` layer computing its kernel map."""

    @abc.abstractmethod
    def stax(self, scaling: Scaling) -> Any:
        """The neural-tangents `stax` layer computing the same function as its module."""

    def stax_parameters(self, module: Any) -> Any:
        """The module's parameters laid out for the `stax` layer."""
        return ()


def _image_problem(layer: Layer, input_shape: tuple[int, ...]) -> str | None:
    if len(input_shape) != 3:
        return f"{layer!r} needs images (height, width, channels); its input has shape {list(input_shape)}"
    return None


def _stax() -> Any:
    from ..nt_compat import import_neural_tangents

    return import_neural_tangents().stax


def _infinite() -> Any:
    from . import infinite

    return infinite


@dataclasses.dataclass(frozen=True)
class Dense(Layer):
    """A fully connected layer with `units` outputs, on vectors (`Flatten` images first)."""

    units: int

    def keys(self) -> int:
        return 1

    def weighted_layers(self) -> int:
        return 1

    def parameter_count(self, input_shape: tuple[int, ...], scaling: Scaling) -> int:
        return input_shape[-1] * self.units + (self.units if scaling.b_std else 0)

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        return (self.units,)

    def build(self, keys: Iterator[Any], input_shape: tuple[int, ...], build: _Build) -> Any:
        from ._network_layers import Dense as DenseModule

        return DenseModule(input_shape[-1], self.units, build.layer_scaling(), build.role(), key=next(keys))

    def kernel(self, scaling: Scaling) -> Any:
        return _infinite().Dense(self.units, scaling.w_std, scaling.twin_b_std, scaling.twin_parameterization)

    def stax(self, scaling: Scaling) -> Any:
        return _stax().Dense(self.units, scaling.w_std, scaling.twin_b_std, parameterization=scaling.twin_parameterization)

    def stax_parameters(self, module: Any) -> Any:
        return module.stax_parameters()


@dataclasses.dataclass(frozen=True)
class Conv(Layer):
    """A 2-D convolution with `channels` outputs, `size` x `size` windows at `stride`, SAME padding,
    on `(height, width, channels)` images."""

    channels: int
    size: int = 3
    stride: int = 1

    def input_problem(self, input_shape: tuple[int, ...]) -> str | None:
        return _image_problem(self, input_shape)

    def keys(self) -> int:
        return 1

    def weighted_layers(self) -> int:
        return 1

    def parameter_count(self, input_shape: tuple[int, ...], scaling: Scaling) -> int:
        return self.size * self.size * input_shape[-1] * self.channels + (self.channels if scaling.b_std else 0)

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        height, width = (-(-side // self.stride) for side in input_shape[:2])
        return (height, width, self.channels)

    def build(self, keys: Iterator[Any], input_shape: tuple[int, ...], build: _Build) -> Any:
        from ._network_layers import Conv as ConvModule

        return ConvModule(input_shape[-1], self.channels, self.size, self.stride, build.layer_scaling(), build.role(),
                          key=next(keys))

    def kernel(self, scaling: Scaling) -> Any:
        return _infinite().Conv(self.channels, self.size, self.stride, "SAME", scaling.w_std, scaling.twin_b_std,
                                scaling.twin_parameterization)

    def stax(self, scaling: Scaling) -> Any:
        return _stax().Conv(self.channels, (self.size, self.size), (self.stride, self.stride), "SAME", scaling.w_std,
                            scaling.twin_b_std, parameterization=scaling.twin_parameterization)

    def stax_parameters(self, module: Any) -> Any:
        return module.stax_parameters()


@dataclasses.dataclass(frozen=True)
class Relu(Layer):
    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        return input_shape

    def build(self, keys: Iterator[Any], input_shape: tuple[int, ...], build: _Build) -> Any:
        from ._network_layers import Relu as ReluModule

        return ReluModule()

    def kernel(self, scaling: Scaling) -> Any:
        return _infinite().Relu()

    def stax(self, scaling: Scaling) -> Any:
        return _stax().Relu()


@dataclasses.dataclass(frozen=True)
class Flatten(Layer):
    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        return (math.prod(input_shape),)

    def build(self, keys: Iterator[Any], input_shape: tuple[int, ...], build: _Build) -> Any:
        from ._network_layers import Flatten as FlattenModule

        return FlattenModule()

    def kernel(self, scaling: Scaling) -> Any:
        return _infinite().Flatten()

    def stax(self, scaling: Scaling) -> Any:
        return _stax().Flatten()


@dataclasses.dataclass(frozen=True)
class AvgPool(Layer):
    """Average pooling of `window` x `window` patches at `stride`, VALID padding."""

    window: int = 2
    stride: int = 2

    def input_problem(self, input_shape: tuple[int, ...]) -> str | None:
        if (problem := _image_problem(self, input_shape)) is not None:
            return problem
        if min(input_shape[:2]) < self.window:
            return f"{self!r} pools {self.window}x{self.window} windows, and its input is {list(input_shape[:2])} pixels"
        return None

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        height, width = ((side - self.window) // self.stride + 1 for side in input_shape[:2])
        return (height, width, input_shape[-1])

    def build(self, keys: Iterator[Any], input_shape: tuple[int, ...], build: _Build) -> Any:
        from ._network_layers import AvgPool as AvgPoolModule

        return AvgPoolModule(self.window, self.stride)

    def kernel(self, scaling: Scaling) -> Any:
        return _infinite().AvgPool(self.window, self.stride)

    def stax(self, scaling: Scaling) -> Any:
        return _stax().AvgPool((self.window, self.window), strides=(self.stride, self.stride))


@dataclasses.dataclass(frozen=True)
class GlobalAvgPool(Layer):
    def input_problem(self, input_shape: tuple[int, ...]) -> str | None:
        return _image_problem(self, input_shape)

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        return (input_shape[-1],)

    def build(self, keys: Iterator[Any], input_shape: tuple[int, ...], build: _Build) -> Any:
        from ._network_layers import GlobalAvgPool as GlobalAvgPoolModule

        return GlobalAvgPoolModule()

    def kernel(self, scaling: Scaling) -> Any:
        return _infinite().GlobalAvgPool()

    def stax(self, scaling: Scaling) -> Any:
        return _stax().GlobalAvgPool()


@dataclasses.dataclass(frozen=True)
class LayerNorm(Layer):
    """Normalisation over the channels at every position, without parameters."""

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        return input_shape

    def build(self, keys: Iterator[Any], input_shape: tuple[int, ...], build: _Build) -> Any:
        from ._network_layers import LayerNorm as LayerNormModule

        return LayerNormModule()

    def kernel(self, scaling: Scaling) -> Any:
        return _infinite().LayerNorm()

    def stax(self, scaling: Scaling) -> Any:
        return _stax().LayerNorm(axis=-1)


@dataclasses.dataclass(frozen=True)
class BatchNorm(Layer):
    """Batch norm over the channels, with a scale and shift per channel and running statistics.
    It has no infinite-width kernel and no `stax` twin: batch statistics couple a batch's examples."""

    def parameter_count(self, input_shape: tuple[int, ...], scaling: Scaling) -> int:
        return 2 * input_shape[-1]

    def has_kernel(self) -> bool:
        return False

    def stateful(self) -> bool:
        return True

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        return input_shape

    def build(self, keys: Iterator[Any], input_shape: tuple[int, ...], build: _Build) -> Any:
        from ._network_layers import BatchNorm as BatchNormModule

        return BatchNormModule(input_shape[-1])

    def kernel(self, scaling: Scaling) -> Any:
        raise NotImplementedError("batch norm has no infinite-width kernel")

    def stax(self, scaling: Scaling) -> Any:
        raise NotImplementedError("batch norm has no stax counterpart")


@dataclasses.dataclass(frozen=True)
class Serial(Layer):
    """Layers one after the other."""

    layers: tuple[Layer, ...]

    def keys(self) -> int:
        return sum(layer.keys() for layer in self.layers)

    def weighted_layers(self) -> int:
        return sum(layer.weighted_layers() for layer in self.layers)

    def has_kernel(self) -> bool:
        return all(layer.has_kernel() for layer in self.layers)

    def stateful(self) -> bool:
        return any(layer.stateful() for layer in self.layers)

    def input_problem(self, input_shape: tuple[int, ...]) -> str | None:
        shape = input_shape
        for layer in self.layers:
            if (problem := layer.input_problem(shape)) is not None:
                return problem
            shape = layer.output_shape(shape)
        return None

    def _shapes(self, input_shape: tuple[int, ...]) -> list[tuple[int, ...]]:
        """The input shape of every layer, and the output shape last."""
        shapes = [input_shape]
        for layer in self.layers:
            shapes.append(layer.output_shape(shapes[-1]))
        return shapes

    def parameter_count(self, input_shape: tuple[int, ...], scaling: Scaling) -> int:
        return sum(layer.parameter_count(shape, scaling) for layer, shape in zip(self.layers, self._shapes(input_shape)))

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        return self._shapes(input_shape)[-1]

    def build_layers(self, keys: Iterator[Any], input_shape: tuple[int, ...], build: _Build) -> list[Any]:
        return [layer.build(keys, shape, build) for layer, shape in zip(self.layers, self._shapes(input_shape))]

    def build(self, keys: Iterator[Any], input_shape: tuple[int, ...], build: _Build) -> Any:
        from ._network_layers import Chain

        return Chain(tuple(self.build_layers(keys, input_shape, build)))

    def kernel(self, scaling: Scaling) -> Any:
        return _infinite().serial(*(layer.kernel(scaling) for layer in self.layers))

    def stax(self, scaling: Scaling) -> Any:
        return _stax().serial(*(layer.stax(scaling) for layer in self.layers))

    def stax_parameters(self, module: Any) -> Any:
        return [layer.stax_parameters(part) for layer, part in zip(self.layers, module.layers)]


def _ends_linear(layer: Layer) -> bool:
    """Whether `layer`'s output is a dense or convolutional layer's (or a sum of such)."""
    if isinstance(layer, Dense | Conv):
        return True
    if isinstance(layer, Serial):
        return bool(layer.layers) and _ends_linear(layer.layers[-1])
    if isinstance(layer, Residual):
        return all(_ends_linear(branch) for branch in layer._branches())
    return False


def serial(*layers: Layer) -> Serial:
    """`layers` one after the other."""
    return Serial(tuple(layers))


@dataclasses.dataclass(frozen=True)
class Residual(Layer):
    """`main(x) + shortcut(x)`: the shortcut is the identity when None, else a layer (a projection);
    the sum must keep the branches' shapes equal. Its infinite-width kernel exists when each branch
    ends in a dense or convolutional layer (pre-activation blocks do)."""

    main: Layer
    shortcut: Layer | None = None

    def _branches(self) -> list[Layer]:
        return [self.main] + ([] if self.shortcut is None else [self.shortcut])

    def input_problem(self, input_shape: tuple[int, ...]) -> str | None:
        return next((problem for branch in self._branches() if (problem := branch.input_problem(input_shape))), None)

    def keys(self) -> int:
        return 1

    def weighted_layers(self) -> int:
        return sum(branch.weighted_layers() for branch in self._branches())

    def has_kernel(self) -> bool:
        """The branches' kernels add only where the branches are independent, mean-zero Gaussian
        processes at infinite width: each must end in a dense or convolutional layer."""
        return all(branch.has_kernel() and _ends_linear(branch) for branch in self._branches())

    def stateful(self) -> bool:
        return any(branch.stateful() for branch in self._branches())

    def parameter_count(self, input_shape: tuple[int, ...], scaling: Scaling) -> int:
        return sum(branch.parameter_count(input_shape, scaling) for branch in self._branches())

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        return self.main.output_shape(input_shape)

    def build(self, keys: Iterator[Any], input_shape: tuple[int, ...], build: _Build) -> Any:
        import jax

        from ._network_layers import ResidualSum

        branch_keys = list(jax.random.split(next(keys), self.main.keys() + 1))
        main = self.main.build(iter(branch_keys[:-1]), input_shape, build)
        shortcut = None if self.shortcut is None else self.shortcut.build(iter(branch_keys[-1:]), input_shape, build)
        return ResidualSum(main, shortcut)

    def kernel(self, scaling: Scaling) -> Any:
        infinite = _infinite()
        return infinite.Residual(self.main.kernel(scaling), infinite.identity if self.shortcut is None else self.shortcut.kernel(scaling))

    def stax(self, scaling: Scaling) -> Any:
        stax = _stax()
        shortcut = stax.Identity() if self.shortcut is None else self.shortcut.stax(scaling)
        return stax.serial(stax.FanOut(2), stax.parallel(self.main.stax(scaling), shortcut), stax.FanInSum())

    def stax_parameters(self, module: Any) -> Any:
        shortcut = () if self.shortcut is None else self.shortcut.stax_parameters(module.shortcut)
        return [(), [self.main.stax_parameters(module.main), shortcut], ()]


def build_network(network: Serial, input_shape: tuple[int, ...], scaling: Scaling, key: Any) -> Any:
    """The equinox network of a description whose last layer is the dense readout: its key split
    into one per layer that takes one (see the module docstring). Call inside
    `eqx.nn.make_with_state` for a network with batch norm."""
    import jax

    if not network.layers or not isinstance(network.layers[-1], Dense):
        raise ValueError("a network description ends in its Dense readout")
    from ._network_layers import Chain, Network

    build = _Build(scaling, network.weighted_layers())
    modules = network.build_layers(iter(jax.random.split(key, network.keys())), input_shape, build)
    return Network(Chain(tuple(modules[:-1])), modules[-1])


def network_stax_parameters(network: Serial, model: Any) -> list[Any]:
    """The parameters of `build_network`'s network laid out for `network.stax(...)`."""
    return [layer.stax_parameters(part) for layer, part in zip(network.layers, (*model.body.layers, model.readout))]
