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
import sys
import time
import traceback
from pathlib import Path

from ..api import NtkbenchError, RunFailure
from ..spec import Spec
from ..storage import (
    Cell,
    StoredSpectrum,
    TileDirectory,
    read_spectrum,
    spectrum_key,
    spectrum_path,
    widths_of,
    write_spectrum,
)


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


@dataclasses.dataclass(frozen=True)
class SpectraSummary:
    computed: int
    already_done: int
    failed: list[tuple[Cell, str]]


def compute_spectra(
    spec: Spec, root: str | Path, *, progress: bool = True, kernel_store: Path | None = None
) -> SpectraSummary:
    """Take every spectrum of `spec` that `root` does not hold yet (see `spectral_units`), with the
    pool kernels kept in the store at `kernel_store` (None: in memory only)."""
    from ._work import prepare

    root, spec_dict = Path(root), spec.as_dict()
    plugins = {choice.id: choice.plugin for choice in spec.learners}
    units = spectral_units(spec, plugins)
    paths = {unit: spectrum_path(root, spec_dict, unit, plugins[unit.learner_id].kernel_depends_on_n) for unit in units}
    todo = [unit for unit in units if read_spectrum(paths[unit]) is None]
    if not todo:
        return SpectraSummary(0, len(units), [])
    context, learners = prepare(spec, None if kernel_store is None else TileDirectory(kernel_store))
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
