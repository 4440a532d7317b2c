"""Running a spec: the cells without a record are computed, one record each, in order.

spec -> cells -> learner -> record. The dataset is loaded once, each learner plugin is
instantiated once, each (learner, seed) gets an artefact cache that serves all its n (a
pre-trained network, a kernel on the largest training set), and every finished cell is
written before the next starts: an interrupted run loses at most the cell in progress.
"""

from __future__ import annotations

import dataclasses
import datetime
import time
import traceback
from pathlib import Path
from typing import Any

import numpy as np

from ._cells import Cell, cell_key, cells_of
from ._errors import CellFailure, InputError, NtkbenchError
from ._metrics import encode_outcomes, test_outcomes
from ._plugins import ArtifactCache, LabelledData, LearnerTask
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


def run_spec(spec: Spec, out_dir: str | Path, *, progress: bool = True) -> RunSummary:
    """Compute every cell of `spec` that has no successful record in `out_dir`.

    Failed cells (a learner raised `CellFailure`, or an unexpected error) are recorded as failed
    with the reason, and computed again by the next run. Input errors stop the run.
    """
    store = RecordStore(out_dir)
    spec_dict = spec.as_dict()
    store.write_spec(spec_dict)
    cells = cells_of(spec_dict)
    stored = store.load(spec_dict).current
    todo = [cell for cell in cells if stored.get(cell, {}).get("status") != "ok"]
    summary = RunSummary(total=len(cells), already_done=len(cells) - len(todo), computed=0, failed=[])
    if not todo:
        return summary

    data = spec.dataset.instantiate().load()
    learners = {choice.id: choice.instantiate() for choice in spec.learners}
    _check_sizes(spec, data, max(learner.held_out_samples() for learner in learners.values()))
    try:
        test_index = balanced_test_indices(data.y_test, spec.dataset.options.n_test, data.num_classes)
    except ValueError as error:
        raise InputError(f"{spec.source}: dataset.n_test: {error}") from None
    x_test, y_test = data.x_test[test_index], data.y_test[test_index]
    architecture = spec.architecture.instantiate()
    problem = architecture.input_problem(tuple(data.x_pool.shape[1:]))
    if problem is not None:
        raise InputError(f"{spec.source}: architecture: {problem}")
    balanced = spec.dataset.options.balanced
    samplers = {
        seed: SeedSampler(data, training_order(data.y_pool, seed, balanced), max(spec.n_train)) for seed in spec.seeds
    }

    provenance = {"versions": library_versions(), "device": device_info(), "machine": machine_info()}
    bar = ProgressBar(len(todo)) if progress else None
    computed, failed = 0, []
    cache_owner, cache = None, ArtifactCache()
    try:
        for cell in todo:
            if cache_owner != (cell.learner_id, cell.seed):
                cache_owner, cache = (cell.learner_id, cell.seed), ArtifactCache()
            if bar:
                bar.start(cell.label())
            sampler = samplers[cell.seed]
            x_train, y_train = sampler.nested_subset(cell.n_train)
            task = LearnerTask(
                x_train=x_train,
                y_train=y_train,
                x_test=x_test,
                num_classes=data.num_classes,
                seed=cell.seed,
                n_train_max=max(spec.n_train),
                architecture=architecture,
                nested_subset=sampler.nested_subset,
                held_out_subset=sampler.held_out_subset,
                cache=cache,
            )
            started = time.perf_counter()
            outcome = _run_cell(learners[cell.learner_id], task, y_test)
            record = {
                "format": RECORD_FORMAT,
                "spec": {"name": spec.name, "hash": spec.hash, "source": spec.source},
                "cell": {
                    "learner_id": cell.learner_id,
                    "n_train": cell.n_train,
                    "seed": cell.seed,
                    "key": cell_key(spec_dict, cell),
                },
                "dataset": spec_dict["dataset"],
                "architecture": spec_dict["architecture"],
                "learner": spec.learner(cell.learner_id).as_dict(),
                "wall_seconds": round(time.perf_counter() - started, 3),
                "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                **outcome,
                **provenance,
            }
            store.write(spec_dict, cell, record)
            computed += 1
            if outcome["status"] == "failed":
                failed.append((cell, outcome["failure"]))
            if bar:
                bar.finish()
    finally:
        if bar:
            bar.close()
    return dataclasses.replace(summary, computed=computed, failed=failed)


def _run_cell(learner: Any, task: LearnerTask, y_test: np.ndarray) -> dict[str, Any]:
    """Run one learner on one cell; return the status, metrics and info fields of its record."""
    try:
        result = learner.fit_predict(task)
        predictions = np.asarray(result.predictions, dtype=np.float64)
        if not np.all(np.isfinite(predictions)):
            raise CellFailure("the learner's test predictions are not all finite")
        outcomes = test_outcomes(predictions, y_test, task.num_classes)
    except CellFailure as failure:
        return {"status": "failed", "failure": str(failure), "metrics": None, "info": {}}
    except NtkbenchError:
        raise
    except Exception as error:  # a plugin bug must not cost the other cells their results
        detail = "".join(traceback.format_exception_only(type(error), error)).strip()
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
