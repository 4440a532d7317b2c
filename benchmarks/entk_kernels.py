"""The native empirical NTK (`implementation: native`, `StructuredNTK`) of a whole training kernel
against a plain loop of neural-tangents' fastest implementation over jitted tiles of the same edge,
in one process: their seconds and ratio, native's FLOPs (counted from its jaxprs, for the blocks'
features it computed and the tiles it combined) as a fraction of this machine's float32 GEMM rate,
its seconds as the TFLOPs a GEMM does meanwhile (comparable between jax stacks on one machine),
and their agreement. neural-tangents' implementations within 4x of the fewest FLOPs are each timed
on one tile and the fastest is timed over every tile.

`measure(case)` is what `test_empirical_ntk.py` runs; `python benchmarks/entk_kernels.py CASE` prints
it as JSON (for another stack's venv, or a lent device)."""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

CASES: dict[str, tuple[str, dict[str, Any], tuple[int, ...], int, float]] = {
    # name: (architecture, options, input shape, n, goal for native / neural-tangents' loop)
    "mlp-2x1024": ("mlp", {"width": 1024, "depth": 2}, (784,), 2048, 0.5),
    "myrtle5-w64-16x16": ("myrtle", {"depth": 5, "width": 64}, (16, 16, 1), 1024, 0.8),
    "resnet18-w16-16x16": ("resnet18", {"width": 16}, (16, 16, 3), 1024, 0.8),
}
TIMING_ROUNDS = 2
"""neural-tangents' implementations are each timed on one tile this many times (the fastest counts)
to choose the one whose loop is timed."""


def _gemm_rate() -> float:
    """This process's float32 GEMM rate (FLOP/s), on 1024 x 1024 matrices, best of five."""
    a = jnp.asarray(np.random.default_rng(0).normal(size=(1024, 1024)), jnp.float32)
    product = jax.jit(lambda x: x @ x)
    product(a).block_until_ready()
    best = min(_timed(lambda: product(a).block_until_ready()) for _ in range(5))
    return 2 * 1024**3 / best


def _timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def _model(case: str):
    from ntkbench.api import load_all

    name, options, shape, n, _ = CASES[case]
    plugin = load_all("architecture").usable[name]
    architecture = plugin(plugin.Options(**options))
    model = architecture.init_model(input_shape=shape, num_classes=10, key=jax.random.PRNGKey(0))
    x = np.random.default_rng(1).normal(size=(n, *shape)).astype(np.float32)
    return model, x


def _native_flops(kernel: Any, x: np.ndarray, edge: int, blocks: int) -> float:
    """FLOPs of the features of `blocks` blocks and of every tile's combination, from their jaxprs."""
    from ntkbench.numerics._jaxpr_costs import trace_cost
    from ntkbench.numerics._structured_ntk import block_features

    block = jax.ShapeDtypeStruct((edge, *x.shape[1:]), jnp.float32)
    features = trace_cost(lambda m, b: block_features(m, b, kernel.contraction, kernel.strategies), kernel.model, block).flops()
    whole = trace_cost(lambda m, a, b: type(kernel)(m, kernel.contraction, kernel.strategies)(a, b), kernel.model, block, block).flops()
    count = -(-len(x) // edge)
    return blocks * features + count * (count + 1) / 2 * (whole - 2 * features)


def measure(case: str) -> dict[str, Any]:
    from ntkbench.numerics import _kernels
    from ntkbench.numerics._kernels import empirical_ntk, empirical_ntk_fn, evaluate_tiled, tile_edge, tile_size

    model, x = _model(case)
    n, shape = len(x), x.shape[1:]
    native = empirical_ntk_fn(model, "native", input_shape=shape, examples=n)
    edge = tile_edge(native, shape, at_most=tile_size(n))
    evaluate_tiled(native, x[: 2 * edge], max_tile=edge)  # compile
    counted = []
    real = _kernels.TileComputer._features

    def counting(self, side, start, pinned=()):
        before = self.cache.computed
        features = real(self, side, start, pinned)
        counted.append(self.cache.computed - before)
        return features

    _kernels.TileComputer._features = counting
    try:
        native_seconds = _timed(lambda: evaluate_tiled(native, x, max_tile=edge))
    finally:
        _kernels.TileComputer._features = real
    matrix = evaluate_tiled(native, x[:edge], max_tile=edge)

    tile = x[:edge]
    fastest, per_tile = None, float("inf")
    for implementation in _kernels._worth_timing(model, x, "trace"):  # those within 4x of the fewest FLOPs
        function = jax.jit(lambda a, b, i=implementation: empirical_ntk(model, a, b, i))
        try:
            function(tile, tile).block_until_ready()
        except Exception:  # noqa: BLE001 - an implementation that cannot take this network (memory)
            continue
        seconds = min(_timed(lambda f=function: f(tile, tile).block_until_ready()) for _ in range(TIMING_ROUNDS))
        if seconds < per_tile:
            fastest, per_tile = (implementation, function), seconds
    implementation, loop_seconds, error = None, None, None
    if fastest is not None:  # none fits a tile of this edge (an MLP's per-example Jacobians, without implementation 3)
        implementation, function = fastest
        reference = np.asarray(function(tile, tile))
        error = float(np.max(np.abs(matrix - reference)) / np.max(np.abs(reference)))
        origins = [(i, j) for i in range(0, n, edge) for j in range(i, n, edge)]
        loop_seconds = _timed(lambda: jax.block_until_ready([function(x[i : i + edge], x[j : j + edge]) for i, j in origins]))

    gemm = _gemm_rate()
    flops = _native_flops(native, x, edge, sum(counted))
    return {
        "n": n, "edge": edge, "strategies": list(native.strategies),
        "native_seconds": round(native_seconds, 2),
        "neural_tangents_implementation": implementation,
        "neural_tangents_loop_seconds": None if loop_seconds is None else round(loop_seconds, 2),
        "ratio": None if loop_seconds is None else native_seconds / loop_seconds,
        "native_gflops": flops / 1e9, "gemm_gflops_per_second": gemm / 1e9,
        "fraction_of_gemm_rate": flops / native_seconds / gemm,
        "native_in_gemm_tflop": native_seconds * gemm / 1e12,
        "blocks_computed": sum(counted),
        "relative_error": error,
        "jax": jax.__version__,
    }


if __name__ == "__main__":
    print(json.dumps(measure(sys.argv[1]), indent=2))
