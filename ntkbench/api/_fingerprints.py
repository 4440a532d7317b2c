"""What identifies code: the installed version of a distribution, and a fingerprint of Python sources.
Records name the code that computed them (`ntkbench.storage`), and stored kernels the code that
computes them (`ntkbench.numerics`), through these."""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
from pathlib import Path


def installed_version(distribution: str) -> str:
    """The installed version of `distribution`, or `missing`."""
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "missing"


def _python_files(root: Path, skip: frozenset[str], recursive: bool) -> list[Path]:
    if root.is_file():
        return [root]
    found = root.rglob("*.py") if recursive else root.glob("*.py")
    return sorted(path for path in found if path.relative_to(root).parts[0] not in skip)


@functools.cache
def source_fingerprint(root: Path, skip: frozenset[str] = frozenset(), recursive: bool = True) -> str:
    """The first 12 hex digits of a SHA-256 over the relative paths and contents of the Python files
    under `root` (only those directly in it, unless `recursive`; or of the file `root`), leaving out
    the top-level folders in `skip`."""
    digest = hashlib.sha256()
    base = root.parent if root.is_file() else root
    for path in _python_files(root, skip, recursive):
        digest.update(str(path.relative_to(base)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:12]
