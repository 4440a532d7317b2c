"""Datasets distributed as four gzipped IDX files (MNIST, Fashion-MNIST)."""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

from ..api import DataFile, DataUnavailable
from ._idx import IdxFormatError, parse_idx
from ._image import ImageDataset

IDX_FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")


def idx_files(mirrors: tuple[str, ...], checksums: dict[str, tuple[tuple[str, str], ...]]) -> tuple[DataFile, ...]:
    """The four IDX files, each downloadable from every mirror."""
    return tuple(DataFile(name, tuple(m + name for m in mirrors), checksums[name]) for name in IDX_FILES)


def read_idx_gz(path: Path) -> np.ndarray:
    try:
        return parse_idx(gzip.decompress(path.read_bytes()))
    except (OSError, EOFError, zlib.error, IdxFormatError) as error:
        raise DataUnavailable(f"{path} passed its checksum but does not parse as gzipped IDX: {error}") from None


class IdxImageDataset(ImageDataset):
    """Grayscale 28x28 images and labels in the four-file IDX layout."""

    def load_raw(self, paths: dict[str, Path]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        x_pool, y_pool, x_test, y_test = (read_idx_gz(paths[name]) for name in IDX_FILES)
        return x_pool[..., None], y_pool.astype(np.int64), x_test[..., None], y_test.astype(np.int64)
