"""Composing kernel maps: in sequence (`stax.serial`), and a residual block's two branches summed
(`stax.FanOut(2)`, `stax.parallel(main, shortcut)`, `stax.FanInSum()`, independent branches)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from ._covariances import Covariances

Layer = Callable[[Covariances], Covariances]


@dataclasses.dataclass(frozen=True)
class Serial:
    layers: tuple[Layer, ...]

    def __call__(self, cov: Covariances) -> Covariances:
        for layer in self.layers:
            cov = layer(cov)
        return cov


def serial(*layers: Layer) -> Serial:
    return Serial(tuple(layers))


@dataclasses.dataclass(frozen=True)
class Residual:
    """`main(x) + shortcut(x)`, the branches' parameters independent, so their kernels add."""

    main: Layer
    shortcut: Layer

    def __call__(self, cov: Covariances) -> Covariances:
        a, b = self.main(cov), self.shortcut(cov)
        ntk = None if a.ntk is None else a.ntk + b.ntk
        return Covariances(a.nngp + b.nngp, ntk, a.self1 + b.self1, a.self2 + b.self2, a.channels)


def identity(cov: Covariances) -> Covariances:
    return cov



