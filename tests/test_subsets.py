"""Nested training subsets and the fixed, class-balanced test set."""

from __future__ import annotations

import numpy as np

from ntkbench.runner._sampling import balanced_test_indices, training_order

LABELS = np.random.default_rng(0).integers(0, 4, size=1000)


def test_training_sets_are_nested_within_a_seed():
    for balanced in (False, True):
        order = training_order(LABELS, seed=3, balanced=balanced)
        sizes = [10, 50, 200, 1000]
        sets = [set(order[:n]) for n in sizes]
        for smaller, larger in zip(sets, sets[1:]):
            assert smaller < larger
        assert sorted(order) == list(range(1000))  # a permutation: no sample twice


def test_seeds_draw_different_subsets_reproducibly():
    for balanced in (False, True):
        assert np.array_equal(training_order(LABELS, 1, balanced), training_order(LABELS, 1, balanced))
        assert not np.array_equal(training_order(LABELS, 1, balanced)[:50], training_order(LABELS, 2, balanced)[:50])


def test_balanced_prefixes_have_equal_class_counts():
    order = training_order(LABELS, seed=5, balanced=True)
    for n in (4, 8, 40, 400):
        assert np.bincount(LABELS[order[:n]], minlength=4).tolist() == [n // 4] * 4
    unbalanced = [np.bincount(LABELS[training_order(LABELS, s)[:8]], minlength=4).tolist() for s in range(20)]
    assert any(counts != [2, 2, 2, 2] for counts in unbalanced)


def test_test_set_is_class_balanced_and_fixed():
    labels = np.random.default_rng(0).integers(0, 10, size=5000)
    index = balanced_test_indices(labels, 1000, 10)
    assert len(index) == len(set(index)) == 1000
    assert np.bincount(labels[index], minlength=10).tolist() == [100] * 10
    assert np.array_equal(index, balanced_test_indices(labels, 1000, 10))


def test_uneven_test_size_spreads_the_remainder():
    labels = np.repeat(np.arange(3), 50)
    counts = np.bincount(labels[balanced_test_indices(labels, 20, 3)], minlength=3)
    assert counts.tolist() == [7, 7, 6]


def test_too_few_samples_in_a_class_is_an_error():
    labels = np.array([0] * 10 + [1] * 2)
    try:
        balanced_test_indices(labels, 10, 2)
    except ValueError as error:
        assert "class 1 has 2" in str(error)
    else:
        raise AssertionError("expected ValueError")
