"""A spec's spectral work: the kernel of every learner that regresses with one, evaluated on the
seed's spectrum pool and eigendecomposed in float64, stored beside the records under
`<out>/spectra/` so that re-rendering computes nothing.

There is one unit of work per (learner, width, seed), taken at the seed's largest cell, or one per
cell for a kernel learned on the cell's own data (`Learner.kernel_depends_on_n`). A unit's file
(`.npz`, compressed, read without pickles) holds the eigenvalues, the one-hot targets' power on each
eigenvector and what identifies it. Its key hashes the cell key of the cell it was taken at and the
spectrum section, so a change of either leaves the old file unused and computes a new one; the
records are not touched, and a failed unit costs no record (it is reported, and tried again by the
next run).
"""

from __future__ import annotations

import dataclasses
import io
import json
import sys
import time
import traceback
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from ..api import NtkbenchError, RunFailure
from ..spec import Spec, content_hash
from ._cells import Cell, cell_key, widths_of
from ._records import write_atomically

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


def spectral_units(spec: Spec, learners: dict[str, type]) -> list[Cell]:
    """The cells the spec's spectra are taken at: per learner that regresses with a kernel (its
    class in `learners`, by id; only those `spectrum.learners` names, when it names some), the
    largest cell of each width and seed, or every cell when its kernel depends on n. Empty without
    a `spectrum` section."""
    if spec.spectrum is None:
        return []
    spec_dict = spec.as_dict()
    chosen = spec.spectrum.learners
    units = []
    for choice in spec.learners:
        plugin = learners[choice.id]
        if not plugin.regresses_with_kernel or (chosen is not None and choice.id not in chosen):
            continue
        sizes = list(spec.n_train) if plugin.kernel_depends_on_n else [max(spec.n_train)]
        units += [Cell(choice.id, seed, n, width) for width in widths_of(spec_dict) for seed in spec.seeds for n in sizes]
    return units


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


@dataclasses.dataclass(frozen=True)
class SpectraSummary:
    computed: int
    already_done: int
    failed: list[tuple[Cell, str]]


def compute_spectra(spec: Spec, root: str | Path, *, progress: bool = True) -> SpectraSummary:
    """Take every spectrum of `spec` that `root` does not hold yet (see `spectral_units`)."""
    from ._work import prepare

    root, spec_dict = Path(root), spec.as_dict()
    plugins = {choice.id: choice.plugin for choice in spec.learners}
    units = spectral_units(spec, plugins)
    paths = {unit: spectrum_path(root, spec_dict, unit, plugins[unit.learner_id].kernel_depends_on_n) for unit in units}
    todo = [unit for unit in units if read_spectrum(paths[unit]) is None]
    if not todo:
        return SpectraSummary(0, len(units), [])
    context, learners = prepare(spec)
    failed = []
    for index, unit in enumerate(todo):
        if progress:
            print(f"spectrum {index + 1}/{len(todo)}: {unit.label()} (pool {spec.spectrum.pool})", file=sys.stderr, flush=True)
        started = time.perf_counter()
        try:
            spectrum = context.spectrum(unit, learners[unit.learner_id, unit.width])
        except NtkbenchError:
            raise
        except Exception as error:  # a failed spectrum costs no record: report it, try again next run
            failed.append((unit, "".join(traceback.format_exception_only(type(error), error)).strip()))
            continue
        stored = StoredSpectrum(
            unit.learner_id, unit.seed, unit.width, unit.n_train if plugins[unit.learner_id].kernel_depends_on_n else None,
            spec.spectrum.pool, spectrum.eigenvalues, spectrum.target_power, round(time.perf_counter() - started, 3),
            spectrum_key(spec_dict, unit),
        )
        try:
            write_spectrum(paths[unit], stored)
        except OSError as error:
            raise RunFailure(
                f"cannot write {paths[unit]}: {error.strerror or error}. The records and the spectra written before are "
                "kept; free space (or fix the directory) and run the same command to resume."
            ) from None
    return SpectraSummary(len(todo) - len(failed), len(units) - len(todo), failed)
