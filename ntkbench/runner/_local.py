"""The local executor: a run's cells one after the other in this process.

Each learner plugin is instantiated once per width, each (learner, width, seed) gets an artefact
cache that serves all its n (a pre-trained network, a kernel on the largest training set), the
seeds of a learner share an `AcrossSeeds` (for work that depends only on the samples), a
learner that trains seeds together gets them as groups (`_groups.py`), and every finished cell
is written before the next starts (a group's cells as soon as the group is done).
"""

from __future__ import annotations

import contextlib
import dataclasses
from pathlib import Path

from ..api import ArtifactCache, memory_budget
from ..spec import Spec
from ..storage import Cell, TileDirectory
from ._groups import cell_groups
from ._plan import planned_seconds
from ._progress import ProgressBar
from ._record_writer import RecordWriter
from ._work import BrokenLearner, prepare


def run_locally(
    spec: Spec, writer: RecordWriter, todo: list[Cell], *, progress: bool, seeds_together: bool | None = None,
    kernel_store: Path | None = None,
) -> list[Cell]:
    """Compute and write every cell of `todo` (in order, seeds grouped as `cell_groups` says), with
    kernels kept in the store at `kernel_store` (None: in memory only); return the cells another
    process holds."""
    store, spec_dict = writer.store, writer.spec_dict
    context, learners = prepare(spec, None if kernel_store is None else TileDirectory(kernel_store))
    units = cell_groups(spec, todo, seeds_together=seeds_together, budget=memory_budget())
    bar = ProgressBar(todo, planned_seconds(spec)) if progress else None
    if bar:
        context = dataclasses.replace(context, on_tiles=bar.tiles, on_solve=bar.solve)
    busy: list[Cell] = []
    cache_owner, cache = None, ArtifactCache()
    seeds_todo: dict[tuple[str, int | None], list[int]] = {}
    for cell in todo:
        seeds = seeds_todo.setdefault((cell.learner_id, cell.width), [])
        if cell.seed not in seeds:
            seeds.append(cell.seed)
    shared_owner, shared = None, None
    started: set[str] = set()
    try:
        for unit in units:
            learner_id, width = unit[0].learner_id, unit[0].width
            if learner_id in writer.stopped:
                continue
            if bar:
                bar.start(unit[0].label() if len(unit) == 1 else f"{unit[0].label()} (and {len(unit) - 1} more seeds)")
            with contextlib.ExitStack() as claims:
                claimed = [cell for cell in unit if claims.enter_context(store.claim(spec_dict, cell))]
                busy += [cell for cell in unit if cell not in claimed]
                cells = [cell for cell in claimed if not writer.done(cell)]  # not finished by another process meanwhile
                if cells:
                    if shared_owner != (learner_id, width):
                        shared_owner = (learner_id, width)
                        shared = context.across_seeds(seeds_todo[shared_owner])
                    first = learner_id not in started
                    started.add(learner_id)
                    learner = learners[learner_id, width]
                    try:
                        if len(unit) > 1:
                            records = context.compute_seeds(cells, learner, shared, first_of_learner=first)
                        else:
                            if cache_owner != (learner_id, width, cells[0].seed):
                                cache_owner, cache = (learner_id, width, cells[0].seed), ArtifactCache()
                            records = [context.compute(cells[0], learner, cache, shared, first_of_learner=first)]
                    except BrokenLearner as broken:  # its other cells would break the same way
                        records = [broken.record]
                        writer.stop(learner_id, f"{broken.record.failure}; its other cells were not computed")
                    for cell, record in zip(cells, records):
                        writer.write(cell, record)
            if bar:
                for cell in unit:
                    bar.finish(cell)
    finally:
        if bar:
            bar.close()
    return busy
