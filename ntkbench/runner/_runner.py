"""Running a spec: every cell without a successful record is computed, by the chosen executor.

spec -> cells -> learner -> record. The spec is written beside its records first; the records
already there decide which cells remain; an executor computes those (`_local.py` in this
process, `_ray.py` as Ray tasks), and a `RecordWriter` stores each record as it arrives: an
interrupted run loses at most the cells in progress. A spec with a `spectrum` section then takes
the spectra it lacks, in this process (`_spectra.py`).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..api import RunFailure
from ..spec import Spec
from ..storage import (
    KERNEL_STORE_DIR,
    Cell,
    Record,
    RecordStore,
    cells_of,
    recorded_code,
    remove_stale_temporaries,
    run_facts,
    same_code,
    spec_code,
)
from ._record_writer import RecordWriter
from ._spectrum_work import SpectraSummary, compute_spectra


@dataclasses.dataclass(frozen=True)
class RunSummary:
    total: int
    already_done: int
    computed: int
    failed: list[tuple[Cell, str]]
    busy: list[Cell] = dataclasses.field(default_factory=list)
    """Cells another process computed and recorded while this run was going (found recorded, or
    waited for)."""
    stale: int = 0
    """Records of earlier versions of the spec in the directory: kept, and used by no fit."""
    set_aside: list[Path] = dataclasses.field(default_factory=list)
    changed: dict[Cell, str] = dataclasses.field(default_factory=dict)
    """Cells whose successful record came from other code than this run's: per cell, that code (or
    "unknown" for a record written before code versions were kept). Kept, unless the run was asked
    to recompute them (then they are among `computed`)."""
    rerun_changed: bool = False
    stopped: dict[str, str] = dataclasses.field(default_factory=dict)
    """Learners whose first cell broke the learner contract (wrong shape, non-finite predictions),
    with the reason; their other cells were not computed."""
    spectra: SpectraSummary | None = None
    """The spectra of a spec with a `spectrum` section: taken, already stored, failed."""
    kernel_tiles: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    """Per kernel identity (in the run's kernel store), what it is (`kernel`) and how many of its
    tiles this run's cells read from the store (`read`) and computed (`computed`)."""
    kernel_store: Path | None = None
    """The kernel store the run used."""

    def kernel_tiles_text(self) -> str | None:
        """What `ntkbench run` says of the stored kernels' tiles, per kernel and in total (None: no
        cell of this run evaluated a stored kernel)."""
        if not self.kernel_tiles:
            return None
        read = sum(entry["read"] for entry in self.kernel_tiles.values())
        computed = sum(entry["computed"] for entry in self.kernel_tiles.values())
        lines = [f"kernel tiles: {read} read from the store, {computed} computed ({self.kernel_store})"]
        lines += [f"  {entry['kernel']} {identity}: {entry['read']} read, {entry['computed']} computed"
                  for identity, entry in sorted(self.kernel_tiles.items())]
        return "\n".join(lines)


def run_spec(
    spec: Spec,
    out_dir: str | Path,
    *,
    progress: bool = True,
    executor: str = "local",
    ray_address: str | None = None,
    num_gpus: float = 0.0,
    rerun_changed: bool = False,
    seeds_together: bool | None = None,
    kernel_store: str | Path | None = None,
    on_record: Callable[[Cell, Record], None] | None = None,
) -> RunSummary:
    """Compute every cell of `spec` that has no successful record in `out_dir`, a directory that
    holds the results of this spec only (`InputError` for another's).

    Failed cells (a learner raised `CellFailure`, or an unexpected error) are recorded as failed
    with the reason, and computed again by the next run. Input errors stop the run. A cell that
    another process is computing is waited for; if that process ends without its record, this run
    computes it, so every cell has a record (successful or failed) when this returns.

    Every record carries the code that computed it (`Record.provenance`). Successful records from
    other code (another source of ntkbench's computing parts or of the cell's plugins) are reported
    in `RunSummary.changed` and kept, or computed again with `rerun_changed`. With
    `executor="ray"` the cells run as Ray tasks (see `_ray.py`); records are written here, by the
    driver, exactly as locally. `seeds_together`: train the seeds of a learner that can as one
    computation (None: on an accelerator, not on a CPU; see `_groups.py`); the records are the
    same either way, up to floating-point rounding.

    Kernels are kept tile by tile in `kernel_store` (default `<out_dir>/kernels`), so that a run
    killed inside a kernel resumes from its last tile, and runs and specs that point at one store
    compute each tile once (`ntkbench.storage.TileDirectory`). Compiled programs are kept in
    ntkbench's cache (`use_compilation_cache`), so the next run does not compile them again.
    `on_record(cell, record)` hears of every record once it is written (a `RunLog`'s trackers).
    """
    from ..numerics._compilation_cache import use_compilation_cache

    use_compilation_cache()
    store = RecordStore(out_dir)
    kernels = Path(kernel_store) if kernel_store is not None else store.root / KERNEL_STORE_DIR
    spec_dict = spec.as_dict()
    try:
        store.claim_for(spec_dict, spec.source)
    except OSError as error:
        raise RunFailure(
            f"cannot write {store.root}/spec.json: {error.strerror or error}; nothing was computed. "
            "Free space (or fix the directory) and run the same command to resume."
        ) from None
    remove_stale_temporaries(store.root, time.time())
    cells = cells_of(spec_dict)
    loaded = store.load(spec_dict)
    code = spec_code(spec)
    facts = run_facts()
    changed = {
        cell: recorded_code(record.provenance.get("code"), code[cell.learner_id])
        for cell, record in loaded.current.items()
        if record.ok and not same_code(record.provenance.get("code"), code[cell.learner_id])
    }
    todo = [
        cell for cell in cells
        if cell not in loaded.current or not loaded.current[cell].ok or (rerun_changed and cell in changed)
    ]
    summary = RunSummary(
        total=len(cells), already_done=len(cells) - len(todo), computed=0, failed=[], set_aside=loaded.set_aside,
        stale=loaded.stale,
        changed=changed, rerun_changed=rerun_changed, kernel_store=kernels,
    )
    if not todo:
        return _with_spectra(summary, spec, store.root, progress, kernels)
    writer = RecordWriter(
        store, spec_dict, {learner: {"code": versions, **facts} for learner, versions in code.items()}, rerun_changed,
        on_record=on_record,
    )
    if executor == "ray":
        from ._ray import run_on_ray

        def compute(cells: list[Cell]) -> list[Cell]:
            return run_on_ray(
                spec, writer, cells, progress=progress, address=ray_address, num_gpus=num_gpus,
                seeds_together=seeds_together, kernel_store=kernels.resolve(),
            )
    else:
        from ._local import run_locally

        def compute(cells: list[Cell]) -> list[Cell]:
            return run_locally(spec, writer, cells, progress=progress, seeds_together=seeds_together, kernel_store=kernels)

    busy, done_elsewhere = compute(todo), []
    while busy:  # cells another process held: wait for it, and compute those it left without a record
        orphans = []
        for cell in busy:
            with store.claim(spec_dict, cell, wait=True):
                (orphans if store.read(spec_dict, cell) is None else done_elsewhere).append(cell)
        busy = compute(orphans) if orphans else []
    summary = dataclasses.replace(
        summary, computed=writer.computed, failed=writer.failed, busy=writer.done_elsewhere + done_elsewhere,
        stopped=writer.stopped, kernel_tiles=writer.kernel_tiles,
    )
    return _with_spectra(summary, spec, store.root, progress, kernels)


def _with_spectra(summary: RunSummary, spec: Spec, root: Path, progress: bool, kernels: Path) -> RunSummary:
    if spec.spectrum is None:
        return summary
    return dataclasses.replace(summary, spectra=compute_spectra(spec, root, progress=progress, kernel_store=kernels))
