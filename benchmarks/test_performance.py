"""Performance targets of ntkbench, each a ratio against a baseline measured in the same process.

Run with `make bench`. Each benchmark prints its ratio and records it in pytest-benchmark's
`extra_info`; the assertion is the target from the performance issue.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ntkbench import parse_spec, run_spec
from ntkbench.architectures.mlp import MLPArchitecture
from ntkbench.architectures.myrtle import MyrtleArchitecture
from ntkbench.nt_compat import import_neural_tangents
from ntkbench.numerics._kernel_ridge import factor_kernel, one_hot
from ntkbench.numerics._kernels import empirical_ntk, empirical_ntk_key, evaluate_tiled, resolve_implementation, tile_edge

RESULTS: dict[str, float] = {}


def report(benchmark, name: str, ratio: float, **facts) -> None:
    RESULTS[name] = ratio
    benchmark.extra_info.update({"ratio": ratio, **facts})
    print(f"\n{name}: ratio {ratio:.3f} " + " ".join(f"{k}={v}" for k, v in facts.items()))


def timed(function) -> float:
    started = time.perf_counter()
    function()
    return time.perf_counter() - started


SWEEP = """\
name: kernel_sweep
dataset: {name: fashion_mnist, n_test: 1000}
architecture: {name: mlp, width: 256, depth: 2}
learners: [{name: ntk_infinite}, {name: entk_init, implementation: 3}]
sweep: {n_train: [256, 512, 1024, 2048, 4096], seeds: [0, 1]}
"""


def plain_loop(spec) -> None:
    """The obvious loop: per cell, neural-tangents on that cell's data and a dense float64 solve."""
    from ntkbench.runner._sampling import balanced_test_indices, training_order

    nt = import_neural_tangents()
    data = spec.dataset.instantiate().load()
    test = balanced_test_indices(data.y_test, spec.dataset.options.n_test, data.num_classes)
    x_test = jnp.asarray(data.x_test[test])
    architecture = spec.architecture.instantiate()
    twin = architecture.stax_twin(num_classes=10)
    for seed in spec.seeds:
        order = training_order(data.y_pool, seed)
        model = architecture.init_model(input_shape=data.x_pool.shape[1:], num_classes=10,
                                        key=jax.random.fold_in(jax.random.PRNGKey(seed), 0))
        import equinox as eqx

        params, static = eqx.partition(model, eqx.is_inexact_array)
        entk = nt.empirical_ntk_fn(lambda p, x: jax.vmap(eqx.combine(p, static))(x), trace_axes=(-1,), vmap_axes=0,
                                   implementation=3)
        kernels = [lambda a, b: twin.kernel_fn(a, b, "ntk"), lambda a, b: entk(a, b, params)]
        for kernel in kernels:
            for n in spec.n_train:
                x = jnp.asarray(data.x_pool[order[:n]])
                k_train = np.asarray(kernel(x, x), dtype=np.float64)
                k_test = np.asarray(kernel(x_test, x), dtype=np.float64)
                lam = 1e-6 * np.mean(np.diag(k_train))
                weights = np.linalg.solve(k_train + lam * np.eye(n), one_hot(data.y_pool[order[:n]], 10))
                _ = k_test @ weights


def test_kernel_sweep_against_a_plain_loop(benchmark, tmp_path):
    """Target: ntkbench's kernel-only sweep takes at most 0.6 of the plain loop's time."""
    spec = parse_spec(SWEEP)
    baseline = timed(lambda: plain_loop(spec))
    ours = benchmark.pedantic(lambda: timed(lambda: run_spec(spec, tmp_path / "out", progress=False)), rounds=1, iterations=1)
    report(benchmark, "kernel sweep", ours / baseline, ntkbench_s=round(ours, 1), loop_s=round(baseline, 1))
    assert ours / baseline <= 0.6


def test_myrtle_empirical_ntk_against_the_best_implementation(benchmark):
    """Target: ntkbench's empirical NTK of a Myrtle-5 (width 64, 14x14, n=512) within 1.1 of the best hand call,
    with every tile's memory inside the budget.

    By hand means neural-tangents' `empirical_ntk_fn`, jitted, on all 512 inputs at once; an
    implementation that cannot allocate that (implementation 2 needs about 420 GiB here) is not
    a candidate for "best".
    """
    from jaxlib.xla_extension import XlaRuntimeError

    from ntkbench.api import memory_budget
    from ntkbench.numerics._kernels import TILE_MEMORY_FRACTION, tile_bytes

    nt = import_neural_tangents()
    architecture = MyrtleArchitecture(MyrtleArchitecture.Options(depth=5, width=64))
    model = architecture.init_model(input_shape=(14, 14, 1), num_classes=10, key=jax.random.PRNGKey(0))
    x = np.random.default_rng(0).normal(size=(512, 14, 14, 1)).astype(np.float32)
    twin = architecture.stax_twin(num_classes=10)
    params = architecture.stax_parameters(model)
    by_hand, failed = {}, {}
    for implementation in (1, 2, 3):
        kernel = jax.jit(nt.empirical_ntk_fn(twin.apply_fn, trace_axes=(-1,), vmap_axes=0, implementation=implementation))
        try:
            kernel(x, x, params).block_until_ready()
        except XlaRuntimeError as error:
            failed[implementation] = str(error).split(":")[-1].strip()[:60]
            continue
        by_hand[implementation] = kernel

    chosen = resolve_implementation(model, x, "auto")

    def ours() -> np.ndarray:
        def kernel(a, b):
            return empirical_ntk(model, a, b, chosen)

        edge = tile_edge(kernel, x.shape[1:], key=empirical_ntk_key(model, chosen))
        return evaluate_tiled(kernel, x, max_tile=edge)

    ours()  # compile, and measure the tile edge once
    # Best of four each, alternating, in a new random order every round: single timings of these
    # 15-second kernels vary by about 15% here, and a call is often slower after another program's.
    contenders = {
        ("hand", implementation): (lambda kernel=kernel: kernel(x, x, params).block_until_ready())
        for implementation, kernel in by_hand.items()
    }
    contenders["ours"] = ours
    best_seconds = {name: float("inf") for name in contenders}
    names = list(contenders)
    order = np.random.default_rng(0)
    for round_ in range(4):
        for index in order.permutation(len(names)):
            name = names[index]
            if name == "ours" and round_ == 0:
                once = benchmark.pedantic(lambda: timed(ours), rounds=1, iterations=1)
            else:
                once = timed(contenders[name])
            best_seconds[name] = min(best_seconds[name], once)
    seconds = best_seconds["ours"]
    by_hand = {implementation: best_seconds[("hand", implementation)] for implementation in by_hand}
    edge = tile_edge(lambda a, b: empirical_ntk(model, a, b, chosen), x.shape[1:], key=empirical_ntk_key(model, chosen))
    used = tile_bytes(lambda a, b: empirical_ntk(model, a, b, chosen), edge, x.shape[1:])
    best = min(by_hand.values())
    report(benchmark, "myrtle eNTK", seconds / best, chosen=chosen, tile=edge, tile_gib=round(used / 2**30, 2),
           budget_gib=round(memory_budget() / 2**30, 1), **{f"impl{k}_s": round(v, 2) for k, v in by_hand.items()},
           **{f"impl{k}": f"failed ({reason})" for k, reason in failed.items()})
    assert seconds / best <= 1.1
    assert used <= TILE_MEMORY_FRACTION * memory_budget()


def test_sum_logits_against_the_traced_empirical_ntk(benchmark):
    """Target: the empirical NTK of the summed logits (`contraction: sum_logits`) at least 5x faster
    than the traced one on a 10-class Myrtle-5 (width 64, 14x14, a 512x512 kernel), each computed
    as a run computes it: the implementation `auto` picks for it, in the tiles the memory budget
    allows it (the summed logits need less memory per entry, so their tiles may be larger); best
    of three, alternating."""
    architecture = MyrtleArchitecture(MyrtleArchitecture.Options(depth=5, width=64))
    model = architecture.init_model(input_shape=(14, 14, 1), num_classes=10, key=jax.random.PRNGKey(0))
    x = np.random.default_rng(0).normal(size=(512, 14, 14, 1)).astype(np.float32)
    chosen, edges, calls = {}, {}, {}
    for contraction in ("trace", "sum_logits"):
        chosen[contraction] = resolve_implementation(model, x, "auto", contraction=contraction)

        def kernel(a, b, c=contraction):
            return empirical_ntk(model, a, b, chosen[c], c)

        edges[contraction] = tile_edge(kernel, x.shape[1:], key=empirical_ntk_key(model, chosen[contraction], contraction))
        calls[contraction] = lambda kernel=kernel, c=contraction: evaluate_tiled(kernel, x, max_tile=edges[c])
        calls[contraction]()  # compile
    best = {c: float("inf") for c in calls}
    for round_ in range(3):
        for c, call in calls.items():
            once = benchmark.pedantic(lambda: timed(call), rounds=1, iterations=1) if (round_, c) == (0, "sum_logits") else timed(call)
            best[c] = min(best[c], once)
    ratio = best["sum_logits"] / best["trace"]
    report(benchmark, "sum_logits eNTK", ratio, trace_s=round(best["trace"], 2), sum_logits_s=round(best["sum_logits"], 2),
           implementations=chosen, tiles=edges)
    assert ratio <= 0.2


def test_kernel_ridge_solve_near_the_gemm_rate(benchmark):
    """Target: the float64 factorisation at n=8192 runs at 60% or more of the float64 GEMM rate."""
    n = 8192
    rng = np.random.default_rng(0)
    a = rng.normal(size=(n, n))
    started = time.perf_counter()
    a @ a
    gemm_rate = 2 * n**3 / (time.perf_counter() - started)
    features = rng.normal(size=(n, 256)).astype(np.float32)
    kernel = (features @ features.T).astype(np.float32)
    seconds = benchmark.pedantic(lambda: timed(lambda: factor_kernel(kernel, 1e-3)), rounds=1, iterations=1)
    rate = n**3 / 3 / seconds
    report(benchmark, "kernel ridge solve", rate / gemm_rate, solve_gflops=round(rate / 1e9), gemm_gflops=round(gemm_rate / 1e9))
    assert rate / gemm_rate >= 0.6


def test_training_steps_against_a_bare_loop(benchmark):
    """Target: the network learner's training runs at 0.9 or more of a bare jitted equinox + optax loop."""
    import equinox as eqx
    import optax

    from ntkbench.numerics._training import train_network
    from ntkbench.training import SGDOptions, TrainingOptions

    model = MLPArchitecture(MLPArchitecture.Options(width=256, depth=2)).init_model(
        input_shape=(784,), num_classes=10, key=jax.random.PRNGKey(0))
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(4096, 784)).astype(np.float32), rng.integers(0, 10, 4096).astype(np.int32)
    steps, batch = 1000, 128
    options = TrainingOptions(optimizer=SGDOptions(name="sgd", learning_rate=0.1, momentum=0.9), batch_size=batch, steps=steps)

    optimizer = optax.sgd(0.1, momentum=0.9)
    params, static = eqx.partition(model, eqx.is_inexact_array)

    @jax.jit
    def step(params, state, xb, yb):
        def loss(p):
            logits = jax.vmap(eqx.combine(p, static))(xb)
            return 0.5 * jnp.mean(jnp.sum((logits - jax.nn.one_hot(yb, 10)) ** 2, axis=-1))

        grads = jax.grad(loss)(params)
        updates, state = optimizer.update(grads, state, params)
        return optax.apply_updates(params, updates), state

    batches = [(jnp.asarray(x[i * batch % 4096:][:batch]), jnp.asarray(y[i * batch % 4096:][:batch])) for i in range(32)]

    def bare() -> None:
        p, s = params, optimizer.init(params)
        for i in range(steps):
            p, s = step(p, s, *batches[i % 32])
        jax.block_until_ready(p)

    bare()
    train_network(model, x, y, 10, options, seed=0)  # compile

    def ours_once() -> float:
        return timed(lambda: train_network(model, x, y, 10, options, seed=0))

    # Alternating, best of three each: on a shared 2-core machine a single timing varies by about 10%.
    baseline, ours = timed(bare), benchmark.pedantic(ours_once, rounds=1, iterations=1)
    for _ in range(2):
        baseline, ours = min(baseline, timed(bare)), min(ours, ours_once())
    report(benchmark, "training", baseline / ours, steps_per_s=round(steps / ours), bare_steps_per_s=round(steps / baseline))
    assert baseline / ours >= 0.9


def test_plan_predicts_the_demo_within_a_factor_two(benchmark, tmp_path):
    """Target: `ntkbench plan`'s wall time for the demo spec within a factor 2 of the measured run.

    The demo trains `until` a training loss: the plan reads how many steps that took from the
    published records of an earlier run of the spec, as `ntkbench plan --out DIR` does."""
    from ntkbench import load_spec
    from ntkbench.runner import calibration
    from ntkbench.runner._plan import plan_spec

    root = Path(__file__).resolve().parents[1]
    spec = load_spec(root / "specs" / "fashion_mlp.yaml")
    plans = plan_spec(spec, detailed=True, rates=calibration(), records=root / "leaderboard" / "results" / "fashion_mlp")
    assert not any(p.cost.upper_bound for p in plans)
    predicted = sum(p.seconds for p in plans)
    measured = benchmark.pedantic(lambda: timed(lambda: run_spec(spec, tmp_path / "demo", progress=False)), rounds=1, iterations=1)
    report(benchmark, "plan vs demo", predicted / measured, predicted_s=round(predicted), measured_s=round(measured))
    assert 0.5 <= predicted / measured <= 2.0


def demo_networks(**changes) -> object:
    """The demo spec with its `network` learner only, its options changed by `changes`."""
    from ntkbench import load_spec

    spec = load_spec(Path(__file__).resolve().parents[1] / "specs" / "fashion_mlp.yaml")
    document = spec.as_dict()
    (network,) = [learner for learner in document["learners"] if learner["id"] == "network"]
    network.update(changes)
    for key in [key for key, value in changes.items() if value is None]:
        del network[key]
    document["learners"] = [network]
    return parse_spec(document)


def test_seeds_together_against_one_at_a_time(benchmark, tmp_path):
    """Target: the demo's network cells (5 seeds x 7 n, trained until a loss) grouped by seed at
    least 2.5x faster than one seed at a time, with the same test errors and test losses within 1e-5."""
    from ntkbench.storage import RecordStore

    spec = demo_networks()
    alone = timed(lambda: run_spec(spec, tmp_path / "alone", progress=False, seeds_together=False))
    together = benchmark.pedantic(
        lambda: timed(lambda: run_spec(spec, tmp_path / "together", progress=False, seeds_together=True)), rounds=1, iterations=1
    )
    one, grouped = (RecordStore(tmp_path / name).load(spec.as_dict()).current for name in ("alone", "together"))
    assert set(one) == set(grouped) and len(one) == 35
    same_errors = all(one[cell].metrics["test_error"] == grouped[cell].metrics["test_error"] for cell in one)
    loss_difference = max(abs(one[c].metrics["test_loss"] / grouped[c].metrics["test_loss"] - 1) for c in one)
    report(benchmark, "seeds together", alone / together, alone_s=round(alone, 1), together_s=round(together, 1),
           same_test_errors=same_errors, test_loss_relative_difference=f"{loss_difference:.1e}")
    assert same_errors and loss_difference <= 1e-5
    assert alone / together >= 2.5


def test_learning_rate_grid_against_one_rate(benchmark, tmp_path):
    """Target: the demo's network cells with a list of 4 learning rates (trained as one computation)
    cost at most 1.6x the same cells at one rate. A fixed budget of 1000 steps, one seed: with a
    stopping rule a grid costs what its slowest rate takes, which says nothing of the computation."""
    budget, rates = {"until": None, "max_steps": None, "steps": 1000}, [0.5, 0.35, 0.25, 0.18]

    def at(rate: float | list[float]) -> object:
        spec = demo_networks(**budget, optimizer={"name": "sgd", "learning_rate": rate, "momentum": 0.9})
        return parse_spec({**spec.as_dict(), "sweep": {**spec.as_dict()["sweep"], "seeds": [0]}})

    single = timed(lambda: run_spec(at(rates[0]), tmp_path / "one", progress=False))
    listed = benchmark.pedantic(lambda: timed(lambda: run_spec(at(rates), tmp_path / "grid", progress=False)), rounds=1, iterations=1)
    one_after_another = single + sum(timed(lambda: run_spec(at(rate), tmp_path / f"at_{rate}", progress=False)) for rate in rates[1:])
    report(benchmark, "learning-rate grid", listed / single, one_rate_s=round(single, 1), grid_s=round(listed, 1),
           rates_one_after_another_s=round(one_after_another, 1))
    assert listed / single <= 1.6


SCALE = """
import time, numpy as np, jax
from ntkbench.architectures.mlp import MLPArchitecture
from ntkbench.numerics._kernel_regression import seed_kernel
from ntkbench.numerics._kernels import infinite_kernel_fn
from ntkbench.numerics._kernel_ridge import one_hot
rng = np.random.default_rng(0)
x = rng.normal(size=(16384, 784)).astype(np.float32)
x_test = rng.normal(size=(2000, 784)).astype(np.float32)
kernel_fn = infinite_kernel_fn(MLPArchitecture(MLPArchitecture.Options()).stax_twin(num_classes=10))
started = time.perf_counter()
kernel = seed_kernel(kernel_fn, x, x_test, 1e-6)
predictions = np.asarray(kernel.test, dtype=np.float64) @ kernel.factored.weights(one_hot(rng.integers(0, 10, 16384), 10))
# VmHWM: this process's peak RSS. (ru_maxrss would include the pytest parent's RSS at the fork.)
peak = next(int(line.split()[1]) * 1024 for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(peak, time.perf_counter() - started)
"""


def test_infinite_ntk_at_n_16384_fits_in_memory(benchmark):
    """Target: n = 16384 training plus 2000 test samples, peak RSS under 1.5 x the kernel's bytes + 1 GiB."""
    result = benchmark.pedantic(
        lambda: subprocess.run([sys.executable, "-c", textwrap.dedent(SCALE)], capture_output=True, text=True, check=True),
        rounds=1, iterations=1,
    )
    peak, seconds = map(float, result.stdout.split())
    kernel_bytes = (16384 * 16384 + 2000 * 16384) * 8  # the float64 train and test kernels
    limit = 1.5 * kernel_bytes + (1 << 30)
    report(benchmark, "scale n=16384", peak / limit, peak_gib=round(peak / 2**30, 2), limit_gib=round(limit / 2**30, 2),
           seconds=round(seconds))
    assert peak < limit


@pytest.fixture(scope="session", autouse=True)
def summary():
    yield
    if RESULTS:
        print("\nratios: " + json.dumps({k: round(v, 3) for k, v in RESULTS.items()}))

