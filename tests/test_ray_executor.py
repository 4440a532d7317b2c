"""`--executor ray` on a Ray cluster (the session's one local head, `ray_head`, which every run
joins with `--address`): the same records as the local executor (seeds grouped or not), workers
that die are retried, a killed driver loses nothing, and nothing partial is ever written. The
drivers are processes of their own, as a user's would be."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import run_cli, run_cli_process, spec_page

ray = pytest.importorskip("ray", reason="the Ray executor's tests need ntkbench[ray]")
pytestmark = [pytest.mark.ray, pytest.mark.slow]

SPEC = """\
name: teacher
dataset: {name: teacher_student, dim: 12, num_classes: 3, n_test: 200, pool: 2000}
architecture: {name: mlp, width: 64, depth: 2}
learners:
  - {name: network, steps: 40, batch_size: 16}
  - {name: ntk_infinite}
  - {name: entk_pretrained, pretrain_n: 64, steps: 20, batch_size: 16}
sweep: {n_train: [32, 64], seeds: [0, 1]}
"""

SLOW = """\
name: slow_run
dataset: {name: blobs, n_test: 30}
architecture: {name: mlp, width: 8, depth: 1}
learners: [{name: slow_mean, seconds: 0.4, log: LOG}]
sweep: {n_train: [6, 9, 12, 15, 18, 21], seeds: [0, 1, 2]}
"""


def slow_spec(write_spec, log: Path, learner: str = "{name: slow_mean, seconds: 0.4, log: LOG}") -> Path:
    """The slow spec, its learner logging (pid, n, seed) of each computation to `log`."""
    return write_spec(SLOW.replace("{name: slow_mean, seconds: 0.4, log: LOG}", learner).replace("LOG", str(log)))


def records(out: Path) -> dict[tuple[str, int, int], dict]:
    found = {}
    for path in (out / "records").glob("*/*.json"):
        record = json.loads(path.read_text())  # raises on a partial file
        found[record["cell"]["learner_id"], record["cell"]["n_train"], record["cell"]["seed"]] = record
    return found


def results_of(out: Path) -> dict[tuple[str, int, int], tuple]:
    """What every cell computed (metrics, per-example outcomes, status), with one record file per cell
    and no partial file."""
    files = list((out / "records").glob("*/*.json"))
    assert not list((out / "records").glob("*/*.partial")), "a partial record was left"
    found = records(out)
    assert len(files) == len(found), "a cell is recorded twice"
    return {cell: (r["status"], r["metrics"], r.get("test_outcomes")) for cell, r in found.items()}


def ray_command(spec: Path, out: Path, address: str) -> list[str]:
    return [sys.executable, "-m", "ntkbench.cli", "run", str(spec), "--out", str(out), "--no-progress", "--executor", "ray",
            "--address", address]


def ray_run(spec: Path, out: Path, address: str, env: dict | None = None, *extra: str) -> subprocess.CompletedProcess:
    return run_cli_process("run", str(spec), "--out", str(out), "--no-progress", "--executor", "ray", "--address", address,
                           *extra, env=env)


def test_ray_executor_writes_the_records_of_the_local_executor(write_spec, tmp_path, ray_head):
    spec = write_spec(SPEC)
    local = run_cli("run", str(spec), "--out", str(tmp_path / "local"), "--no-progress")
    assert local.returncode == 0, local.stderr
    remote = ray_run(spec, tmp_path / "ray", ray_head)
    assert remote.returncode == 0, remote.stderr
    assert "12 cell(s) computed, 0 already recorded" in remote.stdout
    expected, got = records(tmp_path / "local"), records(tmp_path / "ray")
    assert set(got) == set(expected) and len(got) == 12
    for cell, record in expected.items():
        assert got[cell]["status"] == record["status"] == "ok"
        for metric, value in record["metrics"].items():
            assert got[cell]["metrics"][metric] == pytest.approx(value, rel=1e-6, abs=1e-6), (cell, metric)
    assert spec_page(tmp_path / "ray").count("`ntk_infinite`") >= 1
    # Nothing left to compute: the run ends before it would join the cluster (so, in this process).
    again = run_cli("run", str(spec), "--out", str(tmp_path / "ray"), "--no-progress", "--executor", "ray", "--address", ray_head)
    assert again.returncode == 0 and "0 cell(s) computed, 12 already recorded" in again.stdout
    grouped = ray_run(spec, tmp_path / "ray_groups", ray_head, None, "--seeds-together", "on")  # a task per group of seeds
    assert grouped.returncode == 0, grouped.stderr
    got = records(tmp_path / "ray_groups")
    assert set(got) == set(expected)
    for cell, record in expected.items():
        for metric, value in record["metrics"].items():
            assert got[cell]["metrics"][metric] == pytest.approx(value, rel=1e-6, abs=1e-6), (cell, metric)


def test_a_killed_ray_worker_is_retried_and_leaves_no_partial_record(third_party_plugins, write_spec, tmp_path, ray_head):
    out, log = tmp_path / "out", tmp_path / "log"
    spec = slow_spec(write_spec, log)
    env = third_party_plugins
    process = subprocess.Popen(ray_command(spec, out, ray_head), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.time() + 180
    while not (log.exists() and log.read_text().strip()) and time.time() < deadline:
        time.sleep(0.05)
    victim = int(log.read_text().split()[0])  # a worker in the middle of its group of 6 cells
    os.kill(victim, signal.SIGKILL)
    stdout, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, stderr
    assert "18 cell(s) computed, 0 already recorded" in stdout
    done = records(out)
    assert len(done) == 18 and all(record["status"] == "ok" for record in done.values())
    lines = log.read_text().split()
    pids = {int(pid) for pid in lines[0::3]}
    assert victim in pids and len(pids) >= 2  # the killed worker's group was computed again by another
    again = run_cli("run", str(spec), "--out", str(out), "--no-progress", env=env)
    assert again.returncode == 0 and "0 cell(s) computed, 18 already recorded" in again.stdout
    uninterrupted = run_cli("run", str(spec), "--out", str(tmp_path / "uninterrupted"), "--no-progress", env=env)
    assert uninterrupted.returncode == 0, uninterrupted.stderr
    assert results_of(out) == results_of(tmp_path / "uninterrupted")


def test_a_killed_driver_loses_nothing_written_and_its_restart_completes_the_run(third_party_plugins, write_spec, tmp_path,
                                                                                  ray_head):
    """SIGKILL the driver of a Ray run once some records are written: they stay, the restarted run
    computes only the others, and the records equal those of an uninterrupted run."""
    spec = slow_spec(write_spec, tmp_path / "log")
    out = tmp_path / "out"
    env = third_party_plugins
    driver = subprocess.Popen(ray_command(spec, out, ray_head), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
                              start_new_session=True)
    try:
        deadline = time.time() + 180
        while len(list((out / "records").glob("*/*.json"))) < 3 and time.time() < deadline:
            time.sleep(0.05)
        os.kill(driver.pid, signal.SIGKILL)
        driver.wait(timeout=60)
        written = results_of(out)
        assert 3 <= len(written) < 18
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(driver.pid, signal.SIGKILL)  # anything the driver started
    restarted = ray_run(spec, out, ray_head, env)
    assert restarted.returncode == 0, restarted.stderr
    assert f"{18 - len(written)} cell(s) computed, {len(written)} already recorded, 0 failed" in restarted.stdout
    final = results_of(out)
    assert all(final[cell] == result for cell, result in written.items())  # nothing written was lost or redone
    uninterrupted = run_cli("run", str(spec), "--out", str(tmp_path / "uninterrupted"), "--no-progress", env=env)
    assert uninterrupted.returncode == 0, uninterrupted.stderr
    assert final == results_of(tmp_path / "uninterrupted")


def test_a_group_whose_worker_always_dies_fails_without_a_record(third_party_plugins, write_spec, tmp_path, ray_head):
    spec = slow_spec(write_spec, tmp_path / "log", "{name: crashes_its_process, seconds: 0.05, crash_seed: 1, crash_n: 12, log: LOG}")
    out = tmp_path / "out"
    result = ray_run(spec, out, ray_head, third_party_plugins)
    assert result.returncode == 1, result.stderr
    assert "12 cell(s) computed, 0 already recorded, 6 failed" in result.stdout
    assert "Ray task failed after 3 retries" in result.stderr
    done = records(out)
    assert sorted({seed for _, _, seed in done}) == [0, 2] and all(r["status"] == "ok" for r in done.values())


SPREAD = """\
import os, sys
import numpy as np
import ray
from ntkbench.api import StoredKernel
from ntkbench.numerics._kernels import evaluate_tiled
from ntkbench.runner._ray import tile_spreader
from ntkbench.storage import TileDirectory

address, store, mode = sys.argv[1:4]
ray.init(address=address, log_to_driver=False)
x = np.random.default_rng(0).normal(size=(64, 5)).astype(np.float32)


def rbf(a, b):
    import jax.numpy as jnp
    return jnp.exp(-(jnp.sum(a**2, 1)[:, None] + jnp.sum(b**2, 1)[None] - 2 * a @ b.T) / 5)


def pid(a, b):
    return np.full((a.shape[0], b.shape[0]), os.getpid(), np.float32)


def dies_once(a, b):
    marker = os.path.join(store, "died")
    if not os.path.exists(marker):
        open(marker, "w").close()
        os._exit(1)  # the worker dies inside the kernel, once
    return rbf(a, b)


done = []
spread = tile_spreader(store, 0.0)
kernel = {"spread": rbf, "pids": pid, "retry": dies_once}[mode]
stored = StoredKernel(TileDirectory(store), {"kernel": mode}, lambda d, t: done.append((d, t)), spread)
matrix = evaluate_tiled(kernel, x, max_tile=16, stored=stored)
if mode == "pids":
    print(" ".join(str(int(v)) for v in np.unique(matrix)), "driver", os.getpid())
else:
    print(int(np.array_equal(matrix, evaluate_tiled(rbf, x, max_tile=16))), done[-1])
"""


@pytest.mark.parametrize("mode", ["spread", "pids", "retry"])
def test_a_kernels_tiles_spread_over_the_cluster_and_equal_the_local_kernel(ray_head, tmp_path, mode):
    """10 tiles (4 x 4 blocks of 16 on and above the diagonal) as Ray tasks: computed by the workers,
    written to the store, the kernel bit for bit the local one; a worker that dies mid-kernel has
    its tiles retried."""
    script = tmp_path / "spread.py"
    script.write_text(SPREAD)
    env = dict(os.environ, RAY_AUTH_MODE="disabled")
    result = subprocess.run([sys.executable, str(script), ray_head, str(tmp_path / "store"), mode],
                            capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    last = result.stdout.strip().splitlines()[-1]
    if mode == "pids":
        workers, driver = last.split(" driver ")
        assert int(driver) not in {int(pid) for pid in workers.split()}  # every tile computed by a worker
    else:
        assert last == "1 (10, 10)"
    assert len(list((tmp_path / "store").glob("*/tiles/*.npy"))) == 10
    if mode == "retry":
        assert (tmp_path / "store" / "died").exists()
