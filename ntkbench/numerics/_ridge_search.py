"""Choosing the ridge of kernel ridge regression on validation samples, per training-set size, in
few factorisations of the largest kernel (`choose_ridges`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..api import CellFailure
from ._kernel_ridge import FactoredKernel, factor_kernel, one_hot
from ._iterative_solve import ShiftedFactor, solve_facts


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
SHIFTED_SOLVE_ROWS = 8192
"""Above this many rows, `choose_ridges` solves a size's further ridges from the factor it holds
(`ShiftedFactor`) before factoring again; at or below it, every ridge is factored (published records
were computed so, and the factorisations are seconds)."""


def shift_iterations(rows: int) -> int:
    """The iterations after which a `ShiftedFactor` solve of `rows` rows gives up for a factorisation:
    about half a factorisation's time (two triangular solves an iteration, `2 n²` a column, against
    `n³/3`; benchmarks/README.md measures both)."""
    return max(8, rows // 1024)

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
    size, the sweep is made on the leading half of its samples (a principal block of its kernel,
    so no kernel is computed for it), a pilot that is not reported. A list of at most
    `FULL_GRID_RIDGES` ridges is tried in full. Above `SHIFTED_SOLVE_ROWS` rows, a size searched
    alone solves each further ridge from the last factor of its kernel (`ShiftedFactor`: a few
    triangular solves where the spectrum lies above the ridges), factoring again only when that
    does not converge in `shift_iterations`.
    """
    order, ridges = sorted(sizes), tuple(ridges)
    solve = solve or factor_kernel
    targets = one_hot(y_train[: order[-1]], num_classes)
    validation_targets = one_hot(y_validation, num_classes)
    validation = np.asarray(validation[:, : order[-1]], dtype=np.float64)
    test = np.asarray(test[:, : order[-1]], dtype=np.float64)
    pilot = [order[-1] // 2] if len(order) == 1 and order[-1] > 1 else []
    keys: dict[int, dict[int, tuple[tuple[float, float], RidgeChoice] | None]] = {n: {} for n in pilot + order}
    # At most one factor, by its rows, with its ridge: the last one of a size searched alone above
    # `SHIFTED_SOLVE_ROWS` rows (dropped before the next factorisation, whose memory it is).
    held: dict[int, tuple[float, FactoredKernel]] = {}

    def solution(index: int, serving: list[int]) -> Any:
        """The solve of the kernel of the largest of `serving` at ridge `index`: shifted from the factor
        held for it, if that converges, else factored."""
        rows = serving[-1]
        if serving == [rows] and rows in held:
            from_ridge, factored = held[rows]
            scale = float(np.mean(np.asarray(np.diagonal(train[:rows, :rows]), dtype=np.float64)))
            shifted = ShiftedFactor.solve(factored, from_ridge, ridges[index] * scale, targets[:rows], shift_iterations(rows))
            if shifted is not None:
                return shifted
        held.clear()
        factored = solve(train[:rows, :rows], ridges[index])
        if isinstance(factored, FactoredKernel) and serving == [rows] and rows > SHIFTED_SOLVE_ROWS:
            held[rows] = (ridges[index], factored)
        return factored

    def evaluate(index: int, serving: list[int]) -> None:
        """Solve the kernel of the largest of `serving` at ridge `index`; score every size of `serving`."""
        rows = serving[-1]
        try:
            factored = solution(index, serving)
            weights = factored.prefix_weights(targets[:rows], serving)
        except CellFailure:  # too small a ridge for this kernel's round-off: not a candidate
            for n in serving:
                keys[n][index] = None
            return
        facts = solve_facts(factored)
        predicted_validation, predicted_test = validation[:, :rows] @ weights, test[:, :rows] @ weights
        for k, n in enumerate(serving):
            columns = slice(k * num_classes, (k + 1) * num_classes)
            predicted = predicted_validation[:, columns]
            error = float(np.mean(np.argmax(predicted, axis=1) != y_validation))
            squared = float(np.mean(np.sum((predicted - validation_targets) ** 2, axis=1)))
            keys[n][index] = ((error, squared), RidgeChoice(ridges[index], factored.effective_ridge, predicted_test[:, columns], (),
                                                            facts))

    def best(n: int) -> int | None:
        scored = {index: entry[0] for index, entry in keys[n].items() if entry is not None}
        return min(scored, key=lambda index: (scored[index], index)) if scored else None

    if len(ridges) <= FULL_GRID_RIDGES:
        for index in range(len(ridges)):
            evaluate(index, order)
    else:
        largest, swept = order[-1], order[:-1] or pilot
        if swept:
            for index in range(len(ridges)):
                evaluate(index, swept)
        start = best(swept[-1]) if swept else None
        _local_search(start if start is not None else len(ridges) - 1, len(ridges), lambda index: evaluate(index, [largest]),
                      lambda: best(largest), keys[largest])
    held.clear()
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
