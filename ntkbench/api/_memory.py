"""The memory budget of a run: what a cell may hold, and what a kernel tile may take.

The budget is `--memory-budget` (also `$NTKBENCH_MEMORY_BUDGET`), else a safe fraction of what
the device has free: 80% of an accelerator's memory limit, 50% of the host's available memory.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

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
