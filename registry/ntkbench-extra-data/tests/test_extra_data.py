"""fashion_pairs: registered, validated offline, and the right two classes when the data is there."""

from __future__ import annotations

import importlib.metadata

import numpy as np
import pytest
from ntkbench_extra_data import FashionPairs, FashionPairsOptions

import ntkbench
from ntkbench.datasets.fashion_mnist import FashionMNIST


def fashion_mnist_installed() -> bool:
    return all(FashionMNIST.store.locate(file) is not None for file in FashionMNIST.store.files)


def test_registered():
    points = {ep.name: ep for ep in importlib.metadata.entry_points(group="ntkbench.datasets")}
    assert points["fashion_pairs"].load() is FashionPairs


def test_validation_works_offline():
    dataset = FashionPairs(FashionPairsOptions(pair="sneaker_vs_sandal", image_size=(14, 14), flatten=True))
    assert dataset.pool_size() == 12_000 and dataset.input_shape() == (196,)
    with pytest.raises(ValueError, match="set by `pair`"):
        FashionPairsOptions(classes=[1, 2])
    spec = """\
name: pairs
dataset: {name: fashion_pairs, pair: shirt_vs_tshirt, n_test: 100}
architecture: {name: mlp}
learners: [{name: network}]
sweep: {n_train: [16, 32, 12001], seeds: [0]}
"""
    with pytest.raises(ntkbench.SpecError, match=r"\(12000 samples\)"):
        ntkbench.parse_spec(spec)


@pytest.mark.skipif(not fashion_mnist_installed(), reason="Fashion-MNIST files not installed")
def test_loads_the_two_classes_relabelled():
    data = FashionPairs(FashionPairsOptions(pair="shirt_vs_tshirt", standardize=False)).load()
    assert data.num_classes == 2 and len(data.x_pool) == 12_000 and len(data.x_test) == 2_000
    assert np.bincount(data.y_pool).tolist() == [6000, 6000]
    everything = FashionMNIST(FashionMNIST.Options(standardize=False)).load()
    shirts = everything.x_pool[everything.y_pool == 6]
    assert np.array_equal(data.x_pool[data.y_pool == 0], shirts)  # label 0: the pair's first class
