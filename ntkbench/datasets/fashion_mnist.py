"""Fashion-MNIST (Xiao, Rasul, Vollgraf 2017): 60k training and 10k test images, 28x28 grayscale, 10 classes.

Files are looked for, in order, in `<data root>/fashion_mnist/` and in Debian's
`/usr/share/datasets/fashion-mnist/` (package `dataset-fashion-mnist`, read in
place), and downloaded from the official sources into the data root otherwise.
Each file may be gzipped (as published) or already unpacked.

Checksums are SHA-256 of the *uncompressed* IDX files. Upstream publishes MD5s
of its `.gz` files; Debian recompresses them (no file name in the gzip header),
so the `.gz` bytes differ between sources while the IDX payloads are identical.
Checking the payload accepts every faithful copy and rejects anything else. The
values were measured on Debian's copy (dataset-fashion-mnist
0.0~git20200523.55506a9-1, built from the upstream repository).
"""

from __future__ import annotations

import dataclasses
import gzip
import zlib
from pathlib import Path

import numpy as np

from .._errors import DataUnavailable
from .._plugins import Dataset, DatasetOptions, LabelledData
from ._idx import IdxFormatError, parse_idx
from ._storage import data_root, download, sha256_bytes

MIRRORS: tuple[str, ...] = (
    "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
)
SYSTEM_DIRS: tuple[Path, ...] = (Path("/usr/share/datasets/fashion-mnist"),)
SUBDIR = "fashion_mnist"


@dataclasses.dataclass(frozen=True)
class IdxFile:
    name: str
    payload_sha256: str


FILES: dict[str, IdxFile] = {
    "train_images": IdxFile(
        "train-images-idx3-ubyte", "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888"
    ),
    "train_labels": IdxFile(
        "train-labels-idx1-ubyte", "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9"
    ),
    "test_images": IdxFile(
        "t10k-images-idx3-ubyte", "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b"
    ),
    "test_labels": IdxFile(
        "t10k-labels-idx1-ubyte", "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"
    ),
}


class FashionMNISTOptions(DatasetOptions):
    standardize: bool = True
    """Scale pixels to [0, 1], then subtract the training pool's mean and divide by its standard deviation."""


_GZIP_MAGIC = b"\x1f\x8b"


def _read_payload(path: Path) -> bytes:
    raw = path.read_bytes()
    if raw[:2] == _GZIP_MAGIC:
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as error:
            raise IdxFormatError(f"not a complete gzip file ({error})") from None
    return raw


def _check(path: Path, spec: IdxFile) -> tuple[bytes | None, str | None]:
    """Read `path`; return its payload, or the reason it is not the expected file."""
    try:
        payload = _read_payload(path)
    except IdxFormatError as error:
        return None, str(error)
    digest = sha256_bytes(payload)
    if digest != spec.payload_sha256:
        return None, f"SHA-256 of the uncompressed file is {digest}, expected {spec.payload_sha256}"
    return payload, None


def _search_dirs() -> list[Path]:
    return [data_root() / SUBDIR, *SYSTEM_DIRS]


def _locate(spec: IdxFile) -> Path | None:
    for directory in _search_dirs():
        for candidate in (directory / f"{spec.name}.gz", directory / spec.name):
            if candidate.is_file():
                return candidate
    return None


def _how_to_get_files(missing: list[IdxFile], reason: str) -> str:
    target = data_root() / SUBDIR
    lines = [
        f"Fashion-MNIST files are missing and could not be downloaded ({reason}).",
        "Looked in: " + ", ".join(str(d) for d in _search_dirs()),
        "Get them one of these ways:",
        "  - Debian/Ubuntu: sudo apt-get install dataset-fashion-mnist",
        f"  - download these files into {target}/ (or set NTKBENCH_DATA to a directory with a fashion_mnist/ folder):",
    ]
    for spec in missing:
        lines.append(f"      {MIRRORS[0]}{spec.name}.gz  (SHA-256 of the unpacked file: {spec.payload_sha256})")
    return "\n".join(lines)


def load_idx_arrays() -> dict[str, np.ndarray]:
    """Find (or fetch), verify and parse the four Fashion-MNIST files.

    **Raises:** `DataUnavailable` (exit code 2) when a file is absent and cannot be downloaded,
    or when a file on disk fails its checksum.
    """
    arrays = {}
    for key, spec in FILES.items():
        path = _locate(spec)
        if path is None:
            destination = data_root() / SUBDIR / f"{spec.name}.gz"

            def verify(candidate: Path, spec: IdxFile = spec) -> str | None:
                return _check(candidate, spec)[1]

            try:
                download([mirror + f"{spec.name}.gz" for mirror in MIRRORS], destination, verify)
            except DataUnavailable as error:
                missing = [s for s in FILES.values() if _locate(s) is None]
                raise DataUnavailable(_how_to_get_files(missing, str(error))) from None
            path = destination
        payload, problem = _check(path, spec)
        if payload is None:
            raise DataUnavailable(
                f"{path} is not the official Fashion-MNIST {spec.name}: {problem}. "
                "Delete it (ntkbench will download it again) or replace it with the official file."
            )
        arrays[key] = parse_idx(payload)
    return arrays


class FashionMNIST(Dataset):
    """Fashion-MNIST as float32 NHWC images `(N, 28, 28, 1)` and integer labels."""

    Options = FashionMNISTOptions
    pool_size = 60_000

    def load(self) -> LabelledData:
        arrays = load_idx_arrays()
        x_pool = arrays["train_images"].astype(np.float32)[..., None] / 255.0
        x_test = arrays["test_images"].astype(np.float32)[..., None] / 255.0
        if self.options.standardize:
            mean, std = float(x_pool.mean()), float(x_pool.std())
            x_pool = (x_pool - mean) / std
            x_test = (x_test - mean) / std
        return LabelledData(
            x_pool=x_pool,
            y_pool=arrays["train_labels"].astype(np.int32),
            x_test=x_test,
            y_test=arrays["test_labels"].astype(np.int32),
            num_classes=10,
        )
