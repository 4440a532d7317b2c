"""What the built-in architectures share: ntkbench's exact-twin layers (`_layers.py`), their
initialisation options, the parameter layout of the `stax` twin, and the readout features."""

from __future__ import annotations

import abc
import math
from collections.abc import Callable
from typing import Any, Literal

from pydantic import NonNegativeFloat, PositiveFloat

from ..api import Architecture, ArchitectureOptions


class LayeredOptions(ArchitectureOptions):
    """Initialisation and parameterisation of every layer, as in `stax.Dense` / `stax.Conv`."""

    w_std: PositiveFloat = math.sqrt(2.0)
    """Weight standard deviation sigma_w (sqrt(2) keeps ReLU activations at unit scale)."""
    b_std: NonNegativeFloat = 0.0
    """Bias standard deviation sigma_b (0: no bias)."""
    parameterization: Literal["ntk", "standard"] = "ntk"
    """`standard`: weights initialised with deviation w_std/sqrt(fan_in) and used as they are
    (see the README on what the infinite kernel then means)."""


def dense_parameters(fan_in: int, fan_out: int, b_std: float) -> int:
    """Parameters of a `Dense` layer (no bias when `b_std` is 0)."""
    return fan_in * fan_out + (fan_out if b_std else 0)


def conv_parameters(in_channels: int, out_channels: int, kernel_size: int, b_std: float) -> int:
    """Parameters of a `Conv` layer (no bias when `b_std` is 0)."""
    return kernel_size * kernel_size * in_channels * out_channels + (out_channels if b_std else 0)


class LayeredArchitecture(Architecture):
    """An architecture built from `_layers.py`, whose network exposes `stax_parameters()` (the
    parameters laid out for the twin) and whose readout is a `Dense` on `readout_input(model)`."""

    options: LayeredOptions
    stax_twin_availability = "always"

    def has_stax_twin(self) -> bool:
        return True

    def stax_parameters(self, model: Any) -> Any:
        return model.stax_parameters()

    def has_readout_features(self) -> bool:
        return True

    def readout_features(self, model: Any) -> Callable[[Any], Any]:
        from ._layers import readout_covariance_features

        readout_input, w_std, b_std = self.readout_input(model), self.options.w_std, self.options.b_std
        return lambda x: readout_covariance_features(readout_input(x), w_std, b_std)

    @abc.abstractmethod
    def readout_input(self, model: Any) -> Callable[[Any], Any]:
        """ONE input -> what the readout layer of `model` sees."""
