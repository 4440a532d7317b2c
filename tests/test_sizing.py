"""`ntkbench plan SPEC --pilot DIR`: the half-widths a pilot predicts, the cheapest design that
decides, and clear refusals of what cannot be sized (exit 2)."""

from __future__ import annotations

import numpy as np
import pytest
import yaml
from conftest import run_cli, synthetic_record

from ntkbench import parse_spec
from ntkbench.results import size_study
from ntkbench.storage import RecordStore, cells_of

SPEC = {
    "name": "sized",
    "dataset": {"name": "teacher_student", "dim": 8, "pool": 5000, "n_test": 400, "test_pool": 2000},
    "architecture": {"name": "mlp", "width": 32, "depth": 1},
    "learners": [{"name": "network", "steps": 20}, {"name": "ntk_infinite"}],
    "sweep": {"n_train": [32, 64, 128, 256, 512], "seeds": [0, 1, 2, 3]},
}
RATES = {"gemm_flops": 1e11, "cholesky_flops": 5e10}


def write_pilot(directory, spec: dict, alphas: dict[str, float], noise: float = 0.05) -> None:
    """Records of `spec` whose error is 0.9 n^-alpha times seed-to-seed noise (no per-example outcomes)."""
    spec_dict = parse_spec(spec).as_dict()
    store = RecordStore(directory)
    store.write_spec(spec_dict)
    rng = np.random.default_rng(0)
    for cell in cells_of(spec_dict):
        error = 0.9 * cell.n_train ** -alphas[cell.learner_id] * np.exp(rng.normal(0, noise))
        store.write(spec_dict, cell, synthetic_record(spec_dict, cell, error))


def pilot_of(**sweep) -> dict:
    return {**SPEC, "sweep": {**SPEC["sweep"], **sweep}}


def test_a_pilot_predicts_the_half_width_and_names_the_cheapest_design_that_decides(tmp_path):
    write_pilot(tmp_path / "pilot", pilot_of(seeds=[0, 1, 2], n_train=[32, 64, 128, 256]), {"network": 0.5, "ntk_infinite": 0.3})
    spec = parse_spec(SPEC)
    sizing = size_study(spec, tmp_path / "pilot", RATES)
    (pair,) = sizing.pairs
    assert pair.projection.delta_alpha > 0.1
    # More seeds and more sizes narrow the interval; fewer widen it.
    written = sizing.as_written.half_widths[pair.label]
    assert written < pair.projection.spread.half_width()
    by_design = {(d.seeds, d.n_test, d.n_train[-1]): d for d in sizing.designs}
    assert by_design[(8, 400, 512)].half_widths[pair.label] < by_design[(4, 400, 512)].half_widths[pair.label]
    assert by_design[(4, 400, 1024)].half_widths[pair.label] < by_design[(4, 400, 256)].half_widths[pair.label]
    cheapest = sizing.cheapest()
    assert cheapest.decides and all(d.seconds >= cheapest.seconds for d in sizing.designs if d.decides)
    # The final study's seeds are fresh: none of its cells is the pilot's, so each seed costs the same.
    assert sizing.seeds_of(by_design[(4, 400, 256)]) == [3, 4, 5, 6]
    assert by_design[(3, 400, 256)].seconds > 0
    assert by_design[(4, 400, 256)].seconds == pytest.approx(4 / 3 * by_design[(3, 400, 256)].seconds)

    path = tmp_path / "sized.yaml"
    path.write_text(yaml.safe_dump(SPEC))
    printed = run_cli("plan", str(path), "--pilot", str(tmp_path / "pilot"), "--margin", "0.02")
    assert printed.returncode == 0, printed.stderr
    assert "half-width in the pilot" in printed.stdout and "±0.02" in printed.stdout
    # Each half-width is stated at the level of the verdict it expects, and agrees with it.
    sized = printed.stdout.split("half-width in the pilot", 1)[1]
    row = next(line for line in sized.splitlines() if line.startswith("ntk_infinite "))
    written_at_margin = size_study(spec, tmp_path / "pilot", RATES, 0.02).as_written
    expected = written_at_margin.expected[pair.label]
    level = {"equivalent": "90%"}.get(expected, "95%")
    shown = written_at_margin.half_widths90[pair.label] if level == "90%" else written_at_margin.half_widths[pair.label]
    assert f"{shown:.3f} ({level})" in row and (expected in row or f"no ({expected})" in row)
    assert "Cheapest design that decides every pair at ±0.02" in printed.stdout
    sizing_at_margin = size_study(spec, tmp_path / "pilot", RATES, 0.02)
    chosen = sizing_at_margin.chosen()
    seeds = list(range(3, 3 + chosen.seeds))
    assert f"Seeds to run: {seeds}. The pilot's seeds [0, 1, 2] are left out of the final analysis" in printed.stdout
    assert f"--set sweep.seeds=[{','.join(map(str, seeds))}] --set dataset.n_test={chosen.n_test}" in printed.stdout
    assert sizing_at_margin.cheapest() is chosen
    plain = run_cli("plan", str(path))
    assert "predicts cost, not power" in plain.stdout and "--pilot DIR" in plain.stdout


def test_what_cannot_be_sized_is_refused_with_exit_2(tmp_path):
    path = tmp_path / "sized.yaml"
    path.write_text(yaml.safe_dump(SPEC))
    write_pilot(tmp_path / "one_seed", pilot_of(seeds=[0]), {"network": 0.5, "ntk_infinite": 0.3})
    other = {**SPEC, "architecture": {"name": "mlp", "width": 64, "depth": 1}}
    write_pilot(tmp_path / "other", {**other, "sweep": {**SPEC["sweep"], "seeds": [0, 1]}}, {"network": 0.5, "ntk_infinite": 0.3})
    write_pilot(tmp_path / "fine", pilot_of(seeds=[0, 1]), {"network": 0.5, "ntk_infinite": 0.3})
    cases = {
        ("--pilot", str(tmp_path / "one_seed")): "the pilot has 1 seed; at least 2 are needed",
        ("--pilot", str(tmp_path / "other")): "not a pilot of",
        ("--pilot", str(tmp_path / "missing")): "no such results directory",
        ("--pilot", str(tmp_path / "fine"), "--margin", "0"): "must be a positive number",
        ("--pilot", str(tmp_path / "fine"), "--margin", "nan"): "must be a positive number",
    }
    for arguments, message in cases.items():
        result = run_cli("plan", str(path), *arguments)
        assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr, (arguments, result.stderr)
    for margin in ("0", "-0.1", ".nan", ".inf"):
        bad = tmp_path / f"margin{margin}.yaml"
        bad.write_text(yaml.safe_dump(SPEC) + f"compare: {{margin: {margin}}}\n")
        result = run_cli("validate", str(bad))
        assert result.returncode == 2 and "compare.margin" in result.stderr, result.stderr
