"""Preprocessing of image datasets, as kernel papers do it, fitted on the training pool only.

Applied in this order: `classes` (subset and relabel), `image_size` (area downsampling),
`grayscale`, `standardize` (per channel), `zca` (regularised ZCA whitening, as in Lee et
al. 2020, "Finite Versus Infinite Neural Networks"), `flatten`. Every statistic (channel
means and deviations, the whitening matrix) comes from the training pool; the test split is
transformed with them and never looked at.
"""

from __future__ import annotations

import math
from typing import Annotated, ClassVar

import numpy as np
from pydantic import Field, NonNegativeInt, PositiveFloat, PositiveInt, field_validator, model_validator

from ..api import DatasetOptions, LabelledData

LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114], dtype=np.float32)
"""ITU-R BT.601 weights, for `grayscale` on RGB images."""


class ImageDatasetOptions(DatasetOptions):
    """Options every image dataset accepts; subclasses set `native_shape` and `num_classes`."""

    native_shape: ClassVar[tuple[int, int, int]] = (1, 1, 1)
    num_classes: ClassVar[int] = 0

    classes: Annotated[list[NonNegativeInt], Field(min_length=2)] | None = None
    """Keep only these class ids, relabelled 0..k-1 in the order given (e.g. [3, 5] for cat vs dog)."""
    image_size: tuple[PositiveInt, PositiveInt] | None = None
    """Downsample to (height, width) by area averaging (each output pixel averages the input area it covers)."""
    grayscale: bool = False
    """Convert RGB to luma (a no-op for one-channel images)."""
    standardize: bool = True
    """Scale pixels to [0, 1], then per channel subtract the pool mean and divide by the pool deviation."""
    zca: PositiveFloat | None = None
    """Regularised ZCA whitening of flattened images with this strength (relative to the mean eigenvalue
    of the pool covariance; Lee et al. 2020 use values around 0.1). Each image is first centred and
    scaled to unit norm."""
    flatten: bool = False
    """Return vectors (H*W*C) instead of NHWC images."""

    @field_validator("classes")
    @classmethod
    def _distinct_known_classes(cls, classes: list[int] | None) -> list[int] | None:
        if classes is None:
            return None
        unknown = [c for c in classes if c >= cls.num_classes]
        if unknown:
            raise ValueError(f"class ids {unknown} do not exist; this dataset has classes 0..{cls.num_classes - 1}")
        if len(set(classes)) != len(classes):
            raise ValueError("class ids must be distinct")
        return classes

    @model_validator(mode="after")
    def _not_larger_than_native(self) -> ImageDatasetOptions:
        if self.image_size is not None:
            height, width, _ = self.native_shape
            if self.image_size[0] > height or self.image_size[1] > width:
                raise ValueError(f"image_size {list(self.image_size)} is larger than the images ({height}x{width})")
        return self

    def output_shape(self) -> tuple[int, ...]:
        """Shape of one preprocessed input."""
        height, width, channels = self.native_shape
        if self.image_size is not None:
            height, width = self.image_size
        if self.grayscale:
            channels = 1
        return (height * width * channels,) if self.flatten else (height, width, channels)


def area_matrix(source: int, target: int) -> np.ndarray:
    """`(target, source)` weights averaging, for each target cell, the source cells it overlaps.

    Rows sum to 1. For an integer factor it is plain block averaging.
    """
    weights = np.zeros((target, source), dtype=np.float64)
    scale = source / target
    for row in range(target):
        start, end = row * scale, (row + 1) * scale
        for column in range(math.floor(start), math.ceil(end)):
            weights[row, column] = min(end, column + 1) - max(start, column)
    return (weights / scale).astype(np.float32)


def resize_area(images: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Area-downsample NHWC images to `size`."""
    rows = area_matrix(images.shape[1], size[0])
    columns = area_matrix(images.shape[2], size[1])
    return np.einsum("ih,nhwc,jw->nijc", rows, images, columns, optimize=True).astype(np.float32)


def zca_whitening(pool: np.ndarray, strength: float) -> np.ndarray:
    """The regularised ZCA matrix `U (S + strength * mean(S))^-1/2 U^T` of the pool's covariance.

    `pool` holds flattened images, each already centred and scaled to unit norm.
    """
    pool = pool.astype(np.float64)
    covariance = pool.T @ pool / len(pool)
    eigenvalues, eigenvectors = np.linalg.eigh(covariance)
    regularised = np.maximum(eigenvalues, 0) + strength * np.trace(covariance) / len(covariance)
    return ((eigenvectors / np.sqrt(regularised)) @ eigenvectors.T).astype(np.float32)


def _normalise_rows(flat: np.ndarray) -> np.ndarray:
    centred = flat - flat.mean(axis=1, keepdims=True)
    return centred / np.maximum(np.linalg.norm(centred, axis=1, keepdims=True), 1e-12)


def preprocess(
    x_pool: np.ndarray,
    y_pool: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    options: ImageDatasetOptions,
) -> LabelledData:
    """Apply the options to uint8 NHWC images; every statistic is fitted on the pool."""
    num_classes = options.num_classes
    if options.classes is not None:
        relabel = np.full(options.num_classes, -1, dtype=np.int64)
        relabel[options.classes] = np.arange(len(options.classes))
        keep_pool, keep_test = relabel[y_pool] >= 0, relabel[y_test] >= 0
        x_pool, y_pool = x_pool[keep_pool], relabel[y_pool[keep_pool]]
        x_test, y_test = x_test[keep_test], relabel[y_test[keep_test]]
        num_classes = len(options.classes)

    x_pool = x_pool.astype(np.float32) / 255.0
    x_test = x_test.astype(np.float32) / 255.0
    if options.image_size is not None:
        x_pool, x_test = resize_area(x_pool, options.image_size), resize_area(x_test, options.image_size)
    if options.grayscale and x_pool.shape[-1] == 3:
        x_pool, x_test = x_pool @ LUMA_WEIGHTS[:, None], x_test @ LUMA_WEIGHTS[:, None]
    if options.standardize:
        mean = x_pool.mean(axis=(0, 1, 2))
        std = x_pool.std(axis=(0, 1, 2))
        x_pool, x_test = (x_pool - mean) / std, (x_test - mean) / std
    if options.zca is not None:
        shape = x_pool.shape[1:]
        flat_pool = _normalise_rows(x_pool.reshape(len(x_pool), -1))
        flat_test = _normalise_rows(x_test.reshape(len(x_test), -1))
        whitening = zca_whitening(flat_pool, options.zca)
        x_pool = (flat_pool @ whitening).reshape(-1, *shape)
        x_test = (flat_test @ whitening).reshape(-1, *shape)
    if options.flatten:
        x_pool, x_test = x_pool.reshape(len(x_pool), -1), x_test.reshape(len(x_test), -1)
    return LabelledData(
        x_pool=np.ascontiguousarray(x_pool, dtype=np.float32),
        y_pool=y_pool.astype(np.int32),
        x_test=np.ascontiguousarray(x_test, dtype=np.float32),
        y_test=y_test.astype(np.int32),
        num_classes=num_classes,
    )
