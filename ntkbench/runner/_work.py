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
from pathlib import Path
from typing import Any

import numpy as np

from ..api import (
    AcrossSeeds,
    ArtifactCache,
    CellFailure,
    DynamicsRequest,
    InputError,
    KernelStore,
    LearnerResult,
    LearnerTask,
    NtkbenchError,
    RunFailure,
    TileTally,
)
from ..spec import Spec, pool_problem
from ..storage import RECORD_FORMAT, Cell, Record, architecture_at, cell_key, device_info, encode_outcomes, library_versions, machine_info, widths_of
from ._checks import dataset_problems, plugin_file, plugin_origin, prediction_problem
from ._metrics import test_error, test_outcomes
from ._sampling import SeedSampler, balanced_test_indices, training_order


def prepare(
    spec: Spec, kernel_store: KernelStore | None = None, spread_tiles: Callable[[Any, Callable[[int], None]], None] | None = None
) -> tuple[RunContext, dict[tuple[str, int | None], Any]]:
    """Load the data and build what every cell shares, and the learner plugins (per id and width);
    the learners keep their kernels in `kernel_store`, when given, and spread their tiles with
    `spread_tiles` (`StoredKernel.spread`).

    **Raises:** `InputError` when the data do not fit the spec (sizes, input shapes).
    """
    spec_dict = spec.as_dict()
    dataset = spec.dataset.instantiate()
    try:
        data = dataset.load()
    except NtkbenchError:
        raise
    except Exception as error:  # a bug in the dataset plugin: name it, and where it raised
        detail = "".join(traceback.format_exception_only(type(error), error)).strip()
        raise RunFailure(
            f"{spec.source}: dataset {spec.dataset.name!r} ({plugin_origin(spec.dataset.plugin)}) failed to load: "
            f"{detail} (raised at {_raised_at(error, plugin_file(spec.dataset.plugin))}). Nothing was computed."
        ) from error
    problems = dataset_problems(dataset, data)
    if problems:
        raise InputError(
            f"{spec.source}: dataset {spec.dataset.name!r} ({plugin_origin(spec.dataset.plugin)}) returned unusable data: "
            + "; ".join(problems) + ". Nothing was computed: fix the dataset plugin."
        )
    widths = widths_of(spec_dict)
    learners = {(choice.id, width): choice.instantiate() for choice in spec.learners for width in widths}
    held_out, holder = max((learners[choice.id, widths[0]].held_out_samples(), choice.id) for choice in spec.learners)
    validation_n = spec.dataset.options.validation_n
    spectrum_pool = spec.spectrum.pool if spec.spectrum is not None else 0
    problem = pool_problem(
        max(spec.n_train), held_out, holder, spec.dataset.name, len(data.x_pool), validation_n, spectrum_pool
    )
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
        kernel_store=kernel_store,
        spread_tiles=spread_tiles,
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
    kernel_store: KernelStore | None = None
    """Where the learners keep their kernels, tile by tile (None: in memory only)."""
    on_tiles: Callable[[int, int], None] | None = None
    """Told (tiles done, tiles in all) while a stored kernel is evaluated."""
    spread_tiles: Callable[[Any, Callable[[int], None]], None] | None = None
    """Spreads a stored kernel's tiles over other processes (a Ray worker's: over the cluster)."""
    on_solve: Callable[[int, float, float], None] | None = None
    """Told (iteration, relative residual, tolerance) while an iterative solver runs."""

    def across_seeds(self, seeds: list[int]) -> AcrossSeeds | None:
        """What `seeds` (computed by this process for one learner) can share; None for a single seed."""
        if len(seeds) < 2:
            return None
        samplers = {seed: self.samplers[seed] for seed in seeds}
        pool = next(iter(samplers.values())).data.x_pool
        return AcrossSeeds(pool, {seed: sampler.order[: sampler.n_max] for seed, sampler in samplers.items()})

    def _task(self, cell: Cell, cache: ArtifactCache, across_seeds: AcrossSeeds | None, tally: TileTally | None = None) -> LearnerTask:
        sampler = self.samplers[cell.seed]
        x_train, y_train = sampler.nested_subset(cell.n_train)
        return LearnerTask(
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
            kernel_store=self.kernel_store,
            on_tiles=self.on_tiles,
            spread_tiles=self.spread_tiles,
            tile_tally=tally,
            on_solve=self.on_solve,
        )

    def compute(
        self, cell: Cell, learner: Any, cache: ArtifactCache, across_seeds: AcrossSeeds | None = None,
        *, first_of_learner: bool = False,
    ) -> Record:
        """Run the learner on the cell and return its record (successful or failed).

        **Raises:** `BrokenLearner` (carrying the failed record) when `first_of_learner` and the
        learner broke its contract: predictions of the wrong shape, or not all finite.
        """
        tally = TileTally()
        task = self._task(cell, cache, across_seeds, tally)
        started = time.perf_counter()
        if self.dynamics is not None:
            fit_predict = functools.partial(learner.kernel_dynamics, request=self.dynamics)
        else:
            fit_predict = learner.fit_predict
        outcome = _run_cell(
            fit_predict, task, self.y_test, learner.test_loss(), plugin_origin(type(learner)), plugin_file(type(learner))
        )
        outcome["info"].update(tally.facts())
        return self._record(cell, learner, outcome, time.perf_counter() - started, first_of_learner)

    def spectrum(self, cell: Cell, learner: Any) -> Any:
        """The spectrum (`numerics.Spectrum`) of the kernel the learner regresses with at `cell`, on the
        seed's spectrum pool: evaluated tile by tile, eigendecomposed in float64, with the pool's
        one-hot labels projected on its eigenvectors."""
        from ..numerics._kernel_ridge import one_hot
        from ..numerics._kernels import evaluate_tiled, tile_edge, tile_size
        from ..numerics._spectrum import pool_spectrum

        task = self._task(cell, ArtifactCache(), None)
        kernel = learner.regression_kernel(task)
        sampler = self.samplers[cell.seed]
        indices = sampler.spectrum_pool_indices(self.spec.spectrum.pool)
        x, labels = sampler.data.x_pool[indices], sampler.data.y_pool[indices]
        edge = tile_edge(kernel.function, x.shape[1:], key=kernel.key, at_most=tile_size(len(x)))
        matrix = evaluate_tiled(kernel.function, x, max_tile=edge, stored=task.stored_kernel(kernel.description))
        return pool_spectrum(matrix, one_hot(labels, self.num_classes))

    def compute_seeds(
        self, cells: list[Cell], learner: Any, across_seeds: AcrossSeeds | None = None, *, first_of_learner: bool = False
    ) -> list[Record]:
        """The records of cells that differ only in their seed, computed by the learner as one
        computation (`Learner.fit_predict_seeds`); each cell's wall time is its share of the group's.

        **Raises:** `BrokenLearner` as `compute` does, for the group's first cell.
        """
        tallies = [TileTally() for _ in cells]
        tasks = [self._task(cell, ArtifactCache(), across_seeds, tally) for cell, tally in zip(cells, tallies)]
        started = time.perf_counter()
        try:
            results: list[Any] = list(learner.fit_predict_seeds(tasks))
            if len(results) != len(tasks):
                raise RuntimeError(f"fit_predict_seeds returned {len(results)} results for {len(tasks)} tasks")
        except NtkbenchError:
            raise
        except Exception as error:  # the group's error is each of its cells' (a plugin bug, out of memory)
            results = [error] * len(tasks)
        share = (time.perf_counter() - started) / len(cells)
        records = []
        for index, (cell, task, result, tally) in enumerate(zip(cells, tasks, results, tallies)):
            outcome = _run_cell(
                functools.partial(_given, result), task, self.y_test, learner.test_loss(), plugin_origin(type(learner)),
                plugin_file(type(learner)),
            )
            outcome["info"].update(tally.facts())
            records.append(self._record(cell, learner, outcome, share, first_of_learner and index == 0))
        return records

    def _record(self, cell: Cell, learner: Any, outcome: dict[str, Any], seconds: float, first_of_learner: bool) -> Record:
        broken = outcome.pop("broken", False)
        record = Record(
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
            wall_seconds=round(seconds, 3),
            created=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            **outcome,
            **self.provenance,
        )
        if broken and first_of_learner:
            raise BrokenLearner(record)
        return record


def _given(result: Any, task: LearnerTask) -> Any:
    """A result computed already, as `_run_cell` takes it from a learner: an error is raised."""
    if isinstance(result, BaseException):
        raise result
    return result


class BrokenLearner(Exception):
    """A learner's first cell of a run broke the learner contract: its other cells would too."""

    def __init__(self, record: Record):
        super().__init__(record.failure)
        self.record = record


OUT_OF_MEMORY_ADVICE = "lower the largest n_train or n_test, or the network's width or batch_size"


def _failed(reason: str) -> dict[str, Any]:
    return {"status": "failed", "failure": reason, "metrics": None, "info": {}}


def _run_cell(
    fit_predict: Callable[[LearnerTask], Any],
    task: LearnerTask,
    y_test: np.ndarray,
    loss: str = "squared_error",
    origin: str = "the learner",
    plugin_file: str | None = None,
) -> dict[str, Any]:
    """Run one learner on one cell; return the status, metrics and info fields of its record (`loss`:
    what its `test_loss` measures; `origin`: the plugin, named in failures that are its fault, and
    `plugin_file` its source, where an unexpected error is located). A result that breaks the
    learner contract is failed with `broken` set."""
    try:
        result = fit_predict(task)
        if not isinstance(result, LearnerResult):
            return {**_failed(f"the learner returned {type(result).__name__}, not ntkbench.LearnerResult ({origin})"), "broken": True}
        problem = prediction_problem(result.predictions, len(y_test), task.num_classes)
        if problem is not None:
            return {**_failed(f"{problem} ({origin})"), "broken": True}
        predictions = np.asarray(result.predictions, dtype=np.float64)
        if not np.all(np.isfinite(predictions)):
            return {**_failed(f"the learner's test predictions are not all finite ({origin})"), "broken": True}
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
            "failure": f"unexpected error: {detail} (raised at {_raised_at(error, plugin_file)})",
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


def _raised_at(error: BaseException, plugin_file: str | None) -> str:
    """`file:line` of the innermost frame of the traceback in the plugin's own file, else the
    innermost frame."""
    frames = traceback.extract_tb(error.__traceback__)
    if not frames:
        return "an unknown place"
    own = [frame for frame in frames if plugin_file and Path(frame.filename).resolve() == Path(plugin_file).resolve()]
    chosen = (own or frames)[-1]
    return f"{chosen.filename}:{chosen.lineno}"


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
