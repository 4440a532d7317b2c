"""`mlflow`: an MLflow run in the tracking store `MLFLOW_TRACKING_URI` names (a server, Databricks,
a database), or by default a local SQLite store `OUT/tracking/mlflow.db` with its artifacts beside
it; in the experiment `MLFLOW_EXPERIMENT_NAME` (default `ntkbench`). The spec is the run's
parameters (flattened) and its `spec.yaml` artifact; metrics are sent in batches."""

from __future__ import annotations

import importlib.util
import logging
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from ..api import Axis, Tracker

BATCH = 900
"""Metrics per request (MLflow takes at most 1000)."""
PARAMETER_CHARACTERS = 6000
"""MLflow's longest parameter value."""


def _flattened(config: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    flat = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(_flattened(value, f"{name}."))
        elif isinstance(value, list) and value and all(isinstance(item, Mapping) for item in value):
            for index, item in enumerate(value):
                flat.update(_flattened(item, f"{name}.{item.get('id', index)}."))
        else:
            flat[name] = str(value)[:PARAMETER_CHARACTERS]
    return flat


class MLflowTracker(Tracker):
    """A run's MLflow run."""

    extra = "mlflow"

    @classmethod
    def missing(cls) -> str | None:
        return next((module for module in ("mlflow", "sqlalchemy", "alembic") if importlib.util.find_spec(module) is None), None)

    def start(self, config: Mapping[str, Any]) -> None:
        from mlflow.entities import Param
        from mlflow.tracking import MlflowClient

        for name in ("mlflow", "alembic"):  # their database set-up speaks at INFO
            logging.getLogger(name).setLevel(logging.WARNING)
        local = self.out_dir / "tracking"
        uri = os.environ.get("MLFLOW_TRACKING_URI")
        if not uri:
            local.mkdir(parents=True, exist_ok=True)
            uri = f"sqlite:///{(local / 'mlflow.db').resolve()}"
        self.client = MlflowClient(uri)
        name = os.environ.get("MLFLOW_EXPERIMENT_NAME") or "ntkbench"
        experiment = self.client.get_experiment_by_name(name)
        if experiment is None:
            artifacts = None if os.environ.get("MLFLOW_TRACKING_URI") else (local / "mlflow-artifacts").resolve().as_uri()
            experiment_id = self.client.create_experiment(name, artifact_location=artifacts)
        else:
            experiment_id = experiment.experiment_id
        self.run_id = self.client.create_run(experiment_id, run_name=self.run_name).info.run_id
        parameters = [Param(key, value) for key, value in _flattened(config).items()]
        for start in range(0, len(parameters), 100):
            self.client.log_batch(self.run_id, params=parameters[start : start + 100])
        self.client.log_text(self.run_id, yaml.safe_dump(dict(config), sort_keys=False), "spec.yaml")
        self.pending: list[Any] = []

    def _flush(self) -> None:
        while self.pending:
            batch, self.pending = self.pending[:BATCH], self.pending[BATCH:]
            self.client.log_batch(self.run_id, metrics=batch)

    def log(self, values: Mapping[str, float], *, step: int, axis: Axis) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        self.pending += [Metric(key, value, now, step) for key, value in values.items()]
        if len(self.pending) >= BATCH:
            self._flush()

    def log_summary(self, values: Mapping[str, float | str]) -> None:
        self.log({key: value for key, value in values.items() if not isinstance(value, str)}, step=0, axis="step")
        self._flush()
        for key, value in values.items():
            if isinstance(value, str):
                self.client.set_tag(self.run_id, key, value[:PARAMETER_CHARACTERS])

    def log_artifacts(self, paths: Sequence[Path]) -> None:
        for path in paths:
            self.client.log_artifact(self.run_id, str(path), "leaderboard")

    def finish(self, *, failed: bool) -> None:
        self._flush()
        self.client.set_terminated(self.run_id, "FAILED" if failed else "FINISHED")
