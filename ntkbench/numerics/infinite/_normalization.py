"""Layer norm over channels, as `stax.LayerNorm(axis=-1)` computes its kernel: at infinite width
each position's activations are divided by their (deterministic) standard deviation, so the
covariance at `(p, p')` is divided by `sqrt(v(p) v'(p'))`, the NTK likewise."""

from __future__ import annotations

import dataclasses

import jax

from ._covariances import Covariances, map_ntk, variance_products, variances

EPSILON = 1e-12
"""Added to each variance, as `stax.LayerNorm`'s default `eps`."""


@dataclasses.dataclass(frozen=True)
class LayerNorm:
    """`stax.LayerNorm(axis=-1)`: parameter-free normalisation over the channels of each position.
    Its record is the variances at its input."""

    def own(self, cov: Covariances) -> tuple[Covariances, jax.Array]:
        v = variances(cov)
        scale = jax.lax.rsqrt(variance_products(v + EPSILON, v + EPSILON, cov.spatial, paired=False))
        return Covariances(cov.nngp * scale, None, cov.channels, cov.spatial), v

    def cross(self, cov: Covariances, first: jax.Array, second: jax.Array) -> Covariances:
        scale = jax.lax.rsqrt(variance_products(first + EPSILON, second + EPSILON, cov.spatial, paired=True))
        return Covariances(cov.nngp * scale, map_ntk(cov.ntk, lambda ntk: ntk * scale), cov.channels, cov.spatial)


