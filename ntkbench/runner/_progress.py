"""A progress bar over a run's cells, with the current cell and an ETA, on standard error, and inside a
long kernel its tiles: done and in all, the rate and the time left."""

from __future__ import annotations

import sys
import time
from typing import TextIO


def format_duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


class ProgressBar:
    """`start(label)` before each cell, `finish()` after it. Redraws one line on a terminal,
    prints one line per cell otherwise (logs, CI)."""

    WIDTH = 24
    LOG_EVERY = 30.0
    """Seconds between two lines about a kernel's tiles when standard error is not a terminal."""

    def __init__(self, total: int, stream: TextIO | None = None):
        self.total = total
        self.done = 0
        self.stream = stream or sys.stderr
        self.interactive = self.stream.isatty()
        self.started = time.monotonic()
        self.line = ""
        self._kernel: tuple[int, float] | None = None  # tiles found done, and when, at the kernel's first report
        self._logged = 0.0  # when the last line about tiles was written

    def _eta(self) -> str:
        if self.done == 0:
            return "ETA --"
        remaining = (time.monotonic() - self.started) / self.done * (self.total - self.done)
        return f"ETA {format_duration(remaining)}"

    def start(self, label: str) -> None:
        filled = self.WIDTH * self.done // max(self.total, 1)
        bar = "#" * filled + "." * (self.WIDTH - filled)
        self.line = f"[{bar}] {self.done}/{self.total} {self._eta()}  {label}"
        self._kernel = None
        self._write(self.line)

    def _write(self, line: str) -> None:
        if self.interactive:
            self.stream.write("\r\033[K" + line)
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def tiles(self, done: int, total: int) -> None:
        """A stored kernel of the current cell has `done` of its `total` tiles: the rate counts the
        tiles computed since its first report (those read from the store took no time)."""
        now = time.monotonic()
        if self._kernel is None or done < self._kernel[0]:
            self._kernel = (done, now)
        first, since = self._kernel
        computed, elapsed = done - first, now - since
        rate = computed / elapsed if computed and elapsed > 0 else None
        left = "ETA --" if rate is None else f"ETA {format_duration((total - done) / rate)}"
        text = f"{self.line} | kernel {done}/{total} tiles" + ("" if rate is None else f", {rate:.3g}/s") + f", {left}"
        if done == total:
            self._kernel = None
        long = elapsed >= self.LOG_EVERY  # in a log, only a kernel that takes a while gets lines of its own
        if self.interactive or long and (done == total or now - self._logged >= self.LOG_EVERY):
            self._logged = now
            self._write(text)

    def finish(self) -> None:
        self.done += 1

    def close(self) -> None:
        if self.interactive:
            self.stream.write("\r\033[K")
        elapsed = format_duration(time.monotonic() - self.started)
        self.stream.write(f"{self.done}/{self.total} cells in {elapsed}\n")
        self.stream.flush()
