"""Kernels kept tile by tile in a directory: each tile a plain `.npy` array written atomically, named
by what its rows and columns are and by its checksum, so that a killed computation resumes from its
last tile, two processes share one kernel's tiles without computing any twice (a lock per tile), and
a kernel computed once is read by every run and spec that evaluates it on the same inputs.

    <root>/<kernel identity>/about.json           what the kernel is (its description)
    <root>/<kernel identity>/layouts/<inputs>.json one evaluation's tiles (shape, edges, names)
    <root>/<kernel identity>/tiles/<tile>.<checksum>.npy
    <root>/corrupt/<kernel identity>/...          tiles that did not read back as written (kept)
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import json
import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..api import KernelStore, RunFailure
from ._atomic import exclusive_lock, write_atomically, write_json_atomically

KERNEL_STORE_DIR = "kernels"
"""A results directory's default kernel store: `<results>/kernels`."""
CHECKSUM_DIGITS = 16


class TileDirectory(KernelStore):
    """The kernel store in the folder `root` (created on the first write)."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.set_aside: list[Path] = []
        """Tiles found corrupt by this process and moved under `corrupt/`."""

    def _tiles(self, kernel: str) -> Path:
        return self.root / kernel / "tiles"

    def read(self, kernel: str, tile: str) -> np.ndarray | None:
        for path in sorted(self._tiles(kernel).glob(f"{tile}.*.npy")):
            try:
                content = path.read_bytes()
            except FileNotFoundError:  # set aside by another process meanwhile
                continue
            expected = path.name[len(tile) + 1 : -len(".npy")]
            if hashlib.sha256(content).hexdigest()[:CHECKSUM_DIGITS] == expected:
                try:
                    return np.load(io.BytesIO(content), allow_pickle=False)
                except ValueError:
                    pass
            self._set_aside(kernel, path)
        return None

    def _set_aside(self, kernel: str, path: Path) -> None:
        destination = self.root / "corrupt" / kernel / path.name
        destination.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            os.replace(path, destination)
            self.set_aside.append(destination)
            warnings.warn(f"kernel tile {path} did not match its checksum: set aside as {destination} and computed again",
                          stacklevel=2)

    def write(self, kernel: str, tile: str, values: np.ndarray) -> None:
        buffer = io.BytesIO()
        np.save(buffer, np.ascontiguousarray(values), allow_pickle=False)
        content = buffer.getvalue()
        path = self._tiles(kernel) / f"{tile}.{hashlib.sha256(content).hexdigest()[:CHECKSUM_DIGITS]}.npy"
        try:
            write_atomically(path, lambda out: out.write(content), binary=True)
        except OSError as error:
            raise RunFailure(
                f"cannot write kernel tile {path}: {error.strerror or error}. Every tile written before is kept: "
                "free space (or fix the directory) and run the same command to resume."
            ) from None

    def names(self, kernel: str) -> set[str]:
        return {path.name.rsplit(".", 2)[0] for path in self._tiles(kernel).glob("*.npy")}

    def claim(self, kernel: str, tile: str, *, wait: bool) -> contextlib.AbstractContextManager[bool]:
        return exclusive_lock(self.root / kernel / "locks" / tile, wait=wait)

    def describe(self, kernel: str, description: Mapping[str, Any], layout: Mapping[str, Any]) -> None:
        folder = self.root / kernel
        try:
            if not (folder / "about.json").exists():
                write_json_atomically(folder / "about.json", dict(description))
            path = folder / "layouts" / f"{layout['inputs']}.json"
            if not path.exists():
                write_json_atomically(path, dict(layout))
        except OSError as error:
            raise RunFailure(f"cannot write to the kernel store {self.root}: {error.strerror or error}") from None


@dataclasses.dataclass(frozen=True)
class KernelEvaluation:
    """One stored evaluation of a kernel: its shape, its tile edges, and how many of its tiles are stored."""

    inputs: str
    shape: tuple[int, int]
    tile_shape: tuple[int, int]
    symmetric: bool
    tiles: int
    present: int


@dataclasses.dataclass(frozen=True)
class StoredKernelSummary:
    """A kernel in a store: its identity, what it is, its size on disk and its evaluations."""

    identity: str
    description: dict[str, Any]
    disk_bytes: int
    tile_files: int
    evaluations: tuple[KernelEvaluation, ...]


def _json(path: Path) -> dict[str, Any] | None:
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return loaded if isinstance(loaded, dict) else None


def stored_kernels(root: str | Path) -> list[StoredKernelSummary]:
    """Every kernel in the store at `root`, largest on disk first."""
    root = Path(root)
    kernels = []
    for folder in sorted(path for path in root.iterdir() if path.is_dir() and path.name != "corrupt") if root.is_dir() else []:
        about = _json(folder / "about.json")
        if about is None:
            continue
        names = TileDirectory(root).names(folder.name)
        evaluations = []
        for path in sorted((folder / "layouts").glob("*.json")):
            layout = _json(path)
            if layout is None or not isinstance(layout.get("tiles"), list):
                continue
            evaluations.append(KernelEvaluation(
                inputs=str(layout.get("inputs", path.stem)), shape=tuple(layout.get("shape", (0, 0))),
                tile_shape=tuple(layout.get("tile_shape", (0, 0))), symmetric=bool(layout.get("symmetric")),
                tiles=len(layout["tiles"]), present=sum(name in names for name in layout["tiles"]),
            ))
        files = list((folder / "tiles").glob("*.npy"))
        kernels.append(StoredKernelSummary(
            identity=folder.name, description=about, disk_bytes=sum(path.stat().st_size for path in files),
            tile_files=len(files), evaluations=tuple(evaluations),
        ))
    return sorted(kernels, key=lambda kernel: -kernel.disk_bytes)


def store_disk_bytes(root: str | Path) -> int:
    """Bytes of every tile in the store at `root` (0 for none)."""
    root = Path(root)
    return sum(path.stat().st_size for path in root.glob("*/tiles/*.npy")) if root.is_dir() else 0

