"""Composing kernel maps: in sequence (`stax.serial`), and a residual block's two branches summed
(`stax.FanOut(2)`, `stax.parallel(main, shortcut)`, `stax.FanInSum()`, independent branches).

Every layer maps covariances twice: `own` maps each input's covariance with itself and returns
a record of what the layer needs later (a nonlinearity's input variances; None for a linear
layer); `cross` maps the covariances between two batches given both batches' records. A
composite's record is the tuple of its parts'.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Protocol

from ._covariances import Covariances, RecordsNothing


class Layer(Protocol):
    """A layer's kernel map (see the module's docstring)."""

    def own(self, cov: Covariances) -> tuple[Covariances, Any]: ...

    def cross(self, cov: Covariances, first: Any, second: Any) -> Covariances: ...


@dataclasses.dataclass(frozen=True)
class Serial:
    layers: tuple[Layer, ...]

    def own(self, cov: Covariances) -> tuple[Covariances, tuple]:
        records = []
        for layer in self.layers:
            cov, record = layer.own(cov)
            records.append(record)
        return cov, tuple(records)

    def cross(self, cov: Covariances, first: tuple, second: tuple) -> Covariances:
        for layer, one, other in zip(self.layers, first, second):
            cov = layer.cross(cov, one, other)
        return cov


def serial(*layers: Layer) -> Serial:
    return Serial(tuple(layers))


def _sum(a: Covariances, b: Covariances) -> Covariances:
    ntk = a.ntk if a.ntk is None else a.ntk + b.ntk
    return Covariances(a.nngp + b.nngp, ntk, a.channels, a.spatial)


@dataclasses.dataclass(frozen=True)
class Residual:
    """`main(x) + shortcut(x)`, the branches' parameters independent, so their kernels add."""

    main: Layer
    shortcut: Layer

    def own(self, cov: Covariances) -> tuple[Covariances, tuple]:
        (a, main), (b, shortcut) = self.main.own(cov), self.shortcut.own(cov)
        return _sum(a, b), (main, shortcut)

    def cross(self, cov: Covariances, first: tuple, second: tuple) -> Covariances:
        return _sum(self.main.cross(cov, first[0], second[0]), self.shortcut.cross(cov, first[1], second[1]))


@dataclasses.dataclass(frozen=True)
class Identity(RecordsNothing):
    """`stax.Identity()`."""

    def cross(self, cov: Covariances, first: None, second: None) -> Covariances:
        return cov


identity = Identity()
