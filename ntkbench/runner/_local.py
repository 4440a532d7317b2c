"""The local executor: a run's cells one after the other in this process.

Each learner plugin is instantiated once per width, each (learner, width, seed) gets an artefact
cache that serves all its n (a pre-trained network, a kernel on the largest training set), the
seeds of a learner share an `AcrossSeeds` (for work that depends only on the samples), and
every finished cell is written before the next starts.
"""

from __future__ import annotations

from ..api import ArtifactCache
from ..spec import Spec
from ._cells import Cell
from ._progress import ProgressBar
from ._records import RecordWriter
from ._work import BrokenLearner, prepare


def run_locally(spec: Spec, writer: RecordWriter, todo: list[Cell], *, progress: bool) -> list[Cell]:
    """Compute and write every cell of `todo` (in order); return those another process holds."""
    store, spec_dict = writer.store, writer.spec_dict
    context, learners = prepare(spec)
    bar = ProgressBar(len(todo)) if progress else None
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
        for cell in todo:
            if cell.learner_id in writer.stopped:
                continue
            if bar:
                bar.start(cell.label())
            with store.claim(spec_dict, cell) as claimed:
                if not claimed:
                    busy.append(cell)
                elif not writer.done(cell):  # not finished by another process meanwhile
                    if cache_owner != (cell.learner_id, cell.width, cell.seed):
                        cache_owner, cache = (cell.learner_id, cell.width, cell.seed), ArtifactCache()
                    if shared_owner != (cell.learner_id, cell.width):
                        shared_owner = (cell.learner_id, cell.width)
                        shared = context.across_seeds(seeds_todo[shared_owner])
                    first = cell.learner_id not in started
                    started.add(cell.learner_id)
                    learner = learners[cell.learner_id, cell.width]
                    try:
                        record = context.compute(cell, learner, cache, shared, first_of_learner=first)
                    except BrokenLearner as broken:  # its other cells would break the same way
                        record = broken.record
                        writer.stop(cell.learner_id, f"{record.failure}; its other cells were not computed")
                    writer.write(cell, record)
            if bar:
                bar.finish()
    finally:
        if bar:
            bar.close()
    return busy
