"""Infinite-width kernels computed natively: the NTK and NNGP kernel of a network built from the
layers the built-in architectures use, without neural-tangents (which remains the tests' oracle).

One module per layer family, each layer's kernel map beside its `stax` counterpart's name:
`_linear` (dense, convolution), `_elementwise` (ReLU), `_normalization` (layer norm),
`_pooling` (average and global average pooling, flatten), `_combinators` (serial, residual
sums, identity); all act on `Covariances` (`_covariances`).

How a kernel is computed (`kernel_fn`): each input's own covariance passes through the network
once, recording the variances every nonlinearity needs; then the covariances between the two
batches pass through it in chunks of input pairs small enough that a chunk's position-pair
covariances stay in cache, each chunk using the recorded variances of its inputs.
"""

from __future__ import annotations

from typing import Literal

import jax
import jax.numpy as jnp

from ._combinators import Identity, Layer, Residual, Serial, identity, serial
from ._covariances import Covariances, cross_covariances, own_covariances
from ._elementwise import Relu
from ._linear import Conv, Dense, conv_stencil
from ._normalization import LayerNorm
from ._pooling import AvgPool, Flatten, GlobalAvgPool

__all__ = [
    "AvgPool", "Conv", "Covariances", "Dense", "Flatten", "GlobalAvgPool", "Identity", "Layer", "LayerNorm", "Relu",
    "Residual", "Serial", "conv_stencil", "identity", "kernel_fn", "serial",
]

CHUNK_ENTRIES = {"cpu": 2**19}
"""Covariance entries per chunk of input pairs (pairs times position pairs), by backend: on a CPU,
about a core's L2 cache of float32 per array (benchmarks/README.md has the measured effect);
elsewhere `OTHER_CHUNK_ENTRIES`, where parallel hardware needs large arrays more than caches."""
OTHER_CHUNK_ENTRIES = 2**25


def _pad(x: jax.Array, multiple: int) -> jax.Array:
    if multiple == 1:
        return x
    missing = (-x.shape[0]) % multiple
    return x if missing == 0 else jnp.concatenate([x, jnp.zeros((missing, *x.shape[1:]), x.dtype)])


def _blocks(tree, size: int):
    """Split a batch (leading axis) or records (trailing batch axis) into blocks of `size`, blocks first."""
    def inputs(x: jax.Array) -> jax.Array:
        return x.reshape(x.shape[0] // size, size, *x.shape[1:])

    def records(r: jax.Array) -> jax.Array:
        return jnp.moveaxis(r.reshape(*r.shape[:-1], r.shape[-1] // size, size), -2, 0)

    x, recorded = tree
    return inputs(x), jax.tree.map(records, recorded)


def _starts_by_flattening(network: Layer) -> bool:
    return isinstance(network, Serial) and bool(network.layers) and (
        isinstance(network.layers[0], Flatten) or _starts_by_flattening(network.layers[0]))


def _records(network: Layer, x: jax.Array, one_by_one: bool):
    """What every layer records of each input's own covariance, batch last; `one_by_one`: an
    input at a time, without a batch axis (its position pairs fill a chunk alone)."""
    if not one_by_one:
        return network.own(own_covariances(x))[1]
    records = jax.lax.map(lambda image: network.own(own_covariances(image))[1], x)
    return jax.tree.map(lambda r: jnp.moveaxis(r, 0, -1), records)


def kernel_fn(network: Layer, kind: Literal["ntk", "nngp"] = "ntk", *, chunk_entries: int | None = None):
    """The jitted kernel of two batches `(n1, ...)`, `(n2, ...)` -> `(n1, n2)` of the network whose
    kernel map is `network`; `chunk_entries` overrides `CHUNK_ENTRIES`. A network that starts by
    flattening sees its inputs as vectors: its first dense layer needs only their inner
    products, so no position pairs are formed."""
    entries = chunk_entries or CHUNK_ENTRIES.get(jax.default_backend(), OTHER_CHUNK_ENTRIES)
    flatten_inputs = _starts_by_flattening(network)

    def kernel(x1: jax.Array, x2: jax.Array) -> jax.Array:
        if flatten_inputs:
            x1, x2 = x1.reshape(x1.shape[0], -1), x2.reshape(x2.shape[0], -1)
        n1, n2 = x1.shape[0], x2.shape[0]
        positions = (x1.shape[1] * x1.shape[2]) ** 2 if x1.ndim == 4 else 1
        pairs = max(1, entries // positions)
        if isinstance(n1, int) and isinstance(n2, int):
            columns = min(n2, pairs)
            rows = max(1, min(n1, pairs // columns))
        else:  # symbolic sizes (a plan traces the cost of every tile edge at once): a pair per chunk, the same FLOPs
            rows = columns = 1
        x1, x2 = _pad(x1, rows), _pad(x2, columns)
        single = x1.ndim == 4 and rows == columns == 1  # a chunk of one pair of images: no batch axes
        first, second = (_records(network, x, one_by_one=single) for x in (x1, x2))

        def chunk(a: jax.Array, b: jax.Array, one, other) -> jax.Array:
            shape = (a.shape[0], b.shape[0])
            if single:
                a, b, one, other = a[0], b[0], *(jax.tree.map(lambda r: r[..., 0], r) for r in (one, other))
            out = network.cross(cross_covariances(a, b, with_ntk=kind == "ntk"), one, other)
            if out.spatial:
                raise ValueError("the network's output still has positions: end it with pooling or flattening")
            value = out.ntk if kind == "ntk" else out.nngp
            return jnp.broadcast_to(jnp.asarray(value, x1.dtype), shape)

        column_blocks = _blocks((x2, second), columns)

        def row(block):
            a, one = block
            return jax.lax.map(lambda column: chunk(a, column[0], one, column[1]), column_blocks)

        out = jax.lax.map(row, _blocks((x1, first), rows))  # (row blocks, column blocks, rows, columns)
        return out.transpose(0, 2, 1, 3).reshape(x1.shape[0], x2.shape[0])[:n1, :n2]

    return jax.jit(kernel)
