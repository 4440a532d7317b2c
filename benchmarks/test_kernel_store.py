"""Memory at large n (issue #43): an MLP's `ntk_infinite` on full-resolution Fashion-MNIST at
n = 32768, end to end through `ntkbench run` with its kernel store, against what `ntkbench plan`
says the largest cell holds. Run alone (`make bench`, or this file): it takes minutes and most of
the machine's memory."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
import yaml

import ntkbench

SPEC = {
    "name": "fashion_mlp_32768",
    "dataset": {"name": "fashion_mnist", "n_test": 1000},
    "architecture": {"name": "mlp", "width": 512, "depth": 2},
    "learners": [{"name": "ntk_infinite"}],
    "sweep": {"n_train": [8192, 16384, 32768], "seeds": [0]},
}

RUN = """
import json, sys, time
from ntkbench.cli import main

def rss(field):
    return next(int(line.split()[1]) * 1024 for line in open("/proc/self/status") if line.startswith(field))

import ntkbench.numerics._kernel_regression  # jax and the numerics imported before the baseline
started, baseline = time.perf_counter(), rss("VmRSS:")
code = main(["run", sys.argv[1], "--out", sys.argv[2], "--no-progress", "--force"])
print(json.dumps({"code": code, "baseline": baseline, "peak": rss("VmHWM:"), "seconds": time.perf_counter() - started}))
"""


def _available() -> bool:
    from ntkbench.datasets.fashion_mnist import FashionMNIST

    return all(FashionMNIST.store.locate(file) is not None for file in FashionMNIST.store.files)


@pytest.mark.skipif(not _available(), reason="Fashion-MNIST files not installed (sudo apt-get install dataset-fashion-mnist)")
def test_ntk_infinite_at_n_32768_runs_within_the_planned_memory(benchmark, tmp_path):
    """Target: the run's peak RSS above its baseline (jax imported) within 1.25 x the plan's peak for
    its largest cell (the float64 factor, the test kernel, a tile), plus 1 GiB for the data and
    the process's own; the records complete; the kernel store holds every tile."""
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(SPEC))
    planned = ntkbench.plan(SPEC, out=tmp_path / "out")
    result = benchmark.pedantic(
        lambda: subprocess.run([sys.executable, "-c", textwrap.dedent(RUN), str(spec), str(tmp_path / "out")],
                               capture_output=True, text=True, check=True),
        rounds=1, iterations=1,
    )
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    added = figures["peak"] - figures["baseline"]
    limit = 1.25 * planned.peak_bytes + (1 << 30)
    from ntkbench.storage import stored_kernels

    [kernel] = stored_kernels(tmp_path / "out" / "kernels")
    benchmark.extra_info.update(
        peak_gib=round(figures["peak"] / 2**30, 2), added_gib=round(added / 2**30, 2),
        planned_peak_gib=round(planned.peak_bytes / 2**30, 2), planned_minutes=round(planned.total_seconds / 60, 1),
        seconds=round(figures["seconds"]), store_gib=round(kernel.disk_bytes / 2**30, 2), ratio=round(added / limit, 3),
    )
    print(f"\nn=32768: peak RSS {figures['peak'] / 2**30:.2f} GiB ({added / 2**30:.2f} GiB above the baseline) against "
          f"{planned.peak_bytes / 2**30:.2f} GiB planned; {figures['seconds']:.0f} s against {planned.total_seconds:.0f} s "
          f"planned; store {kernel.disk_bytes / 2**30:.2f} GiB")
    assert figures["code"] == 0
    assert all(evaluation.present == evaluation.tiles for evaluation in kernel.evaluations)
    assert added < limit


def test_the_store_costs_at_most_5_percent_over_the_in_memory_kernel(benchmark, tmp_path):
    """A Myrtle-5 infinite NTK at 8x8 on 384 inputs, evaluated in memory and tile by tile into a
    fresh kernel store (each tile hashed, written atomically with an fsync, its lock taken),
    alternately, three times each: the median time ratio. Tiles of at most 128 (6 of them, the edge
    the memory budget allows up to that): smaller than a large run's 512, so the store's cost per
    tile weighs more here than there."""
    import time

    import numpy as np

    from ntkbench.api import StoredKernel
    from ntkbench.architectures.myrtle import MyrtleArchitecture, MyrtleOptions
    from ntkbench.kernels import architecture_kernel_fn, evaluate_tiled, infinite_kernel_description
    from ntkbench.numerics._kernels import tile_edge, tile_size
    from ntkbench.storage import TileDirectory

    architecture = MyrtleArchitecture(MyrtleOptions(depth=5, width=32))
    kernel_fn = architecture_kernel_fn(architecture, num_classes=10)
    description = infinite_kernel_description(architecture, num_classes=10)
    x = np.random.default_rng(0).normal(size=(384, 8, 8, 1)).astype(np.float32)
    edge = tile_edge(kernel_fn, x.shape[1:], key=kernel_fn, at_most=min(128, tile_size(len(x))))
    evaluate_tiled(kernel_fn, x[:edge], max_tile=edge)  # compiled before anything is timed

    def timed(store: int | None) -> tuple[float, np.ndarray]:
        stored = None if store is None else StoredKernel(TileDirectory(tmp_path / f"store{store}"), description)
        started = time.perf_counter()
        matrix = evaluate_tiled(kernel_fn, x, max_tile=edge, stored=stored)
        return time.perf_counter() - started, matrix

    def measure() -> dict:
        memory, stored = [], []
        for round_ in range(3):
            seconds, in_memory = timed(None)
            memory.append(seconds)
            seconds, from_store = timed(round_)
            stored.append(seconds)
            assert np.array_equal(in_memory, from_store)
        tiles = len(list((tmp_path / "store0").rglob("*.npy")))
        return {"edge": edge, "tiles": tiles, "memory_seconds": memory, "stored_seconds": stored,
                "ratio": float(np.median(np.array(stored) / np.array(memory)))}

    facts = benchmark.pedantic(measure, rounds=1, iterations=1)
    benchmark.extra_info.update(facts)
    print(f"\nstore vs in memory: ratio {facts['ratio']:.3f} (target <= 1.05) {facts}")
    blocks = -(-len(x) // edge)
    assert blocks > 1 and facts["tiles"] == blocks * (blocks + 1) // 2 and facts["ratio"] <= 1.05
