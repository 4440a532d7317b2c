"""JAX's persistent compilation cache for ntkbench's runs: a command that runs cells compiles the
same programs as the last one did (the training steps, the kernel tiles), and reads them back
instead of compiling them again."""

from __future__ import annotations

import os
import sys
from importlib.metadata import version
from pathlib import Path

from ..api import cache_root

MIN_COMPILE_SECONDS = 0.2
"""Compilations shorter than this are not kept: reading one back would save little."""
MAX_BYTES = 4 * 2**30
"""The cache's size limit; JAX evicts the least recently used entries beyond it (and a limit turns
on its file lock, so that concurrent runs never read an entry still being written)."""


def compilation_cache_dir() -> Path:
    """One folder per jax, jaxlib and Python under ntkbench's cache: an upgrade never reads another
    version's entries, and old versions' folders are easy to delete."""
    python = "py{}{}".format(*sys.version_info[:2])
    return cache_root() / "jax" / f"jax-{version('jax')}-jaxlib-{version('jaxlib')}-{python}"


def use_compilation_cache() -> Path | None:
    """Keep this process's compilations in `compilation_cache_dir()`; the folder, or None where the
    user chose otherwise (`JAX_COMPILATION_CACHE_DIR` set: theirs is used; `NTKBENCH_COMPILATION_CACHE=off`:
    none). Call it before the first compilation."""
    import jax

    if os.environ.get("JAX_COMPILATION_CACHE_DIR") or os.environ.get("NTKBENCH_COMPILATION_CACHE", "").lower() == "off":
        return None
    folder = compilation_cache_dir()
    jax.config.update("jax_compilation_cache_dir", str(folder))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", MIN_COMPILE_SECONDS)
    jax.config.update("jax_compilation_cache_max_size", MAX_BYTES)
    return folder
