"""`teacher_student`: Gaussian inputs labelled by a fixed random teacher network; no files.

Inputs are `dim`-dimensional Gaussians whose covariance has eigenvalues proportional to
`k^-spectrum_decay` (k = 1..dim; 0 gives isotropic inputs), normalised to unit mean
variance. Labels are the argmax of a random one-hidden-layer ReLU teacher (or of a linear
teacher when `teacher_width` is 0), optionally flipped with probability `label_noise`. With
`index_dim` k > 0 the teacher reads only the projection of the input on k random orthonormal
directions (a few-index teacher): the labels depend on a k-dimensional subspace that a network
can find and a rotation-invariant kernel cannot.
Everything is drawn from `data_seed`, so the dataset is the same for every spec seed; the
spec's seeds only change which samples are drawn and how networks are initialised.
"""

from __future__ import annotations

from typing import Annotated, ClassVar

import numpy as np
from pydantic import Field, NonNegativeFloat, NonNegativeInt, PositiveInt, model_validator

from ..api import Dataset, DatasetOptions, LabelledData


class TeacherStudentOptions(DatasetOptions):
    omitted_at_default: ClassVar[frozenset[str]] = DatasetOptions.omitted_at_default | {"index_dim"}

    dim: PositiveInt = 32
    num_classes: Annotated[int, Field(ge=2)] = 2
    pool: PositiveInt = 20_000
    """Size of the training pool."""
    test_pool: PositiveInt = 5_000
    """Size of the test split that `n_test` is drawn from."""
    teacher_width: NonNegativeInt = 64
    spectrum_decay: NonNegativeFloat = 0.0
    label_noise: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.0
    data_seed: NonNegativeInt = 0
    index_dim: NonNegativeInt = 0
    """The teacher reads the input's projection on this many random orthonormal directions (0: the input itself)."""

    @model_validator(mode="after")
    def _index_within_input(self) -> TeacherStudentOptions:
        if self.index_dim > self.dim:
            raise ValueError(f"index_dim ({self.index_dim}) is larger than dim ({self.dim})")
        return self


def teacher_student_data(options: TeacherStudentOptions) -> LabelledData:
    rng = np.random.default_rng(options.data_seed)
    scales = np.arange(1, options.dim + 1, dtype=np.float64) ** -options.spectrum_decay
    scales = np.sqrt(scales / scales.mean())
    read = options.index_dim or options.dim  # what the teacher sees: the input, or its projection
    directions = np.linalg.qr(rng.normal(size=(options.dim, read)))[0] if options.index_dim else None
    if options.teacher_width:
        hidden = rng.normal(size=(read, options.teacher_width)) / np.sqrt(read)
        readout = rng.normal(size=(options.teacher_width, options.num_classes)) / np.sqrt(options.teacher_width)
    else:
        readout = rng.normal(size=(read, options.num_classes)) / np.sqrt(read)

    def draw(count: int) -> tuple[np.ndarray, np.ndarray]:
        x = rng.normal(size=(count, options.dim)) * scales
        seen = x if directions is None else x @ directions
        features = np.maximum(seen @ hidden, 0) if options.teacher_width else seen
        labels = np.argmax(features @ readout, axis=1)
        flip = rng.random(count) < options.label_noise
        labels[flip] = rng.integers(0, options.num_classes, size=int(flip.sum()))
        return x.astype(np.float32), labels.astype(np.int32)

    x_pool, y_pool = draw(options.pool)
    x_test, y_test = draw(options.test_pool)
    return LabelledData(x_pool, y_pool, x_test, y_test, options.num_classes)


class TeacherStudent(Dataset):
    """Synthetic data with known structure, for validating the machinery without downloads."""

    Options = TeacherStudentOptions
    api_version = 1

    def load(self) -> LabelledData:
        return teacher_student_data(self.options)

    def pool_size(self) -> int:
        return self.options.pool

    def test_pool_size(self) -> int:
        return self.options.test_pool

    def input_shape(self) -> tuple[int, ...]:
        return (self.options.dim,)

    def num_classes(self) -> int:
        return self.options.num_classes
