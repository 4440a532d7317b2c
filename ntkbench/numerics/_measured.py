"""Measurements of computations kept across processes, per device and JAX version, in the data root
beside the speed calibration: the FLOPs and memory a plan read from a computation's jaxpr, one
timed run of a small instance of it, and the working memory of a compiled kernel tile (XLA's
memory analysis, which sets a run's tile edge).

Kept here, a second plan of a spec (or of another spec with the same computations) neither traces
nor compiles, and a run does not compile a tile again to size it. FLOPs and memory are facts of a
computation (named by its network's structure and its options); a time is a measurement of the
device, taken once, like the calibration (delete the file to measure again).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from ..api._storage import data_root

FILE = "measured.json"
_SECTIONS: dict[str, dict[str, Any]] | None = None
_CHANGED = False


def device_key() -> str:
    """The device these measurements belong to: its platform and kind, how many, the JAX version."""
    import jax

    device = jax.devices()[0]
    return f"{device.platform}:{device.device_kind}:{len(jax.devices())}:jax-{jax.__version__}"


def text_key(text: str) -> str:
    """The key of a computation by its text (a lowered module, or the repr of what names it)."""
    return hashlib.sha256(text.encode()).hexdigest()


def _path() -> Path:
    return data_root() / FILE


def _sections() -> dict[str, dict[str, Any]]:
    global _SECTIONS
    if _SECTIONS is None:
        try:
            stored = json.loads(_path().read_text())
        except (OSError, ValueError):
            stored = {}
        _SECTIONS = stored.get(device_key(), {}) if isinstance(stored, dict) else {}
    return _SECTIONS


def recall(section: str, key: str) -> Any:
    """The value kept for `key` in `section`, or None."""
    return _sections().get(section, {}).get(key)


def remember(section: str, key: str, value: Any) -> None:
    """Keep `value` (JSON) for `key` in `section`; `save()` writes it."""
    global _CHANGED
    _sections().setdefault(section, {})[key] = value
    _CHANGED = True


def save() -> None:
    """Write what was measured since the last save (merged with what another process wrote). An
    unwritable data root only costs measuring again next time."""
    global _CHANGED
    if not _CHANGED:
        return
    path = _path()
    try:
        stored = json.loads(path.read_text())
    except (OSError, ValueError):
        stored = {}
    stored = stored if isinstance(stored, dict) else {}
    mine = stored.setdefault(device_key(), {})
    for section, values in _sections().items():
        mine.setdefault(section, {}).update(values)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{FILE}.")
        with os.fdopen(handle, "w") as out:
            json.dump(stored, out)
        os.replace(temporary, path)
    except OSError:
        return
    _CHANGED = False
