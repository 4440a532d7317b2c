"""Where dataset files live, and how they arrive: downloaded to a temporary file, verified, renamed.

The data root is `$NTKBENCH_DATA`, else `$XDG_CACHE_HOME/ntkbench`, else
`~/.cache/ntkbench`. A file that fails its checksum never reaches a learner.
"""

from __future__ import annotations

import hashlib
import os
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path

from .._errors import DataUnavailable

DOWNLOAD_TIMEOUT_S = 30.0
_CHUNK = 1 << 20


def data_root() -> Path:
    """The directory that holds downloaded datasets (one sub-directory per dataset)."""
    if os.environ.get("NTKBENCH_DATA"):
        return Path(os.environ["NTKBENCH_DATA"]).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache).expanduser() / "ntkbench"


def sha256_bytes(payload: bytes) -> str:
    return hashlib.sha256(payload).hexdigest()


def download(
    urls: Sequence[str],
    destination: Path,
    verify: Callable[[Path], str | None],
) -> None:
    """Fetch the first URL that works into `destination`, atomically and verified.

    The bytes go to `destination.partial`; `verify(path)` returns `None` when the file is
    right or the reason it is not. Only a verified file is renamed into place; a file that
    fails verification is deleted.

    **Raises:** `DataUnavailable` when no URL can be fetched or the file fails verification.
    """
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_name(destination.name + ".partial")
    failures = []
    for url in urls:
        try:
            _fetch(url, partial)
        except (urllib.error.URLError, OSError, TimeoutError) as error:
            partial.unlink(missing_ok=True)
            failures.append(f"{url}: {getattr(error, 'reason', error)}")
            continue
        problem = verify(partial)
        if problem is not None:
            partial.unlink()
            raise DataUnavailable(
                f"downloaded {url} but it failed verification ({problem}); the partial file was deleted"
            )
        os.replace(partial, destination)
        return
    raise DataUnavailable("could not download " + destination.name + ":\n  " + "\n  ".join(failures))


def _fetch(url: str, target: Path) -> None:
    with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response, open(target, "wb") as out:
        total = int(response.headers.get("Content-Length") or 0)
        received = 0
        while chunk := response.read(_CHUNK):
            out.write(chunk)
            received += len(chunk)
            if total:
                print(f"\r  {target.name.removesuffix('.partial')}: {received * 100 // total:3d}%", end="", file=sys.stderr)
        out.flush()
        os.fsync(out.fileno())
    if total:
        print(file=sys.stderr)
