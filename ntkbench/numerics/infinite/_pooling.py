"""Pooling and flattening's kernel maps, as `stax.AvgPool` (VALID), `stax.GlobalAvgPool` and
`stax.Flatten` compute them on the full position-pair covariance."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from ._covariances import Covariances, RecordsNothing


def _window_mean(cov: jax.Array, window: int, stride: int) -> jax.Array:
    """The mean over a window on both positions of every pair (`(H, W, H', W', ...)`, VALID)."""
    batch = cov.ndim - 4
    summed = jax.lax.reduce_window(
        cov, 0.0, jax.lax.add, (window,) * 4 + (1,) * batch, (stride,) * 4 + (1,) * batch, "VALID"
    )
    return summed * (1.0 / window**4)


@dataclasses.dataclass(frozen=True)
class AvgPool(RecordsNothing):
    """`stax.AvgPool((window, window), (stride, stride))` with VALID padding."""

    window: int = 2
    stride: int = 2

    def cross(self, cov: Covariances, first: None, second: None) -> Covariances:
        return cov.map(lambda c: _window_mean(c, self.window, self.stride))


@dataclasses.dataclass(frozen=True)
class GlobalAvgPool(RecordsNothing):
    """`stax.GlobalAvgPool()`: the mean over every pair of positions."""

    def cross(self, cov: Covariances, first: None, second: None) -> Covariances:
        return cov.map(lambda c: jnp.mean(c, axis=(0, 1, 2, 3)), spatial=False)


@dataclasses.dataclass(frozen=True)
class Flatten(RecordsNothing):
    """`stax.Flatten()`: a dense layer after it has a weight per position, so only pairs at the same
    position correlate: the mean over the diagonal. (On inputs, `kernel_fn` flattens them first.)"""

    def cross(self, cov: Covariances, first: None, second: None) -> Covariances:
        if not cov.spatial:
            return cov
        positions = cov.nngp.shape[0] * cov.nngp.shape[1]
        return cov.map(lambda c: jnp.einsum("hwhw...->...", c) / positions, cov.channels * positions, spatial=False)
