"""The ReLU's kernel map (the arc-cosine kernel of degree 1, and its derivative for the NTK), as
`stax.Relu` computes it: `sqrt(v v' - c^2) / 2pi + (pi - angle) / 2pi * c`, the angle from arctan2."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from ._covariances import Covariances, variances


def _outer(left: jax.Array, right: jax.Array, spatial: bool, paired: bool) -> jax.Array:
    """`v(p) v'(p')` over the pairs of a covariance: between two batches (`paired`) or of one input."""
    if spatial:
        left, right = left[..., :, :, None, None], right[..., None, None, :, :]
    return left[:, None] * right[None, :] if paired else left * right


def _arc_cosine(cov: jax.Array, products: jax.Array) -> tuple[jax.Array, jax.Array]:
    """The ReLU's output covariance and the NTK's factor, from the input covariance `cov` and the
    product of the two variances."""
    square_root = jnp.sqrt(jnp.maximum(products - cov**2, 0.0))
    angles = jnp.arctan2(square_root, cov)
    slope = 0.5 - angles / (2 * jnp.pi)
    return square_root / (2 * jnp.pi) + slope * cov, slope


@dataclasses.dataclass(frozen=True)
class Relu:
    """`stax.Relu()`."""

    def __call__(self, cov: Covariances) -> Covariances:
        v1, v2 = variances(cov.self1), variances(cov.self2)
        nngp, slope = _arc_cosine(cov.nngp, _outer(v1, v2, cov.spatial, paired=True))
        self1, _ = _arc_cosine(cov.self1, _outer(v1, v1, cov.spatial, paired=False))
        self2, _ = _arc_cosine(cov.self2, _outer(v2, v2, cov.spatial, paired=False))
        return Covariances(nngp, None if cov.ntk is None else cov.ntk * slope, self1, self2, cov.channels)
