"""MNIST (LeCun et al. 1998): 60k training and 10k test handwritten digits, 28x28 grayscale.

The MD5s are those torchvision publishes for the original `.gz` files (LeCun's site
publishes none); the first mirror is the one torchvision uses, since the original site
often refuses automated downloads.
"""

from __future__ import annotations

from typing import ClassVar

from ..api import FileStore
from ._idx_dataset import IdxImageDataset, idx_files
from ._preprocess import ImageDatasetOptions

MIRRORS = ("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/")
CHECKSUMS = {
    "train-images-idx3-ubyte.gz": (("md5", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),),
    "train-labels-idx1-ubyte.gz": (("md5", "d53e105ee54ea40749a09fcbcd1e9432"),),
    "t10k-images-idx3-ubyte.gz": (("md5", "9fb629c4189551a2d022fa330f9573f3"),),
    "t10k-labels-idx1-ubyte.gz": (("md5", "ec29112dd5afa0611ce80d1b7f02629c"),),
}


class MNISTOptions(ImageDatasetOptions):
    native_shape: ClassVar[tuple[int, int, int]] = (28, 28, 1)
    num_classes: ClassVar[int] = 10


class MNIST(IdxImageDataset):
    """MNIST digits as float32 images `(N, 28, 28, 1)` and integer labels."""

    Options = MNISTOptions
    api_version = 1
    store = FileStore("mnist", idx_files(MIRRORS, CHECKSUMS))
    class_counts = (5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949)
    pool_total = 60_000
    test_class_counts = (980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009)
