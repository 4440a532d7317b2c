"""What a run logs to an experiment tracker (TensorBoard, MLflow, Weights & Biases, or a third
party's): the contract a tracker plugin implements, shaped like Accelerate's and Levanter's.

A run starts each tracker with the spec as its configuration, logs every cell's metrics at its
training-set size and every trained network's curve at its steps, then the fits, Δα, intervals and
verdicts as a summary, attaches the leaderboard and its figures, and finishes. The run calls a
tracker from a thread of its own: a tracker that fails or hangs is dropped with one warning and
never stops or slows the run.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal

TRACKER_GROUP = "ntkbench.trackers"
"""The entry-point group trackers register under."""

Axis = Literal["n_train", "step"]
"""What a logged value's step counts: training samples (a cell's metrics, so that each series is a
scaling curve) or optimisation steps (a training curve)."""


class Tracker(abc.ABC):
    """A place a run logs to. Register a subclass under the entry-point group `ntkbench.trackers`;
    `ntkbench run SPEC --tracker NAME` (and `ntkbench.run(..., trackers=[NAME])`) uses it.

    `out_dir` is the run's results directory (a tracker with local files keeps them under
    `out_dir/tracking` unless told otherwise), `run_name` the name to give the tracker's run."""

    extra: ClassVar[str | None] = None
    """The extra of ntkbench that installs the tracker's backend (`pip install 'ntkbench[EXTRA]'`),
    named when `missing()` finds it absent."""

    def __init__(self, out_dir: Path, run_name: str):
        self.out_dir = out_dir
        self.run_name = run_name

    @classmethod
    def missing(cls) -> str | None:
        """The module the backend needs that cannot be imported, or None when it is installed."""
        return None

    @classmethod
    def problem(cls) -> str | None:
        """Why the tracker cannot log from here although its backend is installed (no credentials
        for a service, say), with what to do; None when it can. Asked before the run starts."""
        return None

    @abc.abstractmethod
    def start(self, config: Mapping[str, Any]) -> None:
        """Open the tracker's run, with `config` (the spec, as a nested dict) as its configuration."""

    @abc.abstractmethod
    def log(self, values: Mapping[str, float], *, step: int, axis: Axis) -> None:
        """Scalars named by `/`-separated keys (`network/seed_0/test_error`) at `step` of `axis`."""

    @abc.abstractmethod
    def log_summary(self, values: Mapping[str, float | str]) -> None:
        """The run's results: exponents, Δα and interval ends as numbers, verdicts and claims as text."""

    @abc.abstractmethod
    def log_artifacts(self, paths: Sequence[Path]) -> None:
        """Attach files: the leaderboard's pages and figures."""

    @abc.abstractmethod
    def finish(self, *, failed: bool) -> None:
        """Close the tracker's run (`failed`: the run stopped on an error, or cells failed)."""
