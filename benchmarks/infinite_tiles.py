"""The tiles on which the native infinite-width kernels are measured against neural-tangents'
`kernel_fn`, and the measurement itself: shared by `test_infinite_kernels.py` (this machine) and
`scripts/gpu-check` (a lent accelerator), so that both report the same ratios.

Each contender is timed best of `rounds`, alternating with a float32 GEMM and an elementwise
copy (the machine's two rates) in the same process; compilation excluded. The FLOPs are XLA's
count for the kernel computed in one chunk (a chunked kernel's loop body is counted once)."""

from __future__ import annotations

import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ntkbench.architectures.myrtle import MyrtleArchitecture
from ntkbench.architectures.resnet import ResNet18Architecture
from ntkbench.numerics import infinite
from ntkbench.numerics._kernels import compiled_facts, infinite_kernel_fn

GOAL = 0.1
"""Issue #32's goal for the Myrtle tiles, native seconds over neural-tangents'; its floor is 0.2."""
CASES = {  # name: (architecture, tile edge, pixels, channels, goal)
    "myrtle5_8x8": (MyrtleArchitecture(MyrtleArchitecture.Options(depth=5, width=32)), 64, 8, 1, GOAL),
    "myrtle10_32x32": (MyrtleArchitecture(MyrtleArchitecture.Options(depth=10, width=32)), 2, 32, 3, GOAL),
    "resnet18_16x16": (ResNet18Architecture(ResNet18Architecture.Options(width=16)), 4, 16, 3, 1.0),
}


def _seconds(function, *arguments, rounds: int = 1) -> float:
    started = time.perf_counter()
    for _ in range(rounds):
        jax.block_until_ready(function(*arguments))
    return (time.perf_counter() - started) / rounds


def _memory(function, *arguments) -> int | None:
    return compiled_facts(jax.jit(function).lower(*arguments).compile())[1]


def measure(case: str, rounds: int = 3) -> dict[str, Any]:
    """One tile of `case`: the ratio (native over neural-tangents, best of `rounds` each), both
    times, the native kernel's rate against the GEMM and copy rates, each compiled tile's memory
    (XLA's temporaries, arguments and output) and the largest relative difference."""
    architecture, edge, pixels, channels, _ = CASES[case]
    kernel_map = architecture.kernel_map(num_classes=10)
    reference = infinite_kernel_fn(architecture.stax_twin(num_classes=10))
    native = infinite.kernel_fn(kernel_map)
    rng = np.random.default_rng(0)
    x1, x2 = (jnp.asarray(rng.normal(size=(edge, pixels, pixels, channels)), jnp.float32) for _ in range(2))
    ours, theirs = native(x1, x2), reference(x1, x2)  # compiled before timing
    agree = float(jnp.max(jnp.abs(ours - theirs)) / jnp.max(jnp.abs(theirs)))
    copy = jax.jit(lambda a: a + 1.0)
    big = jnp.zeros((2**24,), jnp.float32)
    matrix = jnp.ones((2048, 2048), jnp.float32)
    gemm = jax.jit(lambda a: a @ a)
    for function, arguments in ((copy, (big,)), (gemm, (matrix,))):
        jax.block_until_ready(function(*arguments))
    times: dict[str, list[float]] = {"native": [], "neural-tangents": [], "copy": [], "gemm": []}
    for _ in range(rounds):
        times["native"].append(_seconds(native, x1, x2))
        times["neural-tangents"].append(_seconds(reference, x1, x2))
        times["copy"].append(_seconds(copy, big, rounds=5))
        times["gemm"].append(_seconds(gemm, matrix, rounds=5))
    best = {name: min(values) for name, values in times.items()}
    unchunked = infinite.kernel_fn(kernel_map, chunk_entries=2**62)
    flops = compiled_facts(jax.jit(unchunked).lower(x1, x2).compile())[0]
    return {
        "tile": f"{edge}x{edge} at {pixels}x{pixels}x{channels}",
        "ratio": best["native"] / best["neural-tangents"],
        "native_s": round(best["native"], 4), "nt_s": round(best["neural-tangents"], 3),
        "native_gflops": round(flops / best["native"] / 1e9, 2) if flops else None,
        "gemm_gflops": round(2 * 2048**3 / best["gemm"] / 1e9, 1),
        "copy_gelements": round(big.size / best["copy"] / 1e9, 2),
        "native_mib": round((_memory(native, x1, x2) or 0) / 2**20, 1),
        "nt_mib": round((_memory(reference, x1, x2) or 0) / 2**20, 1),
        "relative_error": agree,
    }
