"""Pooling and flattening's kernel maps, as `stax.AvgPool` (VALID), `stax.GlobalAvgPool` and
`stax.Flatten` compute them on the full position-pair covariance."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from ._covariances import Covariances


def _window_mean(cov: jax.Array, window: int, stride: int) -> jax.Array:
    """The mean over a window on both positions of every pair (`(..., H, W, H', W')`, VALID)."""
    batch = cov.ndim - 4
    summed = jax.lax.reduce_window(
        cov, 0.0, jax.lax.add, (1,) * batch + (window,) * 4, (1,) * batch + (stride,) * 4, "VALID"
    )
    return summed / window**4


@dataclasses.dataclass(frozen=True)
class AvgPool:
    """`stax.AvgPool((window, window), (stride, stride))` with VALID padding."""

    window: int = 2
    stride: int = 2

    def __call__(self, cov: Covariances) -> Covariances:
        def pool(c: jax.Array) -> jax.Array:
            return _window_mean(c, self.window, self.stride)

        return cov.map(pool, None if cov.ntk is None else pool(cov.ntk))


@dataclasses.dataclass(frozen=True)
class GlobalAvgPool:
    """`stax.GlobalAvgPool()`: the mean over every pair of positions."""

    def __call__(self, cov: Covariances) -> Covariances:
        def pool(c: jax.Array) -> jax.Array:
            return jnp.mean(c, axis=(-4, -3, -2, -1))

        return cov.map(pool, None if cov.ntk is None else pool(cov.ntk))


@dataclasses.dataclass(frozen=True)
class Flatten:
    """`stax.Flatten()`: a dense layer after it has a weight per position, so only pairs at the same
    position correlate: the mean over the diagonal. (On inputs, `kernel_fn` flattens them first.)"""

    def __call__(self, cov: Covariances) -> Covariances:
        if not cov.spatial:
            return cov
        positions = cov.self1.shape[-1] * cov.self1.shape[-2]

        def diagonal_mean(c: jax.Array) -> jax.Array:
            return jnp.einsum("...hwhw->...", c) / positions

        return cov.map(diagonal_mean, None if cov.ntk is None else diagonal_mean(cov.ntk), cov.channels * positions)
