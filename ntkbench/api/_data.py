"""Dataset plugins: the arrays a dataset gives, and the class a dataset plugin subclasses."""

from __future__ import annotations

import abc
import dataclasses
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from ._options import DatasetOptions

if TYPE_CHECKING:
    from ._storage import FileStore


@dataclasses.dataclass(frozen=True)
class LabelledData:
    """A dataset as arrays: the training pool and the official test split.

    Inputs are float32, NHWC for images; labels are integers in `[0, num_classes)`.
    """

    x_pool: np.ndarray
    y_pool: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int


class Dataset(abc.ABC):
    """A dataset plugin: loads (and if needed fetches) its arrays, preprocessed."""

    Options: ClassVar[type[DatasetOptions]] = DatasetOptions
    api_version: ClassVar[int | None] = None
    """The plugin API version this class was written for (`ntkbench.API_VERSION`)."""
    plugin_name: ClassVar[str | None] = None
    """The name a spec gives a plugin loaded from a file or module its `plugins:` list names (an
    installed plugin's name is its entry point's)."""

    def __init__(self, options: DatasetOptions):
        self.options = options

    @abc.abstractmethod
    def load(self) -> LabelledData:
        """Return the full training pool and the full official test split, preprocessed."""

    def pool_size(self) -> int | None:
        """Size of the training pool under these options, when known without loading the data.

        Lets `ntkbench validate` check the sweep's sizes offline; `None`: checked at run time.
        """
        return None

    def test_pool_size(self) -> int | None:
        """The largest `n_test` these options allow (the official test split, or what a class-balanced
        draw from it can take), when known without loading; `None`: unknown. `ntkbench plan --pilot`
        proposes no larger test set."""
        return None

    def input_shape(self) -> tuple[int, ...] | None:
        """Shape of one input under these options, when known without loading (for architecture checks)."""
        return None

    def num_classes(self) -> int | None:
        """Number of classes under these options, when known without loading (for `ntkbench plan`)."""
        return None

    @classmethod
    def file_store(cls) -> FileStore | None:
        """The files this dataset reads (for `ntkbench data`); `None` for generated data."""
        return None
