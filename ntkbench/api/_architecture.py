"""Architecture plugins: an equinox network and, when it has one, its infinite-width kernel: a
native kernel map (`ntkbench.infinite`) or a neural-tangents `stax` twin, or both."""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Callable
from typing import Any, ClassVar, NamedTuple

from ._options import ArchitectureOptions

MAX_PARAMETERS = 2**32
"""Networks with more parameters than this (16 GiB of float32 weights, before gradients and
optimiser state) are refused, at validation when the architecture counts its parameters
(`parameter_count`), else before `ntkbench plan` or a run allocates one."""


@dataclasses.dataclass(frozen=True)
class StaxTwin:
    """A neural-tangents `stax` network computing the same function as an architecture's model.

    `apply_fn(params, x)` on a batch, `kernel_fn(x1, x2, "ntk")` for infinite width.
    """

    init_fn: Callable[..., Any]
    apply_fn: Callable[..., Any]
    kernel_fn: Callable[..., Any]


class StatefulModel(NamedTuple):
    """A network with state (batch-norm running statistics): `module(x, state) -> (logits, state)`.

    `module` contains `eqx.nn.BatchNorm(..., axis_name="batch")` layers; `state` is the
    `eqx.nn.State` from `eqx.nn.make_with_state`. ntkbench trains it with batch statistics and
    predicts (and takes its empirical NTK) in inference mode, with the running statistics.
    """

    module: Any
    state: Any


class Architecture(abc.ABC):
    """An architecture plugin: an equinox model and, if it has one, its infinite-width `stax` twin."""

    Options: ClassVar[type[ArchitectureOptions]] = ArchitectureOptions
    api_version: ClassVar[int | None] = None
    """The plugin API version this class was written for (`ntkbench.API_VERSION`)."""
    plugin_name: ClassVar[str | None] = None
    """The name a spec gives a plugin loaded from a file or module its `plugins:` list names (an
    installed plugin's name is its entry point's)."""
    stax_twin_availability: ClassVar[str | None] = None
    """When the architecture has an infinite-width kernel (a kernel map or a twin), in words
    ("always", "with norm: none"), for error messages; `None`: never."""

    def __init__(self, options: ArchitectureOptions):
        self.options = options

    @classmethod
    def has_width(cls) -> bool:
        """Whether the options have a `width` (what `sweep.width`, `check-ntk` and width-setting learners vary)."""
        return "width" in cls.Options.model_fields

    def at_width(self, width: int | None) -> Architecture:
        """This architecture with its `width` option set to `width` (itself for None).

        The one way ntkbench builds "the architecture at width w": every other option, including
        performance-only ones, is kept as validated.
        """
        if width is None:
            return self
        if not self.has_width():
            raise ValueError(f"{type(self).__name__} has no 'width' option")
        return type(self)(self.options.model_copy(update={"width": width}))

    @abc.abstractmethod
    def init_model(self, *, input_shape: tuple[int, ...], num_classes: int, key: Any) -> Any:
        """Return an initialised network for ONE input of `input_shape`: an `eqx.Module` mapping it
        to `num_classes` logits, or a `StatefulModel` for networks with batch norm."""

    def parameter_count(self, *, input_shape: tuple[int, ...], num_classes: int) -> int | None:
        """How many parameters `init_model` would create, computed without creating them (validation
        refuses networks beyond reason before any memory is taken); None: unknown."""
        return None

    def input_problem(self, input_shape: tuple[int, ...]) -> str | None:
        """Why inputs of this shape cannot be used (for example "needs images"), or None."""
        return None

    def optimizer_problem(self, optimizer: str) -> str | None:
        """Why these options cannot be trained by this optimizer (its name in the spec, like "adam"),
        or None; learners that train the network check it at validation."""
        return None

    def has_kernel_map(self) -> bool:
        """Whether `kernel_map` returns the infinite-width kernel's map for these options."""
        return False

    def kernel_map(self, *, num_classes: int) -> Any:
        """The infinite-width network's kernel map, composed of `ntkbench.infinite`'s layers; only
        called when `has_kernel_map()` is true. ntkbench computes the infinite NTK and NNGP from
        it, natively, in preference to the `stax` twin."""
        raise NotImplementedError(f"{type(self).__name__} has no kernel map")

    def has_infinite_kernel(self) -> bool:
        """Whether the infinite-width kernel exists for these options: natively or from the twin."""
        return self.has_kernel_map() or self.has_stax_twin()

    def has_stax_twin(self) -> bool:
        """Whether `stax_twin` returns a twin for these options (checked when a spec is validated)."""
        return False

    def stax_twin(self, *, num_classes: int) -> StaxTwin:
        """Return the `stax` twin; only called when `has_stax_twin()` is true."""
        raise NotImplementedError(f"{type(self).__name__} has no stax twin")

    def stax_parameters(self, model: Any) -> Any:
        """The parameters of `model` laid out for the twin's `apply_fn` (for parity checks)."""
        raise NotImplementedError(f"{type(self).__name__} has no stax twin")

    def has_readout_features(self) -> bool:
        """Whether `readout_features` is implemented (learners that need it check at validation)."""
        return False

    def readout_features(self, model: Any) -> Callable[[Any], Any]:
        """ONE input -> the features the readout layer sees, scaled so that their inner product is the
        covariance of the network's output at initialisation: `[w_std * phi / sqrt(d), b_std]`.

        Their kernel is the network's empirical NNGP; feature-based learners use it.
        """
        raise NotImplementedError(f"{type(self).__name__} does not expose its readout features")
