"""`synthetic_images`: CIFAR-shaped Gaussian class clusters (no files), for `scripts/gpu-check`: a
spec named by a plugin file travels with the working tree to a machine without internet."""

from __future__ import annotations

import numpy as np
from pydantic import NonNegativeInt, PositiveInt

import ntkbench


class SyntheticImagesOptions(ntkbench.DatasetOptions):
    size: PositiveInt = 8
    """Height and width of the images (32 for CIFAR's)."""
    channels: PositiveInt = 3
    classes: PositiveInt = 10
    pool: PositiveInt = 2000
    data_seed: NonNegativeInt = 0


class SyntheticImages(ntkbench.Dataset):
    """Images whose class is a smooth random template (a sum of a few low-frequency waves) plus noise."""

    Options = SyntheticImagesOptions
    api_version = 1
    plugin_name = "synthetic_images"

    def load(self) -> ntkbench.LabelledData:
        o = self.options
        rng = np.random.default_rng(o.data_seed)
        grid = np.linspace(0, 2 * np.pi, o.size)
        waves = [np.sin(a * grid[:, None] + b * grid[None, :] + c) for a, b, c in rng.uniform(0, 2, size=(8, 3))]
        templates = np.einsum("kw,whvc->khvc", rng.normal(size=(o.classes, len(waves))),
                              np.stack(waves)[:, :, :, None].repeat(o.channels, axis=3))

        def draw(count: int) -> tuple[np.ndarray, np.ndarray]:
            labels = np.arange(count) % o.classes
            rng.shuffle(labels)
            x = templates[labels] + 1.5 * rng.normal(size=(count, o.size, o.size, o.channels))
            return x.astype(np.float32), labels.astype(np.int32)

        x_pool, y_pool = draw(o.pool)
        x_test, y_test = draw(max(o.n_test, 1000))
        return ntkbench.LabelledData(x_pool, y_pool, x_test, y_test, num_classes=o.classes)

    def pool_size(self) -> int:
        return self.options.pool

    def input_shape(self) -> tuple[int, ...]:
        return (self.options.size, self.options.size, self.options.channels)

    def num_classes(self) -> int:
        return self.options.classes
