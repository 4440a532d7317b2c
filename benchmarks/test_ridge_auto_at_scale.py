"""Target (issue #52): the MLP's `ntk_infinite` cell at n = 32768 on full-resolution Fashion-MNIST
with `ridge: auto` within 3 times the same cell with one fixed ridge, both end to end through
`run_spec` in one process, each with its own kernel store (so each computes its kernel). Before
the search, the auto cell made 12 factorisations of the largest kernel, about 12 times the fixed
one; now it factors it about once and solves the other ridges from that factor. Run alone
(`make bench`, or this file): it takes about ten minutes and most of the memory."""

from __future__ import annotations

import json
import time

import pytest

from ntkbench import load_records, parse_spec, run_spec

TARGET = 3.0
FIXED = {
    "name": "fashion_mlp_auto_32768",
    "dataset": {"name": "fashion_mnist", "n_test": 1000, "validation_n": 1000},
    "architecture": {"name": "mlp", "width": 1024, "depth": 2},
    "learners": [{"name": "ntk_infinite", "ridge": 1e-3}],
    "sweep": {"n_train": [32768], "seeds": [0]},
}
AUTO = {**FIXED, "learners": [{"name": "ntk_infinite", "ridge": "auto"}]}


def _available() -> bool:
    from ntkbench.datasets.fashion_mnist import FashionMNIST

    return all(FashionMNIST.store.locate(file) is not None for file in FashionMNIST.store.files)


@pytest.mark.timeout(7200)
@pytest.mark.skipif(not _available(), reason="Fashion-MNIST files not installed (sudo apt-get install dataset-fashion-mnist)")
def test_ridge_auto_at_n_32768_costs_at_most_3_times_one_ridge(benchmark, tmp_path, monkeypatch):
    # The auto cell holds the float32 kernel beside its float64 factor (13 GB): more than the
    # default budget, half of this machine's memory, and well within the machine.
    monkeypatch.setenv("NTKBENCH_MEMORY_BUDGET", "20G")

    def timed(spec: dict, out: str) -> tuple[float, dict]:
        started = time.perf_counter()
        summary = run_spec(parse_spec(spec), tmp_path / out, progress=False)
        assert summary.computed == 1 and not summary.failed
        (record,) = load_records(tmp_path / out).to_dict("records")
        return time.perf_counter() - started, record

    baseline, fixed = timed(FIXED, "fixed")
    ours, auto = benchmark.pedantic(lambda: timed(AUTO, "auto"), rounds=1, iterations=1)
    facts = {"ratio": round(ours / baseline, 3), "fixed_s": round(baseline, 1), "auto_s": round(ours, 1),
             "chosen_ridge": auto["info.ridge"], "auto_test_error": auto["test_error"],
             "fixed_test_error": fixed["test_error"], "kernel_s": fixed["info.seed_kernel_seconds"],
             "choose_s": auto["info.choose_seconds"], "solver": auto["info.solver"],
             "ridges_tried": sum(error is not None for error in json.loads(auto["info.validation_errors"]))}
    benchmark.extra_info.update(facts)
    print(f"\nn = 32768, ridge auto against one ridge: {facts}")
    assert ours / baseline <= TARGET
