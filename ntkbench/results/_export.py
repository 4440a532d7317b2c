"""`ntkbench export`: a results directory's records as one CSV, parquet or JSON Lines file."""

from __future__ import annotations

from pathlib import Path
from typing import IO, Any, Literal

from ..api import RunFailure
from ..storage import write_atomically
from ._record_frames import load_records

Format = Literal["csv", "parquet", "jsonl"]
FORMATS: tuple[Format, ...] = ("csv", "parquet", "jsonl")


def export_records(results_dir: str | Path, format: Format, out: str | Path | None = None) -> Path:
    """Write the DataFrame of `load_records(results_dir)` to `out` (default `<results_dir>/records.<format>`),
    atomically; return the path. Parquet needs pyarrow (the `ntkbench[data]` extra).

    **Raises:** `InputError` for a directory without results or a missing pandas/pyarrow;
    `RunFailure` when the file cannot be written.
    """
    from ..api import InputError

    if format not in FORMATS:
        raise InputError(f"unknown export format {format!r}; choose one of {', '.join(FORMATS)}")
    frame = load_records(results_dir)
    target = Path(out) if out is not None else Path(results_dir) / f"records.{format}"
    if format == "parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise InputError("parquet needs pyarrow: pip install 'ntkbench[data]'") from None

    def write(handle: IO[Any]) -> None:
        if format == "csv":
            frame.to_csv(handle, index=False)
        elif format == "parquet":
            frame.to_parquet(handle, index=False)
        else:
            frame.to_json(handle, orient="records", lines=True, double_precision=15)

    try:
        write_atomically(target, write, binary=format == "parquet")
    except OSError as error:
        raise RunFailure(f"cannot write {target}: {error.strerror or error}") from None
    return target
