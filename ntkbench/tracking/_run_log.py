"""A run's log to its trackers: what is sent (the spec; per cell its metrics at its n and its
trainings' curves; the fits, Δα, intervals, verdicts and claims; the leaderboard's files) and how
(each tracker in a thread of its own, so that one that fails warns once and logs nothing more, and
one that hangs is left behind after `FINISH_SECONDS`: the run never waits on a tracker)."""

from __future__ import annotations

import datetime
import math
import queue
import threading
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..analysis import SpecSummary, load_results, spec_claims, stored_curves, summarize
from ..api import Axis, Tracker
from ..storage import Cell, Record
from ._registry import load_trackers

FINISH_SECONDS = 120.0
"""How long the end of a run waits for its trackers to log what is left and finish."""


class TrackerWarning(UserWarning):
    """A tracker failed or did not finish in time; the run and its records are unaffected."""


class _Worker:
    """One tracker's calls, made in order in a thread of its own until one raises."""

    def __init__(self, name: str, tracker: Tracker):
        self.name, self.tracker = name, tracker
        self.calls: queue.Queue = queue.Queue()
        self.failed: BaseException | None = None
        self.thread = threading.Thread(target=self._work, name=f"ntkbench tracker {name}", daemon=True)
        self.thread.start()

    def submit(self, method: str, *args: Any, **kwargs: Any) -> None:
        if self.failed is None:
            self.calls.put((method, args, kwargs))

    def _work(self) -> None:
        while (call := self.calls.get()) is not None:
            if self.failed is not None:
                continue
            method, args, kwargs = call
            try:
                getattr(self.tracker, method)(*args, **kwargs)
            except Exception as error:  # noqa: BLE001 - whatever a tracker raises, the run goes on without it
                self.failed = error
                warnings.warn(
                    f"tracker {self.name} failed ({method}: {type(error).__name__}: {error}); it logs nothing more in this "
                    "run, which goes on: every record is kept", TrackerWarning, stacklevel=1,
                )

    def close(self, deadline: float) -> None:
        self.calls.put(None)
        self.thread.join(timeout=max(deadline - time.monotonic(), 0.0))
        if self.thread.is_alive():
            warnings.warn(f"tracker {self.name} did not finish within {FINISH_SECONDS:g} s and was left behind; every "
                          "record is kept", TrackerWarning, stacklevel=1)


def open_run_log(names: Sequence[str], spec_name: str, config: Mapping[str, Any], out_dir: Path) -> RunLog | None:
    """A run log to the trackers `names` names (None for none), started with `config` (the spec) as
    the runs' configuration; each tracker's run is named after the spec and the time.

    **Raises:** `InputError` for a tracker that is not registered or whose backend is not installed.
    """
    if not names:
        return None
    run_log = RunLog(load_trackers(names, out_dir, f"{spec_name}-{datetime.datetime.now(datetime.UTC):%Y%m%d-%H%M%S}"))
    run_log.start(config)
    return run_log


class RunLog:
    """What a run sends its trackers (`load_trackers`): `start`, `record` for every record written,
    `conclude` with the results, or `abort` when the run stops on an error."""

    def __init__(self, trackers: Mapping[str, Tracker]):
        self.workers = [_Worker(name, tracker) for name, tracker in trackers.items()]
        self.logged: set[Cell] = set()

    def _send(self, method: str, *args: Any, **kwargs: Any) -> None:
        for worker in self.workers:
            worker.submit(method, *args, **kwargs)

    def start(self, config: Mapping[str, Any]) -> None:
        """The spec (a nested dict) as the runs' configuration."""
        self._send("start", config)

    def record(self, cell: Cell, record: Record) -> None:
        """A record written: its metrics at its n, and its trainings' curves at their steps."""
        self.logged.add(cell)
        for values, step, axis in record_values(cell, record):
            self._send("log", values, step=step, axis=axis)

    def conclude(self, out_dir: Path, summary: SpecSummary | None, artifacts: Sequence[Path], *, failed: bool) -> None:
        """The records the run did not write (recorded before it, so that each series is the whole
        scaling curve), the results (`summary_values`; fitted from `out_dir` when the leaderboard
        gave no `summary`) and the leaderboard's files; then every tracker finishes, waited for at
        most `FINISH_SECONDS` in all."""
        if summary is None:
            summary = summarize(load_results(out_dir, set_aside=False))
        for cell, record in summary.records.current.items():
            if cell not in self.logged:
                self.record(cell, record)
        self._send("log_summary", summary_values(summary))
        if artifacts:
            self._send("log_artifacts", list(artifacts))
        self._finish(failed)

    def abort(self) -> None:
        """The run stopped on an error: finish every tracker's run as failed."""
        self._finish(True)

    def _finish(self, failed: bool) -> None:
        self._send("finish", failed=failed)
        deadline = time.monotonic() + FINISH_SECONDS
        for worker in self.workers:
            worker.close(deadline)


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def record_values(cell: Cell, record: Record) -> Iterator[tuple[dict[str, float], int, Axis]]:
    """(values, step, axis) of what a record logs: `LEARNER[/width_W]/seed_S/METRIC` at n; for each
    training curve it keeps, `LEARNER[/width_W]/TRAINING/n_N/seed_S/minibatch_loss` at every point
    and `.../train_error`, `.../train_loss` at every check (TRAINING: `training`, or the prefix of a
    training the learner reports, such as `pretraining`)."""
    prefix = cell.learner_id + (f"/width_{cell.width}" if cell.width is not None else "")
    if not record.ok:
        return
    metrics = {f"{prefix}/seed_{cell.seed}/{name}": float(value) for name, value in record.metrics.items() if _finite(value)}
    if metrics:
        yield metrics, cell.n_train, "n_train"
    for training, curve in stored_curves(record.info):
        base = f"{prefix}/{training + 'ing' if training else 'training'}/n_{cell.n_train}/seed_{cell.seed}"
        for step, loss in zip(curve.get("step", []), curve.get("loss", [])):
            if _finite(loss):
                yield {f"{base}/minibatch_loss": float(loss)}, int(step), "step"
        for step, error, loss in zip(curve.get("check_step", []), curve.get("train_error", []), curve.get("train_loss", [])):
            checked = {f"{base}/train_error": error, f"{base}/train_loss": loss}
            yield {name: float(value) for name, value in checked.items() if _finite(value)}, int(step), "step"


def summary_values(summary: SpecSummary) -> dict[str, float | str]:
    """The results as a tracker's summary: per learner (and width) `alpha` with `alpha_low` and
    `alpha_high`, against the reference `delta_alpha`, its 95% interval `delta_alpha_low`,
    `delta_alpha_high`, its 90% interval `delta_alpha_low90`, `delta_alpha_high90` and `verdict` (in
    the leaderboard's words); per claim of the paper, `claim_K` (its status as this spec's data bear on it)."""
    values: dict[str, float | str] = {}
    for group in summary.groups:
        width = f"/width_{group.width}" if group.width is not None else ""
        for fit in group.comparison.fits:
            if fit.law is None:
                continue
            name = f"{fit.curve.learner_id}{width}"
            values[f"{name}/alpha"] = float(fit.alpha)
            if fit.alpha_interval is not None:
                values[f"{name}/alpha_low"], values[f"{name}/alpha_high"] = fit.alpha_interval.low, fit.alpha_interval.high
        for comparison in group.comparison.comparisons:
            name = f"{comparison.learner_id}{width}"
            values[f"{name}/delta_alpha"] = float(comparison.delta_alpha)
            if comparison.delta_interval is not None:
                values[f"{name}/delta_alpha_low"] = comparison.delta_interval.low
                values[f"{name}/delta_alpha_high"] = comparison.delta_interval.high
            if comparison.equivalence_interval is not None:
                values[f"{name}/delta_alpha_low90"] = comparison.equivalence_interval.low
                values[f"{name}/delta_alpha_high90"] = comparison.equivalence_interval.high
            values[f"{name}/verdict"] = group.decision(comparison).words(group.comparison.reference)
    for claim in spec_claims(summary):
        values[f"claim_{claim.number}"] = claim.label
    return values
