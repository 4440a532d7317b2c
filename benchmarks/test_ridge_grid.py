"""Target: choosing the ridge on validation data (`ridge: auto`, 12 values) costs at most 1.3 times a
single ridge on the demo spec, the whole spec (network included) run both ways in one process."""

from __future__ import annotations

import time
from pathlib import Path

from ntkbench import parse_spec, run_spec

REPO = Path(__file__).resolve().parents[1]
TARGET = 1.3


def test_a_ridge_grid_costs_little_more_than_one_ridge(benchmark, tmp_path):
    text = (REPO / "specs" / "fashion_mlp.yaml").read_text()
    single = parse_spec(text)
    tuned = parse_spec(
        text.replace("ridge: 1.0e-6", "ridge: auto").replace("{name: fashion_mnist, n_test: 1000}",
                                                          "{name: fashion_mnist, n_test: 1000, validation_n: 1000}")
    )
    assert sum(learner.instantiate().needs_validation() for learner in tuned.learners) == 3

    def timed(spec, out: str) -> float:
        started = time.perf_counter()
        summary = run_spec(spec, tmp_path / out, progress=False)
        assert summary.computed == 140 and not summary.failed
        return time.perf_counter() - started

    baseline = timed(single, "single")
    ours = benchmark.pedantic(lambda: timed(tuned, "tuned"), rounds=1, iterations=1)
    benchmark.extra_info.update({"ratio": ours / baseline, "single_s": round(baseline, 1), "auto_s": round(ours, 1)})
    print(f"\nridge grid: ratio {ours / baseline:.3f} (auto {ours:.1f} s, single {baseline:.1f} s)")
    assert ours / baseline <= TARGET
