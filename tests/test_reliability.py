"""Nothing computed is lost and no bad input gives a traceback: kills, concurrent runs, corrupt
records, full disks, memory errors, YAML bombs, and a thousand mutated specs."""

from __future__ import annotations

import copy
import errno
import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from conftest import REPO, run_cli
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ntkbench import SpecError, parse_spec

SLOW = """\
name: slow_run
dataset: {{name: blobs, n_test: 30}}
architecture: {{name: mlp, width: 8, depth: 1}}
learners: [{{name: slow_mean, seconds: {seconds}}}]
sweep: {{n_train: [6, 9, 12, 15, 18, 21, 24, 27], seeds: [0, 1, 2]}}
"""


def records(out: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((out / "records").glob("*/*.json"))]


def computations(log: Path) -> list[tuple[str, str]]:
    lines = log.read_text().split() if log.exists() else []
    rows = [tuple(lines[i : i + 3]) for i in range(0, len(lines), 3)]
    return [(n, seed) for _, n, seed in rows]


def start_run(spec: Path, out: Path, env: dict) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "ntkbench.cli", "run", str(spec), "--out", str(out), "--no-progress"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )


@pytest.mark.slow
def test_a_killed_run_leaves_complete_records_and_resumes(third_party_plugins, write_spec, tmp_path):
    spec = write_spec(SLOW.format(seconds=0.25))
    out, log = tmp_path / "out", tmp_path / "log"
    env = dict(third_party_plugins, NTKBENCH_TEST_LOG=str(log))
    survived = []
    for kill in range(3):  # kill three times at different moments
        process = start_run(spec, out, env)
        deadline = time.time() + 120
        while len(list((out / "records").glob("*/*.json"))) < 4 * (kill + 1) and time.time() < deadline:
            time.sleep(0.05)
        process.send_signal(signal.SIGKILL)
        process.wait()
        survived.append(len(records(out)))  # every file parses: json.loads would raise otherwise
        assert all(r["status"] == "ok" for r in records(out))
    assert survived[0] >= 4 and survived[-1] > survived[0]
    done_before = survived[-1]
    resumed = run_cli("run", str(spec), "--out", str(out), "--no-progress", env=env)
    assert resumed.returncode == 0, resumed.stderr
    assert f"{24 - done_before} cell(s) computed, {done_before} already recorded" in resumed.stdout
    assert len(records(out)) == 24
    print(f"killed 3 times with {survived} records on disk; the resumed run computed {24 - done_before}")


def test_two_runs_on_one_directory_never_compute_a_cell_twice(third_party_plugins, write_spec, tmp_path):
    """Two processes on one directory: each cell is computed exactly once between them. Both are in
    a cell before any cell ends (a gate the learner waits for), so both do some of the work however
    long either takes to start."""
    gate = tmp_path / "gate"
    spec = write_spec(SLOW.format(seconds=f"0.05, gate: {gate}"))
    out, log = tmp_path / "out", tmp_path / "log"
    env = dict(third_party_plugins, NTKBENCH_TEST_LOG=str(log))
    first, second = start_run(spec, out, env), start_run(spec, out, env)
    waiting = tmp_path / "gate.waiting"
    deadline = time.time() + 120
    while len(set(waiting.read_text().split()) if waiting.exists() else ()) < 2 and time.time() < deadline:
        time.sleep(0.05)
    gate.touch()
    outputs = [p.communicate(timeout=300) for p in (first, second)]
    assert first.returncode == second.returncode == 0, outputs
    done = computations(log)
    assert len(done) == len(set(done)) == 24  # each cell exactly once, between the two processes
    pids = {line.split()[0] for line in log.read_text().splitlines()}
    assert len(pids) == 2  # both did some of the work
    assert len(records(out)) == 24
    assert any("computed by another process at the same time" in stdout for stdout, _ in outputs)
    for stdout, _ in outputs:  # each run accounts for every cell: its own, those recorded before, the other's
        counts = re.search(r"(\d+) cell\(s\) computed, (\d+) already recorded, (\d+) failed(?:, (\d+) computed by another)?", stdout)
        assert sum(int(count or 0) for count in counts.groups()) == 24, stdout


def test_corrupt_records_are_reported_set_aside_and_recomputed(third_party_plugins, write_spec, tmp_path):
    spec = write_spec(SLOW.format(seconds=0.0))
    out = tmp_path / "out"
    env = dict(third_party_plugins, NTKBENCH_TEST_LOG=str(tmp_path / "log"))
    assert run_cli("run", str(spec), "--out", str(out), "--no-progress", env=env).returncode == 0
    victim = sorted((out / "records").glob("*/*.json"))[3]
    edited = json.loads(victim.read_text())
    edited["metrics"]["test_loss"] += 1.0  # edited by hand: the checksum no longer matches
    victim.write_text(json.dumps(edited))
    board = run_cli("leaderboard", "--results", str(out), "--out", str(tmp_path / "board.md"), env=env)
    assert board.returncode == 0 and str(victim) in board.stderr and "set aside" in board.stderr
    assert victim.with_name(victim.name + ".corrupt").exists() and not victim.exists()
    again = run_cli("run", str(spec), "--out", str(out), "--no-progress", env=env)
    assert "1 cell(s) computed, 23 already recorded" in again.stdout
    assert victim.exists() and victim.with_name(victim.name + ".corrupt").exists()


def test_a_full_disk_stops_the_run_keeping_what_was_written(third_party_plugins, write_spec, tmp_path, monkeypatch):
    import ntkbench.storage._atomic as store_module
    from ntkbench import load_spec, run_spec
    from ntkbench.cli import main

    monkeypatch.setenv("NTKBENCH_TEST_LOG", str(tmp_path / "log"))
    spec_path = write_spec(SLOW.format(seconds=0.0))
    out = tmp_path / "out"
    real_dump, calls = json.dump, []

    def dump_until_full(payload, handle, **kwargs):
        if "cell" in payload:
            calls.append(1)
            if len(calls) > 5:
                handle.write("{\"trunc")
                raise OSError(errno.ENOSPC, "No space left on device")
        return real_dump(payload, handle, **kwargs)

    monkeypatch.setattr(store_module.json, "dump", dump_until_full)
    assert main(["run", str(spec_path), "--out", str(out), "--no-progress"]) == 1
    assert len(records(out)) == 5
    assert not [p for p in (out / "records").rglob("*") if p.name.endswith(".tmp")]  # no partial file left
    monkeypatch.setattr(store_module.json, "dump", real_dump)
    summary = run_spec(load_spec(spec_path), out, progress=False)
    assert summary.computed == 19 and summary.already_done == 5


def test_full_disk_message(third_party_plugins, write_spec, tmp_path, monkeypatch, capsys):
    import ntkbench.storage._atomic as store_module
    from ntkbench.cli import main

    monkeypatch.setenv("NTKBENCH_TEST_LOG", str(tmp_path / "log"))

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(store_module.os, "fsync", full)
    assert main(["run", str(write_spec(SLOW.format(seconds=0.0))), "--out", str(tmp_path / "out"), "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "No space left on device" in err and "run the same command to resume" in err and "Traceback" not in err


def test_out_of_memory_becomes_a_failed_cell_with_advice():
    from ntkbench.runner._work import _run_cell

    class Hungry:
        def fit_predict(self, task):
            raise RuntimeError("RESOURCE_EXHAUSTED: Out of memory while trying to allocate 80.00GiB")

    outcome = _run_cell(Hungry().fit_predict, task=type("T", (), {"num_classes": 2})(), y_test=None)
    assert outcome["status"] == "failed"
    assert outcome["failure"].startswith("out of memory") and "lower the largest n_train" in outcome["failure"]


# ----------------------------------------------------------------------------- bad input


BOMB = """\
a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]
name: [*g, *g, *g, *g, *g, *g, *g, *g, *g]
"""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (BOMB, "refusing a possible YAML bomb"),
        ("name: x\n  bad: [indent\n", "invalid YAML"),
        ("- just\n- a list\n", "a YAML mapping"),
        ("name: x\nlearners: [{name: network, id: ../../escape}]\n", "learners[0].id"),
        ("name: ../x\n", "name: String should match pattern"),
    ],
)
def test_bad_input_exits_2_without_traceback(text, expected, tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    for command in (["validate", str(path)], ["run", str(path), "--out", str(tmp_path / "out")]):
        result = run_cli(*command)
        assert result.returncode == 2, result.stderr
        assert expected in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()


SHIPPED = [yaml.safe_load(path.read_text()) for path in sorted((REPO / "specs").glob("*.yaml"))]
ODD_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 10**6), st.floats(allow_nan=True), st.text(max_size=8),
    st.lists(st.integers(-3, 5000), max_size=4), st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)


def _paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, prefix + (key,))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _paths(item, prefix + (index,))


@st.composite
def mutated_specs(draw):
    spec = copy.deepcopy(draw(st.sampled_from(SHIPPED)))
    for _ in range(draw(st.integers(1, 3))):
        paths = [p for p in _paths(spec) if p]
        path = draw(st.sampled_from(paths))
        parent = spec
        for part in path[:-1]:
            parent = parent[part]
        action = draw(st.sampled_from(["replace", "delete", "rename", "insert"]))
        if action == "replace":
            parent[path[-1]] = draw(ODD_VALUES)
        elif action == "delete":
            del parent[path[-1]]
        elif action == "rename" and isinstance(parent, dict):
            parent[path[-1] + draw(st.sampled_from(["s", "_", "x"]))] = parent.pop(path[-1])
        elif isinstance(parent, dict):
            parent[draw(st.text(min_size=1, max_size=6))] = draw(ODD_VALUES)
    return spec


@pytest.mark.slow
@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_specs())
def test_mutated_specs_validate_or_name_a_key(spec):
    text = yaml.safe_dump(spec, sort_keys=False)
    try:
        parse_spec(text, "mutated.yaml")
    except SpecError as error:
        assert error.problems and all(problem.key or "YAML" in problem.reason for problem in error.problems), str(error)
