"""Writing a run's records as they arrive, whichever executor computed them."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from ..api import RunFailure
from ..storage import Cell, Record, RecordStore, same_code


@dataclasses.dataclass
class RecordWriter:
    """Writes a run's records (whichever executor computed them), counting them and its failed cells."""

    store: RecordStore
    spec_dict: dict[str, Any]
    provenance: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    """Per learner id, the `provenance` every record of that learner gets (empty: none)."""
    rerun_changed: bool = False
    """Whether a successful record from other code than `provenance` names counts as not done."""
    computed: int = 0
    failed: list[tuple[Cell, str]] = dataclasses.field(default_factory=list)
    stopped: dict[str, str] = dataclasses.field(default_factory=dict)
    """Learners whose first cell broke the learner contract, with the reason: their other cells
    are not computed (they have no record, so the next run tries them again)."""
    done_elsewhere: list[Cell] = dataclasses.field(default_factory=list)
    """Cells this run was to compute and found recorded by another process meanwhile."""
    on_record: Callable[[Cell, Record], None] | None = None
    """Hears of every record once it is written."""
    kernel_tiles: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    """Per kernel identity, the tiles this run's cells read from the kernel store and computed
    (summed over their records' `info.kernel_tiles`)."""

    def stop(self, learner_id: str, reason: str) -> None:
        """Compute no further cell of `learner_id` in this run."""
        self.stopped[learner_id] = reason

    def done(self, cell: Cell) -> bool:
        """Whether the cell has a successful record (from this code, with `rerun_changed`): checked
        under the cell's lock, since another process may have computed it meanwhile."""
        record = self.store.read(self.spec_dict, cell)
        if record is None or not record.ok:
            return False
        current = self.provenance.get(cell.learner_id, {}).get("code")
        if self.rerun_changed and current and not same_code(record.provenance.get("code"), current):
            return False
        self.done_elsewhere.append(cell)
        return True

    def write(self, cell: Cell, record: Record) -> None:
        """**Raises:** `RunFailure` when the record cannot be written (a full disk); earlier ones are kept."""
        if cell.learner_id in self.provenance:
            record = record.model_copy(update={"provenance": self.provenance[cell.learner_id]})
        try:
            self.store.write(self.spec_dict, cell, record)
        except OSError as error:
            raise RunFailure(
                f"cannot write the record of {cell.label()} under {self.store.records_dir}: {error.strerror or error}. "
                f"The partial file was removed; the {self.computed} record(s) this run wrote before are kept. "
                "Free space (or fix the directory) and run the same command to resume."
            ) from None
        self.computed += 1
        self._count_tiles(record.info.get("kernel_tiles"))
        if not record.ok:
            self.failed.append((cell, record.failure))
        if self.on_record is not None:
            self.on_record(cell, record)

    def _count_tiles(self, tiles: Any) -> None:
        if not isinstance(tiles, dict):
            return
        for identity, entry in tiles.items():
            total = self.kernel_tiles.setdefault(identity, {"kernel": entry.get("kernel", "kernel"), "read": 0, "computed": 0})
            total["read"] += int(entry.get("read", 0))
            total["computed"] += int(entry.get("computed", 0))
