"""The base of image datasets: raw uint8 arrays from verified files, then the shared preprocessing."""

from __future__ import annotations

import abc
from pathlib import Path
from typing import ClassVar

import numpy as np

from ..api import Dataset, FileStore, LabelledData
from ._preprocess import ImageDatasetOptions, preprocess


class ImageDataset(Dataset):
    """An image dataset read from verified files; subclasses implement `load_raw`."""

    Options: ClassVar[type[ImageDatasetOptions]] = ImageDatasetOptions
    store: ClassVar[FileStore]
    class_counts: ClassVar[tuple[int, ...] | None] = None
    """Training-pool samples per class, when published (lets validation check sizes offline)."""
    pool_total: ClassVar[int]
    test_class_counts: ClassVar[tuple[int, ...] | None] = None
    """Official test samples per class, when published."""

    @abc.abstractmethod
    def load_raw(self, paths: dict[str, Path]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Parse the verified files into `(x_pool, y_pool, x_test, y_test)`: uint8 NHWC images, int labels."""

    def load(self) -> LabelledData:
        x_pool, y_pool, x_test, y_test = self.load_raw(self.store.ensure())
        return preprocess(x_pool, y_pool, x_test, y_test, self.options)

    def pool_size(self) -> int | None:
        classes = self.options.classes
        if classes is None:
            return self.pool_total
        if self.class_counts is None:
            return None
        return sum(self.class_counts[c] for c in classes)

    def test_pool_size(self) -> int | None:
        """A class-balanced test set takes as many of each class as the rarest class has."""
        if self.test_class_counts is None:
            return None
        counts = [self.test_class_counts[c] for c in self.options.classes] if self.options.classes else self.test_class_counts
        return len(counts) * min(counts)

    def input_shape(self) -> tuple[int, ...]:
        return self.options.output_shape()

    def num_classes(self) -> int:
        return len(self.options.classes) if self.options.classes else self.options.num_classes

    @classmethod
    def file_store(cls) -> FileStore:
        return cls.store
