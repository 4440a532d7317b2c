"""A kernel that keeps its per-example work (`BlockKernel`, the native empirical NTK among them):
`evaluate_tiled` computes each block's features as few times as its memory allows, in the order and
number `ntkbench plan` counts (`feature_computations`), and the matrix is the plain kernel's."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ntkbench.api import KernelStore, StoredKernel
from ntkbench.numerics import _kernels
from ntkbench.numerics._kernels import BlockKernel, evaluate_tiled, feature_computations
from ntkbench.storage import TileDirectory


class CountedRBF:
    """An RBF kernel whose features are its inputs: counts the blocks whose features it computed."""

    def __init__(self) -> None:
        self.blocks: list[int] = []

    def features(self, x):
        self.blocks.append(len(x))
        return {"x": jnp.asarray(x), "norms": jnp.sum(jnp.asarray(x) ** 2, axis=1)}

    def combine(self, first, second):
        squared = first["norms"][:, None] + second["norms"][None] - 2 * first["x"] @ second["x"].T
        return jnp.exp(-squared / first["x"].shape[1])

    def __call__(self, x1, x2):
        return self.combine(self.features(x1), self.features(x2))


def inputs(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, 6)).astype(np.float32)


@pytest.mark.parametrize("capacity", [2, 3, 5, 100])
def test_block_features_are_computed_as_the_plan_counts_and_the_matrix_is_the_plain_kernels(monkeypatch, capacity):
    kernel = CountedRBF()
    assert isinstance(kernel, BlockKernel)
    monkeypatch.setattr(_kernels, "feature_capacity", lambda block_bytes, budget=None: capacity)
    x, test = inputs(100), inputs(37, seed=1)
    train = evaluate_tiled(kernel, x, max_tile=16)  # 7 row blocks, 28 tiles
    assert len(kernel.blocks) == feature_computations(7, 7, capacity, True)
    assert len(kernel.blocks) == (7 if capacity > 7 else len(kernel.blocks))
    plain = evaluate_tiled(lambda a, b: kernel.combine(kernel.features(a), kernel.features(b)), x, max_tile=16)
    np.testing.assert_array_equal(train, plain)

    kernel.blocks.clear()
    across = evaluate_tiled(kernel, test, x, max_tile=16)  # 3 x 7 tiles
    assert len(kernel.blocks) == feature_computations(3, 7, capacity, False)
    np.testing.assert_allclose(across, np.asarray(kernel(test, x)), rtol=1e-6, atol=1e-6)


def test_with_room_for_every_block_each_is_computed_once_and_a_band_once_per_column_otherwise():
    assert feature_computations(8, 8, 100, True) == 8
    assert feature_computations(2, 8, 100, False) == 10
    # Bands of capacity - 1 = 3 row blocks: each column block once per band it meets (9, then 6),
    # less the last band's block still kept from the band before (3 - 1).
    assert feature_computations(9, 9, 4, True) == 9 + 6 + 2
    assert feature_computations(2048, 2048, 4, True) < feature_computations(2048, 2048, 2, True) / 2.9


def test_a_stored_block_kernel_reads_its_tiles_and_computes_the_missing_ones_features(tmp_path):
    store: KernelStore = TileDirectory(tmp_path)
    kernel = CountedRBF()
    x = inputs(64)
    stored = StoredKernel(store, {"kernel": "test counted rbf"})
    first = evaluate_tiled(kernel, x, max_tile=16, stored=stored)
    assert len(kernel.blocks) == 4  # each of the 4 blocks once
    kernel.blocks.clear()
    again = evaluate_tiled(kernel, x, max_tile=16, stored=stored)
    assert kernel.blocks == [] and np.array_equal(first, again)  # every tile read back
    larger = evaluate_tiled(kernel, inputs(80), max_tile=16, stored=stored)
    assert len(kernel.blocks) == 5 and np.array_equal(larger[:64, :64], first)  # only the new row's tiles


def test_the_native_empirical_ntk_is_a_block_kernel_whose_tiles_equal_its_direct_evaluation():
    from ntkbench.architectures.myrtle import MyrtleArchitecture
    from ntkbench.numerics._kernels import empirical_ntk, empirical_ntk_fn

    architecture = MyrtleArchitecture(MyrtleArchitecture.Options(depth=5, width=8, b_std=0.1))
    model = architecture.init_model(input_shape=(8, 8, 1), num_classes=4, key=jax.random.PRNGKey(0))
    x = np.random.default_rng(0).normal(size=(40, 8, 8, 1)).astype(np.float32)
    kernel = empirical_ntk_fn(model, "native", input_shape=(8, 8, 1), examples=40)
    assert isinstance(kernel, BlockKernel)
    tiled = evaluate_tiled(kernel, x, max_tile=16)
    direct = np.asarray(empirical_ntk(model, x, x, 1))
    assert np.max(np.abs(tiled - direct)) <= 1e-5 * np.max(np.abs(direct))
