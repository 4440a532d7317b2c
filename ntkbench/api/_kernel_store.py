"""Where kernels are kept, tile by tile: the contract between the numerics that compute a kernel and
the storage that keeps it (`ntkbench.storage.TileDirectory`), so that a kernel computation killed
part-way resumes from its last tile and a kernel computed once is read by every run that needs it."""

from __future__ import annotations

import abc
import contextlib
import dataclasses
import hashlib
import json
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np


class KernelStore(abc.ABC):
    """Tiles of kernels, each kept under its kernel's identity (`kernel_identity`) and its own name
    (what its rows and columns are). Reading never runs code from the store (plain arrays only);
    a tile that does not read back as written is no tile."""

    @abc.abstractmethod
    def read(self, kernel: str, tile: str) -> np.ndarray | None:
        """The stored tile, or None when it is absent (or was corrupt, and has been set aside)."""

    @abc.abstractmethod
    def write(self, kernel: str, tile: str, values: np.ndarray) -> None:
        """Keep `values` as the tile, whole or not at all."""

    @abc.abstractmethod
    def claim(self, kernel: str, tile: str, *, wait: bool) -> contextlib.AbstractContextManager[bool]:
        """Hold the tile's lock for the block: True when held; False, without waiting, when another
        process holds it and not `wait`."""

    @abc.abstractmethod
    def names(self, kernel: str) -> set[str]:
        """The names of the kernel's tiles the store holds (what a plan leaves out; not read, so not checked)."""

    @abc.abstractmethod
    def describe(self, kernel: str, description: Mapping[str, Any], layout: Mapping[str, Any]) -> None:
        """Keep what the kernel is (`description`) and one evaluation's layout of tiles (its `inputs`
        hash, shape, tile edges and tile names), for listing."""


def kernel_identity(description: Mapping[str, Any]) -> str:
    """The identity of a kernel: 16 hex digits of a SHA-256 of `description` as canonical JSON."""
    text = json.dumps(description, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class TileTally:
    """How many tiles of each stored kernel one cell's evaluations read from the store and how many
    they computed (here, or spread over other processes): the work a run shows it reused."""

    def __init__(self) -> None:
        self.kernels: dict[str, dict[str, Any]] = {}
        """Per kernel identity: `kernel` (what it is, from its description), `read`, `computed`."""

    def add(self, identity: str, description: Mapping[str, Any], *, read: int = 0, computed: int = 0) -> None:
        entry = self.kernels.setdefault(identity, {"kernel": str(description.get("kernel", "kernel")), "read": 0, "computed": 0})
        entry["read"] += read
        entry["computed"] += computed

    def facts(self) -> dict[str, Any]:
        """The record's facts (empty when no stored kernel was evaluated): `kernel_tiles_read`,
        `kernel_tiles_computed` and, per kernel identity, `kernel_tiles`."""
        if not self.kernels:
            return {}
        return {
            "kernel_tiles_read": sum(entry["read"] for entry in self.kernels.values()),
            "kernel_tiles_computed": sum(entry["computed"] for entry in self.kernels.values()),
            "kernel_tiles": {identity: dict(entry) for identity, entry in self.kernels.items()},
        }


@dataclasses.dataclass(frozen=True)
class StoredKernel:
    """A kernel whose tiles go to `store`: its identity, what it is, whom to tell how far its
    evaluation has got (`on_tiles(done, total)`, after every tile), and who can spread its tiles
    over other processes (`spread(job, done)`: computes a `TileJob`'s tiles into the store,
    calling `done(count)` as they are written; a Ray worker's)."""

    store: KernelStore
    description: Mapping[str, Any]
    on_tiles: Callable[[int, int], None] | None = None
    spread: Callable[[Any, Callable[[int], None]], None] | None = None
    tally: TileTally | None = None
    """Counts the tiles read from the store and those computed (the cell's record says both)."""

    @property
    def identity(self) -> str:
        return kernel_identity(self.description)
