"""Reliability, round two: one spec per results directory, malformed stored files, concurrency on
records being set aside and on dead lock holders, atomic leaderboards, permissions, leftovers."""

from __future__ import annotations

import errno
import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import run_cli, synthetic_record, spec_page

from ntkbench import load_spec, parse_spec, run_spec

FAST = """\
name: {name}
dataset: {{name: blobs, n_test: 30}}
architecture: {{name: mlp, width: 8, depth: 1}}
learners: [{{name: mean_classifier}}]
sweep: {{n_train: [6, 9, 12, 15], seeds: [0, 1]}}
"""


def record_paths(out: Path) -> list[Path]:
    return sorted((out / "records").glob("*/*.json"))


def test_a_second_spec_on_the_same_out_is_refused_naming_both(third_party_plugins, write_spec, tmp_path):
    out = tmp_path / "out"
    first = run_cli("run", str(write_spec(FAST.format(name="first"), "first.yaml")), "--out", str(out), "--no-progress",
                    env=third_party_plugins)
    assert first.returncode == 0, first.stderr
    stored = (out / "spec.json").read_text()
    second_spec = write_spec(FAST.format(name="second"), "second.yaml")
    second = run_cli("run", str(second_spec), "--out", str(out), "--no-progress", env=third_party_plugins)
    assert second.returncode == 2, second.stderr
    assert f"{out} holds the results of spec 'first'; spec 'second' ({second_spec}) cannot share it" in second.stderr
    assert (out / "spec.json").read_text() == stored and len(record_paths(out)) == 8
    board = run_cli("leaderboard", "--results", str(out), "--out", str(tmp_path / "board.md"), env=third_party_plugins)
    assert board.returncode == 0 and "0 stale record(s)" in spec_page(out, tmp_path / "board.md")
    # A revised version of the same spec keeps the directory (its earlier records become stale).
    revised = write_spec(FAST.format(name="first").replace("seeds: [0, 1]", "seeds: [0, 1, 2]"), "first.yaml")
    again = run_cli("run", str(revised), "--out", str(out), "--no-progress", env=third_party_plugins)
    assert again.returncode == 0 and "4 cell(s) computed, 8 already recorded" in again.stdout


@pytest.mark.parametrize("content", ["{}", "[]", '{"name": "first"}', "not json"])
def test_a_malformed_spec_json_is_reported_not_a_crash(third_party_plugins, write_spec, tmp_path, content):
    out = tmp_path / "out"
    out.mkdir()
    (out / "spec.json").write_text(content)
    run = run_cli("run", str(write_spec(FAST.format(name="first"))), "--out", str(out), "--no-progress", env=third_party_plugins)
    board = run_cli("leaderboard", "--results", str(out), "--out", str(tmp_path / "board.md"), env=third_party_plugins)
    for result in (run, board):
        assert result.returncode == 2, result.stderr
        assert f"{out / 'spec.json'}: not a spec that ntkbench wrote" in result.stderr
        assert "internal error" not in result.stderr and "Traceback" not in result.stderr
    assert (out / "spec.json").read_text() == content


def test_a_checksum_valid_record_of_the_wrong_shape_is_set_aside(third_party_plugins, tmp_path, write_spec):
    from ntkbench.storage._record_store import _with_checksum, write_json_atomically

    spec = load_spec(write_spec(FAST.format(name="first")))
    out = tmp_path / "out"
    run_spec(spec, out, progress=False)
    victim = record_paths(out)[0]
    shapeless = json.loads(victim.read_text())
    del shapeless["cell"]
    write_json_atomically(victim, _with_checksum(shapeless))
    summary = run_spec(spec, out, progress=False)
    assert summary.computed == 1 and [path.name for path in summary.set_aside] == [victim.name + ".corrupt"]


def test_leaderboard_check_writes_nothing(third_party_plugins, write_spec, tmp_path):
    out = tmp_path / "out"
    run_spec(load_spec(write_spec(FAST.format(name="first"))), out, progress=False)
    board = tmp_path / "board.md"
    assert run_cli("leaderboard", "--results", str(out), "--out", str(board), env=third_party_plugins).returncode == 0
    victim = record_paths(out)[0]
    victim.write_text(victim.read_text()[:40])
    before = sorted(p.name for p in out.rglob("*"))
    check = run_cli("leaderboard", "--check", "--results", str(out), "--out", str(board), env=third_party_plugins)
    assert check.returncode == 1 and "ignored" in check.stderr
    assert sorted(p.name for p in out.rglob("*")) == before  # nothing renamed, nothing written


def test_stale_temporary_files_are_removed_and_fresh_ones_kept(third_party_plugins, write_spec, tmp_path):
    spec = load_spec(write_spec(FAST.format(name="first")))
    out = tmp_path / "out"
    run_spec(spec, out, progress=False)
    directory = record_paths(out)[0].parent
    stale, fresh = directory / ".a.json.x1.tmp", directory / ".b.json.x2.tmp"
    stale.write_text("{")
    fresh.write_text("{")
    old = time.time() - 3600
    os.utime(stale, (old, old))
    run_spec(spec, out, progress=False)
    assert not stale.exists() and fresh.exists()


def test_files_are_created_with_the_users_umask(third_party_plugins, write_spec, tmp_path):
    previous = os.umask(0o022)
    try:
        out = tmp_path / "out"
        run_spec(load_spec(write_spec(FAST.format(name="first"))), out, progress=False)
    finally:
        os.umask(previous)
    for path in [out / "spec.json", *record_paths(out)]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o644, path


def test_a_full_disk_while_the_leaderboard_is_written_keeps_the_old_files(third_party_plugins, write_spec, tmp_path,
                                                                          monkeypatch, capsys):
    import ntkbench.storage._atomic as store_module
    from ntkbench.cli import main

    out = tmp_path / "out"
    spec_path = write_spec(FAST.format(name="first"))
    assert main(["run", str(spec_path), "--out", str(out), "--no-progress"]) == 0
    board = out / "leaderboard.md"
    written = board.read_text()
    figures = {path: path.read_bytes() for path in out.glob("*.png")}
    real_fsync = os.fsync

    def full(descriptor):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(store_module.os, "fsync", full)
    capsys.readouterr()
    assert main(["leaderboard", "--results", str(out), "--out", str(board)]) == 1
    err = capsys.readouterr().err
    assert "cannot write the leaderboard" in err and "No space left on device" in err and "internal error" not in err
    assert board.read_text() == written and all(path.read_bytes() == data for path, data in figures.items())
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]
    monkeypatch.setattr(store_module.os, "fsync", real_fsync)


HOLDER = """\
import sys, time
from pathlib import Path
from ntkbench import load_spec
from ntkbench.storage import RecordStore, cells_of
spec = load_spec(sys.argv[1]).as_dict()
cell = cells_of(spec)[-1]
with RecordStore(sys.argv[2]).claim(spec, cell):
    Path(sys.argv[3]).touch()
    deadline = time.monotonic() + 120
    while not Path(sys.argv[4]).exists() and time.monotonic() < deadline:
        time.sleep(0.02)
"""
"""Holds the lock of the spec's last cell, writes no record, and lets go only once told to."""


def test_a_cell_whose_lock_holder_dies_without_a_record_is_computed(third_party_plugins, write_spec, tmp_path, monkeypatch):
    """The run meets the held lock (the holder lets go only when the run waits on it), waits, finds
    no record, and computes the cell itself."""
    from ntkbench.storage import RecordStore

    spec_path = write_spec(FAST.format(name="first"))
    out, ready, release = tmp_path / "out", tmp_path / "ready", tmp_path / "release"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(spec_path), str(out), str(ready), str(release)],
                              env=third_party_plugins)
    deadline = time.time() + 60
    while not ready.exists() and time.time() < deadline:
        time.sleep(0.05)
    assert ready.exists()
    waited_for, claim = [], RecordStore.claim

    def claim_and_release_the_holder(self, spec_dict, cell, *, wait=False):
        if wait:  # only a cell found busy is waited for
            waited_for.append(cell.label())
            release.touch()
        return claim(self, spec_dict, cell, wait=wait)

    monkeypatch.setattr(RecordStore, "claim", claim_and_release_the_holder)
    spec = load_spec(spec_path)
    summary = run_spec(spec, out, progress=False)
    assert holder.wait(timeout=60) == 0
    from ntkbench.storage import cells_of

    assert waited_for == [cells_of(spec.as_dict())[-1].label()]  # the run met the held lock
    assert summary.computed == 8 and summary.busy == [] and len(record_paths(out)) == 8


MANY = """\
name: many
dataset: {name: teacher_student, dim: 4, pool: 2000, n_test: 20}
architecture: {name: mlp, width: 8, depth: 1}
learners: [{name: network}, {name: ntk_infinite}]
sweep: {n_train: [16, 24, 32, 48, 64, 96, 128, 192, 256, 384], seeds: SEEDS}
"""


def test_three_processes_meet_one_corrupt_record_among_3000(tmp_path):
    from ntkbench.storage import RecordStore, cells_of

    spec_dict = parse_spec(MANY.replace("SEEDS", str(list(range(150))))).as_dict()
    store = RecordStore(tmp_path / "many")
    store.write_spec(spec_dict)
    cells = cells_of(spec_dict)
    assert len(cells) == 3000
    rng = np.random.default_rng(0)
    for cell in cells:
        error = cell.n_train ** -0.5 * float(np.exp(rng.normal(0, 0.05)))
        store.write(spec_dict, cell, synthetic_record(spec_dict, cell, error))
    victim = record_paths(store.root)[1234]
    victim.write_text(victim.read_text()[:100])
    processes = [
        subprocess.Popen([sys.executable, "-m", "ntkbench.cli", "leaderboard", "--results", str(store.root),
                          "--out", str(tmp_path / f"board{index}.md")], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for index in range(3)
    ]
    results = [(process.wait(timeout=600), process.stderr.read()) for process in processes]
    assert all(code == 0 for code, _ in results), results
    assert all("internal error" not in err and "Traceback" not in err for _, err in results)
    assert [path.name for path in victim.parent.glob("*.corrupt*")] == [victim.name + ".corrupt"]
    boards = {(tmp_path / f"board{index}.md").read_text().replace(f"board{index}_", "board_") for index in range(3)}
    assert len(boards) == 1 and "Cells: 2999 of 3000 succeeded, 0 failed, 1 not run" in spec_page(store.root, tmp_path / "board0.md")


def test_non_finite_and_non_json_facts_of_a_learner_are_kept_as_text():
    from ntkbench import LearnerResult
    from ntkbench.runner._work import _run_cell

    class Odd:
        def fit_predict(self, task):
            info = {"loss": float("nan"), "curve": np.array([1.0, np.inf]), "count": np.int64(3), "when": object}
            return LearnerResult(np.eye(2)[[0, 1, 1]], info)

    outcome = _run_cell(Odd().fit_predict, task=type("T", (), {"num_classes": 2})(), y_test=np.array([0, 1, 0]))
    assert outcome["status"] == "ok"
    assert outcome["info"] == {"loss": "nan", "curve": [1.0, "inf"], "count": 3, "when": repr(object)}
    json.dumps(outcome["info"], allow_nan=False)
