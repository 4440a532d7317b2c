"""Does the empirical NTK at initialisation converge to the infinite NTK as the width grows?

For each width, the relative Frobenius distance ||K_emp - K_inf||_F / ||K_inf||_F is measured
for several initialisations and averaged. Fluctuations of the empirical NTK shrink like
width^-1/2, so on log-log axes the distance should fall with a slope near -1/2.
"""

from __future__ import annotations

import dataclasses

import jax
import numpy as np

from ..api import Architecture
from ._kernels import architecture_kernel_fn, empirical_ntk


@dataclasses.dataclass(frozen=True)
class WidthDistance:
    width: int
    mean: float
    std: float
    distances: tuple[float, ...]


def ntk_distances(
    architecture: Architecture,
    x: np.ndarray,
    widths: list[int],
    seeds: int,
    num_classes: int = 10,
) -> list[WidthDistance]:
    """Relative distance of the empirical NTK at init to the infinite NTK, per width (over `seeds` inits)."""
    results = []
    reference = None
    for width in widths:
        network = architecture.at_width(width)
        if reference is None:
            reference = np.asarray(architecture_kernel_fn(network, num_classes=num_classes)(x, x), dtype=np.float64)
        distances = []
        for seed in range(seeds):
            model = network.init_model(input_shape=x.shape[1:], num_classes=num_classes, key=jax.random.PRNGKey(seed))
            kernel = np.asarray(empirical_ntk(model, x, x), dtype=np.float64)
            distances.append(float(np.linalg.norm(kernel - reference) / np.linalg.norm(reference)))
        results.append(WidthDistance(width, float(np.mean(distances)), float(np.std(distances)), tuple(distances)))
    return results


def log_log_slope(results: list[WidthDistance]) -> float:
    """Least-squares slope of log(mean distance) against log(width)."""
    return float(np.polyfit(np.log([r.width for r in results]), np.log([r.mean for r in results]), 1)[0])
