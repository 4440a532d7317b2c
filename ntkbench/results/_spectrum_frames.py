"""A spec's spectral predictions as one pandas DataFrame: a row per cell with a stored spectrum."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from ..analysis import SpecSummary
from ._record_frames import import_pandas

if TYPE_CHECKING:
    import pandas


def spectra_frame(summary: SpecSummary) -> pandas.DataFrame:
    """What each kernel's spectrum predicts against what its learner measured, one row per cell.

    Columns: `spec`, `learner_id`, `width`, `seed`, `n_train`, `ridge` (the absolute ridge the
    learner added at that n), `predicted_mse` (kernel regression theory from the seed's spectrum
    with its power-law tail), `pool_predicted_mse` (from the pool's spectrum alone), `measured_mse`
    (the record's squared error to one-hot targets, summed over classes), `relative_error`
    (predicted / measured - 1), the spectrum's fitted `capacity` and `source` exponents,
    `predicted_alpha` (`min(source, 2 capacity)`) and `noise_fraction` (the pool's noise floor as a
    share of the target's power), with per learner (and width) `alpha_of_prediction`
    and `alpha_measured`, power laws fitted to the seed means of predicted and measured test error.
    Empty for a spec without a `spectrum` section, or before its spectra are taken.
    """
    pandas = import_pandas()
    curves = {(curve.learner_id, curve.width): curve for curve in summary.spectral_curves}
    rows = []
    for point in summary.spectral_points:
        curve = curves[point.learner_id, point.width]
        rows.append({
            "spec": summary.name, **dataclasses.asdict(point),
            "relative_error": point.predicted_mse / point.measured_mse - 1,
            "alpha_of_prediction": curve.alpha_of_prediction, "alpha_measured": curve.alpha_measured,
        })
    columns = ["spec", "learner_id", "width", "seed", "n_train", "ridge", "predicted_mse", "pool_predicted_mse",
               "measured_mse", "relative_error", "capacity", "source", "predicted_alpha", "noise_fraction", "alpha_of_prediction",
               "alpha_measured"]
    return pandas.DataFrame(rows, columns=columns)
