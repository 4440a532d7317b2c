"""What the test suite itself relies on: its persistent compilation cache is hit by the processes it
starts, and the parity reference is never rewritten under CI (where the golden-file test would pass
by construction)."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

from conftest import COMPILATION_CACHE, REPO, jax_compilation_cache

COMPILE_TWICE = """\
import sys
import jax
import jax.numpy as jnp

events = []
jax.monitoring.register_event_listener(lambda event, **_: events.append(event))
constant = float(sys.argv[1])  # new to the cache: the first process compiles, the second reads


@jax.jit
def deep(x):
    for step in range(300):  # long enough to compile that the cache keeps it
        x = jnp.tanh(x @ x.T + constant * step)
    return x


deep(jnp.ones((8, 8))).block_until_ready()
print(events.count("/jax/compilation_cache/cache_hits"), events.count("/jax/compilation_cache/cache_misses"))
"""


def test_a_process_the_suite_starts_reads_what_another_compiled():
    """Two fresh interpreters with the suite's environment compile one new computation: the first
    misses and writes it, the second hits. The cache's directory names the jax and jaxlib versions."""
    assert os.environ["JAX_COMPILATION_CACHE_DIR"] == str(jax_compilation_cache())
    assert all(os.environ[name] == value for name, value in COMPILATION_CACHE.items())
    import jax
    import jaxlib

    assert f"jax-{jax.__version__}-jaxlib-{jaxlib.__version__}" in str(jax_compilation_cache())
    constant = str(uuid.uuid4().int % 10**6 / 10**6)
    counts = []
    for _ in range(2):
        result = subprocess.run([sys.executable, "-c", COMPILE_TWICE, constant], capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr
        counts.append(tuple(int(count) for count in result.stdout.split()))
    (first_hits, first_misses), (second_hits, second_misses) = counts
    # The new computation misses in the first process; everything the first compiled or read, the
    # second reads (a small computation beside it may already be cached by another test: a hit in both).
    # On a loaded machine the second may also look up a computation the first did not (jax skips the
    # cache for some short compilations): a miss there says nothing of what the first wrote.
    assert first_misses >= 1 and second_hits == first_hits + first_misses, counts


def test_rewriting_the_parity_reference_is_refused_under_ci():
    env = dict(os.environ, CI="1", NTKBENCH_WRITE_PARITY="1")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", "tests/test_stack_parity.py"],
        capture_output=True, text=True, env=env, cwd=REPO, timeout=300,
    )
    assert result.returncode == 4, result.stdout + result.stderr  # pytest's usage error
    assert "NTKBENCH_WRITE_PARITY is set under CI" in result.stderr
