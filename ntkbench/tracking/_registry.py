"""Finding the trackers a run names: registered under the entry-point group `ntkbench.trackers`
(the built-in ones by ntkbench itself), imported only when named."""

from __future__ import annotations

import importlib.metadata
from collections.abc import Sequence
from pathlib import Path

from ..api import TRACKER_GROUP, InputError, Tracker


def tracker_names() -> list[str]:
    """Every registered tracker's name, sorted."""
    return sorted({entry.name for entry in importlib.metadata.entry_points(group=TRACKER_GROUP)})


def load_trackers(names: Sequence[str], out_dir: Path, run_name: str) -> dict[str, Tracker]:
    """The trackers `names` names, by name, constructed for the run `run_name` in `out_dir`.

    **Raises:** `InputError` for a name no distribution registers (listing those that are), a
    tracker whose backend is not installed (naming the extra that installs it) or that says it
    cannot log from here (`Tracker.problem`), or a registered object that is not a `Tracker`.
    """
    entries = {entry.name: entry for entry in importlib.metadata.entry_points(group=TRACKER_GROUP)}
    trackers = {}
    for name in dict.fromkeys(names):
        if name not in entries:
            known = ", ".join(sorted(entries)) or "none"
            raise InputError(f"--tracker {name}: no such tracker (registered: {known})")
        try:
            tracker = entries[name].load()
        except Exception as error:  # a third party's module that does not import: name it
            raise InputError(f"--tracker {name}: {entries[name].value} does not import ({type(error).__name__}: {error})") from None
        if not (isinstance(tracker, type) and issubclass(tracker, Tracker)):
            raise InputError(f"--tracker {name}: {entries[name].value} is not a subclass of ntkbench.Tracker")
        missing = tracker.missing()
        if missing is not None:
            install = f"pip install 'ntkbench[{tracker.extra}]'" if tracker.extra else f"install {missing}"
            raise InputError(f"--tracker {name}: its backend is not installed (no module {missing!r}): {install}")
        problem = tracker.problem()
        if problem is not None:
            raise InputError(f"--tracker {name}: {problem}")
        trackers[name] = tracker(out_dir, run_name)
    return trackers
