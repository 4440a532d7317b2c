"""Layers for architecture plugins, each described once: a network written from them gets its
equinox network, its native infinite-width kernel (NTK and NNGP), its neural-tangents `stax` twin
and its parameter count from one description, as in neural-tangents' `stax`, where a layer is one
(init, apply, kernel) triple.

>>> class TwoLayer(LayeredArchitecture):                           # doctest: +SKIP
...     Options = TwoLayerOptions              # a LayeredOptions subclass: w_std, b_std, ...
...     api_version = 1
...
...     def layers(self, *, num_classes):
...         return serial(Flatten(), Dense(self.options.width), Relu(), Dense(num_classes))

`Dense`, `Conv` (SAME padding), `Relu`, `Flatten`, `AvgPool`, `GlobalAvgPool`, `LayerNorm`,
`BatchNorm` (no infinite kernel), `serial` and `Residual(main, shortcut)`; the readout, a `Dense`,
comes last. Every layer is initialised and scaled by the architecture's `LayeredOptions` (`ntk`,
`standard` or `mup` parameterisation, `output_scale`). Importing this module does not import jax.
"""

from .numerics._layer_descriptions import AvgPool as AvgPool
from .numerics._layer_descriptions import BatchNorm as BatchNorm
from .numerics._layer_descriptions import Conv as Conv
from .numerics._layer_descriptions import Dense as Dense
from .numerics._layer_descriptions import Flatten as Flatten
from .numerics._layer_descriptions import GlobalAvgPool as GlobalAvgPool
from .numerics._layer_descriptions import Layer as Layer
from .numerics._layer_descriptions import LayerNorm as LayerNorm
from .numerics._layer_descriptions import Relu as Relu
from .numerics._layer_descriptions import Residual as Residual
from .numerics._layer_descriptions import Scaling as Scaling
from .numerics._layer_descriptions import Serial as Serial
from .numerics._layer_descriptions import serial as serial
from .numerics._layered_architecture import LayeredArchitecture as LayeredArchitecture
from .numerics._layered_architecture import LayeredOptions as LayeredOptions

__all__ = [
    "AvgPool", "BatchNorm", "Conv", "Dense", "Flatten", "GlobalAvgPool", "Layer", "LayerNorm", "LayeredArchitecture",
    "LayeredOptions", "Relu", "Residual", "Scaling", "Serial", "serial",
]
