"""The device's measured speed (for `ntkbench plan`).

The speed calibration is a few-second microbenchmark (float32 matrix products, a float64
Cholesky factorisation), cached per device kind and JAX version in the data root.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from ..api._storage import data_root


def _calibration_path() -> Path:
    return data_root() / "calibration.json"


def calibration() -> dict[str, Any]:
    """Measured float32 GEMM and float64 Cholesky rates (FLOP/s) of this device, cached."""
    from ..numerics._measured import device_key

    key = device_key()
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
