"""The ReLU's kernel map (the arc-cosine kernel of degree 1, and its derivative for the NTK), as
`stax.Relu` computes it: `sqrt(v v' - c^2) / 2pi + (pi - angle) / 2pi * c`, the angle
`arctan2(sqrt(v v' - c^2), c)`.

The angle comes from a polynomial rather than `jnp.arctan2`, whose general form (signs of both
arguments, infinities) XLA's CPU backend evaluates several times slower than the rest of the
layer: here the first argument is never negative, so one division, a degree-17 odd polynomial
on [0, 1] (within float32 round-off of arctan) and two reflections suffice.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp

from ._covariances import Covariances, map_ntk, variance_products, variances

_ARCTAN = (
    0.9999998863830399, -0.33332597027130917, 0.19985906741370474, -0.14161228980653928, 0.10498945196296235,
    -0.07234855400713898, 0.03978119928038586, -0.014401342326628208, 0.002456720524443276,
)
"""arctan(t) / t as a polynomial in t^2 on [0, 1] (least-maximum-error fit, in float64)."""


def angle(opposite: jax.Array, adjacent: jax.Array) -> jax.Array:
    """`arctan2(opposite, adjacent)` for `opposite >= 0` (0 where both are 0, as arctan2)."""
    magnitude = jnp.abs(adjacent)
    large, small = jnp.maximum(magnitude, opposite), jnp.minimum(magnitude, opposite)
    ratio = small / jnp.where(large == 0, 1.0, large)
    square = ratio * ratio
    series = jnp.asarray(_ARCTAN[-1], ratio.dtype)
    for coefficient in _ARCTAN[-2::-1]:
        series = series * square + coefficient
    theta = series * ratio
    theta = jnp.where(opposite > magnitude, math.pi / 2 - theta, theta)
    return jnp.where(adjacent < 0, math.pi - theta, theta)


def _arc_cosine(cov: jax.Array, products: jax.Array) -> tuple[jax.Array, jax.Array]:
    """The ReLU's output covariance and the NTK's factor, from the input covariance `cov` and the
    product of the two variances."""
    square_root = jnp.sqrt(jnp.maximum(products - cov * cov, 0.0))
    slope = 0.5 - angle(square_root, cov) * (1 / (2 * math.pi))
    return square_root * (1 / (2 * math.pi)) + slope * cov, slope


@dataclasses.dataclass(frozen=True)
class Relu:
    """`stax.Relu()`. Its record is the variances at its input, `(H, W, n)` or `(n,)`."""

    def own(self, cov: Covariances) -> tuple[Covariances, jax.Array]:
        v = variances(cov)
        nngp, _ = _arc_cosine(cov.nngp, variance_products(v, v, cov.spatial, paired=False))
        return Covariances(nngp, None, cov.channels, cov.spatial), v

    def cross(self, cov: Covariances, first: jax.Array, second: jax.Array) -> Covariances:
        nngp, slope = _arc_cosine(cov.nngp, variance_products(first, second, cov.spatial, paired=True))
        return Covariances(nngp, map_ntk(cov.ntk, lambda ntk: ntk * slope), cov.channels, cov.spatial)
