"""The instrument's controls, at reduced size: the shipped positive control must find the network
ahead of its kernels, and the shipped negative control must find no gap. Either failing means
the leaderboard's verdicts cannot be trusted."""

from __future__ import annotations

import numpy as np
import yaml
from conftest import REPO

from ntkbench import parse_spec, run_spec
from ntkbench.report._collect import load_results, summarize


def reduced(name: str, **sweep) -> str:
    spec = yaml.safe_load((REPO / "specs" / f"{name}.yaml").read_text())
    spec["sweep"] = sweep
    return yaml.safe_dump(spec)


def run(tmp_path, text: str):
    spec = parse_spec(text)
    summary = run_spec(spec, tmp_path, progress=False)
    assert not summary.failed
    return summarize(load_results(tmp_path))


def test_the_positive_control_finds_the_network_ahead(tmp_path):
    spec = yaml.safe_load(reduced("control_positive", n_train=[64, 128, 256, 512], seeds=[0, 1, 2, 3]))
    spec["dataset"].update(n_test=600, validation_n=300)
    group = run(tmp_path, yaml.safe_dump(spec)).groups[0]
    verdicts = {c.learner_id: (group.verdict(c), c.delta_interval) for c in group.comparison.comparisons}
    print(verdicts)
    assert set(verdicts) == {"ntk_infinite", "entk_init"}
    assert all(verdict == "network scales better" and interval.low > 0 for verdict, interval in verdicts.values())


def test_the_negative_control_finds_no_gap(tmp_path):
    spec = yaml.safe_load(reduced("control_negative", n_train=[64, 128, 256], seeds=[0, 1, 2]))
    spec["architecture"]["width"] = 2048
    spec["dataset"]["n_test"] = 600
    summary = run(tmp_path, yaml.safe_dump(spec))
    group = summary.groups[0]
    (comparison,) = group.comparison.comparisons
    curves = {curve.learner_id: curve.mean() for curve in group.curves}
    relative = np.abs(curves["network"] / curves["ntk_infinite"] - 1)
    print(group.verdict(comparison), comparison.delta_interval, relative)
    assert group.verdict(comparison) == "not separated"
    assert np.all(relative < 0.05)
