"""What a record needs to be reproduced: library versions, the device and the machine, the code that
computed it (distribution, source fingerprint, git commit) and how the run was started."""

from __future__ import annotations

import dataclasses
import functools
import os
import platform
import shlex
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..api import installed_version, source_fingerprint

if TYPE_CHECKING:
    from ..api import PluginKind
    from ..spec import Spec
    from ._record_store import Record

TRACKED_DISTRIBUTIONS = ("ntkbench", "jax", "jaxlib", "neural-tangents", "equinox", "optax", "numpy", "scipy")


def library_versions() -> dict[str, str]:
    """Installed versions of the libraries that determine results (`missing` when absent)."""
    return {"python": platform.python_version()} | {name: installed_version(name) for name in TRACKED_DISTRIBUTIONS}


@functools.cache
def device_info() -> dict[str, Any]:
    """The JAX devices this process computes on."""
    import jax

    devices = jax.devices()
    return {"platform": devices[0].platform, "kind": devices[0].device_kind, "count": len(devices)}


def machine_info() -> dict[str, Any]:
    return {"system": platform.system(), "machine": platform.machine(), "cpu_count": os.cpu_count()}


NOT_COMPUTING = frozenset({"cli", "report", "analysis", "results", "storage"})
"""ntkbench's subpackages that never change a record (they read, fit and show records); a change
in them does not make records "from other code"."""


@functools.cache
def git_state(root: Path) -> tuple[str, bool] | None:
    """(commit, whether `root` differs from it) when `root` lies in a git checkout; None otherwise (or
    without git)."""
    directory = root if root.is_dir() else root.parent
    try:
        commit = subprocess.run(["git", "-C", str(directory), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
        if commit.returncode != 0:
            return None
        status = subprocess.run(["git", "-C", str(directory), "status", "--porcelain", "--", "."],
                                capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return commit.stdout.strip(), bool(status.stdout.strip()) if status.returncode == 0 else True


def _package_root(module_name: str) -> Path | None:
    """The folder of the top-level package of `module_name` (or its file, for a top-level module)."""
    module = sys.modules.get(module_name.split(".")[0])
    if module is None:
        return None
    locations = getattr(module, "__path__", None)
    if locations:
        return Path(next(iter(locations))).resolve()
    return Path(module.__file__).resolve() if getattr(module, "__file__", None) else None


def source_of(distribution: str, module_name: str) -> str | None:
    """The source fingerprint of the top-level package of `module_name` (for ntkbench, of the parts
    that compute records); None when it has no files."""
    root = _package_root(module_name)
    if root is None:
        return None
    return source_fingerprint(root, NOT_COMPUTING if distribution == "ntkbench" else frozenset())


def code_version(distribution: str, version: str, module_name: str) -> dict[str, Any]:
    """What identifies the code of a distribution: its name and version, a fingerprint of its source
    (ntkbench's: the parts that compute records) and, from a git checkout, the commit and whether
    the checkout differs from it."""
    root = _package_root(module_name)
    code: dict[str, Any] = {"distribution": distribution, "version": version}
    if root is None:
        return code
    code["source"] = source_of(distribution, module_name)
    state = git_state(root)
    if state is not None:
        code["commit"], code["dirty"] = state
    return code


def describe_code(code: dict[str, Any]) -> str:
    """`ntkbench 0.1.0 (source 1a2b3c4d5e6f, commit 0f6f05d3, with local changes)`, say."""
    details = [f"source {code['source']}"] if "source" in code else []
    if "commit" in code:
        details.append(f"commit {code['commit'][:8]}" + (", with local changes" if code.get("dirty") else ""))
    return f"{code['distribution']} {code['version']}" + (f" ({', '.join(details)})" if details else "")


def same_code(recorded: dict[str, Any] | None, current: dict[str, Any]) -> bool:
    """Whether a record's code (`provenance.code`) is the current code: the same distributions with the
    same source fingerprints (the commit alone does not count: a commit that changed nothing that
    computes, or a checkout with local changes, is judged by its source)."""
    if not recorded:
        return False

    def key(code: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
        return {role: (part.get("distribution"), part.get("source", part.get("version"))) for role, part in code.items()}

    return key(recorded) == key(current)


def recorded_code(recorded: dict[str, Any] | None, current: dict[str, Any]) -> str:
    """The code a record came from, where it differs from `current`: each differing distribution
    once (`describe_code`), or "unknown" for a record without code versions."""
    if not recorded:
        return "unknown"
    differing = {
        describe_code(part) for role, part in recorded.items()
        if not same_code({role: part}, {role: current.get(role, {})})
    }
    return "; ".join(sorted(differing)) or "the current code"


def run_facts() -> dict[str, Any]:
    """What a run's records share about how it was started: the command line and XLA_FLAGS."""
    return {
        "command": shlex.join([Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "python", *sys.argv[1:]]),
        "xla_flags": os.environ.get("XLA_FLAGS"),
    }


def spec_code(spec: Spec) -> dict[str, dict[str, dict[str, Any]]]:
    """Per learner id, the code its cells run: ntkbench's and that of the dataset, architecture and
    learner plugins (`code_version` of each)."""
    from ..api import LOCAL_DISTRIBUTION, local_origin, registered

    def plugin_code(kind: PluginKind, name: str, plugin: type) -> dict[str, Any]:
        origin = local_origin(plugin)
        if origin is not None:  # from the spec's `plugins:`: the file and its hash
            return {"distribution": LOCAL_DISTRIBUTION, "version": origin["sha256"][:12], "source": origin["sha256"][:12], **origin}
        entry = registered(kind).get(name)
        distribution, version = (entry.distribution, entry.version) if entry is not None else ("unknown", "unknown")
        return code_version(distribution, version, plugin.__module__)

    shared = {
        "ntkbench": code_version("ntkbench", library_versions()["ntkbench"], __name__),
        "dataset": plugin_code("dataset", spec.dataset.name, spec.dataset.plugin),
        "architecture": plugin_code("architecture", spec.architecture.name, spec.architecture.plugin),
    }
    return {learner.id: {**shared, "learner": plugin_code("learner", learner.name, learner.plugin)} for learner in spec.learners}


@dataclasses.dataclass(frozen=True)
class ProvenanceSummary:
    """What a set of successful records came from, each distinct value once: library versions,
    code versions (with how many records each computed), devices, machines, the dates computed and
    the total cell time."""

    versions: tuple[str, ...]
    code: tuple[tuple[str, int], ...]
    devices: tuple[str, ...]
    machines: tuple[str, ...]
    first_date: str
    last_date: str
    cell_seconds: float
    ntkbench_versions: tuple[str, ...] = ()
    """The versions of ntkbench that computed the records."""


NO_CODE_VERSIONS = "not recorded (before ntkbench kept code versions)"


def summarize_provenance(records: Iterable[Record]) -> ProvenanceSummary | None:
    """The provenance shared by `records` (the successful ones are what count); None when none."""
    ok = [record for record in records if record.ok]
    if not ok:
        return None
    code_counts: dict[str, int] = {}
    for record in ok:
        code = record.provenance.get("code")
        label = "; ".join(sorted({describe_code(part) for part in code.values()})) if code else NO_CODE_VERSIONS
        code_counts[label] = code_counts.get(label, 0) + 1
    dates = sorted(record.created for record in ok)
    return ProvenanceSummary(
        versions=tuple(sorted({", ".join(f"{k} {v}" for k, v in r.versions.items()) for r in ok})),
        code=tuple(sorted(code_counts.items())),
        devices=tuple(sorted({f"{r.device['kind']} ×{r.device['count']} ({r.device['platform']})" for r in ok})),
        machines=tuple(sorted({f"{r.machine['system']} {r.machine['machine']}, {r.machine['cpu_count']} CPUs" for r in ok})),
        first_date=dates[0][:10],
        last_date=dates[-1][:10],
        cell_seconds=sum(r.wall_seconds for r in ok),
        ntkbench_versions=tuple(sorted({str(r.versions["ntkbench"]) for r in ok if "ntkbench" in r.versions})),
    )
