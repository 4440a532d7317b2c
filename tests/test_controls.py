"""The instrument's controls, at reduced size: the shipped positive control must find the network
ahead of its kernels, and the shipped negative control must find them equivalent. Either failing means
the leaderboard's verdicts cannot be trusted."""

from __future__ import annotations

import re

import numpy as np
import pytest
import yaml
from conftest import REPO, run_cli

from ntkbench import parse_spec, run_spec
from ntkbench.analysis._collect import load_results, summarize


def reduced(name: str, **sweep) -> str:
    spec = yaml.safe_load((REPO / "specs" / f"{name}.yaml").read_text())
    spec["sweep"] = sweep
    return yaml.safe_dump(spec)


def run(out, text: str):
    spec = parse_spec(text)
    summary = run_spec(spec, out, progress=False)
    assert not summary.failed
    return summarize(load_results(out))


@pytest.mark.slow
def test_the_positive_control_finds_the_network_ahead(tmp_path):
    spec = yaml.safe_load(reduced("control_positive", n_train=[64, 128, 256, 512], seeds=[0, 1, 2, 3]))
    spec["dataset"].update(n_test=600, validation_n=300)
    group = run(tmp_path, yaml.safe_dump(spec)).groups[0]
    verdicts = {c.learner_id: (group.decision(c).verdict, c.delta_interval) for c in group.comparison.comparisons}
    print(verdicts)
    assert set(verdicts) == {"ntk_infinite", "entk_init"}
    assert all(verdict == "network scales better" and interval.low > 0 for verdict, interval in verdicts.values())


@pytest.mark.slow
def test_the_negative_control_finds_no_gap_and_an_underpowered_pilot_of_it_says_what_would_decide(tmp_path):
    """The reduced negative control reads "equivalent". Two seeds, run first as a pilot, read
    "inconclusive" with the seeds that would decide; `ntkbench plan --pilot` predicts the half-width
    of the full design from them and names seeds apart from the pilot's, on which the full run
    then computes every cell."""
    spec = yaml.safe_load(reduced("control_negative", n_train=[64, 128, 256], seeds=[0, 1, 2, 3]))
    spec["architecture"]["width"] = 2048
    spec["dataset"]["n_test"] = 600
    path = tmp_path / "control.yaml"
    path.write_text(yaml.safe_dump(spec))
    pilot_spec = yaml.safe_load(path.read_text())
    pilot_spec["sweep"]["seeds"] = [0, 1]
    pilot = run(tmp_path / "out", yaml.safe_dump(pilot_spec)).groups[0]
    (underpowered,) = pilot.comparison.comparisons
    decision = pilot.decision(underpowered)
    print(decision.words("network"))
    assert decision.verdict == "inconclusive" and decision.would_decide.seeds > 2
    assert f"about {decision.would_decide.seeds} seeds" in decision.words("network")

    planned = run_cli("plan", str(path), "--pilot", str(tmp_path / "out"))
    print(planned.stdout)
    assert planned.returncode == 0, planned.stderr
    assert "half-width in the pilot" in planned.stdout and "half-width as written" in planned.stdout
    sizing = planned.stdout.split("half-width in the pilot", 1)[1]
    row = next(line for line in sizing.splitlines() if line.startswith("ntk_infinite "))
    # The design's half-width as written (the table's fourth column), at the level of the verdict it expects.
    as_written = re.split(r"\s{2,}", row)[3]
    ((half_width_as_written, level),) = re.findall(r"(\d\.\d+) \((9[05])%\)", as_written)[:1]
    half_width_as_written = float(half_width_as_written)

    assert "Seeds to run: [2, 3" in planned.stdout and "The pilot's seeds [0, 1] are left out" in planned.stdout
    spec["sweep"]["seeds"] = [2, 3, 4, 5]  # the spec's four seeds, apart from the pilot's
    summary = run(tmp_path / "final", yaml.safe_dump(spec))
    assert len(summary.records.current) == 24 and {cell.seed for cell in summary.records.current} == {2, 3, 4, 5}
    group = summary.groups[0]
    (comparison,) = group.comparison.comparisons
    curves = {curve.learner_id: curve.mean() for curve in group.curves}
    relative = np.abs(curves["network"] / curves["ntk_infinite"] - 1)
    decision = group.decision(comparison)
    print(decision.words("network"), decision.caveats, comparison.delta_interval, comparison.equivalence_interval, relative)
    assert decision.verdict == "equivalent"
    assert np.all(relative < 0.05)
    # The 2-seed pilot's projection is rough (1 degree of freedom), but of the right size.
    measured = comparison.equivalence_interval if level == "90" else comparison.delta_interval
    assert 0.25 < half_width_as_written / measured.half_width < 4
