"""CIFAR-10 (Krizhevsky 2009): 50k training and 10k test colour images, 32x32, 10 classes.

The official "python version" tarball holds six pickled batches. Pickles can run code, so
the tarball is read only after its published MD5 matched, and the batches are unpickled by
a restricted unpickler that resolves nothing but the few numpy names an array needs.
"""

from __future__ import annotations

import io
import pickle
import tarfile
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ..api import DataFile, DataUnavailable, FileStore
from ._image import ImageDataset
from ._preprocess import ImageDatasetOptions

ARCHIVE = "cifar-10-python.tar.gz"
TRAIN_BATCHES = tuple(f"cifar-10-batches-py/data_batch_{i}" for i in range(1, 6))
TEST_BATCH = "cifar-10-batches-py/test_batch"


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickles plain containers and numpy arrays; any other global is refused."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),  # how protocol-2 pickles written by Python 3 store bytes
    }

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a CIFAR-10 batch")
        return super().find_class(module, name)


def read_batch(payload: bytes) -> tuple[np.ndarray, np.ndarray]:
    """Images `(N, 32, 32, 3)` uint8 and labels of one batch (a Python 2 pickle of a dict with bytes keys)."""
    batch = RestrictedUnpickler(io.BytesIO(payload), encoding="bytes").load()
    data = np.asarray(batch[b"data"], dtype=np.uint8)
    labels = np.asarray(batch[b"labels"], dtype=np.int64)
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or len(labels) != len(data):
        raise ValueError(f"batch has data {data.shape} and {len(labels)} labels")
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), labels


class CIFAR10Options(ImageDatasetOptions):
    native_shape: ClassVar[tuple[int, int, int]] = (32, 32, 3)
    num_classes: ClassVar[int] = 10


class CIFAR10(ImageDataset):
    """CIFAR-10 as float32 images `(N, 32, 32, 3)` and integer labels (airplane=0 ... truck=9)."""

    Options = CIFAR10Options
    api_version = 1
    store = FileStore(
        "cifar10",
        (
            DataFile(
                ARCHIVE,
                ("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",),
                (("md5", "c58f30108f718f92721af3b95e74349a"),),
            ),
        ),
    )
    class_counts = (5000,) * 10
    pool_total = 50_000
    test_class_counts = (1000,) * 10

    def load_raw(self, paths: dict[str, Path]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        archive = paths[ARCHIVE]
        try:
            with tarfile.open(archive, "r:gz") as tar:
                batches = {name: read_batch(tar.extractfile(name).read()) for name in (*TRAIN_BATCHES, TEST_BATCH)}
        except (tarfile.TarError, KeyError, EOFError, OSError, pickle.UnpicklingError, ValueError) as error:
            raise DataUnavailable(f"{archive} passed its checksum but is not a CIFAR-10 archive: {error}") from None
        x_pool = np.concatenate([batches[name][0] for name in TRAIN_BATCHES])
        y_pool = np.concatenate([batches[name][1] for name in TRAIN_BATCHES])
        return x_pool, y_pool, *batches[TEST_BATCH]
