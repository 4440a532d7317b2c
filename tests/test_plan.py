"""`ntkbench plan` and the memory budget of `ntkbench run`."""

from __future__ import annotations

import re

import jax
import numpy as np
import pytest
from conftest import run_cli

import ntkbench
from ntkbench import InputError, parse_spec
from ntkbench.api import format_bytes, parse_bytes
from ntkbench.runner._plan import over_budget, plan_spec

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


@pytest.mark.parity  # the plan traces jax code: every stack
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
    # The largest set's float64 factor, into which its kernel is assembled (no float32 copy), and the test kernel.
    assert 8 * 1024**2 + 4 * 100 * 1024 <= first.peak_bytes < 12 * 1024**2


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
    assert "device-hours" not in result.stdout

    on_four = run_cli("plan", str(write_spec(SPEC)), "--devices", "4", env=env)
    assert re.search(r"on 4 device\(s\) like this one: [\d.e+-]+ device-hours; at best [^;]+? of wall time", on_four.stdout)
    refused = run_cli("plan", str(write_spec(SPEC)), "--devices", "0", env=env)
    assert refused.returncode == 2 and "--devices 0: give at least one device" in refused.stderr


def test_device_hours_are_the_plans_compute_and_its_wall_time_splits_over_the_devices():
    from ntkbench.runner._plan_table import readable_seconds

    table = ntkbench.plan(parse_spec(SPEC))
    assert table.total_seconds > 0 and table.device_hours() == pytest.approx(table.total_seconds / 3600)
    line = next(line for line in table.text(8).splitlines() if "device-hours" in line)
    assert f"on 8 device(s) like this one: {table.device_hours():.3g} device-hours" in line
    assert f"at best {readable_seconds(table.total_seconds / 8)} of wall time" in line


def test_a_named_accelerator_gets_an_estimate_from_its_peak_rates_and_memory(write_spec, tmp_path):
    """`plan --device h100`: the plan's float32 FLOPs at 40% of the H100's FP32 peak and its float64
    factorisations at 60% of its FP64 peak, labelled an estimate; a device too small for a cell says so;
    an unknown device is refused with the known names; and after a run, how close the plan came here."""
    from ntkbench.runner import ACCELERATORS, Accelerator
    from ntkbench.runner._plan_table import readable_seconds

    table = ntkbench.plan(parse_spec(SPEC))
    h100 = ACCELERATORS["h100"]
    flops = sum(p.cost.flops for p in table.plans if p.cost is not None)
    factors = sum(p.cost.factor_flops for p in table.plans if p.cost is not None)
    expected = flops / (0.4 * 67e12) + factors / (0.6 * 67e12)
    seconds, too_large = table.on_device(h100)
    assert seconds == pytest.approx(expected) and too_large == []
    line = next(line for line in table.text(4, h100).splitlines() if line.startswith("ESTIMATE"))
    assert line.startswith(f"ESTIMATE on 4 × NVIDIA H100 SXM5 80GB: {expected / 3600:.3g} device-hours; at best "
                           f"{readable_seconds(expected / 4)} of wall time")
    assert "memory traffic, compilation and data loading are not counted" in line
    tiny = Accelerator("a tiny device", 1e12, 1e12, 1 << 20, "made up")
    _, too_large = table.on_device(tiny)
    assert too_large and "cells need more than its 1.0 MiB of memory" in table.text(None, tiny)

    path = write_spec(SPEC)
    assert "ESTIMATE on 1 × NVIDIA A100 SXM4 40GB" in run_cli("plan", str(path), "--device", "A100-40GB").stdout
    refused = run_cli("plan", str(path), "--device", "b300")
    assert refused.returncode == 2 and "--device: unknown device 'b300'; known: h100, h200, a100" in refused.stderr

    small = SPEC.replace("n_train: [64, 256, 1024], seeds: [0, 1]", "n_train: [64, 128], seeds: [0]")
    ntkbench.run(small, out=tmp_path / "ran", leaderboard=False)
    after = ntkbench.plan(small, out=tmp_path / "ran")
    count, planned, taken = after.recorded
    assert count == 6 and planned > 0 and taken > 0
    assert f"on this device, the 6 cells recorded in {tmp_path / 'ran'} took {readable_seconds(taken)}" in after.text()


def test_the_python_api_returns_the_plan_the_command_prints(write_spec, tmp_path, monkeypatch):
    import ntkbench

    path = write_spec(SPEC)
    monkeypatch.setenv("NTKBENCH_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("NTKBENCH_MEMORY_BUDGET", "16M")
    printed = run_cli("plan", str(path), "--out", str(tmp_path / "none"))
    table = ntkbench.plan(path, out=tmp_path / "none")
    assert printed.returncode == 0 and printed.stdout.startswith(table.text() + "\n")
    by_row = {(row.learner, row.n): row for row in table.rows}
    assert by_row["network", "1024"].over_budget and by_row["network", "1024"].cells == 2
    assert not by_row["ntk_infinite", "1024"].over_budget
    assert table.total_seconds == pytest.approx(sum(p.seconds for p in table.plans if p.seconds is not None))


SHARED = """\
name: shared
dataset: {name: teacher_student, dim: 8, num_classes: 3, n_test: 30, pool: POOL}
architecture: {name: mlp, width: 32, depth: 1}
learners: [{name: ntk_infinite}]
sweep: {n_train: [60, 120, 200], seeds: [0, 1, 2]}
"""


def test_plan_counts_a_kernel_shared_by_the_seeds_once():
    """3 seeds of 200 from a pool of 240 share one kernel on their union (as the run does, see
    tests/test_kernels.py): the plan counts it at the first seed's first cell, a factorisation
    at every seed's first cell, and its memory in every cell. From a pool of 100000 the union
    takes more entries than three kernels: one kernel per seed."""
    from ntkbench.numerics._costs import expected_union_size
    from ntkbench.runner._sampling import training_order

    def costs(pool: int) -> dict:
        plans = plan_spec(parse_spec(SHARED.replace("POOL", str(pool))), detailed=True, rates=None)
        return {(p.cell.seed, p.cell.n_train): p.cost for p in plans}

    shared, apart = costs(240), costs(100000)

    y_pool = parse_spec(SHARED.replace("POOL", "240")).dataset.instantiate().load().y_pool
    union = len(set().union(*(training_order(y_pool, seed)[:200] for seed in (0, 1, 2))))
    assert abs(expected_union_size(240, 200, 3) - union) <= 0.02 * union  # 239 expected, 237 drawn
    for seed in (1, 2):
        solve = 2 * 60 * 60 * 3 + 2 * 30 * 60 * 3  # the cell's own solve: no kernel is computed
        assert shared[seed, 60].flops == solve and shared[seed, 60].factor_flops == pytest.approx(200**3 / 3)
        assert apart[seed, 60].flops > 0 and apart[seed, 60].factor_flops == pytest.approx(200**3 / 3)
    assert shared[0, 60].flops > 0
    def first_cells_flops(costs: dict) -> float:
        return sum(cost.flops for (_, n), cost in costs.items() if n == 60)

    assert first_cells_flops(shared) < first_cells_flops(apart) / 2
    data_bytes = {pool: 4 * 8 * (pool + 30) for pool in (240, 100000)}  # the pool and test inputs
    union_bytes = 4 * 239 * (239 + 30)  # the union's float32 kernels, held for the whole run
    for cell, cost in shared.items():
        if cell[1] > 60:
            assert cost.peak_bytes - data_bytes[240] == apart[cell].peak_bytes - data_bytes[100000] + union_bytes


def test_a_union_kernel_is_never_shared_by_one_seed():
    from ntkbench.numerics._costs import union_kernel_pays

    assert union_kernel_pays(239, 3, 200, 30, budget=1 << 30)
    assert not union_kernel_pays(200, 1, 200, 30, budget=1 << 30)
    assert not union_kernel_pays(239, 3, 200, 30, budget=100_000)  # the union's kernels do not fit


def test_the_plan_sizes_a_network_from_its_shapes_and_refuses_one_beyond_reason():
    """A width of 2^20 would be 4 TiB of weights: the estimate must not create it to find out."""
    from ntkbench import CostContext
    from ntkbench.architectures.mlp import MLPArchitecture
    from ntkbench.numerics._costs import initial_model, parameter_count

    def context(width: int, detailed: bool) -> CostContext:
        return CostContext(
            architecture=MLPArchitecture(MLPArchitecture.Options(width=width, depth=2)), input_shape=(784,), num_classes=10,
            n_train=64, n_train_max=64, n_test=100, first_of_seed=True, detailed=detailed,
        )

    abstract = initial_model(context(16, detailed=False))
    assert all(not hasattr(leaf, "block_until_ready") for leaf in jax.tree_util.tree_leaves(abstract))  # shapes only
    assert parameter_count(abstract) == 784 * 16 + 16 + 16 * 16 + 16 + 16 * 10 + 10
    for detailed in (False, True):
        with pytest.raises(InputError, match=r"1.1e\+12 parameters"):
            initial_model(context(2**20, detailed))


def test_a_plan_traces_each_distinct_computation_once_and_keeps_what_it_measured(monkeypatch, tmp_path):
    """The steps of a training and a kernel tile are the same computation at every n: traced once
    and timed once; kept, so that a plan in another process neither traces nor compiles, and
    gives the same estimates."""
    from ntkbench.numerics import _costs, _measured

    spec = parse_spec(SPEC)
    rates = {"gemm_flops": 1e11, "cholesky_flops": 5e10}
    monkeypatch.setattr(_measured, "_path", lambda: tmp_path / _measured.FILE)
    monkeypatch.setattr(_measured, "_SECTIONS", {})
    monkeypatch.setattr(_costs, "_TRACED", {})
    monkeypatch.setattr(_costs, "MEASURING_SECONDS", 600.0)  # what is counted, not the wall-time cap (tested below)
    traces, timings = [], []
    real_trace, real_time = _costs.trace_cost, _costs._time
    monkeypatch.setattr(_costs, "trace_cost", lambda *a, **k: traces.append(1) or real_trace(*a, **k))
    monkeypatch.setattr(_costs, "_time", lambda *a: timings.append(1) or real_time(*a))
    plans = plan_spec(spec, detailed=True, rates=rates)
    # One training step; the infinite NTK; the native empirical NTK's tile and its block features.
    assert len(traces) == 4, len(traces)
    assert len(timings) == 3  # ten training steps, a tile of each kernel
    assert all(p.cost.timed_flops == p.cost.flops for p in plans if p.cell.learner_id == "network")
    again = plan_spec(spec, detailed=True, rates=rates)
    assert (len(traces), len(timings)) == (4, 3)  # nothing again in the process
    assert [p.cost for p in again] == [p.cost for p in plans]
    network = [p for p in plans if p.cell.learner_id == "network"]
    assert len({p.cost.flops for p in network}) == 1  # 100 steps at every n: the same work
    assert (tmp_path / _measured.FILE).exists()
    monkeypatch.setattr(_measured, "_SECTIONS", None)  # as in a new process: only the file is left
    monkeypatch.setattr(_costs, "_TRACED", {})
    fresh = plan_spec(spec, detailed=True, rates=rates)
    assert (len(traces), len(timings)) == (4, 3)
    assert [p.seconds for p in fresh] == [p.seconds for p in plans]


def test_a_plan_out_of_measuring_time_counts_untimed_work_at_the_gemm_rate(monkeypatch, tmp_path):
    """With no time to measure, nothing is compiled: every cell's seconds are its FLOPs at the
    GEMM rate (a lower bound) and its factorisations at the Cholesky rate."""
    from ntkbench.numerics import _costs, _measured

    monkeypatch.setattr(_measured, "_path", lambda: tmp_path / _measured.FILE)
    monkeypatch.setattr(_measured, "_SECTIONS", {})
    monkeypatch.setattr(_costs, "_TRACED", {})
    monkeypatch.setattr(_costs, "MEASURING_SECONDS", 0.0)
    monkeypatch.setattr(_costs, "_time", lambda *a: pytest.fail("compiled with no measuring time left"))
    rates = {"gemm_flops": 1e11, "cholesky_flops": 5e10}
    for plan in plan_spec(parse_spec(SPEC), detailed=True, rates=rates):
        assert plan.cost.timed_flops == 0 and plan.cost.flops > 0
        assert plan.seconds == pytest.approx(plan.cost.flops / 1e11 + plan.cost.factor_flops / 5e10)


@pytest.mark.slow
def test_every_shipped_spec_plans_every_cell_of_a_built_in_learner(monkeypatch):
    """Every computation of the shipped specs traces (a ResNet with batch norm, the infinite NTK of each
    architecture, the empirical NTK's implementations): no built-in learner's cell is left without
    FLOPs, and nothing warns. Nothing is timed here (tracing only)."""
    import warnings

    from conftest import REPO

    from ntkbench import load_spec
    from ntkbench.numerics import _costs

    monkeypatch.setattr(_costs, "MEASURING_SECONDS", 0.0)
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message="ntkbench plan")
        for path in sorted((REPO / "specs").glob("*.yaml")):
            spec = load_spec(path)
            built_in = {choice.id for choice in spec.learners if type(choice.instantiate()).__module__.startswith("ntkbench.")}
            unknown = {p.cell.learner_id for p in plan_spec(spec, detailed=True) if p.cost is None or p.cost.flops is None}
            assert not unknown & built_in, (path.name, unknown & built_in)


UNTIL = """\
name: until_plan
dataset: {name: teacher_student, dim: 8, pool: 600, n_test: 40}
architecture: {name: mlp, width: 16, depth: 1}
learners:
  - {name: network, batch_size: 16, until: {train_loss: 0.01}, max_steps: 5000, center: true}
sweep: {n_train: [16, 32, 64], seeds: [0, 1]}
"""


def test_a_plan_counts_the_steps_an_earlier_run_took_to_meet_an_until_rule(tmp_path):
    """Without records an `until` training is counted at max_steps and marked an upper bound; with
    the records of a run of the spec, at the mean steps recorded (interpolated for an n the run
    did not record)."""
    from ntkbench import run_spec
    from ntkbench.storage import RecordStore

    spec = parse_spec(UNTIL)
    rates = {"gemm_flops": 1e11, "cholesky_flops": 5e10}
    blind = plan_spec(spec, detailed=True, rates=rates)
    assert all(p.cost.upper_bound for p in blind)
    run_spec(parse_spec(UNTIL.replace("[16, 32, 64]", "[16, 64]")), tmp_path / "earlier", progress=False)
    steps = {}
    for cell, record in RecordStore(tmp_path / "earlier").load(spec.as_dict()).current.items():
        steps.setdefault(cell.n_train, []).append(record.info["steps"])
    informed = plan_spec(spec, detailed=True, rates=rates, records=tmp_path / "earlier")
    assert not any(p.cost.upper_bound for p in informed)
    per_step = blind[0].cost.flops / 5000
    for plan in informed:
        n = plan.cell.n_train
        expected = np.mean(steps[n]) if n in steps else np.sqrt(np.mean(steps[16]) * np.mean(steps[64]))  # power law
        assert plan.cost.flops == pytest.approx(expected * per_step, rel=1e-6), n
        assert plan.cost.flops < 0.5 * blind[0].cost.flops


def test_the_plan_shows_a_seeds_shared_work_as_its_own_row_and_reads_in_plain_units():
    from ntkbench.runner._plan_table import readable_seconds

    table = ntkbench.plan(parse_spec(SPEC))
    rows = {(row.learner, row.n): row for row in table.rows}
    shared, first, later = rows["ntk_infinite", "per seed"], rows["ntk_infinite", "64"], rows["ntk_infinite", "256"]
    # The seed's kernel on its largest set and the float64 factor: once per seed, not in the first n's row.
    assert shared.cells == 2 and shared.flops > 1024**3 / 3 > 100 * first.flops
    assert first.flops < later.flops and rows["network", "64"].n == "64" and ("network", "per seed") not in rows
    totals = sum(p.seconds for p in table.plans if p.seconds is not None)
    assert table.total_seconds == pytest.approx(totals)  # the rows split the cells; the totals are the cells'
    text = table.text()
    header = text.splitlines()[0].split()
    assert header == ["learner", "n", "count", "FLOPs", "each", "peak", "memory", "seconds", "each"]  # no empty column
    assert f"{readable_seconds(table.total_seconds)} of compute" in text
    assert [readable_seconds(s) for s in (0.001, 0.42, 75, 3600 * 5.3, 86400 * 31, 86400 * 365.25 * 8.5)] == [
        "<0.01 s", "0.42 s", "75 s", "5.3 h", "31 days", "8.5 years"]
    from ntkbench.runner._plan_table import PlanRow

    assert [PlanRow("ntk_infinite", None, "64", 1, 1e4, 1, seconds, True, False).seconds_text() for seconds in (0.004, 75)] == [
        ">=0.004 s", ">=75 s"]  # a lower bound below 0.01 s is no ">=<0.01 s"


def test_the_suggested_pilot_is_smaller_than_the_spec():
    from ntkbench.results import pilot_command

    five = parse_spec(SPEC.replace("seeds: [0, 1]", "seeds: [3, 4, 5, 6, 7]"))
    assert pilot_command(five, "s.yaml", "DIR") == "ntkbench run s.yaml --set sweep.seeds=[3,4,5] --out DIR"
    two = parse_spec(SPEC)
    assert pilot_command(two, "s.yaml", "DIR") == "ntkbench run s.yaml --set dataset.n_test=25 --out DIR"
