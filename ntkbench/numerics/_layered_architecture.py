"""An architecture written as one description of its layers (`ntkbench.layers`): its network, its
native infinite-width kernel, its `stax` twin, the twin's parameter layout, its parameter count and
its readout features all derive from `layers(num_classes=)`."""

from __future__ import annotations

import abc
import math
from collections.abc import Callable
from typing import Any, ClassVar, Literal

from pydantic import NonNegativeFloat, PositiveFloat

from ..api import Architecture, ArchitectureOptions, StatefulModel, StaxTwin
from ._layer_descriptions import Scaling, Serial, build_network, network_stax_parameters


class LayeredOptions(ArchitectureOptions):
    """Initialisation and parameterisation of every layer (see `ntkbench.layers`)."""

    omitted_at_default: ClassVar[frozenset[str]] = frozenset({"output_scale"})

    w_std: PositiveFloat = math.sqrt(2.0)
    """Weight standard deviation sigma_w (sqrt(2) keeps ReLU activations at unit scale)."""
    b_std: NonNegativeFloat = 0.0
    """Bias standard deviation sigma_b (0: no bias)."""
    parameterization: Literal["ntk", "standard", "mup"] = "ntk"
    """`ntk`, as `stax.Dense`: standard normal weights times w_std/sqrt(fan_in). `standard`: weights
    initialised with deviation w_std/sqrt(fan_in) and used as they are. `mup`: the maximal-update
    parameterisation for SGD (Yang & Hu 2021), in which features move at every width. See the
    built-in plugins reference (docs/reference/builtin-plugins.md) on which infinite kernel each is
    compared with."""
    output_scale: PositiveFloat = 1.0
    """alpha of Chizat, Oyallon & Bach (2019): the network computes alpha * f and is trained as SGD on
    loss(alpha * f) / alpha**2 would train f. Large: lazy; small: rich. For SGD only."""


class LayeredArchitecture(Architecture):
    """An architecture described once, by `layers(num_classes=)`: a `serial` of `ntkbench.layers`
    ending in a `Dense(num_classes)` readout. Its network, infinite-width kernel (native), `stax`
    twin, parameter layout and count come from that description; it has a kernel and a twin unless
    a layer has none (batch norm). Options: `LayeredOptions` or a subclass."""

    options: LayeredOptions
    stax_twin_availability = "always"

    @abc.abstractmethod
    def layers(self, *, num_classes: int) -> Serial:
        """The network's layers, the dense readout last."""

    def input_problem(self, input_shape: tuple[int, ...]) -> str | None:
        """What the description says of this input shape: a layer that needs images, a pooling window
        larger than its input."""
        return self.layers(num_classes=1).input_problem(input_shape)

    def scaling(self) -> Scaling:
        """The scaling every layer is built with, from the options."""
        options = self.options
        return Scaling(options.w_std, options.b_std, options.parameterization, options.output_scale)

    def init_model(self, *, input_shape: tuple[int, ...], num_classes: int, key: Any) -> Any:
        network = self.layers(num_classes=num_classes)
        if network.stateful():
            import equinox as eqx

            return StatefulModel(*eqx.nn.make_with_state(build_network)(network, input_shape, self.scaling(), key))
        return build_network(network, input_shape, self.scaling(), key)

    def parameter_count(self, *, input_shape: tuple[int, ...], num_classes: int) -> int | None:
        """From the description (None for inputs it cannot take: `input_problem` says why)."""
        network = self.layers(num_classes=num_classes)
        if network.input_problem(input_shape) is not None:
            return None
        return network.parameter_count(input_shape, self.scaling())

    def optimizer_problem(self, optimizer: str) -> str | None:
        options = self.options
        if optimizer == "sgd":
            return None
        if options.parameterization == "mup":
            return (
                f"parameterization: mup is defined here for SGD (its per-layer learning rates differ under {optimizer}: "
                "Yang et al. 2022, table 3); train it with optimizer sgd"
            )
        if options.output_scale != 1.0:
            return f"output_scale trains f as SGD on loss(alpha f) / alpha^2 would, which {optimizer} does not; train it with optimizer sgd"
        return None

    def has_kernel_map(self) -> bool:
        return self.layers(num_classes=1).has_kernel()

    def kernel_map(self, *, num_classes: int) -> Any:
        return self.layers(num_classes=num_classes).kernel(self.scaling())

    def has_stax_twin(self) -> bool:
        return self.has_kernel_map()

    def stax_twin(self, *, num_classes: int) -> StaxTwin:
        return StaxTwin(*self.layers(num_classes=num_classes).stax(self.scaling()))

    def stax_parameters(self, model: Any) -> Any:
        num_classes = model.readout.weight.shape[-1]
        return network_stax_parameters(self.layers(num_classes=num_classes), model)

    def has_readout_features(self) -> bool:
        return True

    def readout_input(self, model: Any) -> Callable[[Any], Any]:
        """ONE input -> what the readout layer of `model` sees (running statistics for batch norm)."""
        if isinstance(model, StatefulModel):
            import equinox as eqx

            module, state = eqx.nn.inference_mode(model.module), model.state
            return lambda x: module.features(x, state)[0]
        return lambda x: model.features(x)[0]

    def readout_features(self, model: Any) -> Callable[[Any], Any]:
        from ._network_layers import readout_covariance_features

        readout_input = self.readout_input(model)
        readout = (model.module if isinstance(model, StatefulModel) else model).readout
        return lambda x: readout_covariance_features(readout_input(x), readout)
