"""Running a spec's cells as Ray tasks, on a local Ray instance or a cluster.

One task per group of cells that share per-seed work (a learner at one width and seed: its
kernel, its pre-trained network), or per group of seeds a learner trains as one computation
(`_groups.py`), with the GPUs it asks for. Workers load the dataset from the
(possibly shared) data root once per process and return records; the driver writes them to
the record store as they arrive, so progress, resume, locks and the leaderboard behave exactly
as with the local executor. A worker that dies has its task retried by Ray; nothing partial is
ever written, because only the driver writes records. A kernel with many tiles left is spread
too (`tile_spreader`): its tiles become Ray tasks over every worker, each written to the kernel
store (atomically, under its lock) by the worker that computed it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import warnings
from pathlib import Path
from collections.abc import Callable
from typing import Any

from ..api import ArtifactCache, InputError, NtkbenchError, memory_budget
from ..spec import Spec
from ..storage import Cell, Record, TileDirectory
from ._groups import cell_groups
from ._plan import planned_seconds
from ._progress import ProgressBar
from ._record_writer import RecordWriter
from ._work import prepare

INSTALL_HINT = "pip install 'ntkbench[ray]'"
TASK_RETRIES = 3
_WORKER_CONTEXTS: dict[str, Any] = {}


def import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise InputError(f"--executor ray needs Ray, which is not installed; install it with: {INSTALL_HINT}") from None
    return ray


def compute_tiles_task(job: Any, origins: list[tuple[int, int]], kernel_store: Path) -> int:
    """On a worker: the tiles of `origins` of a kernel's `TileJob`, written to the store; how many it computed."""
    from ..numerics._kernels import compute_tiles

    return compute_tiles(job, origins, TileDirectory(kernel_store))


def tile_spreader(kernel_store: Path, num_gpus: float) -> Callable[[Any, Callable[[int], None]], None]:
    """`StoredKernel.spread` for a Ray worker: a kernel's missing tiles as Ray tasks over the
    cluster (each asking for `num_gpus`), in batches of a few tiles so that every worker gets some;
    a task whose worker dies is retried (`TASK_RETRIES`), and tiles still missing after that are
    computed by the caller. A kernel function that does not pickle is not spread."""

    def spread(job: Any, done: Callable[[int], None]) -> None:
        ray = import_ray()
        try:
            ray.cloudpickle.dumps(job.kernel_fn)
        except Exception:  # noqa: BLE001 - an unpicklable kernel (a closure over a lock, say) is computed here
            return
        task = ray.remote(max_retries=TASK_RETRIES)(compute_tiles_task).options(num_cpus=1, num_gpus=num_gpus)
        origins = list(job.names)
        workers = max(1, int(ray.cluster_resources().get("CPU", 1)))
        size = max(1, -(-len(origins) // (4 * workers)))
        shared = ray.put(job)
        batches = [origins[start : start + size] for start in range(0, len(origins), size)]
        pending = {task.remote(shared, batch, kernel_store): len(batch) for batch in batches}
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            for reference in ready:
                count = pending.pop(reference)
                try:
                    ray.get(reference)
                except ray.exceptions.RayError:  # its tiles are computed by the caller
                    continue
                done(count)

    return spread


def compute_group(
    spec: Spec, cells: list[Cell], seeds: bool = False, kernel_store: Path | None = None, num_gpus: float = 0.0
) -> list[tuple[Cell, Record]]:
    """On a worker: the records of cells that share a learner, width and seed (n ascending), or,
    with `seeds`, of the seeds of one learner, width and n, computed as one group, with kernels
    kept in the store at `kernel_store` (a folder every worker reaches) and their tiles spread over
    the cluster (`tile_spreader`)."""
    key = (spec.hash, kernel_store)
    if key not in _WORKER_CONTEXTS:  # each worker process loads the data once per spec
        from ..numerics._compilation_cache import use_compilation_cache

        use_compilation_cache()
        store = None if kernel_store is None else TileDirectory(kernel_store)
        spread = None if kernel_store is None else tile_spreader(kernel_store, num_gpus)
        _WORKER_CONTEXTS[key] = prepare(spec, store, spread)
    context, learners = _WORKER_CONTEXTS[key]
    learner = learners[cells[0].learner_id, cells[0].width]
    if seeds:
        return list(zip(cells, context.compute_seeds(cells, learner)))
    cache = ArtifactCache()
    return [(cell, context.compute(cell, learner, cache)) for cell in cells]


def run_on_ray(spec: Spec, writer: RecordWriter, todo: list[Cell], *, progress: bool,
               address: str | None, num_gpus: float, seeds_together: bool | None = None,
               kernel_store: Path | None = None) -> list[Cell]:
    """Submit every group of `todo` as a Ray task; write records as results come back. Return the
    cells another process holds.

    A group whose task still fails after `TASK_RETRIES` retries (its worker died each time) is
    reported as failed without a record, so the next run computes it. An input error raised on a
    worker stops the run, as it would locally.
    """
    ray = import_ray()
    started_here = not ray.is_initialized()
    if started_here:
        with warnings.catch_warnings():
            # Ray starts its processes with fork+exec, which is safe; JAX warns about any fork.
            warnings.filterwarnings("ignore", message="os.fork", category=RuntimeWarning)
            options = {"address": address} if address else {"num_cpus": os.cpu_count(), "include_dashboard": False}
            ray.init(**options, log_to_driver=False, logging_level=logging.WARNING)
    from ..api import local_origin

    for choice in (spec.dataset, spec.architecture, *spec.learners):
        if local_origin(choice.plugin) is not None:  # a plugin file the workers cannot import: send its code
            ray.cloudpickle.register_pickle_by_value(sys.modules[choice.plugin.__module__])
    task = ray.remote(max_retries=TASK_RETRIES)(compute_group)
    store, spec_dict = writer.store, writer.spec_dict
    groups: dict[tuple, list[Cell]] = {}  # keyed by the seed-group's cells, or by (learner, width, seed)
    for unit in cell_groups(spec, todo, seeds_together=seeds_together, budget=memory_budget()):
        if len(unit) > 1:
            groups[tuple(unit)] = unit
        else:
            groups.setdefault((unit[0].learner_id, unit[0].width, unit[0].seed), []).append(unit[0])
    bar = ProgressBar(todo, planned_seconds(spec)) if progress else None
    busy: list[Cell] = []
    pending: dict[Any, list[Cell]] = {}
    with contextlib.ExitStack() as locks:
        try:
            for key, members in groups.items():
                claimed = [cell for cell in members if locks.enter_context(store.claim(spec_dict, cell))]
                busy += [cell for cell in members if cell not in claimed]
                if claimed:
                    seeds = isinstance(key[0], Cell)
                    pending[task.options(num_gpus=num_gpus, num_cpus=1).remote(spec, claimed, seeds, kernel_store, num_gpus)] = claimed
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1)
                for reference in ready:
                    cells = pending.pop(reference)
                    try:
                        results = ray.get(reference)
                    except ray.exceptions.RayTaskError as error:
                        if isinstance(error.cause, NtkbenchError):
                            raise error.cause from None
                        raise
                    except ray.exceptions.RayError as error:  # the worker died on every try
                        reason = f"Ray task failed after {TASK_RETRIES} retries: {type(error).__name__}: {error}"
                        writer.failed += [(cell, reason.splitlines()[0]) for cell in cells]
                        continue
                    for cell, record in results:
                        if bar:
                            bar.start(cell.label())
                        writer.write(cell, record)
                        if bar:
                            bar.finish(cell)
        finally:
            for reference in pending:
                ray.cancel(reference, force=True)
            if bar:
                bar.close()
            if started_here:
                ray.shutdown()
    return busy
