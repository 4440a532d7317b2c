"""Binary Fashion-MNIST tasks for ntkbench: a dataset plugin built on a built-in dataset.

It shows the dataset side of the plugin API: an options model that adds a choice (`pair`) and
forbids one inherited option (`classes`), a `load` that reuses ntkbench's verified files and
preprocessing, and `pool_size` / `input_shape` so that `ntkbench validate` can check a spec
without the data.
"""

from __future__ import annotations

from typing import Literal

from pydantic import model_validator

import ntkbench
from ntkbench.datasets.fashion_mnist import FashionMNIST, FashionMNISTOptions

PAIRS: dict[str, list[int]] = {
    "shirt_vs_tshirt": [6, 0],
    "pullover_vs_coat": [2, 4],
    "sneaker_vs_sandal": [7, 5],
    "sandal_vs_boot": [5, 9],
}


class FashionPairsOptions(FashionMNISTOptions):
    pair: Literal["shirt_vs_tshirt", "pullover_vs_coat", "sneaker_vs_sandal", "sandal_vs_boot"] = "shirt_vs_tshirt"

    @model_validator(mode="after")
    def _pair_decides_the_classes(self) -> FashionPairsOptions:
        if self.classes is not None:
            raise ValueError("`classes` is set by `pair`; remove it")
        return self


class FashionPairs(ntkbench.Dataset):
    """Two Fashion-MNIST classes that look alike: 12,000 training and 2,000 test images."""

    Options = FashionPairsOptions
    api_version = 1

    def _as_fashion_mnist(self) -> FashionMNIST:
        options = self.options.model_dump(exclude={"pair", "classes"})
        return FashionMNIST(FashionMNISTOptions(**options, classes=PAIRS[self.options.pair]))

    def load(self) -> ntkbench.LabelledData:
        return self._as_fashion_mnist().load()

    def pool_size(self) -> int | None:
        return self._as_fashion_mnist().pool_size()

    def input_shape(self) -> tuple[int, ...]:
        return self._as_fashion_mnist().input_shape()

    def num_classes(self) -> int:
        return 2

    @classmethod
    def file_store(cls):
        return FashionMNIST.file_store()
