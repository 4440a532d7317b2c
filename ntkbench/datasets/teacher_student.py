"""`teacher_student`: Gaussian inputs labelled by a fixed random teacher network; no files.

Inputs are `dim`-dimensional Gaussians whose covariance has eigenvalues proportional to
`k^-spectrum_decay` (k = 1..dim; 0 gives isotropic inputs), normalised to unit mean
variance. Labels are the argmax of a random one-hidden-layer ReLU teacher (or of a linear
teacher when `teacher_width` is 0), optionally flipped with probability `label_noise`.
Everything is drawn from `data_seed`, so the dataset is the same for every spec seed; the
spec's seeds only change which samples are drawn and how networks are initialised.
"""

from __future__ import annotations

from typing import Annotated

import numpy as np
from pydantic import Field, NonNegativeFloat, NonNegativeInt, PositiveInt

from ..api import Dataset, DatasetOptions, LabelledData


class TeacherStudentOptions(DatasetOptions):
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


def teacher_student_data(options: TeacherStudentOptions) -> LabelledData:
    rng = np.random.default_rng(options.data_seed)
    scales = np.arange(1, options.dim + 1, dtype=np.float64) ** -options.spectrum_decay
    scales = np.sqrt(scales / scales.mean())
    if options.teacher_width:
        hidden = rng.normal(size=(options.dim, options.teacher_width)) / np.sqrt(options.dim)
        readout = rng.normal(size=(options.teacher_width, options.num_classes)) / np.sqrt(options.teacher_width)
    else:
        readout = rng.normal(size=(options.dim, options.num_classes)) / np.sqrt(options.dim)

    def draw(count: int) -> tuple[np.ndarray, np.ndarray]:
        x = rng.normal(size=(count, options.dim)) * scales
        features = np.maximum(x @ hidden, 0) if options.teacher_width else x
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

    def input_shape(self) -> tuple[int, ...]:
        return (self.options.dim,)

    def num_classes(self) -> int:
        return self.options.num_classes
