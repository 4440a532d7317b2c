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
