"""Tiled kernel evaluation and the float64 kernel ridge solve."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from ntkbench import CellFailure
from ntkbench.numerics import _kernels
from ntkbench.numerics._kernel_ridge import kernel_ridge_predict, one_hot
from ntkbench.numerics._kernels import evaluate_tiled, tile_edge, tile_size


def rbf(x1, x2):
    squared = jnp.sum(x1**2, 1)[:, None] + jnp.sum(x2**2, 1)[None, :] - 2 * x1 @ x2.T
    return jnp.exp(-0.1 * squared)


def test_tile_size_is_a_bounded_power_of_two():
    assert tile_size(5) == 8 and tile_size(64) == 64 and tile_size(65) == 128
    assert tile_size(10_000) == _kernels.MAX_TILE


def test_the_tile_edge_follows_the_memory_budget():
    """Implementation 1 keeps per-example Jacobians: a tile's memory grows with its edge."""
    import math

    import jax

    from ntkbench.architectures.mlp import MLPArchitecture
    from ntkbench.numerics._kernels import empirical_ntk, tile_bytes, tile_edge

    model = MLPArchitecture(MLPArchitecture.Options(width=256, depth=2)).init_model(
        input_shape=(64,), num_classes=10, key=jax.random.PRNGKey(0))

    def kernel(a, b):
        return empirical_ntk(model, a, b, 1)

    assert tile_edge(kernel, (64,), budget=1 << 40) == _kernels.MAX_TILE
    budget = math.ceil(tile_bytes(kernel, 64, (64,)) / _kernels.TILE_MEMORY_FRACTION)  # a 64-edge tile just fits
    assert tile_bytes(kernel, 128, (64,)) > _kernels.TILE_MEMORY_FRACTION * budget
    assert tile_edge(kernel, (64,), budget=budget) == 64
    assert tile_edge(kernel, (64,), budget=1) == _kernels.MIN_TILE  # never below the smallest tile

    def numpy_kernel(a, b):  # cannot be traced: no estimate, the largest tile
        return np.asarray(a) @ np.asarray(b).T

    assert tile_edge(numpy_kernel, (64,), budget=1) == _kernels.MAX_TILE


def test_the_tile_memory_is_measured_once_per_edge_while_the_budget_moves(monkeypatch):
    """The default budget follows the free memory, which moves by megabytes between calls; each
    measurement is a compilation (1.5 s for a Myrtle-5 eNTK tile). With a key, an edge is measured
    once, and the edge still follows the budget of the moment."""
    measured = []

    def fake_tile_bytes(kernel_fn, edge, input_shape):
        measured.append(edge)
        return edge * edge * 1000

    monkeypatch.setattr(_kernels, "tile_bytes", fake_tile_bytes)
    monkeypatch.setattr(_kernels, "_TILE_BYTES", {})
    fits_256 = int(256 * 256 * 1000 / _kernels.TILE_MEMORY_FRACTION)
    assert tile_edge(None, (3,), key="kernel", budget=fits_256) == 256
    assert measured == [512, 256]
    assert tile_edge(None, (3,), key="kernel", budget=fits_256 + (3 << 20)) == 256  # free memory moved a little
    assert tile_edge(None, (3,), key="kernel", budget=fits_256 - 1) == 128  # a smaller budget: a smaller edge
    assert tile_edge(None, (3,), key="kernel", budget=1 << 40) == 512
    assert measured == [512, 256, 128]
    assert tile_edge(None, (5,), key="kernel", budget=1 << 40) == 512  # another input shape is another measurement
    assert tile_edge(None, (3,), budget=1 << 40) == 512  # no key: measured on every call
    assert measured == [512, 256, 128, 512, 512]


def test_a_small_budget_gives_small_tiles_and_the_same_kernel(monkeypatch):
    import jax

    from ntkbench.numerics._kernel_regression import Solving, seed_kernel

    rng = np.random.default_rng(0)
    x, x_test = rng.normal(size=(300, 3)).astype(np.float32), rng.normal(size=(40, 3)).astype(np.float32)
    shapes = []

    def counted(a, b):
        if not isinstance(a, jax.core.Tracer):  # tiles computed, not the tile-memory estimates
            shapes.append((a.shape[0], b.shape[0]))
        return rbf(a, b)

    monkeypatch.setenv("NTKBENCH_MEMORY_BUDGET", "64G")
    roomy = seed_kernel(counted, x, x_test, 1e-3)
    assert max(max(shape) for shape in shapes) == 512
    shapes.clear()
    monkeypatch.setenv("NTKBENCH_MEMORY_BUDGET", "1K")
    tight = seed_kernel(counted, x, x_test, 1e-3, solving=Solving("cholesky"))  # auto would solve iteratively
    assert max(max(shape) for shape in shapes) == _kernels.MIN_TILE
    np.testing.assert_allclose(tight.test, roomy.test, rtol=1e-6)
    np.testing.assert_allclose(tight.factored.upper, roomy.factored.upper, rtol=1e-6, atol=1e-9)


def test_tiled_evaluation_matches_one_shot(monkeypatch):
    monkeypatch.setattr(_kernels, "MAX_TILE", 16)  # many tiles, ragged edges
    rng = np.random.default_rng(0)
    x1, x2 = rng.normal(size=(37, 3)).astype(np.float32), rng.normal(size=(21, 3)).astype(np.float32)
    calls = []

    def counted(a, b):
        calls.append((a.shape, b.shape))
        return rbf(a, b)

    np.testing.assert_allclose(evaluate_tiled(counted, x1, x2), rbf(x1, x2), rtol=1e-6)
    assert set(calls) == {((16, 3), (16, 3))}  # one shape: one compilation
    calls.clear()
    evaluate_tiled(counted, x1[:5], x2)
    assert set(calls) == {((8, 3), (16, 3))}  # a short axis gets a short tile
    calls.clear()
    symmetric = evaluate_tiled(counted, x1)
    np.testing.assert_allclose(symmetric, rbf(x1, x1), rtol=1e-6)
    assert np.array_equal(symmetric, symmetric.T)
    assert len(calls) == 6  # 3 x 3 tiles, only those on or above the diagonal


def test_kernel_ridge_matches_a_direct_solve():
    rng = np.random.default_rng(1)
    features = rng.normal(size=(40, 60))
    k = features @ features.T
    k_test = rng.normal(size=(7, 60)) @ features.T
    targets = one_hot(rng.integers(0, 3, 40), 3)
    fit = kernel_ridge_predict(k, k_test, targets, ridge=1e-3)
    lam = 1e-3 * np.mean(np.diag(k))
    expected = k_test @ np.linalg.solve(k + lam * np.eye(40), targets)
    np.testing.assert_allclose(fit.predictions, expected, rtol=1e-8)
    assert fit.effective_ridge == pytest.approx(lam)


def test_ridge_is_relative_to_the_kernel_scale():
    rng = np.random.default_rng(2)
    features = rng.normal(size=(30, 10))  # rank 10 < 30: the ridge matters
    k, k_test = features @ features.T, rng.normal(size=(5, 10)) @ features.T
    targets = one_hot(rng.integers(0, 2, 30), 2)
    small = kernel_ridge_predict(k, k_test, targets, ridge=1e-2).predictions
    scaled = kernel_ridge_predict(1e4 * k, 1e4 * k_test, targets, ridge=1e-2).predictions
    np.testing.assert_allclose(small, scaled, rtol=1e-8)


def test_indefinite_kernel_is_a_cell_failure():
    k = np.array([[1.0, 2.0], [2.0, 1.0]])  # eigenvalues 3 and -1
    with pytest.raises(CellFailure, match="not positive definite"):
        kernel_ridge_predict(k, np.ones((2, 2)), one_hot(np.array([0, 1]), 2), ridge=1e-6)
    with pytest.raises(CellFailure, match="degenerate"):
        kernel_ridge_predict(np.zeros((2, 2)), np.ones((2, 2)), one_hot(np.array([0, 1]), 2), ridge=1e-6)


def test_a_numerically_singular_kernel_is_rescued_by_jitter():
    features = np.random.default_rng(0).normal(size=(30, 2))
    k = features @ features.T  # rank 2: singular without a ridge
    fit = kernel_ridge_predict(k, k[:3], one_hot(np.arange(30) % 2, 2), ridge=0.0)
    assert np.all(np.isfinite(fit.predictions)) and fit.effective_ridge > 0


def test_one_factorisation_serves_every_nested_training_set():
    from ntkbench.numerics._kernel_ridge import factor_kernel

    rng = np.random.default_rng(3)
    features = rng.normal(size=(40, 60))
    k = features @ features.T
    targets = one_hot(rng.integers(0, 3, 40), 3)
    factored = factor_kernel(k, ridge=1e-3)
    lam = factored.effective_ridge
    for n in (7, 25, 40):
        expected = np.linalg.solve(k[:n, :n] + lam * np.eye(n), targets[:n])
        np.testing.assert_allclose(factored.weights(targets[:n]), expected, rtol=1e-8, atol=1e-10)
    together = factored.prefix_weights(targets, [7, 25, 40])  # every prefix in two solves
    for block, n in enumerate((7, 25, 40)):
        columns = together[:, 3 * block : 3 * (block + 1)]
        np.testing.assert_allclose(columns[:n], factored.weights(targets[:n]), rtol=1e-8, atol=1e-10)
        assert not columns[n:].any()


def foreign_mlp(inputs: int, width: int, depth: int, outputs: int):
    """A network not built from `ntkbench.layers` (equinox's own MLP): `native` does not take it, so
    `auto` chooses among the other implementations by FLOPs and timing."""
    import equinox as eqx
    import jax

    return eqx.nn.MLP(inputs, outputs, width, depth, activation=jax.nn.relu, key=jax.random.PRNGKey(0))


def test_auto_implementation_picks_one_that_agrees_with_the_others():
    from ntkbench.numerics._kernels import empirical_ntk, native_problem, resolve_implementation

    model = foreign_mlp(10, 64, 2, 3)
    assert native_problem(model) == "the network has no dense or convolutional layer"
    x = np.random.default_rng(0).normal(size=(20, 10)).astype(np.float32)
    chosen = resolve_implementation(model, x, "auto")
    assert chosen in (1, 2, 3) and resolve_implementation(model, x, "auto") == chosen
    assert resolve_implementation(model, x, 2) == 2
    kernels = [np.asarray(empirical_ntk(model, x, x, i)) for i in (1, 2, 3)]
    for kernel in kernels[1:]:
        np.testing.assert_allclose(kernel, kernels[0], rtol=1e-4, atol=1e-5)


def test_auto_implementation_times_candidates_in_alternation_and_skips_failing_ones(monkeypatch):
    """A slow phase of the machine must hit every candidate: timings interleave, the fastest of each counts."""

    from ntkbench.numerics import _kernels

    seconds = {1: [3.0, 1.0, 3.0], 3: [2.0, 2.0, 2.0]}  # 1 is hit by a slow phase twice, still the fastest
    calls = []

    def fake_timer(model, x, implementation, budget, contraction="trace"):
        if implementation == 2:
            raise RuntimeError("cannot allocate")
        times = iter(seconds[implementation])

        def timer():
            calls.append(implementation)
            return next(times)

        return timer

    monkeypatch.setattr(_kernels, "_tile_timer", fake_timer)
    monkeypatch.setattr(_kernels, "_worth_timing", lambda model, x, contraction: [1, 2, 3])
    monkeypatch.setattr(_kernels, "_FASTEST", {})
    model = foreign_mlp(4, 8, 1, 2)
    assert _kernels.resolve_implementation(model, np.zeros((4, 4), np.float32), "auto") == 1
    assert calls == [1, 3] * _kernels.TIMING_ROUNDS


def test_auto_implementation_never_times_one_that_does_many_times_the_work(monkeypatch):
    """An MLP's per-example Jacobians (implementations 1 and 2) cost about as many times the FLOPs of
    structured derivatives (3) as the network has outputs times hidden units over inputs: `auto`
    must take 3 from the jaxprs alone, compiling and timing nothing."""

    from ntkbench.nt_compat import available_implementations
    from ntkbench.numerics import _kernels

    if 3 not in available_implementations():
        pytest.skip("structured derivatives (implementation 3) need jax < 0.6")
    timed = []
    monkeypatch.setattr(_kernels, "_tile_timer", lambda model, x, implementation, *rest: timed.append(implementation))
    monkeypatch.setattr(_kernels, "_FASTEST", {})
    model = foreign_mlp(64, 128, 2, 10)
    x = np.random.default_rng(0).normal(size=(300, 64)).astype(np.float32)
    assert _kernels._worth_timing(model, x, "trace") == [3]
    assert _kernels.resolve_implementation(model, x, "auto") == 3
    assert timed == []


def test_performance_only_options_do_not_change_a_result_key():
    from ntkbench import parse_spec
    from ntkbench.storage._cells import cell_key, cells_of

    text = """\
name: k
dataset: {name: teacher_student, dim: 4, n_test: 20}
architecture: {name: mlp, width: 8}
learners: [{name: entk_init, implementation: IMPL, ridge: RIDGE}]
sweep: {n_train: [8], seeds: [0]}
"""
    def key(implementation, ridge):
        spec = parse_spec(text.replace("IMPL", implementation).replace("RIDGE", ridge)).as_dict()
        return cell_key(spec, cells_of(spec)[0])

    assert key("1", "1.0e-6") == key("auto", "1.0e-6") == key("3", "1.0e-6")
    assert key("auto", "1.0e-3") != key("auto", "1.0e-6")


TWO_DEVICES = """
import sys, numpy as np, jax
from ntkbench.architectures.mlp import MLPArchitecture
from ntkbench.numerics import _kernels
from ntkbench.numerics._kernels import empirical_ntk, evaluate_tiled, infinite_kernel_fn
_kernels.MAX_TILE = 16  # many tiles: 5 x 5 on the symmetric kernel, with an odd count per device
architecture = MLPArchitecture(MLPArchitecture.Options(width=32, depth=2))
model = architecture.init_model(input_shape=(6,), num_classes=3, key=jax.random.PRNGKey(0))
x = np.random.default_rng(0).normal(size=(70, 6)).astype(np.float32)
used = set()

def on_device(kernel_fn):
    def kernel(a, b):
        used.update(a.devices())
        return kernel_fn(a, b)
    return kernel

empirical = evaluate_tiled(on_device(lambda a, b: empirical_ntk(model, a, b, 3)), x)
infinite = evaluate_tiled(on_device(infinite_kernel_fn(architecture.stax_twin(num_classes=3))), x[:30], x)
np.savez(sys.argv[1], devices=len(jax.local_devices()), used=len(used), empirical=empirical, infinite=infinite)
"""


def test_tiles_spread_over_two_devices_give_the_one_device_kernel(tmp_path):
    import os
    import subprocess
    import sys

    results = {}
    for devices in (1, 2):
        env = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}")
        path = tmp_path / f"kernels{devices}.npz"
        subprocess.run([sys.executable, "-c", TWO_DEVICES, str(path)], env=env, check=True, timeout=600)
        results[devices] = np.load(path)
    for devices in (1, 2):
        assert int(results[devices]["devices"]) == int(results[devices]["used"]) == devices
    for name in ("empirical", "infinite"):
        np.testing.assert_array_equal(results[2][name], results[1][name])


SHARED = """\
name: shared
dataset: {name: teacher_student, dim: 8, num_classes: 3, n_test: 30, pool: 240}
architecture: {name: mlp, width: 32, depth: 1}
learners: [{name: ntk_infinite}]
sweep: {n_train: [60, 120, 200], seeds: SEEDS}
"""


def test_ntk_infinite_seeds_share_one_kernel_on_their_union_and_predict_as_alone(tmp_path):
    """3 seeds of 200 samples from a pool of 240 overlap so much that one kernel on their union
    (237 samples) takes fewer entries than three on 200; every cell predicts as it does
    when its seed runs alone (its own kernel)."""
    import json

    from ntkbench import parse_spec, run_spec
    from ntkbench.runner._sampling import training_order

    def run(seeds: list[int], out: str) -> dict:
        spec = parse_spec(SHARED.replace("SEEDS", str(seeds)))
        run_spec(spec, tmp_path / out, progress=False)
        records = [json.loads(path.read_text()) for path in (tmp_path / out / "records").glob("*/*.json")]
        return {(r["cell"]["seed"], r["cell"]["n_train"]): r for r in records}

    shared = run([0, 1, 2], "shared")
    alone = {cell: record for seed in (0, 1, 2) for cell, record in run([seed], f"alone{seed}").items()}
    y_pool = parse_spec(SHARED.replace("SEEDS", "[0]")).dataset.instantiate().load().y_pool
    union = set().union(*(training_order(y_pool, seed)[:200] for seed in (0, 1, 2)))
    assert len(shared) == len(alone) == 9
    for cell, record in shared.items():
        assert record["status"] == alone[cell]["status"] == "ok"
        assert record["info"]["kernel_shared_by_seeds"] == 3 and record["info"]["kernel_samples"] == len(union) < 600
        assert alone[cell]["info"]["kernel_shared_by_seeds"] == 1 and alone[cell]["info"]["kernel_samples"] == 200
        for metric, value in alone[cell]["metrics"].items():
            assert record["metrics"][metric] == pytest.approx(value, rel=1e-5, abs=1e-6), (cell, metric)


def test_a_union_kernel_is_used_only_when_it_takes_fewer_entries_and_fits_the_budget(monkeypatch):
    from ntkbench import AcrossSeeds
    from ntkbench.numerics._kernel_regression import union_pays

    def seeds_of(pool: int, n: int) -> AcrossSeeds:
        return AcrossSeeds(np.zeros((pool, 1)), {seed: np.random.default_rng(seed).permutation(pool)[:n] for seed in range(5)})

    monkeypatch.setenv("NTKBENCH_MEMORY_BUDGET", "64G")
    assert not union_pays(seeds_of(60000, 4096), 4096, 1000)  # the demo: the union is 3.8x more entries
    cifar = seeds_of(50000, 2**15)
    assert 49000 < cifar.union_size < 50000 and union_pays(cifar, 2**15, 10000)
    monkeypatch.setenv("NTKBENCH_MEMORY_BUDGET", "8G")  # the union's 10 GB float32 kernel does not fit
    assert not union_pays(cifar, 2**15, 10000)


@pytest.mark.parametrize(("rows", "block"), [(100, 32), (100, 100), (130, 64), (257, 16)])
def test_a_large_kernel_is_factored_by_blocks_to_lapacks_factor(monkeypatch, rows, block):
    """Above `THREADED_FACTOR_LIMIT` rows (where the threaded `dpotrf` of scipy's OpenBLAS crashes)
    `blocked_cholesky` factors by blocks on every core, to LAPACK's factor, blocks that do not divide
    the matrix included; and says so when the matrix is not positive definite."""
    from ntkbench.numerics import _kernel_ridge

    features = np.random.default_rng(0).normal(size=(rows, 8))
    kernel = (features @ features.T).astype(np.float32)
    lapack = _kernel_ridge.factor_kernel(kernel, 1e-3)
    monkeypatch.setattr(_kernel_ridge, "THREADED_FACTOR_LIMIT", 64)
    monkeypatch.setattr(_kernel_ridge, "FACTOR_BLOCK", block)
    monkeypatch.setattr(_kernel_ridge, "UPDATE_COLUMNS", 48)
    blocked = _kernel_ridge.factor_kernel(kernel, 1e-3)
    assert np.allclose(np.triu(blocked.upper), np.triu(lapack.upper), rtol=1e-10, atol=1e-12)
    with pytest.raises(np.linalg.LinAlgError):
        _kernel_ridge.blocked_cholesky(np.asfortranarray(-np.eye(rows)), block)


def test_a_large_prefix_is_solved_with_the_whole_factor_and_gives_the_blocks_weights(monkeypatch):
    from ntkbench.numerics import _kernel_ridge

    features = np.random.default_rng(1).normal(size=(120, 30))
    factored = _kernel_ridge.factor_kernel((features @ features.T).astype(np.float32), 1e-2)
    targets = one_hot(np.arange(90) % 3, 3)
    copied = factored.weights(targets)
    monkeypatch.setattr(_kernel_ridge, "PREFIX_COPY_LIMIT", 64)
    in_place = factored.weights(targets)
    assert in_place.shape == (90, 3) and np.allclose(in_place, copied, rtol=1e-9, atol=1e-12)
