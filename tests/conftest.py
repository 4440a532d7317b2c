"""Shared fixtures: a third-party plugin distribution made on the fly, spec files, data checks."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

FAKE_PLUGINS = Path(__file__).parent / "fake_plugins"
REPO = Path(__file__).resolve().parents[1]

ENTRY_POINTS = """\
[ntkbench.datasets]
blobs = ntkbench_testplugins:Blobs

[ntkbench.architectures]
twinless = ntkbench_testplugins:Twinless
tuned_mlp = ntkbench_testplugins:TunedMLP

[ntkbench.learners]
always_fails = ntkbench_testplugins:AlwaysFails
mean_classifier = ntkbench_testplugins:MeanClassifier
slow_mean = ntkbench_testplugins:SlowMean
crashes_its_process = ntkbench_testplugins:CrashesItsProcess
not_a_plugin = ntkbench_testplugins:NotAPlugin
from_the_future = ntkbench_testplugins:FromTheFuture
broken = ntkbench_brokenplugin:Learner
"""


@pytest.fixture(autouse=True, scope="session")
def measurements_of_this_session(tmp_path_factory: pytest.TempPathFactory):
    """Measurements of compiled computations (`numerics/_measured.py`) start empty in every test
    session and are kept in a temporary file, never in the user's data root: a test that counts
    compilations must not find them measured by an earlier session."""
    from ntkbench.numerics import _measured

    path = tmp_path_factory.mktemp("measured") / _measured.FILE
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_measured, "_SECTIONS", {})
        patch.setattr(_measured, "_path", lambda: path)
        yield


@pytest.fixture
def third_party_plugins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Install a fake distribution `ntkbench-testplugins` (a dist-info on sys.path).

    Returns the environment a subprocess needs to see it too.
    """
    site = tmp_path / "site"
    dist_info = site / "ntkbench_testplugins-0.0.1.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: ntkbench-testplugins\nVersion: 0.0.1\n")
    (dist_info / "entry_points.txt").write_text(ENTRY_POINTS)
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.syspath_prepend(str(FAKE_PLUGINS))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(site), str(FAKE_PLUGINS), env.get("PYTHONPATH", "")])
    return env


@pytest.fixture
def write_spec(tmp_path: Path):
    """Write a spec file from YAML text (dedented) and return its path."""

    def write(text: str, name: str = "spec.yaml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text).lstrip())
        return path

    return write


def run_cli(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run `python -m ntkbench.cli ARGS` in a subprocess, capturing text output."""
    return subprocess.run(
        [sys.executable, "-m", "ntkbench.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=900,
    )


def fashion_mnist_available() -> bool:
    from ntkbench.datasets.fashion_mnist import FashionMNIST

    return all(FashionMNIST.store.locate(file) is not None for file in FashionMNIST.store.files)


requires_fashion_mnist = pytest.mark.skipif(
    not fashion_mnist_available() and not os.environ.get("CI"),
    reason="Fashion-MNIST files not installed (sudo apt-get install dataset-fashion-mnist); CI installs them",
)


def synthetic_record(spec_dict: dict, cell, error: float = 0.5, info: dict | None = None):
    """A successful record of `cell` with the given test error, as the runner would write it."""
    from ntkbench.runner import Record, cell_key
    from ntkbench.runner._records import RECORD_FORMAT

    return Record(
        format=RECORD_FORMAT,
        spec={"name": spec_dict["name"], "hash": "0" * 64, "source": "spec.yaml"},
        cell={"learner_id": cell.learner_id, "n_train": cell.n_train, "seed": cell.seed, "width": cell.width,
              "key": cell_key(spec_dict, cell)},
        dataset=spec_dict["dataset"],
        architecture=spec_dict["architecture"],
        learner=next(learner for learner in spec_dict["learners"] if learner["id"] == cell.learner_id),
        wall_seconds=1.0,
        created="2026-11-29T00:00:00+00:00",
        status="ok",
        failure=None,
        metrics={"test_error": error, "test_loss": 2 * error},
        info=info or {},
        versions={"ntkbench": "0"},
        device={"platform": "cpu", "kind": "cpu", "count": 1},
        machine={"system": "Linux", "machine": "x86_64", "cpu_count": 2},
    )
