"""Infinite-width kernels computed natively: the NTK and NNGP kernel of a network built from the
layers the built-in architectures use, without neural-tangents (which remains the tests' oracle).

One module per layer family: `_linear` (dense, convolution), `_elementwise` (ReLU), `_pooling`
(average and global average pooling, flatten), `_combinators` (serial, residual sums); each
layer's kernel map is a function of `Covariances` (`_covariances`).
"""

from __future__ import annotations

from typing import Literal

import jax

from ._combinators import Layer, Residual, identity, serial
from ._covariances import Covariances, input_covariances
from ._elementwise import Relu
from ._linear import Conv, Dense, conv_stencil
from ._pooling import AvgPool, Flatten, GlobalAvgPool

__all__ = [
    "AvgPool", "Conv", "Covariances", "Dense", "Flatten", "GlobalAvgPool", "Layer", "Relu", "Residual",
    "conv_stencil", "identity", "input_covariances", "kernel_fn", "serial",
]


def kernel_fn(network: Layer, kind: Literal["ntk", "nngp"] = "ntk", *, flatten_inputs: bool = False):
    """The jitted kernel of two batches `(n1, ...)`, `(n2, ...)` -> `(n1, n2)` of the network whose
    kernel map is `network`; `flatten_inputs` for a network that starts by flattening (its first
    dense layer then sees vectors, and no position pairs are formed)."""

    def kernel(x1: jax.Array, x2: jax.Array) -> jax.Array:
        if flatten_inputs:
            x1, x2 = x1.reshape(len(x1), -1), x2.reshape(len(x2), -1)
        out = network(input_covariances(x1, x2, with_ntk=kind == "ntk"))
        return out.ntk if kind == "ntk" else out.nngp

    return jax.jit(kernel)
