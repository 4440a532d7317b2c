"""Native infinite-width kernels against neural-tangents' `kernel_fn` (issue #32's goal: at most 0.1
of its time on the Myrtle tiles, floor 0.2), with the rate they reach against this machine's
float32 GEMM and elementwise (copy) rates and each tile's peak memory, in one process
(`infinite_tiles.py` measures; `scripts/gpu-check` measures the same on an accelerator)."""

from __future__ import annotations

import pytest
from infinite_tiles import CASES, measure


@pytest.mark.parametrize("case", CASES)
def test_native_kernel_against_neural_tangents(benchmark, case):
    facts = benchmark.pedantic(measure, args=(case,), rounds=1, iterations=1)
    benchmark.extra_info.update(facts)
    goal = CASES[case][-1]
    print(f"\n{case}: ratio {facts['ratio']:.3f} (goal {goal}) {facts}")
    assert facts["relative_error"] < 1e-5
    assert facts["ratio"] <= goal
