"""A run's progress on standard error: its cells, with an ETA that weighs each cell by what the plan
says it costs (a seed's first cells hold its kernel or pre-training, so counting cells misleads),
inside a long kernel its tiles: done and in all, their rate and the time left, and inside an
iterative solve its iterations and how far the residual is from the tolerance.

The ETA is the planned seconds of the cells left, each times its learner's pace (seconds taken over
seconds planned, for the cells of that learner done so far; the run's pace for a learner not yet
seen), less the time the cells in progress have already taken. A plan that misjudges one learner,
or a busy machine, then moves the ETA once, when the learner's first cells finish, and not at every
cell as a rate over all cells does.

On a terminal, two tqdm bars redraw in place (the cells; a stored kernel's tiles or a solve's
iterations below them). In a log (standard error not a terminal) the same text, formatted by tqdm,
is written as lines: one per cell, and for a kernel or a solve that takes a while one every
`LOG_EVERY` seconds.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Mapping, Sequence
from typing import Any, TextIO

from tqdm import tqdm

CELLS_FORMAT = "[{bar:24}] {cells} ETA {remaining}  {label}"
TILES_FORMAT = "  kernel [{bar:16}] {n:.0f}/{total:.0f} tiles, {rate_fmt}, ETA {remaining}"
SOLVE_TEXT = "  solve: conjugate gradients, iteration {iteration}, relative residual {residual:.1e} (stops at {tolerance:.0e})"
LOG_BAR = ".#"
"""The bar's characters in a log (empty, full): plain ASCII."""


class ProgressBar:
    """`start(label)` before each unit of cells, `finish(cell)` after each cell, `tiles(done, total)`
    while a stored kernel of the current cell is evaluated, `solve(iteration, residual, tolerance)`
    while it is solved iteratively, `close()` at the end. `weights`: each
    cell's planned seconds (`planned_seconds`; a cell without an estimate weighs the median of
    those with one, and with none every cell weighs the same)."""

    LOG_EVERY = 30.0
    """Seconds between two lines about a kernel's tiles when standard error is not a terminal."""

    def __init__(self, cells: Sequence[Any], weights: Mapping[Any, float] | None = None, stream: TextIO | None = None):
        known = [weight for weight in (weights or {}).values() if weight > 0]
        fallback = statistics.median(known) if known else 1.0
        self.weights = {cell: (weights or {}).get(cell) or fallback for cell in cells}
        self.total = sum(self.weights.values())
        self.cells, self.done, self.done_weight = len(cells), 0, 0.0
        self.label = ""
        self.stream = stream or sys.stderr
        self.interactive = self.stream.isatty()
        self.started = time.monotonic()
        self._left = dict(self.weights)  # the cells not finished, with their planned seconds
        self._paces: dict[Any, list[float]] = {}  # per learner: [seconds taken, seconds planned] of its finished cells
        self._unit_started = self.started
        self._last_finish = self.started
        self._bar = tqdm(total=self.total, file=self.stream, bar_format=self._format(), smoothing=0, leave=False,
                         dynamic_ncols=True, mininterval=0.2) if self.interactive else None
        self._tiles: tqdm | None = None
        self._kernel: tuple[int, float] | None = None  # in a log: tiles found done, and when, at the kernel's first report
        self._logged = 0.0  # in a log: when the last line about tiles was written

    def _format(self) -> str:
        return (CELLS_FORMAT.replace("{cells}", f"{self.done}/{self.cells} cells").replace("{remaining}", self.eta())
                .replace("{label}", self.label.replace("{", "{{").replace("}", "}}")))

    def seconds_left(self) -> float | None:
        """The ETA in seconds (see the module docstring); None before any cell has finished."""
        if not self._paces:
            return None
        taken = sum(pace[0] for pace in self._paces.values())
        planned = sum(pace[1] for pace in self._paces.values())
        overall = taken / planned if planned > 0 else 1.0
        left = 0.0
        for cell, weight in self._left.items():
            pace = self._paces.get(_learner(cell))
            left += weight * (pace[0] / pace[1] if pace and pace[1] > 0 else overall)
        return max(left - (time.monotonic() - self._unit_started), 0.0)

    def eta(self) -> str:
        left = self.seconds_left()
        return "?" if left is None else tqdm.format_interval(left)

    def start(self, label: str) -> None:
        self.label = label
        self._unit_started = time.monotonic()
        self._close_tiles()
        if self._bar is not None:
            self._bar.bar_format = self._format()
            self._bar.refresh()
        else:
            elapsed = time.monotonic() - self.started
            self._line(tqdm.format_meter(self.done_weight, self.total, elapsed, bar_format=self._format(), ascii=LOG_BAR))

    def tiles(self, done: int, total: int) -> None:
        """A stored kernel of the current cell has `done` of its `total` tiles: the rate counts the
        tiles computed since its first report (those read from the store took no time)."""
        if self._bar is not None:
            if self._tiles is None or done < self._tiles.n:
                self._close_tiles()
                self._tiles = tqdm(total=total, initial=done, file=self.stream, bar_format=TILES_FORMAT, unit="tile",
                                   smoothing=0, position=1, leave=False, dynamic_ncols=True, mininterval=0.2)
            self._tiles.update(done - self._tiles.n)
            if done == total:
                self._close_tiles()
            return
        now = time.monotonic()
        if self._kernel is None or done < self._kernel[0]:
            self._kernel = (done, now)
        first, since = self._kernel
        if done == total:
            self._kernel = None
        # In a log, only a kernel that takes a while gets lines of its own.
        if now - since >= self.LOG_EVERY and (done == total or now - self._logged >= self.LOG_EVERY):
            self._logged = now
            text = tqdm.format_meter(done, total, now - since, bar_format=TILES_FORMAT, unit="tile", initial=first, ascii=LOG_BAR)
            self._line(f"{self.label} |{text.rstrip()}")

    def solve(self, iteration: int, residual: float, tolerance: float) -> None:
        """An iterative solve of the current cell has done `iteration` iterations, down to the relative
        `residual`; it stops at `tolerance`."""
        text = SOLVE_TEXT.format(iteration=iteration, residual=residual, tolerance=tolerance)
        if self._bar is not None:
            if self._tiles is None or iteration == 1:
                self._close_tiles()
                self._tiles = tqdm(file=self.stream, bar_format="{desc}", position=1, leave=False, dynamic_ncols=True,
                                   mininterval=0.2)
            self._tiles.set_description_str(text)
            return
        now = time.monotonic()
        if iteration == 1 or self._kernel is None:
            self._kernel = (0, now)
        if now - self._kernel[1] >= self.LOG_EVERY and now - self._logged >= self.LOG_EVERY:
            self._logged = now
            self._line(f"{self.label} |{text}")

    def _close_tiles(self) -> None:
        if self._tiles is not None:
            self._tiles.close()
            self._tiles = None
        self._kernel = None

    def _line(self, text: str) -> None:
        self.stream.write(text + "\n")
        self.stream.flush()

    def finish(self, cell: Any) -> None:
        now = time.monotonic()
        self.done += 1
        self.done_weight += self.weights.get(cell, 0.0)
        pace = self._paces.setdefault(_learner(cell), [0.0, 0.0])
        pace[0] += now - max(self._last_finish, self._unit_started)
        pace[1] += self._left.pop(cell, 0.0)
        self._last_finish = self._unit_started = now
        if self._bar is not None:
            self._bar.bar_format = self._format()
            self._bar.update(self.weights.get(cell, 0.0))

    def close(self) -> None:
        self._close_tiles()
        if self._bar is not None:
            self._bar.close()
        elapsed = tqdm.format_interval(time.monotonic() - self.started)
        self._line(f"{self.done}/{self.cells} cells in {elapsed}")


def _learner(cell: Any) -> Any:
    """What a cell's pace is kept for: its learner (and width)."""
    return (getattr(cell, "learner_id", None), getattr(cell, "width", None))
