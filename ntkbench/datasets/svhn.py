"""SVHN, cropped digits (Netzer et al. 2011): 73,257 training and 26,032 test colour images, 32x32.

The official `train_32x32.mat` and `test_32x32.mat` (MATLAB v5) hold `X` as (32, 32, 3, N)
and `y` as (N, 1) with digit 0 labelled 10; ntkbench relabels it 0. The `extra` split is
not used. MD5s are those torchvision publishes (the SVHN site publishes none).
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import numpy as np

from ..api import DataFile, DataUnavailable, FileStore
from ._image import ImageDataset
from ._preprocess import ImageDatasetOptions

BASE_URL = "http://ufldl.stanford.edu/housenumbers/"
TRAIN, TEST = "train_32x32.mat", "test_32x32.mat"


def read_mat(path: Path) -> tuple[np.ndarray, np.ndarray]:
    import scipy.io

    try:
        contents = scipy.io.loadmat(path)
        images, labels = contents["X"], contents["y"]
    except (ValueError, KeyError, OSError, TypeError) as error:
        raise DataUnavailable(f"{path} passed its checksum but is not an SVHN .mat file: {error}") from None
    return np.ascontiguousarray(images.transpose(3, 0, 1, 2), dtype=np.uint8), labels.reshape(-1).astype(np.int64) % 10


class SVHNOptions(ImageDatasetOptions):
    native_shape: ClassVar[tuple[int, int, int]] = (32, 32, 3)
    num_classes: ClassVar[int] = 10


class SVHN(ImageDataset):
    """SVHN cropped digits as float32 images `(N, 32, 32, 3)` and labels 0..9."""

    Options = SVHNOptions
    api_version = 1
    store = FileStore(
        "svhn",
        (
            DataFile(TRAIN, (BASE_URL + TRAIN,), (("md5", "e26dedcc434d2e4c54c9b2d4a06d8373"),)),
            DataFile(TEST, (BASE_URL + TEST,), (("md5", "eb5a983be6a315427106f1b164d9cef3"),)),
        ),
    )
    class_counts = None  # not published per class; sizes with `classes` are checked when the data loads
    pool_total = 73_257

    def load_raw(self, paths: dict[str, Path]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        return (*read_mat(paths[TRAIN]), *read_mat(paths[TEST]))
