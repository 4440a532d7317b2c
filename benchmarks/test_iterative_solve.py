"""Solves at large n (issue #52): conjugate gradients against the Cholesky solve on the MLP's
infinite NTK of full-resolution Fashion-MNIST at n = 16384 (the same predictions within 1e-4, the
same test error), and a full-Fashion-MNIST cell (n = 60000, whose float64 factor, 28.8 GB, does not
fit this machine) end to end through `ntkbench run`, with its time and peak memory against the
plan's. Run alone (`make bench`, or this file): it takes most of an hour and the machine's memory."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import yaml

import ntkbench

RUN = """
import json, sys, time
from ntkbench.cli import main

def rss(field):
    return next(int(line.split()[1]) * 1024 for line in open("/proc/self/status") if line.startswith(field))

import ntkbench.numerics._kernel_regression  # jax and the numerics imported before the baseline
started, baseline = time.perf_counter(), rss("VmRSS:")
code = main(["run", sys.argv[1], "--out", sys.argv[2], "--no-progress"])
print(json.dumps({"code": code, "baseline": baseline, "peak": rss("VmHWM:"), "seconds": time.perf_counter() - started}))
"""
FULL = {
    "name": "fashion_mlp_60000",
    "dataset": {"name": "fashion_mnist", "n_test": 1000},
    "architecture": {"name": "mlp", "width": 1024, "depth": 2},
    "learners": [{"name": "ntk_infinite", "ridge": 1e-3}],
    "sweep": {"n_train": [60000], "seeds": [0]},
}


def _available() -> bool:
    from ntkbench.datasets.fashion_mnist import FashionMNIST

    return all(FashionMNIST.store.locate(file) is not None for file in FashionMNIST.store.files)


needs_data = pytest.mark.skipif(not _available(), reason="Fashion-MNIST files not installed (sudo apt-get install dataset-fashion-mnist)")


@needs_data
def test_conjugate_gradients_match_the_cholesky_solve_at_n_16384(benchmark):
    from ntkbench.api import load_all
    from ntkbench.kernels import architecture_kernel_fn, evaluate_tiled, one_hot
    from ntkbench.numerics._iterative_solve import NystromPreconditioned
    from ntkbench.numerics._kernel_ridge import factor_kernel

    dataset = load_all("dataset").usable["fashion_mnist"]
    data = dataset(dataset.Options(n_test=1000)).load()
    plugin = load_all("architecture").usable["mlp"]
    kernel_fn = architecture_kernel_fn(plugin(plugin.Options(width=1024, depth=2)), num_classes=10)
    x, y = data.x_pool[:16384], data.y_pool[:16384]
    x_test, y_test = data.x_test[:1000], data.y_test[:1000]
    train = evaluate_tiled(kernel_fn, x, max_tile=512)
    test = np.asarray(evaluate_tiled(kernel_fn, x_test, x, max_tile=512), dtype=np.float64)
    targets = one_hot(y, 10)

    def both() -> dict:
        started = time.perf_counter()
        exact = test @ factor_kernel(train, 1e-3).weights(targets)
        cholesky = time.perf_counter() - started
        started = time.perf_counter()
        solver = NystromPreconditioned(train, 1e-3)
        solved = test @ solver.weights(targets)
        return {"cholesky_seconds": cholesky, "cg_seconds": time.perf_counter() - started, "iterations": solver.facts.iterations,
                "relative_difference": float(np.max(np.abs(solved - exact)) / np.max(np.abs(exact))),
                "cholesky_test_error": float(np.mean(exact.argmax(1) != y_test)),
                "cg_test_error": float(np.mean(solved.argmax(1) != y_test))}

    facts = benchmark.pedantic(both, rounds=1, iterations=1)
    benchmark.extra_info.update(facts)
    print(f"\nn = 16384: {facts}")
    assert facts["relative_difference"] <= 1e-4 and facts["cg_test_error"] == facts["cholesky_test_error"]


@pytest.mark.timeout(7200)
@needs_data
def test_a_full_fashion_mnist_cell_runs_end_to_end(benchmark, tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(FULL))
    planned = ntkbench.plan(FULL, out=tmp_path / "out")
    result = benchmark.pedantic(
        lambda: subprocess.run([sys.executable, "-c", textwrap.dedent(RUN), str(spec), str(tmp_path / "out")],
                               capture_output=True, text=True),
        rounds=1, iterations=1,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    (record,) = ntkbench.load_records(tmp_path / "out").to_dict("records")
    facts = {"seconds": figures["seconds"], "peak_gib": figures["peak"] / 2**30, "added_gib": (figures["peak"] - figures["baseline"]) / 2**30,
             "planned_peak_gib": max(p.cost.peak_bytes for p in planned.plans) / 2**30, "planned_seconds": planned.total_seconds,
             "test_error": record["test_error"], "iterations": record["info.cg_iterations"],
             "residual": record["info.cg_relative_residual"], "kernel_seconds": record["info.seed_kernel_seconds"]}
    benchmark.extra_info.update(facts)
    print(f"\nn = 60000: {facts}")
    assert figures["code"] == 0 and record["info.solver"] == "cg" and record["status"] == "ok"
