"""Kernel matrices: the infinite-width NTK of a `stax` twin, the empirical NTK of an equinox
model, and their evaluation in fixed-size tiles.

Tiles have one fixed square shape per kernel, so a jitted kernel function compiles once
and serves every cell of a sweep; the last tiles are zero-padded and cropped.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._plugins import StaxTwin
from ..nt_compat import import_neural_tangents

MAX_TILE = 512
"""Largest tile edge. A 512x512 tile of an MLP's empirical NTK (implementation 3) takes ~0.1 s here."""

KernelFn = Callable[[jax.Array, jax.Array], jax.Array]
Implementation = Literal[1, 2, 3]


def tile_size(*lengths: int) -> int:
    """The tile edge for inputs of these lengths: the next power of two, at most `MAX_TILE`."""
    longest = max(lengths)
    return min(MAX_TILE, 1 << max(0, (longest - 1).bit_length()))


def _pad_rows(x: np.ndarray, multiple: int) -> np.ndarray:
    missing = (-len(x)) % multiple
    if missing == 0:
        return x
    return np.concatenate([x, np.zeros((missing, *x.shape[1:]), dtype=x.dtype)])


def evaluate_tiled(kernel_fn: KernelFn, x1: np.ndarray, x2: np.ndarray | None = None) -> np.ndarray:
    """Evaluate `kernel_fn(x1, x2)` tile by tile into a float64 matrix of shape `(len(x1), len(x2))`.

    With `x2=None` the kernel is symmetric: only tiles on and above the diagonal are computed
    and the result is exactly symmetric.
    """
    symmetric = x2 is None
    x2 = x1 if x2 is None else x2
    tile = tile_size(len(x1), len(x2))
    a, b = _pad_rows(np.asarray(x1), tile), _pad_rows(np.asarray(x2), tile)
    out = np.empty((len(a), len(b)), dtype=np.float64)
    for i in range(0, len(a), tile):
        for j in range(i if symmetric else 0, len(b), tile):
            block = np.asarray(kernel_fn(jnp.asarray(a[i : i + tile]), jnp.asarray(b[j : j + tile])), dtype=np.float64)
            out[i : i + tile, j : j + tile] = block
            if symmetric and j != i:
                out[j : j + tile, i : i + tile] = block.T
    out = out[: len(x1), : len(x2)]
    if symmetric:
        out = 0.5 * (out + out.T)  # diagonal tiles carry float32 round-off asymmetry
    return out


def infinite_ntk_fn(twin: StaxTwin) -> KernelFn:
    """The infinite-width NTK of `twin`, as a jitted function of two batches."""
    return jax.jit(lambda x1, x2: twin.kernel_fn(x1, x2, "ntk"))


def empirical_ntk_fn(model: eqx.Module, implementation: Implementation = 3) -> Callable[[Any, jax.Array, jax.Array], jax.Array]:
    """The empirical NTK of an equinox model as a jitted `f(params, x1, x2)`.

    The model maps one input to its logits; the kernel is traced over the logits (averaged, as
    neural-tangents' `trace_axes=(-1,)` does), so it is comparable with the infinite NTK of a
    `stax` twin. `params` are the model's inexact arrays, from `model_parameters(model)`;
    passing them as an argument lets one compiled function serve every seed and checkpoint.
    Implementation 0 (AUTO) of neural-tangents is broken on jax >= 0.5 and is not offered.
    """
    nt = import_neural_tangents()
    _, static = eqx.partition(model, eqx.is_inexact_array)

    def apply(params: Any, x: jax.Array) -> jax.Array:
        return jax.vmap(eqx.combine(params, static))(x)

    ntk = nt.empirical_ntk_fn(apply, trace_axes=(-1,), vmap_axes=0, implementation=implementation)
    return jax.jit(lambda params, x1, x2: ntk(x1, x2, params))


def model_parameters(model: eqx.Module) -> Any:
    """The trainable (inexact-array) leaves of an equinox model, as a pytree."""
    return eqx.filter(model, eqx.is_inexact_array)
