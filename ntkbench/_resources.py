"""The memory budget of a run, and the device's measured speed (for `ntkbench plan`).

The budget is `--memory-budget` (also `$NTKBENCH_MEMORY_BUDGET`), else a safe fraction of what
the device has free: 80% of an accelerator's memory limit, 50% of the host's available memory.
The speed calibration is a few-second microbenchmark (float32 matrix products, a float64
Cholesky factorisation), cached per device kind and JAX version in the data root.
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path
from typing import Any

from ._errors import InputError

BUDGET_VARIABLE = "NTKBENCH_MEMORY_BUDGET"
_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def parse_bytes(text: str) -> int:
    """'8G', '512M', '1.5G' or a number of bytes.

    >>> parse_bytes("1.5G")
    1610612736
    """
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)i?B?\s*", str(text), re.IGNORECASE)
    if not match:
        raise InputError(f"memory budget {text!r}: use a size such as 8G, 512M or 1.5G")
    return int(float(match.group(1)) * _UNITS[match.group(2).upper()])


def format_bytes(count: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(count) < 1024 or unit == "TiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count:.1f} TiB"


def available_host_memory() -> int:
    """MemAvailable from /proc/meminfo (bytes); the total from sysconf where that is missing."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def memory_budget() -> int:
    """Bytes a run may use: the user's budget, or a safe fraction of the device's free memory."""
    if os.environ.get(BUDGET_VARIABLE):
        return parse_bytes(os.environ[BUDGET_VARIABLE])
    import jax

    device = jax.devices()[0]
    if device.platform != "cpu":
        stats = device.memory_stats() or {}
        if stats.get("bytes_limit"):
            return int(0.8 * stats["bytes_limit"])
    return int(0.5 * available_host_memory())


def _calibration_path() -> Path:
    from .datasets._storage import data_root

    return data_root() / "calibration.json"


def calibration() -> dict[str, Any]:
    """Measured float32 GEMM and float64 Cholesky rates (FLOP/s) of this device, cached."""
    import jax

    device = jax.devices()[0]
    key = f"{device.platform}:{device.device_kind}:{len(jax.devices())}:jax-{jax.__version__}"
    path = _calibration_path()
    try:
        cached = json.loads(path.read_text())
    except (OSError, ValueError):
        cached = {}
    if key not in cached:
        cached[key] = _measure()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(cached, indent=2, sort_keys=True))
        except OSError:
            pass  # an unwritable cache only costs a re-measurement next time
    return cached[key]


def _measure() -> dict[str, float]:
    import jax
    import jax.numpy as jnp
    import numpy as np
    import scipy.linalg

    size = 1024
    a = jnp.asarray(np.random.default_rng(0).normal(size=(size, size)), dtype=jnp.float32)
    product = jax.jit(lambda x: x @ x)
    product(a).block_until_ready()
    repeats, started = 0, time.perf_counter()
    while time.perf_counter() - started < 1.0:
        product(a).block_until_ready()
        repeats += 1
    gemm = 2 * size**3 * repeats / (time.perf_counter() - started)

    n = 2048
    m = np.random.default_rng(1).normal(size=(n, n))
    spd = m @ m.T + n * np.eye(n)
    started = time.perf_counter()
    scipy.linalg.cho_factor(spd, lower=True, check_finite=False)
    cholesky = n**3 / 3 / (time.perf_counter() - started)
    return {"gemm_flops": gemm, "cholesky_flops": cholesky}
