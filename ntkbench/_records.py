"""The record store: one JSON file per cell under `<out>/records/`, written atomically.

A record is written to a temporary file in the same directory, flushed to disk and
renamed over its final name, so a run killed at any moment leaves only complete
records. Each record carries a SHA-256 of its own content; one that does not parse
or fails its checksum is ignored (with a warning) and its cell is computed again.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from ._cells import Cell, cell_key, cells_of
from ._spec import content_hash

RECORD_FORMAT = 1
SPEC_FILE = "spec.json"


def _with_checksum(record: dict[str, Any]) -> dict[str, Any]:
    body = {key: value for key, value in record.items() if key != "checksum"}
    return {**body, "checksum": content_hash(body)}


def write_json_atomically(path: Path, payload: dict[str, Any]) -> None:
    """Write `payload` as JSON to `path` so that `path` is always either absent, old, or complete."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(payload, out, indent=2, sort_keys=True, allow_nan=False)
            out.write("\n")
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


@dataclasses.dataclass(frozen=True)
class StoredRecords:
    """The records of a results directory, sorted against the spec stored beside them."""

    spec: dict[str, Any]
    current: dict[Cell, dict[str, Any]]
    """Records that belong to the current spec (by cell key), successful or failed."""
    stale: int
    """Records of earlier versions of the spec (kept on disk, not used)."""
    unreadable: list[Path]


class RecordStore:
    """The records and the spec of one results directory."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    @property
    def records_dir(self) -> Path:
        return self.root / "records"

    def path_for(self, spec_dict: dict[str, Any], cell: Cell) -> Path:
        key = cell_key(spec_dict, cell)
        return self.records_dir / cell.learner_id / f"n{cell.n_train:07d}-seed{cell.seed}-{key[:12]}.json"

    def write_spec(self, spec_dict: dict[str, Any]) -> None:
        write_json_atomically(self.root / SPEC_FILE, spec_dict)

    def read_spec(self) -> dict[str, Any]:
        return json.loads((self.root / SPEC_FILE).read_text(encoding="utf-8"))

    def write(self, spec_dict: dict[str, Any], cell: Cell, record: dict[str, Any]) -> Path:
        """Store the record of `cell` (its checksum is added here); return its path."""
        path = self.path_for(spec_dict, cell)
        write_json_atomically(path, _with_checksum(record))
        return path

    def load(self, spec_dict: dict[str, Any]) -> StoredRecords:
        """Read every record and keep those whose cell key matches `spec_dict`."""
        expected = {cell_key(spec_dict, cell): cell for cell in cells_of(spec_dict)}
        current: dict[Cell, dict[str, Any]] = {}
        stale = 0
        unreadable = []
        for path in sorted(self.records_dir.glob("*/*.json")):
            record = read_record(path)
            if record is None:
                unreadable.append(path)
                continue
            cell = expected.get(record["cell"]["key"])
            if cell is None:
                stale += 1
            else:
                current[cell] = record
        for path in unreadable:
            print(f"warning: ignoring unreadable or corrupted record {path}", file=sys.stderr)
        return StoredRecords(spec_dict, current, stale, unreadable)


def read_record(path: Path) -> dict[str, Any] | None:
    """The record at `path`, or None when it does not parse or fails its checksum."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(record, dict) or record.get("format") != RECORD_FORMAT:
        return None
    if _with_checksum(record).get("checksum") != record.get("checksum"):
        return None
    return record
