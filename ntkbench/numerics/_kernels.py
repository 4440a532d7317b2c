"""Kernel matrices: the infinite-width NTK of a `stax` twin, the empirical NTK of an equinox
network, and their evaluation in fixed-size tiles.

Tiles have one fixed square shape per kernel, so a jitted kernel function compiles once
and serves every cell of a sweep; the last tiles are zero-padded and cropped.
"""

from __future__ import annotations

import tempfile
import time
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
TIMING_BATCH = 16
"""Inputs per side of the kernel block on which `resolve_implementation` times the implementations."""
_FASTEST: dict[Any, int] = {}


def tile_size(length: int) -> int:
    """The tile edge along an axis of this length: the next power of two, at most `MAX_TILE`."""
    return min(MAX_TILE, 1 << max(0, (length - 1).bit_length()))


def _pad_rows(x: np.ndarray, multiple: int) -> np.ndarray:
    missing = (-len(x)) % multiple
    if missing == 0:
        return x
    return np.concatenate([x, np.zeros((missing, *x.shape[1:]), dtype=x.dtype)])


def evaluate_tiled(kernel_fn: KernelFn, x1: np.ndarray, x2: np.ndarray | None = None) -> np.ndarray:
    """Evaluate `kernel_fn(x1, x2)` tile by tile into a float32 matrix of shape `(len(x1), len(x2))`.

    Tiles are `tile_size(len(x1))` by `tile_size(len(x2))`, so a short axis is not padded to a long
    one. With `x2=None` the kernel is symmetric: only tiles on and above the diagonal are computed
    and the result is exactly symmetric. With several local devices, tiles are spread over all of
    them (one tile per device at a time); the result is the same as on one device. A matrix larger
    than `MEMMAP_BYTES` lives in a temporary file (memory-mapped), so that only the tiles in use
    occupy memory.
    """
    symmetric = x2 is None
    x2 = x1 if x2 is None else x2
    rows, columns = tile_size(len(x1)), tile_size(len(x2))
    a, b = _pad_rows(np.asarray(x1), rows), _pad_rows(np.asarray(x2), columns)
    origins = [(i, j) for i in range(0, len(a), rows) for j in range(i if symmetric else 0, len(b), columns)]
    out = kernel_matrix(len(x1), len(x2))
    for (i, j), block in _tiles(kernel_fn, a, b, origins, rows, columns):
        if symmetric and i == j:
            block = 0.5 * (block + block.T)  # float32 round-off makes diagonal tiles slightly asymmetric
        block = block[: len(x1) - i, : len(x2) - j]
        out[i : i + block.shape[0], j : j + block.shape[1]] = block
        if symmetric and j != i:
            out[j : j + block.shape[1], i : i + block.shape[0]] = block.T
    return out


def _tiles(kernel_fn: KernelFn, a: np.ndarray, b: np.ndarray, origins: list[tuple[int, int]], rows: int, columns: int):
    """Yield `((i, j), tile)` for every origin, computing as many tiles at once as there are local devices.

    Each tile's inputs are placed on one device, which runs `kernel_fn` there; JAX dispatches
    asynchronously, so the devices of a group work at the same time. Every tile runs the same
    compiled program as on a single device (a jitted `kernel_fn` is compiled once per device, not
    retraced), so the kernel does not depend on the number of devices.
    """
    devices = jax.local_devices()
    for start in range(0, len(origins), len(devices)):
        group = origins[start : start + len(devices)]
        blocks = [
            kernel_fn(jax.device_put(a[i : i + rows], device), jax.device_put(b[j : j + columns], device))
            for (i, j), device in zip(group, devices)
        ]
        yield from zip(group, (np.asarray(block, np.float32) for block in blocks))


MEMMAP_BYTES = 4 << 30
"""Kernel matrices above this size are memory-mapped from a temporary file."""


def kernel_matrix(rows: int, columns: int) -> np.ndarray:
    """An uninitialised float32 matrix, in memory or (above `MEMMAP_BYTES`) memory-mapped."""
    if rows * columns * 4 <= MEMMAP_BYTES:
        return np.empty((rows, columns), dtype=np.float32)
    with tempfile.NamedTemporaryFile(prefix="ntkbench-kernel-", suffix=".f32") as backing:
        return np.memmap(backing.name, dtype=np.float32, mode="w+", shape=(rows, columns))


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
    with warnings.catch_warnings():
        # neural-tangents 0.6.5's implementation 2 calls jnp.size/shape on ShapeDtypeStructs (jax 0.5 deprecation).
        warnings.filterwarnings("ignore", message=r"(size|shape) requires ndarray or scalar arguments", category=DeprecationWarning)
        return kernel_fn(x1, x2, params)


def resolve_implementation(model: Any, x: np.ndarray, implementation: Implementation | str) -> Implementation:
    """The implementation to use: as given, or for `"auto"` the fastest of 1, 2 and 3 on this network.

    Each is compiled and timed on a `TIMING_BATCH` x `TIMING_BATCH` block of `x`; the choice is
    cached for the process by the network's structure, parameter shapes and input shape.
    """
    if implementation != "auto":
        return implementation
    module, _ = split_model(model)
    params = eqx.filter(module, eqx.is_inexact_array)
    key = (jax.tree_util.tree_structure(params), tuple(p.shape for p in jax.tree_util.tree_leaves(params)), x.shape[1:])
    if key not in _FASTEST:
        batch = jnp.asarray(x[:TIMING_BATCH])
        timings = {}
        for candidate in (1, 2, 3):
            try:
                empirical_ntk(model, batch, batch, candidate).block_until_ready()  # compile
                started = time.perf_counter()
                empirical_ntk(model, batch, batch, candidate).block_until_ready()
                timings[candidate] = time.perf_counter() - started
            except Exception:  # an implementation neural-tangents cannot apply to this network
                continue
        _FASTEST[key] = min(timings, key=timings.get)
    return _FASTEST[key]
