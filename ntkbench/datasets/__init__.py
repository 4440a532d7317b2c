"""Built-in dataset plugins (registered under the `ntkbench.datasets` entry-point group), and the
base of image datasets, which third-party image datasets may subclass too."""

from ._image import ImageDataset as ImageDataset
from ._preprocess import ImageDatasetOptions as ImageDatasetOptions
