"""The work of one cell, the same under every executor: the run's shared context (data, samplers,
test set, the architecture at each width), and one learner on one cell turned into its record.
"""

from __future__ import annotations

import dataclasses
import datetime
import functools
import math
import time
import traceback
from collections.abc import Callable
from typing import Any

import numpy as np

from ..api import AcrossSeeds, ArtifactCache, CellFailure, DynamicsRequest, InputError, LearnerTask, NtkbenchError
from ..spec import Spec, pool_problem
from ._cells import Cell, architecture_at, cell_key, widths_of
from ._metrics import encode_outcomes, test_error, test_outcomes
from ._provenance import device_info, library_versions, machine_info
from ._records import RECORD_FORMAT, Record
from ._sampling import SeedSampler, balanced_test_indices, training_order


def prepare(spec: Spec) -> tuple[RunContext, dict[tuple[str, int | None], Any]]:
    """Load the data and build what every cell shares, and the learner plugins (per id and width).

    **Raises:** `InputError` when the data do not fit the spec (sizes, input shapes).
    """
    spec_dict = spec.as_dict()
    data = spec.dataset.instantiate().load()
    widths = widths_of(spec_dict)
    learners = {(choice.id, width): choice.instantiate() for choice in spec.learners for width in widths}
    held_out, holder = max((learners[choice.id, widths[0]].held_out_samples(), choice.id) for choice in spec.learners)
    validation_n = spec.dataset.options.validation_n
    problem = pool_problem(max(spec.n_train), held_out, holder, spec.dataset.name, len(data.x_pool), validation_n)
    if problem is not None:
        raise InputError(f"{spec.source}: sweep.n_train: {problem}")
    try:
        test_index = balanced_test_indices(data.y_test, spec.dataset.options.n_test, data.num_classes)
    except ValueError as error:
        raise InputError(f"{spec.source}: dataset.n_test: {error}") from None
    x_test, y_test = data.x_test[test_index], data.y_test[test_index]
    architectures = {width: spec.architecture_at(width).instantiate() for width in widths}
    problem = architectures[widths[0]].input_problem(tuple(data.x_pool.shape[1:]))
    if problem is not None:
        raise InputError(f"{spec.source}: architecture: {problem}")
    balanced = spec.dataset.options.balanced
    samplers = {
        seed: SeedSampler(data, training_order(data.y_pool, seed, balanced), max(spec.n_train), validation_n)
        for seed in spec.seeds
    }
    dynamics = None
    if spec.dynamics is not None:
        dynamics = DynamicsRequest(
            x_probe=x_test[balanced_test_indices(y_test, spec.dynamics.probe_n, data.num_classes)],
            checkpoints=spec.dynamics.checkpoints,
            every_epoch=spec.dynamics.every_epoch,
            test_error=functools.partial(test_error, labels=y_test),
        )
    context = RunContext(
        spec=spec,
        spec_dict=spec_dict,
        samplers=samplers,
        x_test=x_test,
        y_test=y_test,
        num_classes=data.num_classes,
        architectures=architectures,
        provenance={"versions": library_versions(), "device": device_info(), "machine": machine_info()},
        dynamics=dynamics,
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
    dynamics: DynamicsRequest | None = None
    """What a dynamics spec asks of its learner."""

    def across_seeds(self, seeds: list[int]) -> AcrossSeeds | None:
        """What `seeds` (computed by this process for one learner) can share; None for a single seed."""
        if len(seeds) < 2:
            return None
        samplers = {seed: self.samplers[seed] for seed in seeds}
        pool = next(iter(samplers.values())).data.x_pool
        return AcrossSeeds(pool, {seed: sampler.order[: sampler.n_max] for seed, sampler in samplers.items()})

    def compute(
        self, cell: Cell, learner: Any, cache: ArtifactCache, across_seeds: AcrossSeeds | None = None
    ) -> Record:
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
            validation=sampler.validation_subset(),
            n_train_values=tuple(self.spec.n_train),
        )
        started = time.perf_counter()
        if self.dynamics is not None:
            fit_predict = functools.partial(learner.kernel_dynamics, request=self.dynamics)
        else:
            fit_predict = learner.fit_predict
        outcome = _run_cell(fit_predict, task, self.y_test, learner.test_loss())
        return Record(
            format=RECORD_FORMAT,
            spec={"name": self.spec.name, "hash": self.spec.hash, "source": self.spec.source},
            cell={
                "learner_id": cell.learner_id,
                "n_train": cell.n_train,
                "seed": cell.seed,
                "width": cell.width,
                "key": cell_key(self.spec_dict, cell),
            },
            dataset=self.spec_dict["dataset"],
            architecture=architecture_at(self.spec_dict, cell.width),
            learner=self.spec.learner(cell.learner_id).as_dict(),
            deterministic=type(learner).deterministic,
            wall_seconds=round(time.perf_counter() - started, 3),
            created=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            **outcome,
            **self.provenance,
        )


OUT_OF_MEMORY_ADVICE = "lower the largest n_train or n_test, or the network's width or batch_size"


def _failed(reason: str) -> dict[str, Any]:
    return {"status": "failed", "failure": reason, "metrics": None, "info": {}}


def _run_cell(
    fit_predict: Callable[[LearnerTask], Any], task: LearnerTask, y_test: np.ndarray, loss: str = "squared_error"
) -> dict[str, Any]:
    """Run one learner on one cell; return the status, metrics and info fields of its record (`loss`:
    what its `test_loss` measures)."""
    try:
        result = fit_predict(task)
        predictions = np.asarray(result.predictions, dtype=np.float64)
        if not np.all(np.isfinite(predictions)):
            raise CellFailure("the learner's test predictions are not all finite")
        outcomes = test_outcomes(predictions, y_test, task.num_classes, loss)
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
        "test_loss_measures": loss,
        "info": json_safe(result.info),
    }


def json_safe(value: Any) -> Any:
    """`value` as JSON holds it: NumPy values as Python ones, non-finite floats as their text, anything
    else JSON does not know as its repr. A learner's facts never cost the cell its record."""
    if isinstance(value, dict):
        return {str(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(item) for item in value]
    if isinstance(value, np.ndarray):
        return json_safe(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return repr(value)
