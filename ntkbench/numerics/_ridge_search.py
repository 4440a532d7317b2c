"""Choosing the ridge of kernel ridge regression on validation samples, per training-set size, in
few factorisations of the largest kernel (`choose_ridges`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..api import CellFailure
from ._kernel_ridge import factor_kernel, one_hot
from ._iterative_solve import solve_facts


@dataclasses.dataclass(frozen=True)
class RidgeChoice:
    """For one training set size: the ridge chosen on validation data, and what it predicts."""

    ridge: float
    effective_ridge: float
    predictions: np.ndarray
    """Test predictions with the chosen ridge, float64."""
    validation_errors: tuple[float | None, ...]
    """The validation error of every ridge of the grid, in its order (None: not evaluated, because
    the search did not try it or the kernel plus that ridge could not be factored)."""
    solve_facts: dict[str, Any] = dataclasses.field(default_factory=dict)
    """How the chosen ridge's kernel was solved (`solver`; for conjugate gradients, its iterations
    and relative residual), for the record."""


FULL_GRID_RIDGES = 4
"""`choose_ridges` tries every ridge of a list this short at every size."""
COARSE_STEP = 3
"""With a single size, `choose_ridges` first tries every `COARSE_STEP`-th ridge of the grid (and its last)."""
SEARCH_RADIUS = 3
"""At the largest size, `choose_ridges` stops once the ridges this many grid steps either side of
the best so far have been tried: validation errors over log-ridge have plateaus and dips a step
wide (benchmarks/README.md has how often a narrower search misses the grid's choice)."""


def choose_ridges(
    train: np.ndarray,
    test: np.ndarray,
    validation: np.ndarray,
    y_train: np.ndarray,
    y_validation: np.ndarray,
    num_classes: int,
    sizes: Sequence[int],
    ridges: Sequence[float],
    solve: Callable[[np.ndarray, float], Any] | None = None,
) -> dict[int, RidgeChoice]:
    """For each n of `sizes`, the ridge of `ridges` (ascending) with the lowest validation error (ties:
    the lowest validation squared error) of kernel ridge regression on the first n samples.

    `train` is K(X, X), `test` K(X_test, X) and `validation` K(X_val, X) for the seed's largest
    training set X, whose first n rows are every smaller one. One Cholesky factorisation of a
    regularised kernel serves every n up to its size (its leading block is the n-sample factor),
    and two triangular solves give their weights at once (`prefix_weights`). `solve(kernel, ridge)`
    gives that factorisation (`factor_kernel`, the default), or another solver with the same methods (conjugate
    gradients for a kernel too large to factor).

    The factorisations of the largest kernel are most of the cost, so the grid is searched, not
    swept, there: every ridge is tried at every size but the largest, on the second-largest
    size's kernel (an eighth of the largest's work for sizes that double), and the largest size
    starts from the ridge that won at the second-largest and tries the ridges within
    `SEARCH_RADIUS` grid steps of the best so far until none is left (`_local_search`). With one
    size, every `COARSE_STEP`-th ridge is tried first. A list of at most `FULL_GRID_RIDGES` ridges
    is tried in full.
    """
    order, ridges = sorted(sizes), tuple(ridges)
    solve = solve or factor_kernel
    targets = one_hot(y_train[: order[-1]], num_classes)
    validation_targets = one_hot(y_validation, num_classes)
    validation = np.asarray(validation[:, : order[-1]], dtype=np.float64)
    test = np.asarray(test[:, : order[-1]], dtype=np.float64)
    keys: dict[int, dict[int, tuple[tuple[float, float], RidgeChoice] | None]] = {n: {} for n in order}

    def evaluate(index: int, serving: list[int]) -> None:
        """Factor the kernel of the largest of `serving` at ridge `index`; score every size of `serving`."""
        rows = serving[-1]
        try:
            factored = solve(train[:rows, :rows], ridges[index])
            weights = factored.prefix_weights(targets[:rows], serving)
        except CellFailure:  # too small a ridge for this kernel's round-off: not a candidate
            for n in serving:
                keys[n][index] = None
            return
        solved = solve_facts(factored)
        predicted_validation, predicted_test = validation[:, :rows] @ weights, test[:, :rows] @ weights
        for k, n in enumerate(serving):
            columns = slice(k * num_classes, (k + 1) * num_classes)
            predicted = predicted_validation[:, columns]
            error = float(np.mean(np.argmax(predicted, axis=1) != y_validation))
            squared = float(np.mean(np.sum((predicted - validation_targets) ** 2, axis=1)))
            keys[n][index] = ((error, squared), RidgeChoice(ridges[index], factored.effective_ridge, predicted_test[:, columns], (),
                                                            solved))

    def best(n: int) -> int | None:
        scored = {index: entry[0] for index, entry in keys[n].items() if entry is not None}
        return min(scored, key=lambda index: (scored[index], index)) if scored else None

    if len(ridges) <= FULL_GRID_RIDGES:
        for index in range(len(ridges)):
            evaluate(index, order)
    else:
        largest, smaller = order[-1], order[:-1]
        if smaller:
            for index in range(len(ridges)):
                evaluate(index, smaller)
            start = best(smaller[-1])
        else:
            for index in sorted({*range(0, len(ridges), COARSE_STEP), len(ridges) - 1}):
                evaluate(index, [largest])
            start = best(largest)
        _local_search(start if start is not None else len(ridges) - 1, len(ridges), lambda index: evaluate(index, [largest]),
                      lambda: best(largest), keys[largest])
    if all(best(n) is None for n in order):
        raise CellFailure(f"kernel solve failed for every ridge of {list(ridges)}; add larger ones")
    choices = {}
    for n in order:
        chosen = best(n)
        if chosen is None:
            raise CellFailure(f"kernel solve failed at n = {n} for every ridge tried of {list(ridges)}; add larger ones")
        errors = tuple(None if keys[n].get(index) is None else keys[n][index][0][0] for index in range(len(ridges)))
        choices[n] = dataclasses.replace(keys[n][chosen][1], validation_errors=errors)
    return choices


def _local_search(start: int, count: int, evaluate: Callable[[int], None], best: Callable[[], int | None],
                  tried: dict[int, Any]) -> None:
    """From grid index `start`, try the indices within `SEARCH_RADIUS` of the best found so far until
    all of them have been tried (a minimum of the validation key over that neighbourhood)."""
    if start not in tried:
        evaluate(start)
    while True:
        current = best()
        if current is None:  # nothing could be factored yet: larger ridges are the only hope
            untried = [index for index in range(count) if index not in tried]
            if not untried:
                return
            evaluate(max(untried))
            continue
        neighbours = [index for step in range(1, SEARCH_RADIUS + 1) for index in (current - step, current + step)
                      if 0 <= index < count and index not in tried]
        if not neighbours:
            return
        for index in neighbours:
            evaluate(index)
