"""What the kernel maps act on: the covariances of inputs as they pass through an infinitely wide
network.

Positions come first and the batch last: a spatial covariance is `(H, W, H', W', *batch)`, the
full covariance between every pair of positions (the kernel of a CNN without
`diagonal_spatial`, as neural-tangents computes it); after global pooling, flattening or on
vector inputs it is `(*batch)`. The batch is `(n1, n2)` for the covariances between two
batches of inputs (the kernel), `(n,)` for each input's covariance with itself (whose diagonal
gives the variances a nonlinearity needs), and absent for a single pair of images whose
position pairs fill a chunk alone (XLA's CPU loops run several times slower over trailing axes
of length 1). With the batch last, a convolution's shifted slices and a nonlinearity's
elementwise work run along contiguous memory.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp

ZERO = 0.0
"""The NTK of no layer yet (at the inputs): the first layer's NTK is its NNGP, computed without
a pass over zeros."""


@dataclasses.dataclass(frozen=True)
class Covariances:
    """`nngp` and `ntk` (`(*positions, *batch)`; `ntk` None when only the NNGP is wanted, `ZERO`
    before the first layer); `channels` the features per position of the layer that produced
    them (a standard-parameterised layer's fan-in); `spatial` whether positions lead."""

    nngp: jax.Array
    ntk: jax.Array | float | None
    channels: int
    spatial: bool

    def map(self, transform: Any, channels: int | None = None, spatial: bool | None = None) -> Covariances:
        """The same linear map of `nngp` and `ntk` (a zero or absent NTK stays so)."""
        return Covariances(transform(self.nngp), map_ntk(self.ntk, transform), self.channels if channels is None else channels,
                           self.spatial if spatial is None else spatial)


jax.tree_util.register_dataclass(Covariances, data_fields=["nngp", "ntk"], meta_fields=["channels", "spatial"])


def map_ntk(ntk: jax.Array | float | None, transform: Any) -> jax.Array | float | None:
    """`transform(ntk)`, a linear map; an absent (None) or zero (`ZERO`) NTK stays as it is."""
    return ntk if ntk is None or isinstance(ntk, float) else transform(ntk)


def materialized(cov: Covariances) -> Covariances:
    """`cov`, computed in full before whatever reads it: for a map that reads each entry several
    times (a convolution's stencil, once per filter offset), which XLA's CPU fusion would
    otherwise make recompute an elementwise producer (a ReLU's arc-cosine map) inside every read.
    A conditional is a boundary XLA does not fuse across (`lax.optimization_barrier` is removed
    before fusion); its other branch, taken only when the first entry is NaN, passes the NaN on."""
    arrays = [x for x in (cov.nngp, cov.ntk) if isinstance(x, jax.Array)]
    first = arrays[0].ravel()[0]
    arrays = jax.lax.cond(first == first, lambda a: a, lambda a: [x * first for x in a], arrays)
    ntk = arrays[1] if len(arrays) == 2 else cov.ntk
    return Covariances(arrays[0], ntk, cov.channels, cov.spatial)


class RecordsNothing:
    """A layer whose map needs no variances: its map of an input's own covariance is its `cross`
    map, and it records nothing."""

    def own(self, cov: Covariances) -> tuple[Covariances, None]:
        return self.cross(cov, None, None), None


def own_covariances(x: jax.Array) -> Covariances:
    """Each input's covariance with itself, `x . x / channels` at every pair of its positions
    (images `(n, H, W, C)`: `(H, W, H, W, n)`; one image `(H, W, C)`: `(H, W, H, W)`) or of the
    vector (`(n, D)`: `(n,)`)."""
    if x.ndim == 3:
        return cross_covariances(x, x, with_ntk=False)
    if x.ndim == 4:
        return Covariances(jnp.einsum("ahwc,aijc->hwija", x, x) / x.shape[-1], None, x.shape[-1], True)
    x = x.reshape(x.shape[0], -1)
    return Covariances(jnp.sum(x * x, axis=-1) / x.shape[-1], None, x.shape[-1], False)


def cross_covariances(x1: jax.Array, x2: jax.Array, with_ntk: bool) -> Covariances:
    """The covariances between two batches of inputs, `(H, W, H', W', n1, n2)` or `(n1, n2)`, or
    between two images `(H, W, C)`: `(H, W, H', W')`."""
    ntk = ZERO if with_ntk else None
    if x1.ndim == 3:
        return Covariances(jnp.einsum("hwc,ijc->hwij", x1, x2) / x1.shape[-1], ntk, x1.shape[-1], True)
    if x1.ndim == 4:
        return Covariances(jnp.einsum("ahwc,bijc->hwijab", x1, x2) / x1.shape[-1], ntk, x1.shape[-1], True)
    x1, x2 = x1.reshape(x1.shape[0], -1), x2.reshape(x2.shape[0], -1)
    return Covariances(x1 @ x2.T / x1.shape[-1], ntk, x1.shape[-1], False)


def variances(own: Covariances) -> jax.Array:
    """Each position's variance from an input's own covariance: `(H, W, n)` of `(H, W, H, W, n)`
    (`(H, W)` of one image's)."""
    return jnp.einsum("hwhw...->hw...", own.nngp) if own.spatial else own.nngp


def variance_products(first: jax.Array, second: jax.Array, spatial: bool, paired: bool) -> jax.Array:
    """`v(p) v'(p')` at every entry of a covariance: between two batches' variances (`paired`,
    `(..., n1, n2)`; two images' when the records have no batch axis) or of one batch's with
    itself (`(..., n)`)."""
    batched = first.ndim > (2 if spatial else 0)
    if spatial:
        first, second = first[:, :, None, None], second[None, None]
    if paired and batched:
        return first[..., :, None] * second[..., None, :]
    return first * second
