"""Where dataset files live, and how they arrive: downloaded to a temporary file, verified, renamed.

The data root is `$NTKBENCH_DATA`, else `$XDG_CACHE_HOME/ntkbench`, else
`~/.cache/ntkbench`; each dataset has a sub-directory there. A dataset may also name
system directories (Debian's `/usr/share/datasets/...`) whose copies are read in place.
A file is used only after its checksum matched: a truncated or foreign file never
reaches a learner.
"""

from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import os
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from ._errors import DataUnavailable

DOWNLOAD_TIMEOUT_S = 30.0
_CHUNK = 1 << 20


@dataclasses.dataclass(frozen=True)
class DataFile:
    """One file of a dataset: its name on disk, where to download it, and the checksums it may have.

    `checksums` are `(algorithm, hex digest)` pairs (`md5` or `sha256`); a file is accepted when
    any one matches. The first is the one the source publishes; further ones accept faithful
    repackagings (for example Debian's recompressed copies).
    """

    name: str
    urls: tuple[str, ...]
    checksums: tuple[tuple[str, str], ...]

    @property
    def published_checksum(self) -> str:
        algorithm, digest = self.checksums[0]
        return f"{algorithm.upper()} {digest}"


@dataclasses.dataclass(frozen=True)
class FileStore:
    """Where one dataset's files are looked for, and where downloads go."""

    subdir: str
    files: tuple[DataFile, ...]
    system_dirs: tuple[Path, ...] = ()

    @property
    def download_dir(self) -> Path:
        return data_root() / self.subdir

    def search_dirs(self) -> list[Path]:
        return [self.download_dir, *self.system_dirs]

    def locate(self, file: DataFile) -> Path | None:
        """The first copy of `file` in the search directories (not yet verified), or None."""
        for directory in self.search_dirs():
            if (directory / file.name).is_file():
                return directory / file.name
        return None

    def ensure(self) -> dict[str, Path]:
        """Paths of every file, verified; missing files are downloaded first.

        **Raises:** `DataUnavailable` (exit code 2) when a file on disk fails its checksum, or a
        missing file cannot be downloaded (with the URL, file name, checksum and directory).
        """
        paths = {}
        for file in self.files:
            path = self.locate(file)
            if path is None:
                path = self.fetch(file)
            else:
                problem = verify_file(path, file)
                if problem is not None:
                    raise DataUnavailable(
                        f"{path} is not the expected {file.name}: {problem}. Delete it (ntkbench downloads "
                        f"it again) or replace it with the official file ({file.published_checksum})."
                    )
            paths[file.name] = path
        return paths

    def fetch(self, file: DataFile) -> Path:
        """Download `file` into the data root, verified; return its path.

        One process downloads at a time (a lock in the dataset's directory, which may be shared by
        the workers of a cluster); the others wait, then find the file in place.
        """
        destination = self.download_dir / file.name
        destination.parent.mkdir(parents=True, exist_ok=True)
        with open(destination.parent / ".fetch.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                if destination.is_file() and verify_file(destination, file) is None:
                    return destination  # another process fetched it while this one waited
                download(file.urls, destination, lambda path: verify_file(path, file))
            except DataUnavailable as error:
                raise DataUnavailable(f"{error}\n{self.instructions()}") from None
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
        return destination

    def instructions(self) -> str:
        """How to get the missing files by hand: URL, file name, checksum and target directory."""
        missing = [file for file in self.files if self.locate(file) is None]
        lines = [
            f"Looked in: {', '.join(str(d) for d in self.search_dirs())}.",
            f"To install by hand, download into {self.download_dir}/ (or set NTKBENCH_DATA):",
        ]
        lines += [f"  {file.urls[0]}  ->  {file.name}  ({file.published_checksum})" for file in missing]
        return "\n".join(lines)


def data_root() -> Path:
    """The directory that holds downloaded datasets (one sub-directory per dataset)."""
    if os.environ.get("NTKBENCH_DATA"):
        return Path(os.environ["NTKBENCH_DATA"]).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache).expanduser() / "ntkbench"


def cache_root() -> Path:
    """Where ntkbench keeps what it can compute again (plugin checks, compiled programs):
    $NTKBENCH_CACHE_DIR, else $XDG_CACHE_HOME/ntkbench, else ~/.cache/ntkbench."""
    if os.environ.get("NTKBENCH_CACHE_DIR"):
        return Path(os.environ["NTKBENCH_CACHE_DIR"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ntkbench"


def file_digest(path: Path, algorithm: str) -> str:
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def verify_file(path: Path, file: DataFile) -> str | None:
    """None when `path` matches one of `file`'s checksums, else the reason it does not."""
    digests: dict[str, str] = {}
    for algorithm, expected in file.checksums:
        if algorithm not in digests:
            digests[algorithm] = file_digest(path, algorithm)
        if digests[algorithm] == expected.lower():
            return None
    algorithm, expected = file.checksums[0]
    return f"{algorithm.upper()} is {digests[algorithm]}, expected {expected} ({path.stat().st_size} bytes)"


def download(urls: Sequence[str], destination: Path, verify) -> None:
    """Fetch the first URL that works into `destination`, atomically and verified.

    The bytes go to `destination.partial`; `verify(path)` returns None when the file is right
    or the reason it is not. Only a verified file is renamed into place; a file that fails
    verification is deleted.

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
                f"downloaded {url} but it failed its checksum ({problem}); the partial file was deleted"
            )
        os.replace(partial, destination)
        return
    raise DataUnavailable(f"could not download {destination.name}:\n  " + "\n  ".join(failures))


def _fetch(url: str, target: Path) -> None:
    """Stream `url` into `target` with a progress line on standard error."""
    name = target.name.removesuffix(".partial")
    started = time.monotonic()
    with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response, open(target, "wb") as out:
        total = int(response.headers.get("Content-Length") or 0)
        received = 0
        while chunk := response.read(_CHUNK):
            out.write(chunk)
            received += len(chunk)
            rate = received / max(time.monotonic() - started, 1e-3) / 1e6
            done = f"{received * 100 // total:3d}% of {total / 1e6:.1f} MB" if total else f"{received / 1e6:.1f} MB"
            print(f"\r  {name}: {done} ({rate:.1f} MB/s)", end="", file=sys.stderr, flush=True)
        out.flush()
        os.fsync(out.fileno())
    print(file=sys.stderr)
