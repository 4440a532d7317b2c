"""Dense and convolutional layers' kernel maps, as `stax.Dense` and `stax.Conv` (shared weights,
full spatial covariance) compute them, in the NTK and the standard parameterisation.

A convolution acts on a covariance of position pairs as a stencil: the output at `(p, p')` is the
mean, over the filter's offsets d, of the input at `(p + d, p' + d)` (zero outside the padded
image). That is a sum of shifted slices along the leading (position) axes, each a contiguous run
of the batch; neural-tangents computes it as a general convolution with one feature channel.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

import jax
import jax.numpy as jnp

from ._covariances import Covariances, RecordsNothing, map_ntk, materialized

Padding = Literal["SAME", "VALID"]


def _affine(cov: jax.Array, w_std: float, b_std: float | None) -> jax.Array:
    return w_std**2 * cov + (0.0 if b_std is None else b_std**2)


def _linear_ntk(ntk: jax.Array | float | None, nngp_out: jax.Array, w_std: float, transform, fan_in: int | None,
                unscaled: jax.Array | None, b_std: float | None) -> jax.Array | None:
    """The NTK after a linear layer: the propagated NTK plus the layer's own parameters' part
    (its output NNGP in the NTK parameterisation; `fan_in` times the unscaled map, plus 1 for a
    bias, in the standard one)."""
    if ntk is None:
        return None
    propagated = w_std**2 * map_ntk(ntk, transform)
    if fan_in is None:
        return propagated + nngp_out
    return propagated + fan_in * unscaled + (0.0 if b_std is None else 1.0)


@dataclasses.dataclass(frozen=True)
class Dense(RecordsNothing):
    """`stax.Dense(width, w_std, b_std, parameterization)` on vectors (`b_std` None: no bias)."""

    width: int
    w_std: float = 1.0
    b_std: float | None = None
    parameterization: Literal["ntk", "standard"] = "ntk"

    def cross(self, cov: Covariances, first: None, second: None) -> Covariances:
        nngp = _affine(cov.nngp, self.w_std, self.b_std)
        standard = self.parameterization == "standard"
        ntk = _linear_ntk(cov.ntk, nngp, self.w_std, lambda c: c, cov.channels if standard else None, cov.nngp, self.b_std)
        return Covariances(nngp, ntk, self.width, cov.spatial)


def _same_padding(size: int, kernel: int, stride: int) -> tuple[int, int, int]:
    """`(out, low, high)` of lax's SAME padding on one axis (the extra row, if any, at the end)."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return out, total // 2, total - total // 2


def conv_stencil(cov: jax.Array, kernel: int, stride: int, padding: Padding) -> jax.Array:
    """The mean over a `kernel` x `kernel` filter's offsets of the position-pair covariance `cov`
    `(H, W, H', W', ...)`, at the output positions of a convolution with this stride and padding:
    a sum of shifted slices of the zero-padded covariance."""
    height, width = cov.shape[0], cov.shape[1]
    if padding == "SAME":
        (out_h, low_h, high_h), (out_w, low_w, high_w) = (_same_padding(s, kernel, stride) for s in (height, width))
    else:
        out_h, out_w = (height - kernel) // stride + 1, (width - kernel) // stride + 1
        low_h = high_h = low_w = high_w = 0
    pads = [(low_h, high_h), (low_w, high_w)] * 2 + [(0, 0)] * (cov.ndim - 4)
    padded = jnp.pad(cov, pads) if any(p != (0, 0) for p in pads) else cov
    total = None
    for dy in range(kernel):
        for dx in range(kernel):
            rows = slice(dy, dy + stride * (out_h - 1) + 1, stride)
            columns = slice(dx, dx + stride * (out_w - 1) + 1, stride)
            shifted = padded[rows, columns, rows, columns]
            total = shifted if total is None else total + shifted
    return total * (1.0 / kernel**2)


@dataclasses.dataclass(frozen=True)
class Conv(RecordsNothing):
    """`stax.Conv(width, (kernel, kernel), (stride, stride), padding, w_std, b_std, parameterization)`."""

    width: int
    kernel: int = 3
    stride: int = 1
    padding: Padding = "SAME"
    w_std: float = 1.0
    b_std: float | None = None
    parameterization: Literal["ntk", "standard"] = "ntk"

    def cross(self, cov: Covariances, first: None, second: None) -> Covariances:
        def stencil(c: jax.Array) -> jax.Array:
            return conv_stencil(c, self.kernel, self.stride, self.padding)

        if self.kernel > 1:  # the stencil reads every entry once per filter offset
            cov = materialized(cov)
        unscaled = stencil(cov.nngp)
        nngp = _affine(unscaled, self.w_std, self.b_std)
        fan_in = cov.channels * self.kernel**2 if self.parameterization == "standard" else None
        ntk = _linear_ntk(cov.ntk, nngp, self.w_std, stencil, fan_in, unscaled, self.b_std)
        return Covariances(nngp, ntk, self.width, True)
