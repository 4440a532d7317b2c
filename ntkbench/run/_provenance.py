"""What a record needs to be reproduced: library versions, the device and the machine."""

from __future__ import annotations

import functools
import importlib.metadata
import os
import platform
from typing import Any

TRACKED_DISTRIBUTIONS = ("ntkbench", "jax", "jaxlib", "neural-tangents", "equinox", "optax", "numpy", "scipy")


def library_versions() -> dict[str, str]:
    """Installed versions of the libraries that determine results (`missing` when absent)."""
    versions = {"python": platform.python_version()}
    for name in TRACKED_DISTRIBUTIONS:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "missing"
    return versions


@functools.cache
def device_info() -> dict[str, Any]:
    """The JAX devices this process computes on."""
    import jax

    devices = jax.devices()
    return {"platform": devices[0].platform, "kind": devices[0].device_kind, "count": len(devices)}


def machine_info() -> dict[str, Any]:
    return {"system": platform.system(), "machine": platform.machine(), "cpu_count": os.cpu_count()}
