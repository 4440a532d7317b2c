"""Running a spec: the cells without a record are computed, one record each, in order.

spec -> cells -> learner -> record. The dataset is loaded once, each learner plugin is
instantiated once, each (learner, seed) gets an artefact cache that serves all its n (a
pre-trained network, a kernel on the largest training set), the seeds of a learner share an
`AcrossSeeds` (for work that depends only on the samples), and every finished cell is
written before the next starts: an interrupted run loses at most the cell in progress.
"""

from __future__ import annotations

import dataclasses
import datetime
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ._cells import Cell, architecture_at, cell_key, cells_of, widths_of
from ._errors import CellFailure, InputError, NtkbenchError, RunFailure
from ._metrics import encode_outcomes, test_outcomes
from ._plugins import AcrossSeeds, ArtifactCache, LabelledData, LearnerTask
from ._progress import ProgressBar
from ._provenance import device_info, library_versions, machine_info
from ._records import RECORD_FORMAT, RecordStore
from ._spec import Spec
from ._subsets import balanced_test_indices, training_order


@dataclasses.dataclass(frozen=True)
class RunSummary:
    total: int
    already_done: int
    computed: int
    failed: list[tuple[Cell, str]]
    busy: list[Cell] = dataclasses.field(default_factory=list)
    """Cells another process was computing (it writes their records)."""
    set_aside: list[Path] = dataclasses.field(default_factory=list)


def _options(spec_dict: dict[str, Any], width: int | None) -> dict[str, Any]:
    return {key: value for key, value in architecture_at(spec_dict, width).items() if key != "name"}


def _check_sizes(spec: Spec, data: LabelledData, held_out: int) -> None:
    pool = len(data.x_pool)
    if max(spec.n_train) + held_out > pool:
        detail = f" plus {held_out} held-out samples" if held_out else ""
        raise InputError(
            f"{spec.source}: sweep.n_train: the largest n_train ({max(spec.n_train)}){detail} exceeds the "
            f"training pool of {spec.dataset.name} with these options ({pool} samples)"
        )


@dataclasses.dataclass(frozen=True)
class SeedSampler:
    """The training samples of one seed: nested prefixes of a fixed order, and a held-out tail."""

    data: LabelledData
    order: np.ndarray
    n_max: int

    def nested_subset(self, m: int) -> tuple[np.ndarray, np.ndarray]:
        if not 0 < m <= len(self.order):
            raise InputError(f"a learner asked for {m} training samples; the pool has {len(self.order)}")
        indices = self.order[:m]
        return self.data.x_pool[indices], self.data.y_pool[indices]

    def held_out_subset(self, m: int) -> tuple[np.ndarray, np.ndarray]:
        if not 0 < m <= len(self.order) - self.n_max:
            raise InputError(
                f"a learner asked for {m} held-out samples; the pool has {len(self.order)} and the "
                f"largest training set takes {self.n_max}"
            )
        indices = self.order[len(self.order) - m :]
        return self.data.x_pool[indices], self.data.y_pool[indices]


def run_spec(
    spec: Spec,
    out_dir: str | Path,
    *,
    progress: bool = True,
    executor: str = "local",
    ray_address: str | None = None,
    num_gpus: float = 0.0,
) -> RunSummary:
    """Compute every cell of `spec` that has no successful record in `out_dir`.

    Failed cells (a learner raised `CellFailure`, or an unexpected error) are recorded as failed
    with the reason, and computed again by the next run. Input errors stop the run. With
    `executor="ray"` the cells run as Ray tasks (see `_ray_executor`); records are written here,
    by the driver, exactly as locally.
    """
    store = RecordStore(out_dir)
    spec_dict = spec.as_dict()
    try:
        store.write_spec(spec_dict)
    except OSError as error:
        raise RunFailure(
            f"cannot write {store.root}/spec.json: {error.strerror or error}; nothing was computed. "
            "Free space (or fix the directory) and run the same command to resume."
        ) from None
    cells = cells_of(spec_dict)
    loaded = store.load(spec_dict)
    todo = [cell for cell in cells if loaded.current.get(cell, {}).get("status") != "ok"]
    summary = RunSummary(
        total=len(cells), already_done=len(cells) - len(todo), computed=0, failed=[], set_aside=loaded.set_aside
    )
    if not todo:
        return summary
    if executor == "ray":
        from ._ray_executor import run_on_ray

        return run_on_ray(spec, store, todo, summary, progress=progress, address=ray_address, num_gpus=num_gpus)

    context, learners = prepare(spec)
    bar = ProgressBar(len(todo)) if progress else None
    writer, busy = RecordWriter(store, spec_dict), []
    cache_owner, cache = None, ArtifactCache()
    seeds_todo: dict[tuple[str, int | None], list[int]] = {}
    for cell in todo:
        seeds = seeds_todo.setdefault((cell.learner_id, cell.width), [])
        if cell.seed not in seeds:
            seeds.append(cell.seed)
    shared_owner, shared = None, None
    try:
        for cell in todo:
            if bar:
                bar.start(cell.label())
            with store.claim(spec_dict, cell) as claimed:
                if not claimed:
                    busy.append(cell)
                elif (store.read(spec_dict, cell) or {}).get("status") != "ok":  # not finished meanwhile
                    if cache_owner != (cell.learner_id, cell.width, cell.seed):
                        cache_owner, cache = (cell.learner_id, cell.width, cell.seed), ArtifactCache()
                    if shared_owner != (cell.learner_id, cell.width):
                        shared_owner = (cell.learner_id, cell.width)
                        shared = context.across_seeds(seeds_todo[shared_owner])
                    writer.write(cell, context.compute(cell, learners[cell.learner_id, cell.width], cache, shared))
            if bar:
                bar.finish()
    finally:
        if bar:
            bar.close()
    return dataclasses.replace(summary, computed=writer.computed, failed=writer.failed, busy=busy)


def prepare(spec: Spec) -> tuple[RunContext, dict[tuple[str, int | None], Any]]:
    """Load the data and build what every cell shares, and the learner plugins (per id and width).

    **Raises:** `InputError` when the data do not fit the spec (sizes, input shapes).
    """
    spec_dict = spec.as_dict()
    data = spec.dataset.instantiate().load()
    widths = widths_of(spec_dict)
    learners = {(choice.id, width): choice.instantiate() for choice in spec.learners for width in widths}
    _check_sizes(spec, data, max(learner.held_out_samples() for learner in learners.values()))
    try:
        test_index = balanced_test_indices(data.y_test, spec.dataset.options.n_test, data.num_classes)
    except ValueError as error:
        raise InputError(f"{spec.source}: dataset.n_test: {error}") from None
    x_test, y_test = data.x_test[test_index], data.y_test[test_index]
    architectures = {width: spec.architecture.plugin(spec.architecture.plugin.Options(**_options(spec_dict, width)))
                     for width in widths}
    problem = architectures[widths[0]].input_problem(tuple(data.x_pool.shape[1:]))
    if problem is not None:
        raise InputError(f"{spec.source}: architecture: {problem}")
    balanced = spec.dataset.options.balanced
    samplers = {
        seed: SeedSampler(data, training_order(data.y_pool, seed, balanced), max(spec.n_train)) for seed in spec.seeds
    }
    x_probe = None
    if spec.dynamics is not None:
        x_probe = x_test[balanced_test_indices(y_test, spec.dynamics.probe_n, data.num_classes)]
    context = RunContext(
        spec=spec,
        spec_dict=spec_dict,
        samplers=samplers,
        x_test=x_test,
        y_test=y_test,
        num_classes=data.num_classes,
        architectures=architectures,
        provenance={"versions": library_versions(), "device": device_info(), "machine": machine_info()},
        x_probe=x_probe,
    )
    return context, learners


@dataclasses.dataclass(frozen=True)
class RunContext:
    """What every cell of a run shares: the spec, the samplers, the test set, the architecture."""

    spec: Spec
    spec_dict: dict[str, Any]
    samplers: dict[int, SeedSampler]
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int
    architectures: dict[int | None, Any]
    """The architecture at each width of the sweep (`None`: the spec's own)."""
    provenance: dict[str, Any]
    x_probe: np.ndarray | None = None
    """The fixed probe inputs of a dynamics spec."""

    def across_seeds(self, seeds: list[int]) -> AcrossSeeds | None:
        """What `seeds` (computed by this process for one learner) can share; None for a single seed."""
        if len(seeds) < 2:
            return None
        samplers = {seed: self.samplers[seed] for seed in seeds}
        pool = next(iter(samplers.values())).data.x_pool
        return AcrossSeeds(pool, {seed: sampler.order[: sampler.n_max] for seed, sampler in samplers.items()})

    def compute(
        self, cell: Cell, learner: Any, cache: ArtifactCache, across_seeds: AcrossSeeds | None = None
    ) -> dict[str, Any]:
        """Run the learner on the cell and return its record (successful or failed)."""
        sampler = self.samplers[cell.seed]
        x_train, y_train = sampler.nested_subset(cell.n_train)
        task = LearnerTask(
            x_train=x_train,
            y_train=y_train,
            x_test=self.x_test,
            num_classes=self.num_classes,
            seed=cell.seed,
            n_train_max=max(self.spec.n_train),
            architecture=self.architectures[cell.width],
            nested_subset=sampler.nested_subset,
            held_out_subset=sampler.held_out_subset,
            cache=cache,
            across_seeds=across_seeds,
        )
        started = time.perf_counter()
        if self.spec.dynamics is not None:
            from ._dynamics import trajectory

            def fit_predict(task: LearnerTask) -> Any:
                return trajectory(task, learner.options, self.spec.dynamics, self.x_probe, self.y_test)
        else:
            fit_predict = learner.fit_predict
        outcome = _run_cell(fit_predict, task, self.y_test)
        return {
            "format": RECORD_FORMAT,
            "spec": {"name": self.spec.name, "hash": self.spec.hash, "source": self.spec.source},
            "cell": {
                "learner_id": cell.learner_id,
                "n_train": cell.n_train,
                "seed": cell.seed,
                "width": cell.width,
                "key": cell_key(self.spec_dict, cell),
            },
            "dataset": self.spec_dict["dataset"],
            "architecture": architecture_at(self.spec_dict, cell.width),
            "learner": self.spec.learner(cell.learner_id).as_dict(),
            "deterministic": type(learner).deterministic,
            "wall_seconds": round(time.perf_counter() - started, 3),
            "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            **outcome,
            **self.provenance,
        }


@dataclasses.dataclass
class RecordWriter:
    """Writes a run's records (whichever executor computed them), counting them and its failed cells."""

    store: RecordStore
    spec_dict: dict[str, Any]
    computed: int = 0
    failed: list[tuple[Cell, str]] = dataclasses.field(default_factory=list)

    def write(self, cell: Cell, record: dict[str, Any]) -> None:
        """**Raises:** `RunFailure` when the record cannot be written (a full disk); earlier ones are kept."""
        try:
            self.store.write(self.spec_dict, cell, record)
        except OSError as error:
            raise RunFailure(
                f"cannot write the record of {cell.label()} under {self.store.records_dir}: {error.strerror or error}. "
                f"The partial file was removed; the {self.computed} record(s) this run wrote before are kept. "
                "Free space (or fix the directory) and run the same command to resume."
            ) from None
        self.computed += 1
        if record["status"] == "failed":
            self.failed.append((cell, record["failure"]))


OUT_OF_MEMORY_ADVICE = "lower the largest n_train or n_test, or the network's width or batch_size"


def _failed(reason: str) -> dict[str, Any]:
    return {"status": "failed", "failure": reason, "metrics": None, "info": {}}


def _run_cell(fit_predict: Callable[[LearnerTask], Any], task: LearnerTask, y_test: np.ndarray) -> dict[str, Any]:
    """Run one learner on one cell; return the status, metrics and info fields of its record."""
    try:
        result = fit_predict(task)
        predictions = np.asarray(result.predictions, dtype=np.float64)
        if not np.all(np.isfinite(predictions)):
            raise CellFailure("the learner's test predictions are not all finite")
        outcomes = test_outcomes(predictions, y_test, task.num_classes)
    except CellFailure as failure:
        return _failed(str(failure))
    except NtkbenchError:
        raise
    except MemoryError:
        return _failed(f"out of memory: {OUT_OF_MEMORY_ADVICE}")
    except Exception as error:  # a plugin bug must not cost the other cells their results
        detail = "".join(traceback.format_exception_only(type(error), error)).strip()
        if "RESOURCE_EXHAUSTED" in detail or "Out of memory" in detail:  # JAX/XLA allocation failure
            return _failed(f"out of memory ({detail.splitlines()[0][:300]}): {OUT_OF_MEMORY_ADVICE}")
        return {
            "status": "failed",
            "failure": f"unexpected error: {detail}",
            "traceback": traceback.format_exc(),
            "metrics": None,
            "info": {},
        }
    return {
        "status": "ok",
        "failure": None,
        "metrics": {name: float(values.mean()) for name, values in outcomes.items()},
        "test_outcomes": encode_outcomes(outcomes),
        "info": result.info,
    }
