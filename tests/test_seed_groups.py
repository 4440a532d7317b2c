"""Seeds trained as one computation: the same records as one seed at a time, groups the memory
budget holds, and nothing written lost when a group is killed."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import run_cli

from ntkbench import load_spec, parse_spec, run_spec
from ntkbench.storage import Cell, RecordStore, cells_of
from ntkbench.runner._groups import cell_groups

SPEC = """\
name: seed_groups
dataset: {name: teacher_student, dim: 8, pool: 600, n_test: 50, validation_n: 60}
architecture: {name: mlp, width: 32, depth: 1}
learners:
  - {id: until, name: network, batch_size: 16, until: {train_loss: 0.01}, max_steps: 3000, center: true}
  - {id: rates, name: network, batch_size: 16, steps: 80, optimizer: {name: sgd, learning_rate: [0.05, 0.5, 1.0e+6]}}
  - {name: entk_init, ridge: 1.0e-3}
sweep: {n_train: [16, 64], seeds: [0, 1, 2]}
"""


def stored(out: Path, spec) -> dict[Cell, object]:
    return RecordStore(out).load(spec.as_dict()).current


@pytest.mark.slow
def test_seeds_trained_together_give_the_records_of_one_seed_at_a_time(tmp_path):
    spec = parse_spec(SPEC)
    alone = run_spec(spec, tmp_path / "alone", progress=False, seeds_together=False)
    together = run_spec(spec, tmp_path / "together", progress=False, seeds_together=True)
    assert alone.computed == together.computed == 18 and not alone.failed and not together.failed
    one, grouped = stored(tmp_path / "alone", spec), stored(tmp_path / "together", spec)
    for cell, record in one.items():
        other = grouped[cell]
        assert record.metrics["test_error"] == other.metrics["test_error"], cell
        assert abs(record.metrics["test_loss"] - other.metrics["test_loss"]) <= 1e-5 * record.metrics["test_loss"], cell
        assert record.info.get("steps") == other.info.get("steps"), cell
        assert record.info.get("learning_rate") == other.info.get("learning_rate"), cell
        assert record.info.get("validation_errors") == other.info.get("validation_errors"), cell
    steps = {record.info["steps"] for cell, record in one.items() if cell.learner_id == "until"}
    assert len(steps) > 2  # the seeds of a group stop at their own checks


def test_groups_hold_the_seeds_of_one_n_as_many_as_the_budget_holds():
    spec = parse_spec(SPEC)
    todo = cells_of(spec.as_dict())
    units = cell_groups(spec, todo, seeds_together=True, budget=1 << 40)
    grouped = [unit for unit in units if len(unit) > 1]
    assert {(unit[0].learner_id, unit[0].n_train) for unit in grouped} == {("until", 16), ("until", 64), ("rates", 16), ("rates", 64)}
    assert all(sorted(cell.seed for cell in unit) == [0, 1, 2] and len({cell.n_train for cell in unit}) == 1 for unit in grouped)
    assert sorted(cell for unit in units for cell in unit) == sorted(todo)  # every cell once
    from ntkbench.runner import plan_spec

    one_cell = max(plan.cost.peak_bytes for plan in plan_spec(spec, detailed=False) if plan.cell.learner_id == "until")
    split = cell_groups(spec, todo, seeds_together=True, budget=2 * one_cell)
    assert max(len(unit) for unit in split if unit[0].learner_id == "until") == 2  # two fit, the third goes alone
    assert all(len(unit) == 1 for unit in cell_groups(spec, todo, seeds_together=False))


def test_a_dynamics_spec_computes_each_seed_alone():
    """A dynamics spec's network follows its own kernel trajectory per cell (`kernel_dynamics`),
    which a group of seeds would skip."""
    spec = load_spec(Path(__file__).resolve().parents[1] / "specs" / "fashion_dynamics.yaml")
    todo = cells_of(spec.as_dict())
    assert len(spec.seeds) > 1 and all(len(unit) == 1 for unit in cell_groups(spec, todo, seeds_together=True, budget=1 << 40))


KILLED = """\
name: killed_group
dataset: {name: teacher_student, dim: 16, pool: 2000, n_test: 50}
architecture: {name: mlp, width: 128, depth: 2}
learners:
  - {name: network, batch_size: 32, steps: 3000, center: true}
sweep: {n_train: [64, 128, 256, 512, 1024], seeds: [0, 1, 2, 3]}
"""


@pytest.mark.slow
def test_a_group_killed_midway_loses_nothing_written_and_resumes_to_the_same_records(write_spec, tmp_path):
    path = write_spec(KILLED)
    spec = parse_spec(KILLED)
    out = tmp_path / "out"
    command = [sys.executable, "-m", "ntkbench.cli", "run", str(path), "--out", str(out), "--no-progress",
               "--seeds-together", "on"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    while len(list((out / "records").glob("*/*.json"))) < 5 and time.time() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)  # in the middle of the second group (or of writing it)
    process.wait()
    before = {p: p.read_text() for p in (out / "records").glob("*/*.json")}
    assert 5 <= len(before) < 20, len(before)
    assert all(json.loads(text)["status"] == "ok" for text in before.values())
    resumed = run_cli("run", str(path), "--out", str(out), "--no-progress", "--seeds-together", "on")
    assert resumed.returncode == 0, resumed.stderr
    assert f"{20 - len(before)} cell(s) computed, {len(before)} already recorded" in resumed.stdout
    assert all(p.read_text() == text for p, text in before.items())  # what was written is kept as it was
    run_spec(spec, tmp_path / "uninterrupted", progress=False, seeds_together=False)
    resumed_records, uninterrupted = stored(out, spec), stored(tmp_path / "uninterrupted", spec)
    assert set(resumed_records) == set(uninterrupted) and len(uninterrupted) == 20
    for cell, record in uninterrupted.items():
        assert resumed_records[cell].metrics["test_error"] == record.metrics["test_error"], cell
        assert abs(resumed_records[cell].metrics["test_loss"] - record.metrics["test_loss"]) <= 1e-5 * record.metrics["test_loss"]


def test_the_plan_says_which_seeds_train_together(write_spec):
    path = write_spec(SPEC)
    grouped = run_cli("plan", str(path), "--seeds-together", "on")
    assert grouped.returncode == 0, grouped.stderr
    assert "4 groups of seeds train as one computation (up to 3 seeds at one n)" in grouped.stdout
    alone = run_cli("plan", str(path), "--seeds-together", "off")
    assert alone.returncode == 0 and "groups of seeds" not in alone.stdout
