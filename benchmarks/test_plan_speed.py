"""Plan target: `ntkbench plan` of every shipped spec within 10 s of wall time with the speed
calibration cached, both for a first plan (nothing else kept: `measured.json` absent) and for a
second one (what the first traced and timed kept). Reported as the ratio of the slowest spec's
time to the target.

Each plan runs as a fresh process (the console script of this environment) with its own data
root, holding a copy of this machine's calibration only; run alone, a 2-core machine's timings
vary by about a second.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TARGET_SECONDS = 10.0


def plan_seconds(spec: Path, data_root: Path) -> float:
    started = time.perf_counter()
    subprocess.run(
        [str(Path(sys.executable).with_name("ntkbench")), "plan", str(spec), "--out", str(data_root / "no-records")],
        cwd=REPO, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env=dict(os.environ, NTKBENCH_DATA=str(data_root)),
    )
    return time.perf_counter() - started


def test_every_shipped_spec_plans_within_ten_seconds(benchmark, tmp_path):
    from ntkbench.runner import calibration
    from ntkbench.runner._resources import _calibration_path

    calibration()  # cached by this machine's first plan: the target assumes it
    times: dict[str, tuple[float, float]] = {}

    def plan_all() -> float:
        for spec in sorted((REPO / "specs").glob("*.yaml")):
            root = tmp_path / spec.stem
            root.mkdir()
            shutil.copy(_calibration_path(), root / "calibration.json")
            times[spec.stem] = (plan_seconds(spec, root), plan_seconds(spec, root))
        return max(max(pair) for pair in times.values())

    slowest = benchmark.pedantic(plan_all, rounds=1, iterations=1)
    ratio = slowest / TARGET_SECONDS
    benchmark.extra_info.update({"ratio": ratio, **{name: [round(t, 1) for t in pair] for name, pair in times.items()}})
    print(f"\nplan speed: ratio {ratio:.3f} (slowest {slowest:.1f} s); first, second plan per spec:")
    for name, (first, second) in times.items():
        print(f"  {name}: {first:.1f} s, {second:.1f} s")
    assert ratio <= 1.0


REFERENCE = """\
import jax, jax.numpy as jnp
for rows in range(256, 264):  # eight compilations and runs: what a plan's tracing and timing resemble
    jax.jit(lambda x: jnp.tanh(x @ x.T).sum())(jnp.ones((rows, 64))).block_until_ready()
"""
FIRST_PLAN_RATIO = 5.0
"""Issue #55's guard: the first plan of specs/fashion_myrtle_rich.yaml after a plan of
specs/fashion_mlp.yaml, in at most this many times the reference workload (a fresh interpreter that
imports jax and compiles and runs eight small programs), timed in this process."""


def test_a_specs_first_plan_after_anothers_stays_within_its_ratio_to_a_reference(benchmark, tmp_path):
    from ntkbench.runner import calibration
    from ntkbench.runner._resources import _calibration_path

    calibration()
    shutil.copy(_calibration_path(), tmp_path / "calibration.json")

    def measure() -> dict[str, float]:
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", REFERENCE], check=True, env=dict(os.environ, JAX_ENABLE_COMPILATION_CACHE="0"))
        reference = time.perf_counter() - started
        plan_seconds(REPO / "specs" / "fashion_mlp.yaml", tmp_path)
        first = plan_seconds(REPO / "specs" / "fashion_myrtle_rich.yaml", tmp_path)
        again = plan_seconds(REPO / "specs" / "fashion_myrtle_rich.yaml", tmp_path)
        return {"reference": reference, "first": first, "again": again, "ratio": first / reference}

    facts = benchmark.pedantic(measure, rounds=1, iterations=1)
    benchmark.extra_info.update(facts)
    print(f"\nfirst plan of fashion_myrtle_rich after fashion_mlp: {facts['first']:.1f} s, again {facts['again']:.1f} s, "
          f"reference {facts['reference']:.1f} s: ratio {facts['ratio']:.2f} (at most {FIRST_PLAN_RATIO})")
    assert facts["ratio"] <= FIRST_PLAN_RATIO
