"""Fashion-MNIST (Xiao, Rasul, Vollgraf 2017): 60k training and 10k test images, 28x28 grayscale, 10 classes.

Read in place from Debian's `/usr/share/datasets/fashion-mnist/` (package
`dataset-fashion-mnist`) when present, else from the data root, where it is downloaded.
Upstream publishes the MD5 of each `.gz` file. Debian recompresses them (its gzip headers
carry no file name), so its copies are accepted by their SHA-256, measured on
dataset-fashion-mnist 0.0~git20200523.55506a9-1; the IDX contents are identical.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from ..api import FileStore
from ._idx_dataset import IdxImageDataset, idx_files
from ._preprocess import ImageDatasetOptions

MIRRORS = (
    "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
)
CHECKSUMS = {
    "train-images-idx3-ubyte.gz": (
        ("md5", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
        ("sha256", "b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7"),
    ),
    "train-labels-idx1-ubyte.gz": (
        ("md5", "25c81989df183df01b3e8a0aad5dffbe"),
        ("sha256", "0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056"),
    ),
    "t10k-images-idx3-ubyte.gz": (
        ("md5", "bef4ecab320f06d8554ea6380940ec79"),
        ("sha256", "cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa"),
    ),
    "t10k-labels-idx1-ubyte.gz": (
        ("md5", "bb300cfdad3c16e7a12a480ee83cd310"),
        ("sha256", "8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05"),
    ),
}


class FashionMNISTOptions(ImageDatasetOptions):
    native_shape: ClassVar[tuple[int, int, int]] = (28, 28, 1)
    num_classes: ClassVar[int] = 10


class FashionMNIST(IdxImageDataset):
    """Fashion-MNIST as float32 images `(N, 28, 28, 1)` (before `image_size`/`flatten`) and integer labels."""

    Options = FashionMNISTOptions
    api_version = 1
    store = FileStore(
        "fashion_mnist", idx_files(MIRRORS, CHECKSUMS), system_dirs=(Path("/usr/share/datasets/fashion-mnist"),)
    )
    class_counts = (6000,) * 10
    pool_total = 60_000
    test_class_counts = (1000,) * 10
