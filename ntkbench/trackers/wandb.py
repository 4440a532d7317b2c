"""`wandb`: a Weights & Biases run, online (after `wandb login`) or offline with `WANDB_MODE=offline`
(`wandb sync` uploads it later), its files under `OUT/tracking/wandb`, in the project `WANDB_PROJECT`
(default `ntkbench`). The spec is the run's config; a cell's metrics are plotted against `n_train`
and a training curve against `training_step` (W&B's custom x-axes), the results are the run's
summary and the leaderboard an artifact."""

from __future__ import annotations

import importlib.util
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..api import Axis, Tracker

AXES = {"n_train": "n_train", "step": "training_step"}
"""W&B's x-axis for each axis of `Tracker.log`."""


class WandbTracker(Tracker):
    """A run's W&B run."""

    extra = "wandb"

    @classmethod
    def missing(cls) -> str | None:
        return None if importlib.util.find_spec("wandb") else "wandb"

    @classmethod
    def problem(cls) -> str | None:
        import wandb

        if os.environ.get("WANDB_MODE", "online") in {"offline", "disabled", "dryrun"} or wandb.api.api_key:
            return None
        return "W&B has no API key here: run `wandb login` (or set WANDB_API_KEY), or log offline with WANDB_MODE=offline"

    def start(self, config: Mapping[str, Any]) -> None:
        import wandb

        folder = self.out_dir / "tracking"
        folder.mkdir(parents=True, exist_ok=True)
        self.run = wandb.init(
            project=os.environ.get("WANDB_PROJECT") or "ntkbench", name=self.run_name, dir=str(folder), config=dict(config),
            settings=wandb.Settings(silent=True, console="off"),
        )
        for axis in AXES.values():
            self.run.define_metric(axis)
        self.defined: set[str] = set()

    def log(self, values: Mapping[str, float], *, step: int, axis: Axis) -> None:
        x = AXES[axis]
        for key in values:
            if key not in self.defined:
                self.run.define_metric(key, step_metric=x)
                self.defined.add(key)
        self.run.log({x: step, **values})

    def log_summary(self, values: Mapping[str, float | str]) -> None:
        self.run.summary.update({f"summary/{key}": value for key, value in values.items()})

    def log_artifacts(self, paths: Sequence[Path]) -> None:
        import wandb

        artifact = wandb.Artifact(re.sub(r"[^\w.-]", "_", f"leaderboard-{self.run_name}"), type="leaderboard")
        for path in paths:
            artifact.add_file(str(path))
        self.run.log_artifact(artifact)

    def finish(self, *, failed: bool) -> None:
        self.run.finish(exit_code=1 if failed else 0)
