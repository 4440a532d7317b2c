"""The runner with third-party plugins: failed cells are recorded, reported and retried."""

from __future__ import annotations

import json

from conftest import run_cli, spec_page

SPEC = """\
name: blobs_run
dataset: {name: blobs, n_test: 60}
architecture: {name: mlp, width: 16, depth: 1}
learners:
  - {name: mean_classifier}
  - {name: always_fails}
sweep: {n_train: [6, 12, 24, 48], seeds: [0, 1, 2]}
metric: test_loss
"""


def test_failed_cells_are_recorded_and_make_the_run_exit_1(third_party_plugins, write_spec, tmp_path):
    spec = write_spec(SPEC)
    out = tmp_path / "out"
    result = run_cli("run", str(spec), "--out", str(out), "--no-progress", env=third_party_plugins)
    assert result.returncode == 1, result.stderr
    assert "24 cell(s) computed, 0 already recorded, 12 failed" in result.stdout
    assert "failed: always_fails n=6 seed=0: deliberate failure at n=6" in result.stderr

    failed = [json.loads(p.read_text()) for p in (out / "records" / "always_fails").glob("*.json")]
    assert len(failed) == 12 and all(r["status"] == "failed" and r["metrics"] is None for r in failed)
    board = spec_page(out)
    assert "12 of 24 succeeded, 12 failed" in board
    assert "failed: deliberate failure at n=6" in board
    assert "no fit: 0 sample size(s)" in board
    mean_row = next(line for line in board.splitlines() if line.startswith("|") and "`mean_classifier`" in line)
    assert mean_row.startswith("| 1 ")
    assert "## Against" not in board  # no network learner: nothing to compare with

    # Failed cells are retried; successful ones are not.
    again = run_cli("run", str(spec), "--out", str(out), "--no-progress", env=third_party_plugins)
    assert "12 cell(s) computed, 12 already recorded, 12 failed" in again.stdout


def test_missing_results_directory_is_an_input_error(tmp_path):
    result = run_cli("leaderboard", "--results", str(tmp_path / "nothing"), "--out", str(tmp_path / "board.md"))
    assert result.returncode == 2 and "not a results directory" in result.stderr


def test_asking_for_ray_without_it_installed_is_an_input_error(third_party_plugins, write_spec, monkeypatch, capsys, tmp_path):
    import sys

    from ntkbench.cli import main

    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError, as without ntkbench[ray]
    spec = write_spec(SPEC)
    assert main(["run", str(spec), "--out", str(tmp_path / "out"), "--executor", "ray", "--no-progress"]) == 2
    assert "--executor ray needs Ray, which is not installed; install it with: pip install 'ntkbench[ray]'" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()  # refused before anything was written


COMPILED = """\
name: compiled
dataset: {name: teacher_student, dim: 8, pool: 400, n_test: 50}
architecture: {name: mlp, width: 16, depth: 1}
learners:
  - {name: network, steps: 20, optimizer: {name: sgd, learning_rate: 0.5}}
  - {name: ntk_infinite}
sweep: {n_train: [16, 32], seeds: [0]}
"""


def test_a_run_keeps_its_compiled_programs_for_the_next_one(write_spec, tmp_path):
    """A user's run writes JAX's compilation cache under ntkbench's cache (one folder per jax,
    jaxlib and Python); the same computations in another run read it instead of compiling again.
    `NTKBENCH_COMPILATION_CACHE=off` keeps none, and a cache of the user's own is left alone."""
    import os
    import sys
    from importlib.metadata import version

    from conftest import run_cli_process

    spec = write_spec(COMPILED)
    env = {key: value for key, value in os.environ.items() if not key.startswith("JAX_COMPILATION_CACHE_DIR")}
    env["NTKBENCH_CACHE_DIR"] = str(tmp_path / "cache")
    folder = tmp_path / "cache" / "jax" / f"jax-{version('jax')}-jaxlib-{version('jaxlib')}-py{sys.version_info[0]}{sys.version_info[1]}"
    first = run_cli_process("run", str(spec), "--out", str(tmp_path / "first"), "--no-progress", env=env)
    assert first.returncode == 0, first.stderr
    entries = {path.name for path in folder.iterdir() if not path.name.endswith("-atime")}
    assert entries  # the training steps and the kernel tiles, compiled once
    read_at = {path.name: path.read_bytes() for path in folder.glob("*-atime")}  # JAX stamps an entry when it reads it
    assert len(read_at) == len(entries) - 1  # every entry but the lock file
    second = run_cli_process("run", str(spec), "--out", str(tmp_path / "second"), "--no-progress", env=env)
    assert second.returncode == 0 and entries <= {path.name for path in folder.iterdir()}
    # Every program the first run kept, the second read instead of compiling. (A program that
    # compiled faster than the cache's threshold the first time may be kept the second, on a busy machine.)
    assert all((folder / name).read_bytes() != stamp for name, stamp in read_at.items())

    off = run_cli_process("run", str(spec), "--out", str(tmp_path / "off"), "--no-progress",
                          env={**env, "NTKBENCH_CACHE_DIR": str(tmp_path / "none"), "NTKBENCH_COMPILATION_CACHE": "off"})
    assert off.returncode == 0 and not (tmp_path / "none" / "jax").exists()
