"""Infinite-width kernel maps for architecture plugins: the layers an `Architecture.kernel_map`
is composed of, each the kernel map of its `neural_tangents.stax` namesake, computed natively.

>>> def kernel_map(self, *, num_classes):                      # doctest: +SKIP
...     from ntkbench import infinite
...     return infinite.serial(infinite.Flatten(), infinite.Dense(512, 1.4), infinite.Relu(),
...                            infinite.Dense(num_classes, 1.4))

`kernel_fn(kernel_map, "ntk")` is the jitted kernel of two batches; a learner gets an
architecture's kernel from `ntkbench.kernels.architecture_kernel_fn`. This module imports jax;
import it inside plugin methods, not at the top of a plugin module.
"""

from .numerics.infinite import AvgPool as AvgPool
from .numerics.infinite import Conv as Conv
from .numerics.infinite import Covariances as Covariances
from .numerics.infinite import Dense as Dense
from .numerics.infinite import Flatten as Flatten
from .numerics.infinite import GlobalAvgPool as GlobalAvgPool
from .numerics.infinite import Identity as Identity
from .numerics.infinite import Layer as Layer
from .numerics.infinite import LayerNorm as LayerNorm
from .numerics.infinite import Relu as Relu
from .numerics.infinite import Residual as Residual
from .numerics.infinite import identity as identity
from .numerics.infinite import kernel_fn as kernel_fn
from .numerics.infinite import serial as serial

__all__ = [
    "AvgPool", "Conv", "Covariances", "Dense", "Flatten", "GlobalAvgPool", "Identity", "Layer", "LayerNorm", "Relu",
    "Residual", "identity", "kernel_fn", "serial",
]
