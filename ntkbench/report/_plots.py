"""The leaderboard's figures: each learner's metric against n, Δα against the reference, α against
width, and the kernel dynamics."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..runner import write_atomically
from ._collect import SpecSummary, WidthGroup, dynamics_table, same_at_every_width


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(figure, path: Path) -> None:
    figure.tight_layout()
    try:
        write_atomically(path, lambda out: figure.savefig(out, format="png", metadata={"Software": None}), binary=True)
    finally:
        _pyplot().close(figure)


def plot_metric(summary: SpecSummary, group: WidthGroup, path: Path) -> None:
    """Log-log plot of the metric against n: seed mean (markers), seed range (band), fitted law (dashed)."""
    plt = _pyplot()
    metric = summary.spec["metric"]
    n_min, n_max = summary.fit_window()
    fits = {fit.curve.learner_id: fit for fit in group.comparison.fits}
    figure, axes = plt.subplots(figsize=(6.4, 4.4), dpi=120)
    for index, curve in enumerate(group.curves):
        color = f"C{index}"
        present = ~np.all(np.isnan(curve.table), axis=0)
        if not present.any():
            continue
        n = curve.n_values[present].astype(float)
        table = curve.table[:, present]
        fit = fits[curve.learner_id]
        label = curve.learner_id + (f" (α = {fit.alpha:.3f})" if fit.law else "")
        axes.plot(n, curve.mean()[present], "o-", color=color, label=label, markersize=4, linewidth=1.2)
        with np.errstate(invalid="ignore"):
            axes.fill_between(n, np.nanmin(table, axis=0), np.nanmax(table, axis=0), color=color, alpha=0.15, linewidth=0)
        if fit.law:
            grid = np.geomspace(n_min, n_max, 50)
            axes.plot(grid, fit.law.predict(grid), "--", color=color, linewidth=1)
    axes.set_xscale("log", base=2)
    axes.set_yscale("log")
    axes.set_xlabel("training samples n")
    axes.set_ylabel(metric.replace("_", " "))
    axes.set_title(summary.name + (f", width {group.width}" if group.width is not None else ""))
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=8)
    _save(figure, path)


def plot_delta_alpha(summary: SpecSummary, group: WidthGroup, path: Path) -> None:
    """Δα of every learner against the network, with its 95% interval."""
    plt = _pyplot()
    comparisons = group.comparison.comparisons
    figure, axes = plt.subplots(figsize=(6.4, 0.6 + 0.5 * len(comparisons)), dpi=120)
    for row, comparison in enumerate(comparisons):
        interval = comparison.delta_interval
        if interval is not None:
            axes.errorbar(
                comparison.delta_alpha, row,
                xerr=[[comparison.delta_alpha - interval.low], [interval.high - comparison.delta_alpha]],
                fmt="o", color=f"C{row}", capsize=4,
            )
        else:
            axes.plot(comparison.delta_alpha, row, "o", color=f"C{row}")
    axes.axvline(0.0, color="black", linewidth=0.8)
    axes.set_yticks(range(len(comparisons)), [c.learner_id for c in comparisons])
    axes.set_ylim(-0.6, len(comparisons) - 0.4)
    axes.set_xlabel(f"Δα = α({group.comparison.reference}) − α(learner)   (> 0: the network scales better)")
    axes.set_title(summary.name)
    axes.grid(True, axis="x", alpha=0.3)
    _save(figure, path)


def plot_alpha_by_width(summary: SpecSummary, path: Path) -> None:
    """α of every learner against width; learners that declare `same_at_every_width` (an infinite-width
    kernel) as horizontal lines. Learners without an exponent at any width are left out."""
    plt = _pyplot()
    widths = np.array([group.width for group in summary.groups], dtype=float)
    figure, axes = plt.subplots(figsize=(6.4, 4.4), dpi=120)
    for index, fit in enumerate(summary.groups[0].comparison.fits):
        learner = fit.curve.learner_id
        fits = [next(f for f in g.comparison.fits if f.curve.learner_id == learner) for g in summary.groups]
        alphas = np.array([f.alpha if f.law else np.nan for f in fits])
        color = f"C{index}"
        if np.all(np.isnan(alphas)):
            continue
        if same_at_every_width(fit.curve.name):
            axes.axhline(np.nanmean(alphas), color=color, linestyle="--", label=f"{learner} (infinite width)")
            continue
        low = [f.alpha - f.alpha_interval.low if f.alpha_interval else 0.0 for f in fits]
        high = [f.alpha_interval.high - f.alpha if f.alpha_interval else 0.0 for f in fits]
        axes.errorbar(widths, alphas, yerr=[low, high], fmt="o-", color=color, capsize=3, label=learner)
    if axes.get_legend_handles_labels()[0]:
        axes.set_xscale("log", base=2)
        axes.legend(fontsize=8)
    else:
        axes.text(0.5, 0.5, "no exponent at any width yet", transform=axes.transAxes, ha="center", va="center")
    axes.set_xlabel("width")
    axes.set_ylabel("α")
    axes.set_title(summary.name)
    axes.grid(True, alpha=0.3)
    _save(figure, path)


def plot_dynamics(summary: SpecSummary, path: Path) -> None:
    """The four dynamics curves against training steps (log x)."""
    plt = _pyplot()
    rows, _ = dynamics_table(summary)
    steps = np.array([r["step"] for r in rows], dtype=float) + 1
    figure, panels = plt.subplots(2, 2, figsize=(8.4, 6.0), dpi=120, sharex=True)
    series = [
        ("kernel distance", [("to initial kernel", "distance_to_init"), ("to final kernel", "distance_to_final")]),
        ("kernel velocity (distance per step)", [("velocity", "velocity")]),
        ("after-kernel test error", [("kernel of the checkpoint", "after_kernel_test_error")]),
        ("network test error", [("network", "network_test_error")]),
    ]
    for axes, (title, curves) in zip(panels.ravel(), series, strict=True):
        for label, key in curves:
            axes.plot(steps, [r[key] for r in rows], "o-", markersize=3, label=label)
        axes.set_xscale("log")
        axes.set_title(title, fontsize=10)
        axes.grid(True, alpha=0.3)
        if len(curves) > 1:
            axes.legend(fontsize=8)
    for axes in panels[1]:
        axes.set_xlabel("training step + 1")
    figure.suptitle(summary.name)
    _save(figure, path)
