"""Files that are always whole: written to a temporary file beside their place, flushed to disk and
renamed over it, so that a process killed at any moment leaves the old file or the new one, never
a part; and exclusive locks that the operating system releases when their process ends, however
it ends."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

TEMPORARY_SUFFIX = ".tmp"
STALE_TEMPORARY_SECONDS = 60.0
"""A temporary file lives milliseconds (write, flush, rename); one older than this was left by a
process that died while writing, and a run removes it."""


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_atomically(path: Path, write: Callable[[IO[Any]], Any], *, binary: bool = False) -> None:
    """Write `path` through `write(handle)` so that it is always either absent, old, or complete: into a
    temporary file beside it, flushed to disk, then renamed over it. The file gets the permissions
    the user's umask gives a new file (a shared results directory stays readable to its group).

    **Raises:** `OSError` (no space, read-only, permission); the temporary file is removed.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TEMPORARY_SUFFIX)
    try:
        os.fchmod(handle, 0o666 & ~_umask())
        with os.fdopen(handle, "wb" if binary else "w", **({} if binary else {"encoding": "utf-8"})) as out:
            write(out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_json_atomically(path: Path, payload: dict[str, Any]) -> None:
    """Write `payload` as JSON to `path` (see `write_atomically`)."""

    def write(out: IO[str]) -> None:
        json.dump(payload, out, indent=2, sort_keys=True, allow_nan=False)
        out.write("\n")

    write_atomically(path, write)


def remove_stale_temporaries(directory: Path, now: float) -> list[Path]:
    """Remove the temporary files under `directory` that processes which died while writing left
    behind (older than `STALE_TEMPORARY_SECONDS` at `now`); return them."""
    removed = []
    for path in directory.rglob(f".*{TEMPORARY_SUFFIX}"):
        try:
            if path.stat().st_mtime < now - STALE_TEMPORARY_SECONDS:
                path.unlink()
                removed.append(path)
        except FileNotFoundError:  # another run removed it first
            continue
    return removed


@contextlib.contextmanager
def exclusive_lock(path: Path, *, wait: bool = True) -> Iterator[bool]:
    """Hold the exclusive lock of the file `path` (created if absent) for the block (released by the
    OS if the process dies); yields False, without waiting, when another process holds it and not `wait`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
