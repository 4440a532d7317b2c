"""Kernel matrices: the infinite-width NTK of a `stax` twin, the empirical NTK of an equinox
network, and their evaluation in fixed-size tiles.

Tiles have one fixed square shape per kernel, so a jitted kernel function compiles once
and serves every cell of a sweep; the last tiles are zero-padded and cropped.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any, Literal

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._plugins import StaxTwin
from ..nt_compat import import_neural_tangents
from ._networks import example_function, split_model

MAX_TILE = 512
"""Largest tile edge. A 512x512 tile of an MLP's empirical NTK (implementation 3) takes ~0.1 s here."""

KernelFn = Callable[[jax.Array, jax.Array], jax.Array]
Implementation = Literal[1, 2, 3]


def tile_size(length: int) -> int:
    """The tile edge along an axis of this length: the next power of two, at most `MAX_TILE`."""
    return min(MAX_TILE, 1 << max(0, (length - 1).bit_length()))


def _pad_rows(x: np.ndarray, multiple: int) -> np.ndarray:
    missing = (-len(x)) % multiple
    if missing == 0:
        return x
    return np.concatenate([x, np.zeros((missing, *x.shape[1:]), dtype=x.dtype)])


def evaluate_tiled(kernel_fn: KernelFn, x1: np.ndarray, x2: np.ndarray | None = None) -> np.ndarray:
    """Evaluate `kernel_fn(x1, x2)` tile by tile into a float64 matrix of shape `(len(x1), len(x2))`.

    Tiles are `tile_size(len(x1))` by `tile_size(len(x2))`, so a short axis is not padded to a long
    one. With `x2=None` the kernel is symmetric: only tiles on and above the diagonal are computed
    and the result is exactly symmetric.
    """
    symmetric = x2 is None
    x2 = x1 if x2 is None else x2
    rows, columns = tile_size(len(x1)), tile_size(len(x2))
    a, b = _pad_rows(np.asarray(x1), rows), _pad_rows(np.asarray(x2), columns)
    out = np.empty((len(a), len(b)), dtype=np.float64)
    for i in range(0, len(a), rows):
        for j in range(i if symmetric else 0, len(b), columns):
            block = np.asarray(kernel_fn(jnp.asarray(a[i : i + rows]), jnp.asarray(b[j : j + columns])), dtype=np.float64)
            out[i : i + rows, j : j + columns] = block
            if symmetric and j != i:
                out[j : j + columns, i : i + rows] = block.T
    out = out[: len(x1), : len(x2)]
    if symmetric:
        out = 0.5 * (out + out.T)  # diagonal tiles carry float32 round-off asymmetry
    return out


def infinite_kernel_fn(twin: StaxTwin, kind: Literal["ntk", "nngp"] = "ntk") -> KernelFn:
    """The infinite-width NTK (or NNGP kernel) of `twin`, as a jitted function of two batches."""

    def kernel(x1: jax.Array, x2: jax.Array) -> jax.Array:
        with warnings.catch_warnings():
            # neural-tangents warns that FanIn layers "assume independent inputs" whenever a residual
            # branch is an identity; a fresh convolution on the other branch makes them uncorrelated.
            warnings.filterwarnings("ignore", message="`FanIn` layers assume independent inputs")
            return twin.kernel_fn(x1, x2, kind)

    return jax.jit(kernel)


@eqx.filter_jit
def empirical_ntk(model: Any, x1: jax.Array, x2: jax.Array, implementation: Implementation = 3) -> jax.Array:
    """The empirical NTK of a network (an `eqx.Module` or a `StatefulModel`) between two batches.

    The network maps one input to its logits; the kernel is traced over the logits (averaged, as
    neural-tangents' `trace_axes=(-1,)` does), so it is comparable with the infinite NTK of a
    `stax` twin. The derivatives are taken with respect to the network's inexact arrays; a
    network with batch norm is taken in inference mode (a per-example function). Jitted with the
    network as an argument: one compilation serves every seed and checkpoint of an architecture.
    Implementation 0 (AUTO) of neural-tangents is broken on jax >= 0.5 and is not offered.
    """
    nt = import_neural_tangents()
    module, state = split_model(model)
    params, static = eqx.partition(module, eqx.is_inexact_array)

    def apply(p: Any, x: jax.Array) -> jax.Array:
        return jax.vmap(example_function(eqx.combine(p, static), state))(x)

    kernel_fn = nt.empirical_ntk_fn(apply, trace_axes=(-1,), vmap_axes=0, implementation=implementation)
    return kernel_fn(x1, x2, params)
