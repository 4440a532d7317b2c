"""A results directory's records as one pandas DataFrame: a row per cell of the stored spec, flat columns."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..analysis import load_results
from ..storage import Record, StoredRecords

if TYPE_CHECKING:
    import pandas

LEADING_COLUMNS = ("spec", "learner_id", "learner", "width", "n_train", "seed", "status", "failure")
"""The columns that identify a cell and how it went, first in every frame."""


def import_pandas() -> Any:
    """pandas, or an `InputError` that says how to install it (the `ntkbench[data]` extra)."""
    from ..api import InputError

    try:
        import pandas
    except ImportError:
        raise InputError("results as DataFrames need pandas: pip install 'ntkbench[data]'") from None
    return pandas


def _scalar(value: Any) -> Any:
    """A value a column of CSV or parquet holds: numbers, strings, booleans and None as they are,
    anything else (a list, a mapping) as its JSON text."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return json.dumps(value, sort_keys=True)


def _text(value: Any) -> Any:
    """A number as the text JSON gives it (NaN, a missing value, stays missing)."""
    return None if value != value else json.dumps(value)


def _flatten(prefix: str, values: dict[str, Any]) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in values.items():
        name = f"{prefix}.{key}"
        if isinstance(value, dict):
            flat.update(_flatten(name, value))
        else:
            flat[name] = _scalar(value)
    return flat


def record_row(record: Record) -> dict[str, Any]:
    """One record as a flat row: the cell, its status and failure, every metric under its own name,
    the learner's options (`option.*`), the facts it reported (`info.*`, per-checkpoint lists as JSON),
    timing, library versions (`version.*`), device (`device.*`) and provenance (`provenance.*`)."""
    options = {key: value for key, value in record.learner.items() if key not in {"id", "name"}}
    row = {
        "spec": record.spec.name,
        "learner_id": record.cell.learner_id,
        "learner": record.learner.get("name"),
        "width": record.cell.width,
        "n_train": record.cell.n_train,
        "seed": record.cell.seed,
        "status": record.status,
        "failure": record.failure,
        **(record.metrics or {}),
        "test_loss_measures": record.test_loss_measures,
        "wall_seconds": record.wall_seconds,
        "created": record.created,
        "deterministic": record.deterministic,
        **_flatten("option", options),
        **_flatten("info", record.info),
        **_flatten("version", record.versions),
        **_flatten("device", record.device),
        **_flatten("machine", record.machine),
        **_flatten("provenance", record.provenance),
        "spec_hash": record.spec.hash,
        "cell_key": record.cell.key,
    }
    return row


def records_frame(stored: StoredRecords) -> pandas.DataFrame:
    """The records of the stored spec's current cells (failed ones included), sorted by learner (in
    the spec's order), width, n and seed."""
    pandas = import_pandas()
    order = {learner["id"]: index for index, learner in enumerate(stored.spec["learners"])}
    records = sorted(
        stored.current.values(),
        key=lambda r: (order.get(r.cell.learner_id, len(order)), r.cell.width or 0, r.cell.n_train, r.cell.seed),
    )
    frame = pandas.DataFrame([record_row(record) for record in records])
    if frame.empty:
        return pandas.DataFrame(columns=list(LEADING_COLUMNS))
    for column in frame.columns:
        kinds = {type(value) for value in frame[column] if value is not None and value == value}
        if len(kinds) > 1 and str in kinds:  # e.g. `option.ridge`: "auto" for one learner, 1e-6 for another
            frame[column] = [value if value is None or isinstance(value, str) else _text(value) for value in frame[column]]
    return frame


def load_records(results_dir: str | Path) -> pandas.DataFrame:
    """Every cell's record in a results directory written by `ntkbench run`, one row per cell.

    Columns: `spec`, `learner_id`, `learner` (the plugin), `width` (None without a width sweep),
    `n_train`, `seed`, `status` (`ok` or `failed`), `failure` (the reason), one column per metric
    (`test_error`, `test_loss`, ...), `wall_seconds`, `created`, and prefixed groups: `option.*`
    (the learner's options), `info.*` (what it reported: steps, train error, ...), `version.*`,
    `device.*`, `machine.*`, `provenance.*`. Records of earlier versions of the spec are left out.
    Nothing is written (corrupt records are skipped, not set aside).

    **Raises:** `InputError` when the directory holds no results, or pandas is not installed.
    """
    import_pandas()
    return records_frame(load_results(results_dir, set_aside=False))
