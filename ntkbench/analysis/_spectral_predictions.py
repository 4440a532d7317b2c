"""What a kernel's spectrum predicts, set against what its learner measured: per learner, seed and n,
the test error kernel regression theory predicts from the spectrum stored beside the records (at the
ridge the learner used at that n) next to the learner's measured test error, and per learner the
capacity and source exponents with the α they predict next to the measured α of test error.

The prediction corrects the pool's spectrum twice: the noise floor that every pool mode carries
(the mean target power over its second half) is moved into unlearnable noise
(`numerics.without_noise_floor`), and the modes beyond `fit_modes` are continued by the fitted power
laws out to `TAIL_MODES_PER_POOL` times the pool (`numerics.with_power_law_tail`). The plain pool
estimate, which falls short at n approaching the pool, is kept beside it.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from ..numerics._spectrum import SpectralExponents, Spectrum, fit_exponents, predicted_test_mse, with_power_law_tail, without_noise_floor
from ._laws import MIN_POINTS, fit_power_law

TAIL_MODES_PER_POOL = 100
"""The corrected spectrum has this many times the pool's modes: the power laws continue far enough
that what lies beyond changes no prediction at the sweep's n (the tail keeps the pool's trace)."""


@dataclasses.dataclass(frozen=True)
class SpectralPoint:
    """One cell: the test error predicted from its seed's spectrum and the one its learner measured
    (the squared error to one-hot targets summed over classes, averaged over test points)."""

    learner_id: str
    width: int | None
    seed: int
    n_train: int
    ridge: float
    """The absolute ridge the learner added to its kernel's diagonal at this n."""
    predicted_mse: float
    pool_predicted_mse: float
    """The prediction from the pool's spectrum alone, without the power-law tail."""
    measured_mse: float
    capacity: float
    source: float
    predicted_alpha: float
    noise_fraction: float
    """The share of the target's power in the pool's noise floor: what no mode of the pool resolves."""


@dataclasses.dataclass(frozen=True)
class SpectralCurve:
    """One learner (at one width) over the sweep: seed means of predicted and measured test error,
    the exponents' means over its spectra, and three αs: the exponents' `min(source, 2 capacity)`, a
    power law fitted to the predicted curve, and one fitted to the measured curve."""

    learner_id: str
    width: int | None
    n_values: np.ndarray
    predicted_mse: np.ndarray
    pool_predicted_mse: np.ndarray
    measured_mse: np.ndarray
    capacity: float
    source: float
    alpha_from_exponents: float
    alpha_of_prediction: float
    alpha_measured: float
    noise_fraction: float

    def worst_relative_error(self) -> float:
        """The largest |predicted / measured - 1| over the sweep's n."""
        return float(np.nanmax(np.abs(self.predicted_mse / self.measured_mse - 1)))


@dataclasses.dataclass(frozen=True)
class CellOutcome:
    """What a cell's record says that a prediction is set against: its measured test error (the
    squared error) and the absolute ridge it used."""

    measured_mse: float
    ridge: float


def corrected_spectrum(
    eigenvalues: np.ndarray, target_power: np.ndarray, fit_modes: tuple[int, int]
) -> tuple[Spectrum, SpectralExponents, float]:
    """The pool's spectrum without its noise floor (the mean power over its second half) and with its
    power-law tail, the exponents fitted over `fit_modes` (after the floor is taken off), and the
    floor's share of the target's power."""
    pool = Spectrum(np.asarray(eigenvalues, np.float64), np.asarray(target_power, np.float64))
    signal = without_noise_floor(pool, len(eigenvalues) // 2 + 1)
    exponents = fit_exponents(signal, *fit_modes)
    corrected = with_power_law_tail(signal, exponents, TAIL_MODES_PER_POOL * len(eigenvalues))
    return corrected, exponents, signal.noise / float(np.sum(pool.target_power))


def spectral_points(
    spectra: Iterable[Any], outcomes: Mapping[tuple[str, int | None, int, int], CellOutcome], n_values: Iterable[int],
    fit_modes: tuple[int, int],
) -> list[SpectralPoint]:
    """A point per cell with a stored spectrum and a successful squared-error record.

    `spectra`: stored spectra (`learner_id`, `width`, `seed`, `n_train` (None: every n of the seed),
    `eigenvalues`, `target_power`); `outcomes`: per (learner id, width, seed, n), the cell's outcome.
    """
    points = []
    for stored in spectra:
        corrected, exponents, noise_fraction = corrected_spectrum(stored.eigenvalues, stored.target_power, fit_modes)
        pool = Spectrum(np.asarray(stored.eigenvalues, np.float64), np.asarray(stored.target_power, np.float64))
        sizes = [stored.n_train] if stored.n_train is not None else list(n_values)
        for n in sizes:
            outcome = outcomes.get((stored.learner_id, stored.width, stored.seed, n))
            if outcome is None:
                continue
            points.append(SpectralPoint(
                stored.learner_id, stored.width, stored.seed, n, outcome.ridge,
                predicted_test_mse(corrected, n, outcome.ridge), _plain(pool, n, outcome.ridge), outcome.measured_mse,
                exponents.capacity, exponents.source, exponents.predicted_alpha,
                noise_fraction,
            ))
    return points


def _plain(pool: Spectrum, n: int, ridge: float) -> float:
    try:
        return predicted_test_mse(pool, n, ridge)
    except ValueError:  # a ridgeless pool with no more modes than n: no plain estimate
        return math.nan


def spectral_curves(points: list[SpectralPoint]) -> list[SpectralCurve]:
    """The points of each learner (and width) as curves over n, in the order they first appear."""
    groups: dict[tuple[str, int | None], list[SpectralPoint]] = {}
    for point in points:
        groups.setdefault((point.learner_id, point.width), []).append(point)
    curves = []
    for (learner_id, width), members in groups.items():
        n_values = np.array(sorted({p.n_train for p in members}))

        def mean(field: str, at: int) -> float:
            return float(np.mean([getattr(p, field) for p in members if p.n_train == at]))

        predicted, pool, measured = (np.array([mean(field, n) for n in n_values])
                                     for field in ("predicted_mse", "pool_predicted_mse", "measured_mse"))
        capacity, source, alpha, noise = (float(np.mean([getattr(p, field) for p in members]))
                                          for field in ("capacity", "source", "predicted_alpha", "noise_fraction"))
        curves.append(SpectralCurve(
            learner_id, width, n_values, predicted, pool, measured, capacity, source, alpha,
            _alpha(n_values, predicted), _alpha(n_values, measured), noise,
        ))
    return curves


def _alpha(n_values: np.ndarray, metric: np.ndarray) -> float:
    usable = np.isfinite(metric) & (metric > 0)
    if usable.sum() < MIN_POINTS:
        return math.nan
    return fit_power_law(n_values[usable], metric[usable])[0]
