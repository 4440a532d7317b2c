"""Startup target: `ntkbench --help`, `ntkbench list` and `ntkbench validate` answer within 0.6 s of
wall time, as the ratio to starting a bare `python -c pass` in the same run.

Each command runs as a fresh process (the console script of this environment), alternating with
the baseline, best of `ROUNDS`: a 2-core machine's single timings vary by tens of milliseconds.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
ROUNDS = 7
TARGET_SECONDS = 0.6
COMMANDS = {"--help": ["--help"], "list": ["list"], "validate": ["validate", "specs/fashion_mlp.yaml"]}


def wall(argv: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, cwd=REPO, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


@pytest.mark.parametrize("command", list(COMMANDS))
def test_fast_commands_start_within_the_target(benchmark, command):
    ntkbench = str(Path(sys.executable).with_name("ntkbench"))
    baseline = ours = float("inf")

    def once() -> float:
        nonlocal baseline, ours
        for _ in range(ROUNDS):
            baseline = min(baseline, wall([sys.executable, "-c", "pass"]))
            ours = min(ours, wall([ntkbench, *COMMANDS[command]]))
        return ours

    benchmark.pedantic(once, rounds=1, iterations=1)
    benchmark.extra_info.update({"seconds": round(ours, 3), "python_seconds": round(baseline, 3), "ratio": ours / baseline})
    print(f"\nntkbench {command}: {ours:.3f} s (python -c pass: {baseline:.3f} s, ratio {ours / baseline:.1f})")
    assert ours <= TARGET_SECONDS
