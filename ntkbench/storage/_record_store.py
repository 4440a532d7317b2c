"""The record store: one JSON file per cell under `<out>/records/`, written atomically.

A record is written to a temporary file in the same directory, flushed to disk and
renamed over its final name, so a run killed at any moment leaves only complete
records. Each record carries a SHA-256 of its own content; one that does not parse or
fails its checksum is reported, set aside (renamed to `*.corrupt`, never deleted) and its
cell is computed again. A cell being computed holds an exclusive lock on its own lock
file, which the operating system releases when the process ends, however it ends: two
runs on one directory never compute the same cell at once.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..api import InputError
from ..spec import DEFAULT_MARGIN, DEFAULT_REFERENCE, content_hash
from ._atomic import exclusive_lock, write_json_atomically
from ._cells import Cell, cell_key, cells_of

RECORD_FORMAT = 1
SPEC_FILE = "spec.json"


class _RecordPart(BaseModel):
    model_config = ConfigDict(frozen=True, extra="allow")


class RecordSpec(_RecordPart):
    name: str
    hash: str
    source: str


class RecordCell(_RecordPart):
    learner_id: str
    n_train: int
    seed: int
    width: int | None = None
    key: str


class _StoredSection(_RecordPart):
    name: str


class _StoredLearner(_StoredSection):
    id: str


class _StoredSweep(_RecordPart):
    n_train: list[int] = Field(min_length=1)
    seeds: list[int] = Field(min_length=1)
    width: list[int] | None = None


class _StoredCompare(_RecordPart):
    reference: str = DEFAULT_REFERENCE
    margin: Annotated[float, Field(gt=0, allow_inf_nan=False)] = DEFAULT_MARGIN


class StoredSpec(_RecordPart):
    """What a results directory's `spec.json` must hold for its records to be read (the canonical dict
    of `Spec.as_dict`; this checks its shape, not every value)."""

    name: str
    dataset: _StoredSection
    architecture: _StoredSection
    learners: list[_StoredLearner] = Field(min_length=1)
    sweep: _StoredSweep
    metric: str
    fit: dict[str, Any]
    compare: _StoredCompare = _StoredCompare()


class Record(_RecordPart):
    """One cell's result as stored: what was computed, how it went, and what it needs to be reproduced.

    Fields written by later versions of ntkbench are kept (`extra="allow"`), so that rewriting
    a record never drops them.
    """

    format: int
    spec: RecordSpec
    cell: RecordCell
    dataset: dict[str, Any]
    architecture: dict[str, Any]
    """The architecture section at the cell's width."""
    learner: dict[str, Any]
    deterministic: bool = True
    wall_seconds: float
    created: str
    status: Literal["ok", "failed"]
    failure: str | None = None
    traceback: str | None = None
    metrics: dict[str, float] | None = None
    test_outcomes: dict[str, Any] | None = None
    """Per test example, compactly (see `encode_outcomes`); absent from records of failed cells."""
    test_loss_measures: str = "squared_error"
    """What `metrics["test_loss"]` is (`squared_error` in records written before the field existed)."""
    info: dict[str, Any] = {}
    versions: dict[str, str]
    device: dict[str, Any]
    machine: dict[str, Any]
    provenance: dict[str, Any] = {}
    """The code that computed the record (`code`: ntkbench's and each plugin's distribution, version,
    source fingerprint and git commit), the `command` line and `xla_flags` of the run (absent from
    records written before the field existed)."""
    checksum: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def as_json(self) -> dict[str, Any]:
        """The fields that were set, as JSON values (what is written to disk, before the checksum)."""
        return self.model_dump(mode="json", exclude_unset=True, exclude={"checksum"})


def _with_checksum(record: dict[str, Any]) -> dict[str, Any]:
    body = {key: value for key, value in record.items() if key != "checksum"}
    return {**body, "checksum": content_hash(body)}


@dataclasses.dataclass(frozen=True)
class StoredRecords:
    """The records of a results directory, sorted against the spec stored beside them."""

    spec: dict[str, Any]
    current: dict[Cell, Record]
    """Records that belong to the current spec (by cell key), successful or failed."""
    stale: int
    """Records of earlier versions of the spec (kept on disk, not used)."""
    set_aside: list[Path]
    """Records that did not parse or failed their checksum, renamed to `*.corrupt` by this load (the
    new names)."""
    spectra: tuple[Any, ...] = ()
    """The spectra stored beside the records that belong to the current spec (`StoredSpectrum`; filled
    by the report's `load_results`)."""


class RecordStore:
    """The records and the spec of one results directory."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    @property
    def records_dir(self) -> Path:
        return self.root / "records"

    def path_for(self, spec_dict: dict[str, Any], cell: Cell) -> Path:
        key = cell_key(spec_dict, cell)
        width = f"w{cell.width:05d}-" if cell.width is not None else ""
        return self.records_dir / cell.learner_id / f"{width}n{cell.n_train:07d}-seed{cell.seed}-{key[:12]}.json"

    def write_spec(self, spec_dict: dict[str, Any]) -> None:
        write_json_atomically(self.root / SPEC_FILE, spec_dict)

    def read_spec(self) -> dict[str, Any]:
        """The spec stored beside the records, checked to have the shape ntkbench writes.

        **Raises:** `InputError` when it is absent, unreadable or not such a spec.
        """
        path = self.root / SPEC_FILE
        if not path.is_file():
            raise InputError(f"{self.root}: not a results directory (no {SPEC_FILE}); run `ntkbench run SPEC --out DIR` first")
        try:
            spec_dict = json.loads(path.read_text(encoding="utf-8"))
            StoredSpec.model_validate(spec_dict)
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, ValidationError) as error:
            reason = str(error).splitlines()[0]
            raise InputError(f"{path}: not a spec that ntkbench wrote ({reason}); move it away or use another directory") from None
        return spec_dict

    def claim_for(self, spec_dict: dict[str, Any], source: str) -> None:
        """Make this directory the results directory of `spec_dict`, or refuse: a directory holds the
        records of one spec (by name; a revised version of it replaces the stored spec, and the
        records of earlier versions are kept but no longer used). Done under a lock, so that two
        runs never interleave their check and write.

        **Raises:** `InputError` when another spec (or something else) owns the directory;
        `OSError` when it cannot be written.
        """
        self.root.mkdir(parents=True, exist_ok=True)
        with self._lock("spec"):
            if (self.root / SPEC_FILE).exists():
                stored = self.read_spec()
                if stored["name"] != spec_dict["name"]:
                    raise InputError(
                        f"{self.root} holds the results of spec {stored['name']!r}; spec {spec_dict['name']!r} ({source}) "
                        "cannot share it: run it with another --out"
                    )
                if stored == spec_dict:
                    return
            self.write_spec(spec_dict)

    def _lock(self, name: str, *, wait: bool = True) -> contextlib.AbstractContextManager[bool]:
        """Hold the exclusive lock `<root>/.locks/<name>.lock` for the block (see `exclusive_lock`)."""
        return exclusive_lock(self.root / ".locks" / f"{name}.lock", wait=wait)

    def write(self, spec_dict: dict[str, Any], cell: Cell, record: Record) -> Path:
        """Store the record of `cell` (its checksum is added here); return its path."""
        path = self.path_for(spec_dict, cell)
        write_json_atomically(path, _with_checksum(record.as_json()))
        return path

    def load(self, spec_dict: dict[str, Any], *, set_aside: bool = True) -> StoredRecords:
        """Read every record and keep those whose cell key matches `spec_dict`.

        A file that does not parse, fails its checksum or is not a record is ignored and, with
        `set_aside`, renamed out of the way (`set_aside_corrupt`); without, nothing is written.
        """
        expected = {cell_key(spec_dict, cell): cell for cell in cells_of(spec_dict)}
        current: dict[Cell, Record] = {}
        stale = 0
        unreadable = []
        for path in sorted(self.records_dir.glob("*/*.json")):
            record = read_record(path)
            if record is None:
                if path.exists():  # else another process set it aside meanwhile
                    unreadable.append(path)
                continue
            cell = expected.get(record.cell.key)
            if cell is None:
                stale += 1
            else:
                current[cell] = record
        moved = []
        for path in unreadable:
            target = set_aside_corrupt(path) if set_aside else None
            if target is not None:
                moved.append(target)
                print(f"warning: record {path} does not parse or fails its checksum; set aside as {target.name}", file=sys.stderr)
            elif not set_aside:
                print(f"warning: record {path} does not parse or fails its checksum; ignored", file=sys.stderr)
        return StoredRecords(spec_dict, current, stale, moved)

    def read(self, spec_dict: dict[str, Any], cell: Cell) -> Record | None:
        """The cell's current record, if there is a valid one."""
        path = self.path_for(spec_dict, cell)
        return read_record(path) if path.exists() else None

    def claim(self, spec_dict: dict[str, Any], cell: Cell, *, wait: bool = False) -> contextlib.AbstractContextManager[bool]:
        """Hold the cell's lock for the duration of the block; yields False when another process holds
        it (or, with `wait`, blocks until that process releases it or dies)."""
        record = self.path_for(spec_dict, cell)
        return self._lock(f"{record.parent.name}/{record.stem}", wait=wait)


def set_aside_corrupt(path: Path) -> Path | None:
    """Rename a corrupt record to `<name>.corrupt` (or `.corrupt2`, ...), never overwriting; return the
    new path, or None when another process moved it first or it cannot be renamed (reported; the
    record stays ignored)."""
    suffix, counter = ".corrupt", 1
    while (target := path.with_name(path.name + suffix)).exists():
        counter += 1
        suffix = f".corrupt{counter}"
    try:
        os.replace(path, target)
    except FileNotFoundError:
        return None
    except OSError as error:
        print(f"warning: record {path} does not parse or fails its checksum and cannot be set aside "
              f"({error.strerror or error}); ignored", file=sys.stderr)
        return None
    return target


def read_record(path: Path) -> Record | None:
    """The record at `path`, or None when it does not parse, fails its checksum or is not a record."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(record, dict) or record.get("format") != RECORD_FORMAT:
        return None
    if _with_checksum(record).get("checksum") != record.get("checksum"):
        return None
    try:
        return Record.model_validate(record)
    except ValidationError:
        return None
