"""Plugin discovery through Python entry points.

Three groups: `ntkbench.datasets`, `ntkbench.architectures`, `ntkbench.learners`.
Nothing is imported until a plugin is asked for by name, and a plugin that fails
to import only fails itself: `ntkbench list` names it with its error and every
other plugin still loads.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import importlib.metadata
import importlib.util
import os
import re
import sys
from pathlib import Path
from typing import Any, Literal

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
    source: str | None = None
    """For a plugin a spec's `plugins:` names: the file it was loaded from (None: installed)."""

    @property
    def builtin(self) -> bool:
        return self.distribution == "ntkbench"

    def load(self) -> type:
        """Import the plugin class; raise `PluginLoadError` naming the plugin and the cause."""
        return _load_entry(self)


@functools.cache
def _load_entry(entry: PluginEntry) -> type:
    if entry.source is not None:
        return _LOCAL_CLASSES[entry]
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
            "once the plugin follows docs/reference/plugin-api.md, or install a matching ntkbench)"
        )
    return plugin


def registered(kind: PluginKind) -> dict[str, PluginEntry]:
    """Every plugin registered for `kind`, by name, without importing any of them.

    Reading every distribution's metadata takes tens of milliseconds, and a spec asks several times:
    the answer is kept while the import path and its folders are unchanged (installing or removing a
    distribution changes its folder's modification time)."""
    return dict(_registered(kind, _import_path_state()))


def _import_path_state() -> tuple[tuple[str, int | None], ...]:
    state = []
    for entry in sys.path:
        try:
            state.append((entry, os.stat(entry or ".").st_mtime_ns))
        except OSError:
            state.append((entry, None))
    return tuple(state)


@functools.lru_cache(maxsize=32)
def _registered(kind: PluginKind, import_path_state: tuple[tuple[str, int | None], ...]) -> dict[str, PluginEntry]:
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


LOCAL_DISTRIBUTION = "local"
"""The distribution `ntkbench list` and records name for a plugin loaded from a spec's `plugins:`."""
_LOCAL_CLASSES: dict[PluginEntry, type] = {}
_LOCAL_ORIGINS: dict[type, dict[str, str]] = {}


def local_origin(plugin: type) -> dict[str, str] | None:
    """Where a plugin loaded from a spec's `plugins:` came from: `file` and its `sha256` (and the
    `module` name, for a module); None for an installed plugin."""
    return _LOCAL_ORIGINS.get(plugin)


def _module_from(reference: str, base_dir: Path) -> Any:
    """Import a plugin file (a path ending in .py, relative to `base_dir`) or a module (a dotted name)."""
    if reference.endswith(".py"):
        path = (base_dir / reference).resolve()
        if not path.is_file():
            raise PluginLoadError(f"plugin file {path} does not exist")
        # One module per file and content: a file edited since, or the same code in another folder
        # (whose errors must name that folder's file), is a module of its own.
        digest = hashlib.sha256(str(path).encode() + b"\0" + path.read_bytes()).hexdigest()
        stem = re.sub(r"\W", "_", path.stem)
        name = f"ntkbench_local_{digest[:12]}_{stem}"
        if name not in sys.modules:
            module_spec = importlib.util.spec_from_file_location(name, path)
            module = importlib.util.module_from_spec(module_spec)
            sys.modules[name] = module
            try:
                module_spec.loader.exec_module(module)
            except BaseException:
                del sys.modules[name]
                raise
        return sys.modules[name]
    return importlib.import_module(reference)


def plugin_source(reference: str, base_dir: Path) -> tuple[Path | None, str | None]:
    """The file a spec's `plugins:` entry would import and its SHA-256, found without importing
    anything (a module is looked up on `sys.path` part by part, its packages' code left unrun);
    `(None, None)` when it cannot be found."""
    if reference.endswith(".py"):
        path = (base_dir / reference).resolve()
    else:
        from importlib.machinery import PathFinder

        search, path = None, None
        for part in reference.split("."):
            found = PathFinder.find_spec(part, search)
            if found is None or found.origin is None:
                return None, None
            path = Path(found.origin)
            search = list(found.submodule_search_locations or [])
    if path is None or not path.is_file():
        return None, None
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


def load_local(references: list[str], base_dir: Path) -> dict[PluginKind, dict[str, PluginEntry]]:
    """The plugins of the files and modules a spec's `plugins:` names: every class defined there that
    subclasses a plugin base and declares `plugin_name`, by kind and name, already loaded.

    **Raises:** `PluginLoadError` naming the file or module that does not import, that defines no
    plugin, or a plugin that is invalid (wrong `api_version`) or named twice.
    """
    found: dict[PluginKind, dict[str, PluginEntry]] = {kind: {} for kind in ENTRY_POINT_GROUPS}
    for reference in references:
        try:
            module = _module_from(reference, base_dir)
        except PluginLoadError:
            raise
        except Exception as error:
            raise PluginLoadError(f"plugins: {reference} failed to import: {type(error).__name__}: {error}") from error
        path = Path(module.__file__).resolve() if getattr(module, "__file__", None) else None
        digest = hashlib.sha256(path.read_bytes()).hexdigest() if path else ""
        classes = [
            value for value in vars(module).values()
            if isinstance(value, type) and value.__module__ == module.__name__ and getattr(value, "plugin_name", None)
        ]
        plugins = [(kind, plugin) for plugin in classes for kind, base in _BASE_CLASSES.items() if issubclass(plugin, base)]
        if not plugins:
            raise PluginLoadError(
                f"plugins: {reference} defines no plugin: a plugin class subclasses ntkbench.Learner, Dataset or "
                "Architecture and declares `plugin_name`"
            )
        for kind, plugin in plugins:
            entry = PluginEntry(kind, plugin.plugin_name, f"{module.__name__}:{plugin.__qualname__}", LOCAL_DISTRIBUTION,
                                digest[:12], source=str(path) if path else reference)
            if plugin.plugin_name in found[kind]:
                raise PluginLoadError(f"plugins: {kind} {plugin.plugin_name!r} is defined twice ({reference} and "
                                      f"{found[kind][plugin.plugin_name].source})")
            if plugin.api_version != API_VERSION:
                raise PluginLoadError(f"plugins: {kind} {plugin.plugin_name!r} ({reference}) declares api_version "
                                      f"{plugin.api_version!r}; this ntkbench provides plugin API {API_VERSION}")
            _LOCAL_CLASSES[entry] = plugin
            _LOCAL_ORIGINS[plugin] = {"file": str(path) if path else "", "sha256": digest} | (
                {} if reference.endswith(".py") else {"module": reference}
            )
            found[kind][plugin.plugin_name] = entry
    return found
