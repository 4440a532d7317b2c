"""Runs logged to experiment trackers: TensorBoard, MLflow and W&B (offline) for real, read back with
each backend's own reader; a tracker that fails or hangs warns once and the run goes on; an unknown
tracker or a missing backend is refused before anything runs."""

from __future__ import annotations

import glob
import json
import os
import time
import warnings

import pytest
from conftest import run_cli

import ntkbench
from ntkbench.api import InputError
from ntkbench.tracking import TrackerWarning

def _backends_missing() -> list[str]:
    import importlib.util

    return [name for name in ("tensorboard", "mlflow", "sqlalchemy", "wandb") if importlib.util.find_spec(name) is None]


requires_backends = pytest.mark.skipif(
    bool(_backends_missing()) and not os.environ.get("CI"),
    reason="the trackers' backends are not installed (make test installs them: pip install -e '.[trackers]')",
)

SPEC = {
    "name": "tracked",
    "dataset": {"name": "teacher_student", "dim": 8, "pool": 600, "n_test": 100},
    "architecture": {"name": "mlp", "width": 16, "depth": 1},
    "learners": [
        {"name": "network", "optimizer": {"name": "sgd", "learning_rate": 0.5}, "until": {"train_loss": 0.05},
         "max_steps": 200, "check_every": 20},
        {"name": "ntk_infinite"},
    ],
    "sweep": {"n_train": [16, 32, 64], "seeds": [0, 1]},
}


@pytest.fixture
def offline(tmp_path, monkeypatch):
    """W&B offline with its folders in the test's; MLflow at its local default."""
    for name, value in {"WANDB_MODE": "offline", "WANDB_SILENT": "true", "WANDB_CACHE_DIR": str(tmp_path / "wandb-cache"),
                        "WANDB_DATA_DIR": str(tmp_path / "wandb-data"), "WANDB_CONFIG_DIR": str(tmp_path / "wandb-config")}.items():
        monkeypatch.setenv(name, value)
    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_NAME", "NTKBENCH_TENSORBOARD_DIR", "WANDB_PROJECT"):
        monkeypatch.delenv(name, raising=False)


def _records(out):
    stored = [json.loads(path.read_text()) for path in (out / "records").glob("*/*.json")]
    return {(r["cell"]["learner_id"], r["cell"]["seed"], r["cell"]["n_train"]): r for r in stored}


@pytest.mark.slow
@requires_backends
def test_tensorboard_mlflow_and_wandb_log_the_run_and_read_it_back(tmp_path, offline):
    out = tmp_path / "out"
    with warnings.catch_warnings():
        warnings.simplefilter("error", TrackerWarning)  # no tracker may fail here
        results = ntkbench.run(SPEC, out=out, trackers=["tensorboard", "mlflow", "wandb"])
    records = _records(out)
    assert len(records) == 12
    network = records["network", 0, 64]
    curve = network["info"]["curve"]
    comparison = results.fits.set_index("learner_id").loc["ntk_infinite"]
    verdict = results.summary.groups[0].decision(results.summary.groups[0].comparison.comparisons[0]).words("network")
    assert comparison["verdict_words"] == verdict  # the same words in Results.fits as in every tracker
    expected_errors = [records["network", 0, n]["metrics"]["test_error"] for n in (16, 32, 64)]

    # TensorBoard, read with its own event reader.
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    (logdir,) = (out / "tracking" / "tensorboard").iterdir()
    events = EventAccumulator(str(logdir), size_guidance={"scalars": 0, "images": 0, "tensors": 0})
    events.Reload()
    scalars = events.Tags()["scalars"]
    assert [(e.step, e.value) for e in events.Scalars("network/seed_0/test_error")] == [
        (n, pytest.approx(error)) for n, error in zip((16, 32, 64), expected_errors)]
    assert [e.step for e in events.Scalars("network/training/n_64/seed_0/minibatch_loss")] == curve["step"]
    assert [e.step for e in events.Scalars("network/training/n_64/seed_0/train_error")] == curve["check_step"]
    assert events.Scalars("summary/ntk_infinite/delta_alpha")[0].value == pytest.approx(comparison["delta_alpha"])
    assert "summary/network/alpha" in scalars and "ntk_infinite/seed_1/test_loss" in scalars
    texts = {tag: events.Tensors(tag)[0].tensor_proto.string_val[0].decode() for tag in events.Tags()["tensors"]}
    assert texts["summary/ntk_infinite/verdict"] == verdict and "teacher_student" in texts["spec"]
    assert texts["leaderboard/tracked.md"] == (out / "tracked.md").read_text()
    images = events.Tags()["images"]
    assert "leaderboard/leaderboard_tracked_training.png" in images and len(images) == len(list(out.glob("*.png")))

    # MLflow, read with its client from the local store.
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{out / 'tracking' / 'mlflow.db'}")
    (run,) = client.search_runs([client.get_experiment_by_name("ntkbench").experiment_id])
    assert run.info.status == "FINISHED" and run.info.run_name.startswith("tracked-")
    assert run.data.params["dataset.name"] == "teacher_student" and run.data.params["learners.network.max_steps"] == "200"
    history = client.get_metric_history(run.info.run_id, "network/seed_0/test_error")
    assert sorted((m.step, m.value) for m in history) == [(n, pytest.approx(e)) for n, e in zip((16, 32, 64), expected_errors)]
    assert sorted(m.step for m in client.get_metric_history(run.info.run_id, "network/training/n_64/seed_0/minibatch_loss")) == \
        curve["step"]
    assert run.data.metrics["ntk_infinite/delta_alpha"] == pytest.approx(comparison["delta_alpha"])
    assert run.data.tags["ntk_infinite/verdict"] == verdict and run.data.tags["claim_1"]
    attached = {artifact.path for artifact in client.list_artifacts(run.info.run_id, "leaderboard")}
    assert {"leaderboard/leaderboard.md", "leaderboard/tracked.md", "leaderboard/leaderboard_tracked_training.png"} <= attached
    assert "spec.yaml" in {artifact.path for artifact in client.list_artifacts(run.info.run_id)}

    # W&B, read from the offline run's file with its own datastore reader.
    from wandb.proto import wandb_internal_pb2
    from wandb.sdk.internal import datastore

    (path,) = glob.glob(str(out / "tracking" / "wandb" / "offline-run-*" / "run-*.wandb"))
    store = datastore.DataStore()
    store.open_for_scan(path)
    config, history, summary, artifacts, exit_code = {}, [], {}, [], None
    while (data := store.scan_data()) is not None:
        record = wandb_internal_pb2.Record()
        record.ParseFromString(data)
        kind = record.WhichOneof("record_type")
        if kind == "run":
            config.update({item.key: json.loads(item.value_json) for item in record.run.config.update})
        elif kind == "history":
            history.append({item.key or "/".join(item.nested_key): json.loads(item.value_json) for item in record.history.item})
        elif kind == "summary":
            summary.update({item.key or "/".join(item.nested_key): json.loads(item.value_json) for item in record.summary.update})
        elif kind == "artifact":
            artifacts.append((record.artifact.type, sorted(entry.path for entry in record.artifact.manifest.contents)))
        elif kind == "exit":
            exit_code = record.exit.exit_code
    assert config["dataset"]["name"] == "teacher_student"
    logged = sorted((row["n_train"], row["network/seed_0/test_error"]) for row in history if "network/seed_0/test_error" in row)
    assert logged == [(n, pytest.approx(e)) for n, e in zip((16, 32, 64), expected_errors)]
    steps = [row["training_step"] for row in history if "network/training/n_64/seed_0/minibatch_loss" in row]
    assert steps == curve["step"]
    assert summary["summary/ntk_infinite/verdict"] == verdict
    assert summary["summary/ntk_infinite/delta_alpha"] == pytest.approx(comparison["delta_alpha"])
    ((kind, files),) = artifacts
    assert kind == "leaderboard" and {"leaderboard.md", "tracked.md", "leaderboard_tracked_training.png"} <= set(files)
    assert exit_code == 0


def test_a_tracker_that_fails_warns_once_and_the_run_loses_nothing(tmp_path, third_party_plugins):
    from ntkbench_testplugins import FullDiskTracker

    spec = {**SPEC, "learners": [{"name": "ntk_infinite"}]}
    FullDiskTracker.calls.clear()
    with pytest.warns(TrackerWarning) as warned:
        ntkbench.run(spec, out=tmp_path / "out", trackers=["full_disk"])
    (warning,) = [warning for warning in warned if issubclass(warning.category, TrackerWarning)]  # once
    assert "tracker full_disk failed (log: OSError: [Errno 28] No space left on device)" in str(warning.message)
    assert FullDiskTracker.calls == ["start", "log"]  # nothing after the failure
    assert len(_records(tmp_path / "out")) == 6 and (tmp_path / "out" / "tracked.md").is_file()


def test_a_tracker_that_hangs_is_left_behind_and_never_slows_the_cells(tmp_path, third_party_plugins, monkeypatch):
    from ntkbench.tracking import _run_log

    spec = {**SPEC, "learners": [{"name": "ntk_infinite"}]}
    ntkbench.run(spec, out=tmp_path / "alone")
    monkeypatch.setattr(_run_log, "FINISH_SECONDS", 2.0)
    started = time.monotonic()
    with pytest.warns(TrackerWarning, match="tracker hanging did not finish within 2 s and was left behind"):
        ntkbench.run(spec, out=tmp_path / "out", trackers=["hanging"])
    # Every cell's log call waits an hour; the run waited only for the end's 2 s.
    assert time.monotonic() - started < 600 and len(_records(tmp_path / "out")) == 6
    assert _records(tmp_path / "out").keys() == _records(tmp_path / "alone").keys()


def test_an_unknown_tracker_or_a_missing_backend_is_refused_before_anything_runs(tmp_path, monkeypatch):
    import yaml

    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(SPEC))
    unknown = run_cli("run", str(path), "--out", str(tmp_path / "out"), "--tracker", "tensorboard,nosuch", "--no-progress")
    assert unknown.returncode == 2 and "--tracker nosuch: no such tracker (registered: " in unknown.stderr
    assert "mlflow, tensorboard, wandb" in unknown.stderr and not (tmp_path / "out" / "records").exists()

    monkeypatch.setitem(__import__("sys").modules, "wandb", None)  # as if the extra were not installed
    with pytest.raises(InputError, match=r"--tracker wandb: its backend is not installed \(no module 'wandb'\): "
                                         r"pip install 'ntkbench\[wandb\]'"):
        ntkbench.run(SPEC, out=tmp_path / "out", trackers=["wandb"])
    assert not (tmp_path / "out" / "records").exists()


def test_a_tracking_server_that_is_down_warns_once_and_the_run_goes_on(tmp_path, monkeypatch):
    spec = {**SPEC, "learners": [{"name": "ntk_infinite"}]}
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")  # the discard port: nothing listens
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")
    with pytest.warns(TrackerWarning) as warned:
        ntkbench.run(spec, out=tmp_path / "out", trackers=["mlflow"])
    (warning,) = [warning for warning in warned if issubclass(warning.category, TrackerWarning)]
    assert str(warning.message).startswith("tracker mlflow failed (start: ")
    assert len(_records(tmp_path / "out")) == 6


def test_wandb_online_without_an_api_key_is_refused_before_anything_runs(tmp_path, monkeypatch):
    pytest.importorskip("wandb")
    for name in ("WANDB_MODE", "WANDB_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.netrc
    monkeypatch.setenv("WANDB_CONFIG_DIR", str(tmp_path / "wandb-config"))
    with pytest.raises(InputError, match=r"--tracker wandb: W&B has no API key here: run `wandb login`.*WANDB_MODE=offline"):
        ntkbench.run(SPEC, out=tmp_path / "out", trackers=["wandb"])
    assert not (tmp_path / "out" / "records").exists()
