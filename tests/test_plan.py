"""`ntkbench plan` and the memory budget of `ntkbench run`."""

from __future__ import annotations

import pytest

from conftest import run_cli
from ntkbench import InputError, parse_spec
from ntkbench._plan import over_budget, plan_spec
from ntkbench._resources import format_bytes, parse_bytes

SPEC = """\
name: planned
dataset: {name: teacher_student, dim: 16, n_test: 100, num_classes: 3}
architecture: {name: mlp, width: 64, depth: 2}
learners:
  - {name: network, batch_size: 32, steps: 100}
  - {name: ntk_infinite}
  - {name: entk_init}
sweep: {n_train: [64, 256, 1024], seeds: [0, 1]}
"""


def test_parse_and_format_bytes():
    assert parse_bytes("512M") == 512 << 20 and parse_bytes("2G") == 2 << 30 and parse_bytes("1000") == 1000
    assert format_bytes(3 << 30) == "3.0 GiB"
    with pytest.raises(InputError, match="use a size such as 8G"):
        parse_bytes("lots")


def test_plan_counts_flops_and_memory_for_every_cell():
    spec = parse_spec(SPEC)
    plans = plan_spec(spec, detailed=True, rates={"gemm_flops": 1e11, "cholesky_flops": 5e10})
    assert len(plans) == 3 * 3 * 2 and all(plan.cost is not None and plan.seconds is not None for plan in plans)
    by_cell = {(p.cell.learner_id, p.cell.n_train, p.cell.seed): p for p in plans}
    # Training: about 6 FLOPs per parameter per example (forward and backward), per step.
    parameters = 16 * 64 + 64 * 64 + 64 * 3 + 64 + 64 + 3
    network = by_cell["network", 256, 0].cost.flops
    assert 3 * parameters * 32 * 100 < network < 20 * parameters * 32 * 100
    # A kernel learner pays for the seed's kernel and factorisation at its first cell only.
    first, later = by_cell["ntk_infinite", 64, 1].cost, by_cell["ntk_infinite", 1024, 1].cost
    assert first.factor_flops == pytest.approx(1024**3 / 3) and later.factor_flops == 0
    assert first.flops + first.factor_flops > 20 * later.flops
    assert first.peak_bytes > 1024 * 1024 * 12  # float32 kernel and float64 factor of the largest set


def test_run_refuses_a_spec_over_the_memory_budget(write_spec, tmp_path):
    spec = write_spec(SPEC)
    refused = run_cli("run", str(spec), "--out", str(tmp_path / "out"), "--memory-budget", "8M", "--no-progress")
    assert refused.returncode == 2 and "need more memory than the budget of 8.0 MiB" in refused.stderr
    assert "ntk_infinite n=64 seed=0" in refused.stderr and "--force" in refused.stderr
    assert not (tmp_path / "out").exists()
    assert over_budget(plan_spec(parse_spec(SPEC), detailed=False), 1 << 40) == []
    bad = run_cli("run", str(spec), "--memory-budget", "eight", "--no-progress")
    assert bad.returncode == 2 and "use a size such as 8G" in bad.stderr


def test_plan_command_prints_a_table_and_totals(write_spec, tmp_path):
    import os

    env = dict(os.environ, NTKBENCH_DATA=str(tmp_path / "data"))  # the calibration cache goes there
    result = run_cli("plan", str(write_spec(SPEC)), "--memory-budget", "16M", env=env)
    assert result.returncode == 0, result.stderr
    assert "18 cells; estimated" in result.stdout and "GFLOP/s float32 GEMM" in result.stdout
    assert "OVER BUDGET" in result.stdout
    assert (tmp_path / "data" / "calibration.json").exists()
