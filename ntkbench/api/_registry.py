"""Plugin discovery through Python entry points.

Three groups: `ntkbench.datasets`, `ntkbench.architectures`, `ntkbench.learners`.
Nothing is imported until a plugin is asked for by name, and a plugin that fails
to import only fails itself: `ntkbench list` names it with its error and every
other plugin still loads.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.metadata
from typing import Literal

from ._architecture import Architecture
from ._data import Dataset
from ._errors import NtkbenchError
from ._learner import Learner

API_VERSION = 1
"""The version of the plugin API. A plugin class declares the version it was written for as
`api_version`; ntkbench refuses to load a plugin written for another version, and says so."""

PluginKind = Literal["dataset", "architecture", "learner"]

ENTRY_POINT_GROUPS: dict[PluginKind, str] = {
    "dataset": "ntkbench.datasets",
    "architecture": "ntkbench.architectures",
    "learner": "ntkbench.learners",
}
_BASE_CLASSES: dict[PluginKind, type] = {"dataset": Dataset, "architecture": Architecture, "learner": Learner}


class PluginLoadError(NtkbenchError):
    """A registered plugin could not be imported or is not a valid plugin class."""

    exit_code = 1


@dataclasses.dataclass(frozen=True)
class PluginEntry:
    """One registered plugin, not yet imported."""

    kind: PluginKind
    name: str
    target: str
    distribution: str
    version: str
    conflicts: tuple[str, ...] = ()

    @property
    def builtin(self) -> bool:
        return self.distribution == "ntkbench"

    def load(self) -> type:
        """Import the plugin class; raise `PluginLoadError` naming the plugin and the cause."""
        return _load_entry(self)


@functools.cache
def _load_entry(entry: PluginEntry) -> type:
    if entry.conflicts:
        raise PluginLoadError(
            f"{entry.kind} {entry.name!r} is registered by several distributions: "
            f"{', '.join((entry.distribution, *entry.conflicts))}; uninstall all but one"
        )
    module_name, _, attribute = entry.target.partition(":")
    try:
        module = importlib.import_module(module_name)
        plugin = getattr(module, attribute) if attribute else module
    except Exception as error:  # a broken third-party plugin must not take the others down
        raise PluginLoadError(
            f"{entry.kind} plugin {entry.name!r} ({entry.target}, from {entry.distribution} {entry.version}) "
            f"failed to import: {type(error).__name__}: {error}"
        ) from error
    base = _BASE_CLASSES[entry.kind]
    if not (isinstance(plugin, type) and issubclass(plugin, base)):
        raise PluginLoadError(
            f"{entry.kind} plugin {entry.name!r} ({entry.target}) is not a subclass of ntkbench.{base.__name__}"
        )
    if plugin.api_version != API_VERSION:
        written_for = "declares no api_version" if plugin.api_version is None else f"was written for plugin API {plugin.api_version}"
        raise PluginLoadError(
            f"{entry.kind} plugin {entry.name!r} ({entry.target}, from {entry.distribution} {entry.version}) "
            f"{written_for}; this ntkbench provides plugin API {API_VERSION} (set `api_version = {API_VERSION}` "
            "once the plugin follows docs/plugins.md, or install a matching ntkbench)"
        )
    return plugin


def registered(kind: PluginKind) -> dict[str, PluginEntry]:
    """Every plugin registered for `kind`, by name, without importing any of them."""
    found: dict[str, list[PluginEntry]] = {}
    for entry_point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUPS[kind]):
        dist = entry_point.dist
        found.setdefault(entry_point.name, []).append(
            PluginEntry(
                kind=kind,
                name=entry_point.name,
                target=entry_point.value,
                distribution=dist.name if dist is not None else "unknown",
                version=dist.version if dist is not None else "unknown",
            )
        )
    entries: dict[str, PluginEntry] = {}
    for name, candidates in sorted(found.items()):
        # The same distribution can be visible twice (for example an editable install
        # beside a build directory); only different distributions conflict.
        distributions = sorted({candidate.distribution for candidate in candidates})
        first = next(c for c in candidates if c.distribution == distributions[0])
        entries[name] = dataclasses.replace(first, conflicts=tuple(distributions[1:]))
    return entries


@dataclasses.dataclass(frozen=True)
class LoadedPlugins:
    """Every plugin of one kind, imported: the usable classes and the broken entries with their errors."""

    entries: dict[str, PluginEntry]
    usable: dict[str, type]
    broken: dict[str, PluginLoadError]


def load_all(kind: PluginKind) -> LoadedPlugins:
    """Import every plugin registered for `kind`; one that fails to import is kept aside, not raised."""
    entries = registered(kind)
    usable: dict[str, type] = {}
    broken: dict[str, PluginLoadError] = {}
    for name, entry in entries.items():
        try:
            usable[name] = entry.load()
        except PluginLoadError as error:
            broken[name] = error
    return LoadedPlugins(entries, usable, broken)
