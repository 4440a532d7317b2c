"""What the built-in architectures share: ntkbench's exact-twin layers (`_layers.py`), their
initialisation options, the parameter layout of the `stax` twin, and the readout features."""

from __future__ import annotations

import abc
import math
from collections.abc import Callable
from typing import Any, ClassVar, Literal

from pydantic import NonNegativeFloat, PositiveFloat

from ..api import Architecture, ArchitectureOptions, StatefulModel


class LayeredOptions(ArchitectureOptions):
    """Initialisation and parameterisation of every layer (defined in `_layers.py`)."""

    omitted_at_default: ClassVar[frozenset[str]] = frozenset({"output_scale"})

    w_std: PositiveFloat = math.sqrt(2.0)
    """Weight standard deviation sigma_w (sqrt(2) keeps ReLU activations at unit scale)."""
    b_std: NonNegativeFloat = 0.0
    """Bias standard deviation sigma_b (0: no bias)."""
    parameterization: Literal["ntk", "standard", "mup"] = "ntk"
    """`ntk`, as `stax.Dense`: standard normal weights times w_std/sqrt(fan_in). `standard`: weights
    initialised with deviation w_std/sqrt(fan_in) and used as they are. `mup`: the maximal-update
    parameterisation for SGD (Yang & Hu 2021), in which features move at every width. See the
    README on which infinite kernel each is compared with."""
    output_scale: PositiveFloat = 1.0
    """alpha of Chizat, Oyallon & Bach (2019): the network computes alpha * f and is trained as SGD on
    loss(alpha * f) / alpha**2 would train f. Large: lazy; small: rich. For SGD only."""


def dense_parameters(fan_in: int, fan_out: int, b_std: float) -> int:
    """Parameters of a `Dense` layer (no bias when `b_std` is 0)."""
    return fan_in * fan_out + (fan_out if b_std else 0)


def conv_parameters(in_channels: int, out_channels: int, kernel_size: int, b_std: float) -> int:
    """Parameters of a `Conv` layer (no bias when `b_std` is 0)."""
    return kernel_size * kernel_size * in_channels * out_channels + (out_channels if b_std else 0)


class LayeredArchitecture(Architecture):
    """An architecture built from `_layers.py`, whose network exposes `stax_parameters()` (the
    parameters laid out for the twin) and whose readout is the `Dense` `readout` on `readout_input(model)`."""

    options: LayeredOptions
    stax_twin_availability = "always"

    def scaling(self) -> Any:
        """The `_layers.Scaling` every layer of the network is built with."""
        from ._layers import Scaling

        options = self.options
        return Scaling(options.w_std, options.b_std, options.parameterization, options.output_scale)

    def twin_parameterization(self) -> Literal["ntk", "standard"]:
        """The parameterisation of the `stax` twin: the NTK limit unless the network is `standard`."""
        return "standard" if self.options.parameterization == "standard" else "ntk"

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

    def has_stax_twin(self) -> bool:
        return True

    def has_kernel_map(self) -> bool:
        return self.has_stax_twin()

    def stax_parameters(self, model: Any) -> Any:
        return model.stax_parameters()

    def has_readout_features(self) -> bool:
        return True

    def readout_features(self, model: Any) -> Callable[[Any], Any]:
        from ._layers import readout_covariance_features

        readout_input = self.readout_input(model)
        readout = (model.module if isinstance(model, StatefulModel) else model).readout
        return lambda x: readout_covariance_features(readout_input(x), readout)

    @abc.abstractmethod
    def readout_input(self, model: Any) -> Callable[[Any], Any]:
        """ONE input -> what the readout layer of `model` sees."""
