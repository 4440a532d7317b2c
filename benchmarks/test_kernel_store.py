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
