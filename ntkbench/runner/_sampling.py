"""Which samples a cell sees: nested training subsets of each seed, a held-out tail, and one fixed,
class-balanced test set."""

from __future__ import annotations

import dataclasses

import numpy as np

from ..api import InputError, LabelledData

TEST_SET_SEED = 20220207
"""Seed of the test-set draw: the test set is the same for every seed, learner and n."""


def training_order(labels: np.ndarray, seed: int, balanced: bool = False) -> np.ndarray:
    """The order in which seed `seed` takes training samples from the pool.

    The training set of size n is the first n entries, so for one seed every smaller training
    set is contained in every larger one. With `balanced`, the order goes round-robin over the
    classes (each round takes the next sample of every class, in random order), so every
    prefix is as class-balanced as the pool allows.
    """
    rng = np.random.default_rng(seed)
    if not balanced:
        return rng.permutation(len(labels))
    rank = np.empty(len(labels), dtype=np.int64)
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        rank[rng.permutation(members)] = np.arange(len(members))
    return np.lexsort((rng.random(len(labels)), rank))


def balanced_test_indices(labels: np.ndarray, n_test: int, num_classes: int) -> np.ndarray:
    """Indices of a fixed test subset with (as nearly as possible) `n_test / num_classes` per class.

    When `n_test` is not a multiple of the number of classes, the first classes get one more.

    **Raises:** `ValueError` when some class has too few samples.
    """
    rng = np.random.default_rng(TEST_SET_SEED)
    per_class = [n_test // num_classes + (c < n_test % num_classes) for c in range(num_classes)]
    chosen = []
    for label, count in enumerate(per_class):
        members = np.flatnonzero(labels == label)
        if len(members) < count:
            raise ValueError(f"class {label} has {len(members)} test samples; n_test={n_test} needs {count}")
        chosen.append(rng.permutation(members)[:count])
    return np.sort(np.concatenate(chosen))


@dataclasses.dataclass(frozen=True)
class SeedSampler:
    """The samples of one seed, all from one fixed order of the pool: the training sets are its
    prefixes (up to `n_max`), the validation set the `validation_n` samples right after them, and
    held-out samples come from its tail; none of the three overlaps another."""

    data: LabelledData
    order: np.ndarray
    n_max: int
    validation_n: int = 0

    def nested_subset(self, m: int) -> tuple[np.ndarray, np.ndarray]:
        limit = self.n_max if self.validation_n else len(self.order)
        if not 0 < m <= limit:
            raise InputError(f"a learner asked for {m} training samples; at most {limit} are training samples")
        indices = self.order[:m]
        return self.data.x_pool[indices], self.data.y_pool[indices]

    def validation_indices(self) -> np.ndarray:
        return self.order[self.n_max : self.n_max + self.validation_n]

    def validation_subset(self) -> tuple[np.ndarray, np.ndarray] | None:
        if not self.validation_n:
            return None
        indices = self.validation_indices()
        return self.data.x_pool[indices], self.data.y_pool[indices]

    def spectrum_pool_indices(self, m: int) -> np.ndarray:
        """The `m` samples right after the validation samples: what a spec's `spectrum` eigendecomposes
        each kernel on (disjoint from every training, validation and held-out sample when the pool has
        room for all, as validation checks)."""
        start = self.n_max + self.validation_n
        return self.order[start : start + m]

    def held_out_indices(self, m: int) -> np.ndarray:
        available = len(self.order) - self.n_max - self.validation_n
        if not 0 < m <= available:
            raise InputError(
                f"a learner asked for {m} held-out samples; the pool has {len(self.order)}, the largest training "
                f"set takes {self.n_max} and the validation set {self.validation_n}"
            )
        return self.order[len(self.order) - m :]

    def held_out_subset(self, m: int) -> tuple[np.ndarray, np.ndarray]:
        indices = self.held_out_indices(m)
        return self.data.x_pool[indices], self.data.y_pool[indices]
