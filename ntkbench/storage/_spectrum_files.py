"""Spectra stored beside the records, under `<out>/spectra/`: one compressed `.npz` per unit (the
eigenvalues, the targets' power on each eigenvector, what identifies it), written atomically and
read without pickles. A unit's key hashes the cell key of the cell it was taken at and the
spectrum section, so a change of either leaves the old file unused."""

from __future__ import annotations

import dataclasses
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from ..spec import content_hash
from ._atomic import write_atomically
from ._cells import Cell, cell_key, widths_of

SPECTRA_DIR = "spectra"
SPECTRUM_FORMAT = 1


@dataclasses.dataclass(frozen=True)
class StoredSpectrum:
    """One unit's spectrum as stored: the pool's eigenvalues (of K / M, largest first) and target
    powers, and the cell it was taken at (`n_train` None: the same kernel for every n of the seed)."""

    learner_id: str
    seed: int
    width: int | None
    n_train: int | None
    pool: int
    eigenvalues: np.ndarray
    target_power: np.ndarray
    seconds: float
    key: str


def spectrum_key(spec_dict: dict[str, Any], cell: Cell) -> str:
    return content_hash({"cell": cell_key(spec_dict, cell), "spectrum": spec_dict["spectrum"]})


def spectrum_path(root: Path, spec_dict: dict[str, Any], cell: Cell, per_n: bool) -> Path:
    width = f"w{cell.width:05d}-" if cell.width is not None else ""
    size = f"n{cell.n_train:07d}-" if per_n else ""
    return root / SPECTRA_DIR / cell.learner_id / f"{width}{size}seed{cell.seed}-{spectrum_key(spec_dict, cell)[:12]}.npz"


def write_spectrum(path: Path, stored: StoredSpectrum) -> None:
    """Store a unit's spectrum atomically (see `write_atomically`)."""
    facts = {field.name: getattr(stored, field.name) for field in dataclasses.fields(stored)
             if field.name not in ("eigenvalues", "target_power")}
    buffer = io.BytesIO()
    np.savez_compressed(
        buffer, eigenvalues=stored.eigenvalues.astype(np.float64), target_power=stored.target_power.astype(np.float64),
        facts=np.array(json.dumps({"format": SPECTRUM_FORMAT, **facts}, sort_keys=True)),
    )
    write_atomically(path, lambda out: out.write(buffer.getvalue()), binary=True)


def read_spectrum(path: Path) -> StoredSpectrum | None:
    """The spectrum stored at `path`, or None when it does not parse or is not one (never unpickled)."""
    try:
        with np.load(path, allow_pickle=False) as stored:
            facts = json.loads(str(stored["facts"]))
            eigenvalues, target_power = np.asarray(stored["eigenvalues"], np.float64), np.asarray(stored["target_power"], np.float64)
        if facts.pop("format") != SPECTRUM_FORMAT or eigenvalues.shape != target_power.shape or eigenvalues.ndim != 1:
            return None
        return StoredSpectrum(eigenvalues=eigenvalues, target_power=target_power, **facts)
    except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile, json.JSONDecodeError):
        return None


def load_spectra(root: str | Path, spec_dict: dict[str, Any]) -> list[StoredSpectrum]:
    """The spectra under `root` that belong to the current spec (by key); others are ignored."""
    if "spectrum" not in spec_dict:
        return []
    wanted = {}
    for learner in spec_dict["learners"]:
        for width in widths_of(spec_dict):
            for seed in spec_dict["sweep"]["seeds"]:
                for n in spec_dict["sweep"]["n_train"]:
                    cell = Cell(learner["id"], seed, n, width)
                    wanted[spectrum_key(spec_dict, cell)] = cell
    found = []
    for path in sorted((Path(root) / SPECTRA_DIR).glob("*/*.npz")):
        stored = read_spectrum(path)
        if stored is not None and stored.key in wanted:
            found.append(stored)
    return found
