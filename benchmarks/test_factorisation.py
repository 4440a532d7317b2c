"""The factorisation of large kernels on every core without a crash (issue #52): `blocked_cholesky`
(threaded `dtrsm` and `dgemm`, `dpotrf` on 1024-row blocks) against scipy's `dpotrf` on one BLAS
thread (what large kernels used before: the threaded `dpotrf` of scipy's and numpy's OpenBLAS
crashes at these sizes), several runs at n = 16384 and 24576, each in a fresh process so that a crash
shows as a signal. Target: every run ends, with the factor equal to LAPACK's to round-off, and at
most the single-threaded time."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

RUNS = {16384: 3, 24576: 2}
FACTOR = textwrap.dedent("""
    import json, sys, time
    import numpy as np, scipy.linalg
    from scipy.linalg import blas
    from threadpoolctl import threadpool_limits
    from ntkbench.numerics._kernel_ridge import FACTOR_BLOCK, blocked_cholesky

    n, baseline = int(sys.argv[1]), sys.argv[2] == "1"
    features = np.asfortranarray(np.random.default_rng(n).normal(size=(256, n)))
    kernel = np.empty((n, n), order="F")
    for start in range(0, n, 4096):  # numpy's own threaded matmul of the whole crashed here at n = 24576
        kernel[:, start : start + 4096] = blas.dgemm(1.0, features, features[:, start : start + 4096], trans_a=1)
    kernel[np.diag_indices(n)] += 1e-3 * n
    a = kernel.copy(order="F")
    started = time.perf_counter()
    blocked_cholesky(a, FACTOR_BLOCK)
    facts = {"blocked_seconds": time.perf_counter() - started}
    if baseline:
        b = kernel
        with threadpool_limits(limits=1, user_api="blas"):
            started = time.perf_counter()
            scipy.linalg.cho_factor(b, lower=False, overwrite_a=True, check_finite=False)
            facts["single_thread_seconds"] = time.perf_counter() - started
        worst = largest = 0.0
        for start in range(0, n, 2048):  # the upper triangles compared a band of columns at a time
            upper, lapack = np.triu(a[:, start : start + 2048], start), np.triu(b[:, start : start + 2048], start)
            worst, largest = max(worst, float(np.max(np.abs(upper - lapack)))), max(largest, float(np.max(np.abs(lapack))))
        facts["difference"] = worst / largest
    print(json.dumps(facts))
""")


@pytest.mark.parametrize("n", RUNS)
def test_large_kernels_factor_on_every_core_without_a_crash(benchmark, n):
    def runs() -> list[dict]:
        results = []
        for run in range(RUNS[n]):
            done = subprocess.run([sys.executable, "-c", FACTOR, str(n), "1" if run == 0 else "0"],
                                  capture_output=True, text=True, timeout=1800)
            assert done.returncode == 0, f"run {run} at n = {n} ended with {done.returncode}: {done.stderr[-2000:]}"
            results.append(json.loads(done.stdout.strip().splitlines()[-1]))
        return results

    results = benchmark.pedantic(runs, rounds=1, iterations=1)
    blocked = [round(result["blocked_seconds"], 1) for result in results]
    ratio = min(blocked) / results[0]["single_thread_seconds"]
    benchmark.extra_info.update({"blocked_seconds": blocked, "single_thread_seconds": round(results[0]["single_thread_seconds"], 1),
                                 "ratio": ratio, "difference": results[0]["difference"]})
    print(f"\nn = {n}: blocked {blocked} s, one-thread dpotrf {results[0]['single_thread_seconds']:.1f} s, ratio {ratio:.2f}, "
          f"difference {results[0]['difference']:.1e}")
    assert results[0]["difference"] < 1e-10
    assert ratio <= 1.0
