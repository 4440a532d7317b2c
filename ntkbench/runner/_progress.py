"""A progress bar over a run's cells, with the current cell and an ETA, on standard error."""

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

    def __init__(self, total: int, stream: TextIO | None = None):
        self.total = total
        self.done = 0
        self.stream = stream or sys.stderr
        self.interactive = self.stream.isatty()
        self.started = time.monotonic()

    def _eta(self) -> str:
        if self.done == 0:
            return "ETA --"
        remaining = (time.monotonic() - self.started) / self.done * (self.total - self.done)
        return f"ETA {format_duration(remaining)}"

    def start(self, label: str) -> None:
        filled = self.WIDTH * self.done // max(self.total, 1)
        bar = "#" * filled + "." * (self.WIDTH - filled)
        line = f"[{bar}] {self.done}/{self.total} {self._eta()}  {label}"
        if self.interactive:
            self.stream.write("\r\033[K" + line)
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def finish(self) -> None:
        self.done += 1

    def close(self) -> None:
        if self.interactive:
            self.stream.write("\r\033[K")
        elapsed = format_duration(time.monotonic() - self.started)
        self.stream.write(f"{self.done}/{self.total} cells in {elapsed}\n")
        self.stream.flush()
