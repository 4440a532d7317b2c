"""What the kernel maps act on: the covariances of two batches of inputs as they pass through an
infinitely wide network, and those of the network's inputs themselves.

Spatial layers keep the full covariance between every pair of positions, `(H, W, H', W')` after
the batch axes (the kernel of a CNN without `diagonal_spatial`, as neural-tangents computes it);
after global pooling, flattening or on vector inputs there are no spatial axes. Each input's own
covariance (`self1`, `self2`: one per input, not per pair) gives the variances a nonlinearity
needs, so it is computed once per input, not once per pair.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp


@dataclasses.dataclass(frozen=True)
class Covariances:
    """`nngp` and `ntk` between the inputs of batch 1 and batch 2, `(n1, n2, *positions)`; `self1`
    and `self2` each input's covariance with itself, `(n, *positions)`; `channels` the features
    per position of the layer that produced them (a standard-parameterised layer's fan-in)."""

    nngp: jax.Array
    ntk: jax.Array | None
    self1: jax.Array
    self2: jax.Array
    channels: int

    @property
    def spatial(self) -> bool:
        return self.self1.ndim == 5

    def map(self, transform, ntk=None, channels: int | None = None) -> Covariances:
        """The same transform of `nngp`, `self1` and `self2`; `ntk` as given."""
        return Covariances(transform(self.nngp), ntk, transform(self.self1), transform(self.self2),
                           self.channels if channels is None else channels)


jax.tree_util.register_dataclass(
    Covariances, data_fields=["nngp", "ntk", "self1", "self2"], meta_fields=["channels"]
)


def input_covariances(x1: jax.Array, x2: jax.Array, with_ntk: bool) -> Covariances:
    """The covariances of the inputs themselves: `x . x' / channels` at every pair of positions
    (images `(n, H, W, C)`) or between the vectors `(n, D)`; the NTK of no layer is 0."""
    channels = x1.shape[-1]
    if x1.ndim == 4:
        cross = jnp.einsum("ahwc,bijc->abhwij", x1, x2) / channels
        self1 = jnp.einsum("ahwc,aijc->ahwij", x1, x1) / channels
        self2 = jnp.einsum("ahwc,aijc->ahwij", x2, x2) / channels
    else:
        x1, x2 = x1.reshape(len(x1), -1), x2.reshape(len(x2), -1)
        channels = x1.shape[-1]
        cross = x1 @ x2.T / channels
        self1, self2 = jnp.sum(x1 * x1, axis=-1) / channels, jnp.sum(x2 * x2, axis=-1) / channels
    return Covariances(cross, jnp.zeros_like(cross) if with_ntk else None, self1, self2, channels)


def variances(own: jax.Array) -> jax.Array:
    """Each position's variance from an input's own covariance: `(n, H, W)` of `(n, H, W, H, W)`."""
    return jnp.einsum("nhwhw->nhw", own) if own.ndim == 5 else own
