"""The leaderboard's figures: each learner's metric against n, Δα against the reference, α against
width, the trained learners' training curves, the kernel dynamics, the kernels' eigenvalue decay and alignment with the task, and the
summary's forest plot of every spec's Δα.

Each function builds a matplotlib figure; `save_png` and `svg_text` write it out (the Markdown
leaderboard links PNGs, the HTML one inlines SVG). A learner has one colour in every figure of a
spec (`learner_colors`), and every artist drawn for a learner carries the id `learner:<id>`
(matplotlib's gid, an element id in SVG).
"""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path
from typing import Any

import numpy as np

from ..analysis import SpecSummary, WidthGroup, dynamics_by_seed, same_at_every_width, training_curves
from ..numerics._spectrum import Spectrum
from ..storage import write_atomically
from ._colors import VERDICT_COLORS, learner_colors

BAND_ALPHA = 0.15
WIDTH_OFFSET = 0.08
"""Learners at one width are drawn this many octaves apart, so that their error bars do not overlap."""


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def colors_of(summary: SpecSummary) -> dict[str, str]:
    """Every learner's colour in this spec's figures."""
    return learner_colors([learner["id"] for learner in summary.spec["learners"]])


def _gid(learner_id: str) -> str:
    return f"learner:{learner_id}"


def _lay_out(figure: Any) -> None:
    """Tight layout, unless the figure lays itself out (a legend placed outside its axes)."""
    if figure.get_layout_engine() is None:
        figure.tight_layout()


def save_png(figure: Any, path: Path) -> None:
    """Write the figure as a PNG (atomically, without a timestamp) and close it."""
    _lay_out(figure)
    try:
        write_atomically(path, lambda out: figure.savefig(out, format="png", metadata={"Software": None}), binary=True)
    finally:
        _pyplot().close(figure)


def svg_text(figure: Any) -> str:
    """The figure as an SVG element to inline in HTML (no XML prolog, no date, text as text, element
    ids stable); a learner's artists become `class="learner" data-learner="<id>"`. Closes the figure."""
    import matplotlib

    _lay_out(figure)
    buffer = io.StringIO()
    try:
        with matplotlib.rc_context({"svg.hashsalt": "ntkbench", "svg.fonttype": "none"}):
            figure.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    finally:
        _pyplot().close(figure)
    text = buffer.getvalue()
    return text[text.index("<svg"):].replace('id="learner:', 'class="learner" data-learner="')


def plot_metric(summary: SpecSummary, group: WidthGroup) -> Any:
    """Log-log plot of the metric against n: seed mean (markers), min–max over seeds (band), fitted
    law over the fit window (dashed), each said in the legend."""
    plt = _pyplot()
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    metric = summary.spec["metric"]
    n_min, n_max = summary.fit_window()
    fits = {fit.curve.learner_id: fit for fit in group.comparison.fits}
    colors = colors_of(summary)
    figure, axes = plt.subplots(figsize=(6.4, 4.4), dpi=120)
    drew_band = drew_fit = False
    for curve in group.curves:
        color, gid = colors[curve.learner_id], _gid(curve.learner_id)
        present = ~np.all(np.isnan(curve.table), axis=0)
        if not present.any():
            continue
        n = curve.n_values[present].astype(float)
        table = curve.table[:, present]
        fit = fits[curve.learner_id]
        label = curve.learner_id + (f" (α = {fit.alpha:.3f})" if fit.law else "")
        axes.plot(n, curve.mean()[present], "o-", color=color, label=label, markersize=4, linewidth=1.2, gid=gid)
        if table.shape[0] > 1:
            with np.errstate(invalid="ignore"):
                axes.fill_between(n, np.nanmin(table, axis=0), np.nanmax(table, axis=0), color=color, alpha=BAND_ALPHA,
                                  linewidth=0, gid=gid)
            drew_band = True
        if fit.law:
            grid = np.geomspace(n_min, n_max, 50)
            axes.plot(grid, fit.law.predict(grid), "--", color=color, linewidth=1, gid=gid)
            drew_fit = True
    handles, labels = axes.get_legend_handles_labels()
    if drew_band:
        seeds = len(summary.spec["sweep"]["seeds"])
        handles.append(Patch(color="grey", alpha=BAND_ALPHA * 2, linewidth=0))
        labels.append(f"band: min–max over {seeds} seeds")
    if drew_fit:
        law = group.comparison.model.replace("_", " ")
        handles.append(Line2D([], [], linestyle="--", color="grey", linewidth=1))
        labels.append(f"dashed: fitted {law}, n in [{n_min}, {n_max}]")
    axes.set_xscale("log", base=2)
    axes.set_yscale("log")
    axes.set_xlabel("training samples n")
    axes.set_ylabel(metric.replace("_", " "))
    axes.set_title(summary.name + (f", width {group.width}" if group.width is not None else ""))
    axes.grid(True, which="both", alpha=0.3)
    if handles:
        axes.legend(handles, labels, fontsize=8)
    return figure


def plot_training_curves(summary: SpecSummary, width: int | None) -> Any:
    """One panel per trained learner (and per training it reports, such as a pre-training): its
    mean minibatch loss against the step, log-log, one line per n (darker: larger n), from the
    curves the records store (`training_curves`)."""
    plt = _pyplot()
    curves = training_curves(summary, width)
    columns = min(3, len(curves))
    rows = -(-len(curves) // columns)
    figure, grid = plt.subplots(rows, columns, figsize=(3.6 * columns + 0.8, 3.0 * rows + 0.4), dpi=120, squeeze=False)
    colormap = plt.get_cmap("viridis")
    n_values = sorted({curve.n_train for kept in curves.values() for curve in kept})
    shade = {n: colormap(0.85 * (1 - index / max(len(n_values) - 1, 1))) for index, n in enumerate(n_values)}
    for axes, ((learner, training), kept) in zip(grid.flat, curves.items()):
        for curve in kept:
            label = f"n = {curve.n_train}" if len(kept) > 1 else f"every n (n = {curve.n_train} shown)"
            axes.plot(curve.step, curve.loss, color=shade[curve.n_train], linewidth=1.2, label=label, gid=_gid(learner))
        axes.set_xscale("log")
        if all(np.all(curve.loss > 0) for curve in kept):
            axes.set_yscale("log")
        seed = kept[0].seed
        axes.set_title(f"{learner}" + (f", {training}ing" if training else "") + f" (seed {seed})", fontsize=9)
        axes.set_xlabel("step", fontsize=8)
        axes.set_ylabel("minibatch loss", fontsize=8)
        axes.tick_params(labelsize=7)
        axes.grid(True, which="both", alpha=0.3)
        axes.legend(fontsize=6, ncol=2 if len(kept) > 4 else 1)
    for axes in list(grid.flat)[len(curves):]:
        axes.set_visible(False)
    figure.suptitle(summary.name + (f", width {width}" if width is not None else "") + ": training loss", fontsize=10)
    return figure


def plot_delta_alpha(summary: SpecSummary, group: WidthGroup) -> Any:
    """Δα of every learner against the reference, with its 95% interval."""
    plt = _pyplot()
    comparisons = group.comparison.comparisons
    colors = colors_of(summary)
    figure, axes = plt.subplots(figsize=(6.4, 1.0 + 0.5 * len(comparisons)), dpi=120)
    with_interval = False
    for row, comparison in enumerate(comparisons):
        color, gid = colors[comparison.learner_id], _gid(comparison.learner_id)
        interval = comparison.delta_interval
        if interval is not None:
            axes.errorbar(
                comparison.delta_alpha, row,
                xerr=[[comparison.delta_alpha - interval.low], [interval.high - comparison.delta_alpha]],
                fmt="o", color=color, capsize=4, gid=gid,
            )
            with_interval = True
        else:
            axes.plot(comparison.delta_alpha, row, "o", color=color, gid=gid)
    axes.axvline(0.0, color="black", linewidth=0.8)
    axes.set_yticks(range(len(comparisons)), [c.learner_id for c in comparisons])
    axes.set_ylim(-0.6, len(comparisons) - 0.4)
    reference = group.comparison.reference
    axes.set_xlabel(f"Δα = α({reference}) − α(learner)   (> 0: {reference} scales better)")
    note = "; bars: paired 95% interval" if with_interval else "; no interval (one seed)"
    axes.set_title(summary.name + note, fontsize=10)
    axes.grid(True, axis="x", alpha=0.3)
    return figure


def plot_alpha_by_width(summary: SpecSummary) -> Any:
    """α of every learner against width, with its 95% interval; learners that declare
    `same_at_every_width` (an infinite-width kernel) as horizontal lines. Learners at one width are
    drawn slightly apart. Learners without an exponent at any width are left out."""
    plt = _pyplot()
    widths = np.array([group.width for group in summary.groups], dtype=float)
    colors = colors_of(summary)
    figure, axes = plt.subplots(figsize=(6.4, 4.4), dpi=120)
    fits_by_learner = []
    for fit in summary.groups[0].comparison.fits:
        learner = fit.curve.learner_id
        fits = [next(f for f in g.comparison.fits if f.curve.learner_id == learner) for g in summary.groups]
        alphas = np.array([f.alpha if f.law else np.nan for f in fits])
        if not np.all(np.isnan(alphas)):
            fits_by_learner.append((fit, fits, alphas))
    spread = [item for item in fits_by_learner if not same_at_every_width(item[0].curve.name)]
    for fit, fits, alphas in fits_by_learner:
        learner = fit.curve.learner_id
        color, gid = colors[learner], _gid(learner)
        if same_at_every_width(fit.curve.name):
            axes.axhline(np.nanmean(alphas), color=color, linestyle="--", label=f"{learner} (infinite width)", gid=gid)
            continue
        position = [item[0] for item in spread].index(fit)
        shifted = widths * 2.0 ** (WIDTH_OFFSET * (position - (len(spread) - 1) / 2))
        low = [f.alpha - f.alpha_interval.low if f.alpha_interval else 0.0 for f in fits]
        high = [f.alpha_interval.high - f.alpha if f.alpha_interval else 0.0 for f in fits]
        axes.errorbar(shifted, alphas, yerr=[low, high], fmt="o-", color=color, capsize=3, label=learner, gid=gid)
    if fits_by_learner:
        axes.set_xscale("log", base=2)
        axes.set_xticks(widths, [str(int(width)) for width in widths])
        axes.legend(fontsize=8, title="bars: 95% interval of α; points set apart", title_fontsize=8)
    else:
        axes.text(0.5, 0.5, "no exponent at any width yet", transform=axes.transAxes, ha="center", va="center")
    axes.set_xlabel("width")
    axes.set_ylabel("α")
    axes.set_title(summary.name)
    axes.grid(True, alpha=0.3)
    return figure


def plot_dynamics(summary: SpecSummary) -> Any:
    """The four dynamics curves against training steps (log x): the mean over seeds, and the band
    from the smallest to the largest seed."""
    plt = _pyplot()
    steps, values, _ = dynamics_by_seed(summary)
    seeds = next(iter(values.values())).shape[0] if values else 0
    x = steps.astype(float) + 1
    figure, panels = plt.subplots(2, 2, figsize=(8.4, 6.0), dpi=120, sharex=True)
    if not values:
        figure.text(0.5, 0.5, "no successful run yet", ha="center", va="center")
        return figure
    series = [
        ("kernel distance", [("to initial kernel", "distance_to_init"), ("to final kernel", "distance_to_final")]),
        ("kernel velocity (distance per step)", [("velocity", "velocity")]),
        ("after-kernel test error", [("kernel of the checkpoint", "after_kernel_test_error")]),
        ("network test error", [("network", "network_test_error")]),
    ]
    for axes, (title, curves) in zip(panels.ravel(), series, strict=True):
        for index, (label, key) in enumerate(curves):
            color = f"C{index}"
            axes.plot(x, values[key].mean(axis=0), "o-", markersize=3, color=color, label=f"{label} (mean)")
            if seeds > 1:
                axes.fill_between(x, values[key].min(axis=0), values[key].max(axis=0), color=color, alpha=BAND_ALPHA,
                                  linewidth=0, label=f"min–max over {seeds} seeds")
        axes.set_xscale("log")
        axes.set_title(title, fontsize=10)
        axes.grid(True, alpha=0.3)
        axes.legend(fontsize=7)
    for axes in panels[1]:
        axes.set_xlabel("training step + 1")
    figure.suptitle(summary.name)
    return figure


FOREST_LIMIT = 1.0
"""The forest plot's Δα axis ends at ±this; intervals beyond it end in an arrow."""
FOREST_MARGIN_ROOM = 1.6
"""The forest plot's axis reaches at least this many margins either side, so that the band's edges show."""
MARGIN_COLOR = "#4575b4"


def plot_forest(summaries: list[SpecSummary]) -> Any:
    """Every spec's Δα against its reference for each learner, with its 95% interval (thin) and 90%
    interval (thick), the spec's ±margin band (shaded, its edges dashed), coloured by verdict; one row
    per spec, width and learner, in the summary's order; the legend below the plot, off the data."""
    plt = _pyplot()
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    rows = []
    for summary in summaries:
        if summary.spec.get("dynamics"):
            continue
        for group in summary.groups:
            for comparison in group.comparison.comparisons:
                if comparison.delta_interval is None:
                    continue
                label = summary.name + (f" w{group.width}" if group.width is not None else "") + f": {comparison.learner_id}"
                rows.append((label, comparison, group.decision(comparison)))
    figure, axes = plt.subplots(figsize=(7.2, 2.0 + 0.28 * max(len(rows), 1)), dpi=120, layout="constrained")
    if not rows:
        axes.text(0.5, 0.5, "no comparison with an interval yet", transform=axes.transAxes, ha="center", va="center")
        return figure
    reach = max(max(abs(c.delta_interval.low), abs(c.delta_interval.high)) for _, c, _ in rows)
    widest_margin = max(d.margin for _, _, d in rows)
    limit = min(FOREST_LIMIT, max(1.1 * reach, FOREST_MARGIN_ROOM * widest_margin))
    for row, (_, comparison, decision) in enumerate(rows):
        y = len(rows) - 1 - row
        color = VERDICT_COLORS.get(decision.verdict, "black")
        axes.fill_between([-decision.margin, decision.margin], y - 0.4, y + 0.4, color=MARGIN_COLOR, alpha=0.12, linewidth=0)
        for edge in (-decision.margin, decision.margin):
            axes.plot([edge, edge], [y - 0.4, y + 0.4], color=MARGIN_COLOR, linewidth=0.8, linestyle="--")
        low, high = (max(-limit, comparison.delta_interval.low), min(limit, comparison.delta_interval.high))
        axes.plot([low, high], [y, y], color=color, linewidth=1.2, solid_capstyle="butt")
        inner = comparison.equivalence_interval
        if inner is not None:
            axes.plot([max(-limit, inner.low), min(limit, inner.high)], [y, y], color=color, linewidth=3.5, solid_capstyle="butt")
        for end, clipped, marker in ((low, comparison.delta_interval.low < -limit, "<"), (high, comparison.delta_interval.high > limit, ">")):
            if clipped:
                axes.plot(end, y, marker=marker, color=color, markersize=6)
        axes.plot(np.clip(comparison.delta_alpha, -limit, limit), y, "o", color=color, markersize=5,
                  markeredgecolor="white", markeredgewidth=0.6)
    axes.axvline(0.0, color="black", linewidth=0.8)
    axes.set_yticks(range(len(rows)), [label for label, _, _ in reversed(rows)], fontsize=7)
    axes.set_ylim(-0.6, len(rows) - 0.4)
    axes.set_xlim(-limit, limit)
    axes.set_xlabel("Δα = α(reference) − α(learner)   (> 0: the reference scales better)")
    shown = [verdict for verdict in VERDICT_COLORS if any(d.verdict == verdict for _, _, d in rows)]
    handles = [Line2D([], [], color=VERDICT_COLORS[v], linewidth=2, marker="o") for v in shown]
    handles += [Line2D([], [], color="black", linewidth=1.2), Line2D([], [], color="black", linewidth=3.5),
                Patch(facecolor=MARGIN_COLOR, alpha=0.25, edgecolor=MARGIN_COLOR, linestyle="--")]
    labels = [*shown, "95% CI (separated: excludes 0)", "90% CI (equivalent: inside ±margin)", "±margin (compare.margin)"]
    figure.legend(handles, labels, fontsize=7, loc="outside lower center", ncol=3, frameon=False)
    axes.set_title("Δα with its 95% and 90% intervals, every spec", fontsize=10)
    axes.grid(True, axis="x", alpha=0.3)
    return figure


WIDTH_STYLES = ("-", "--", ":", "-.")


@dataclasses.dataclass(frozen=True)
class _SpectralLine:
    """One kernel's line in the spectral figures (per learner, width, and n for a kernel taken per n):
    the seed means of its eigenvalues and of its captured target power (k = 1 ... pool)."""

    learner_id: str
    label: str
    color: str
    style: str
    opacity: float
    """A kernel taken per n is drawn fainter at smaller n."""
    eigenvalues: np.ndarray
    captured: np.ndarray

    def draw(self, axes: Any, x: np.ndarray, y: np.ndarray) -> None:
        axes.plot(x, y, self.style, color=self.color, alpha=self.opacity, label=self.label, linewidth=1.2,
                  gid=_gid(self.learner_id))


def _spectral_lines(summary: SpecSummary) -> list[_SpectralLine]:
    colors = colors_of(summary)
    widths = [group.width for group in summary.groups]
    groups: dict[tuple[str, int | None, int | None], list[Any]] = {}
    for stored in summary.records.spectra:
        groups.setdefault((stored.learner_id, stored.width, stored.n_train), []).append(stored)
    sizes = sorted({n for _, _, n in groups if n is not None})
    lines = []
    for (learner_id, width, n), members in sorted(groups.items(), key=lambda item: (item[0][0], item[0][1] or 0, item[0][2] or 0)):
        label = learner_id + (f", width {width}" if width is not None else "") + (f", n = {n}" if n is not None else "")
        style = WIDTH_STYLES[widths.index(width) % len(WIDTH_STYLES)] if width in widths else "-"
        spectra = [Spectrum(stored.eigenvalues, stored.target_power) for stored in members]
        lines.append(_SpectralLine(
            learner_id, label, colors[learner_id], style,
            1.0 if n is None else 0.3 + 0.7 * (sizes.index(n) + 1) / len(sizes),
            np.mean([spectrum.eigenvalues for spectrum in spectra], axis=0),
            np.mean([spectrum.captured_power() for spectrum in spectra], axis=0),
        ))
    return lines


def plot_eigenvalue_decay(summary: SpecSummary) -> Any:
    """Log-log plot of each kernel's eigenvalues on the spectrum pool against the mode k (means over
    seeds), with the modes the exponents are fitted over shaded."""
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(6.4, 4.4), dpi=120)
    first, last = summary.spec["spectrum"]["fit_modes"]
    for line in _spectral_lines(summary):
        modes = np.arange(1, len(line.eigenvalues) + 1)
        positive = line.eigenvalues > 0
        line.draw(axes, modes[positive], line.eigenvalues[positive])
    axes.axvspan(first, last, color="grey", alpha=BAND_ALPHA, linewidth=0, label=f"fitted modes {first}–{last}")
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("mode k")
    axes.set_ylabel("eigenvalue λ_k of K / M")
    axes.set_title(f"{summary.name}: eigenvalue decay (pool M = {summary.spec['spectrum']['pool']})")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=8)
    return figure


def plot_alignment(summary: SpecSummary) -> Any:
    """Each kernel's alignment with the task: the cumulative fraction of the one-hot targets' power
    on its top k modes, for k = 1 ... pool (means over seeds)."""
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(6.4, 4.4), dpi=120)
    for line in _spectral_lines(summary):
        line.draw(axes, np.arange(1, len(line.captured) + 1), line.captured)
    axes.set_xscale("log")
    axes.set_ylim(0, 1)
    axes.set_xlabel("top k modes")
    axes.set_ylabel("fraction of the target's power")
    axes.set_title(f"{summary.name}: kernel–target alignment")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=8)
    return figure
