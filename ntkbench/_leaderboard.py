"""The leaderboard: per spec, every learner's data-scaling exponent with its interval, each
learner against the network, plots, and a summary across specs.

record -> fit -> leaderboard. Input is one or more results directories (each holds the spec it
was run from and its records); output is one Markdown file and two PNGs per spec beside it.
Only records of the spec's current version enter a fit. Rendering is deterministic (fixed
resampling seed, no wall-clock date), so `--check` can tell whether a committed leaderboard is
what its records produce.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ._cells import Cell, widths_of
from ._compare import REFERENCE_LEARNER, Curve, LearnerFit, SpecComparison, compare
from ._errors import InputError
from ._metrics import decode_outcomes
from ._records import SPEC_FILE, RecordStore, StoredRecords
from ._spec import content_hash


@dataclasses.dataclass(frozen=True)
class WidthGroup:
    """The learners at one width of a width sweep (width None: no sweep)."""

    width: int | None
    curves: list[Curve]
    """Each learner over the whole sweep (for plots)."""
    comparison: SpecComparison
    failed: dict[str, int]


@dataclasses.dataclass(frozen=True)
class SpecSummary:
    spec: dict[str, Any]
    records: StoredRecords
    groups: list[WidthGroup]

    @property
    def name(self) -> str:
        return self.spec["name"]

    def fit_window(self) -> tuple[int, int]:
        n_train = self.spec["sweep"]["n_train"]
        return self.spec["fit"]["n_min"] or n_train[0], self.spec["fit"]["n_max"] or n_train[-1]


def load_results(results_dir: str | Path) -> StoredRecords:
    """The stored spec and records of a results directory written by `ntkbench run`.

    **Raises:** `InputError` when the directory holds no results.
    """
    store = RecordStore(results_dir)
    if not (store.root / SPEC_FILE).is_file():
        raise InputError(f"{results_dir}: not a results directory (no {SPEC_FILE}); run `ntkbench run SPEC --out DIR` first")
    try:
        spec_dict = store.read_spec()
    except (OSError, json.JSONDecodeError) as error:
        raise InputError(f"{store.root / SPEC_FILE}: unreadable ({error})") from None
    return store.load(spec_dict)


def summarize(records: StoredRecords) -> SpecSummary:
    """Curves of every learner from its records, and their comparison over the fit window, per width."""
    return SpecSummary(records.spec, records, [_width_group(records, width) for width in widths_of(records.spec)])


def _width_group(records: StoredRecords, width: int | None) -> WidthGroup:
    spec = records.spec
    metric = spec["metric"]
    n_train, seeds = np.array(spec["sweep"]["n_train"]), spec["sweep"]["seeds"]
    curves, failed = [], {}
    for learner in spec["learners"]:
        table = np.full((len(seeds), len(n_train)), np.nan)
        outcomes: list[list[np.ndarray | None]] = [[None] * len(n_train) for _ in seeds]
        failed[learner["id"]] = 0
        for s, seed in enumerate(seeds):
            for i, n in enumerate(n_train):
                record = records.current.get(Cell(learner["id"], seed, int(n), width))
                if record is None:
                    continue
                if record["status"] != "ok":
                    failed[learner["id"]] += 1
                    continue
                table[s, i] = record["metrics"][metric]
                if "test_outcomes" in record:
                    outcomes[s][i] = decode_outcomes(record["test_outcomes"], metric)
        curves.append(Curve(learner["id"], learner["name"], n_train, table, _stack_outcomes(outcomes)))
    n_min = spec["fit"]["n_min"] or n_train[0]
    n_max = spec["fit"]["n_max"] or n_train[-1]
    window = (n_train >= n_min) & (n_train <= n_max)
    windowed = [
        Curve(c.learner_id, c.name, c.n_values[window], c.table[:, window],
              c.outcomes[:, window] if c.outcomes is not None else None)
        for c in curves
    ]
    return WidthGroup(width, curves, compare(windowed, spec["fit"].get("model", "power_law")), failed)


def _stack_outcomes(outcomes: list[list[np.ndarray | None]]) -> np.ndarray | None:
    """`(seeds, n, test examples)` when every cell has its per-example outcomes, else None."""
    if any(value is None for row in outcomes for value in row):
        return None
    return np.array(outcomes, dtype=np.float64)


# --------------------------------------------------------------------------- Markdown


def _format_options(section: dict[str, Any]) -> str:
    options = ", ".join(
        f"{key}={_compact(value)}" for key, value in section.items() if key not in {"name", "id"} and not key.startswith("_")
    )
    return f"`{section['name']}`" + (f" ({options})" if options else "")


def _compact(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_compact(v)}" for k, v in value.items()) + "}"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _learner_label(curve: Curve) -> str:
    return f"`{curve.learner_id}`" + (f" ({curve.name})" if curve.name != curve.learner_id else "")


def _rank_cell(fit: LearnerFit, fits: list[LearnerFit]) -> str:
    if fit.rank is None:
        return "—"
    shared = sum(1 for other in fits if other.rank == fit.rank) > 1
    return f"={fit.rank}" if shared else str(fit.rank)


def _interval_cell(interval, reason: str | None) -> str:
    if interval is None:
        return f"— ({reason})" if reason else "—"
    return f"[{interval.low:.3f}, {interval.high:.3f}]"


def _other_law_cell(fit: LearnerFit) -> str:
    other = "saturating" if fit.model == "power_law" else "power_law"
    law = fit.laws.get(other)
    if law is None:
        return "—"
    if other == "saturating":
        return f"α={law.alpha:.3f}, c={law.floor:.4f}"
    return f"α={law.alpha:.3f}"


def _held_out_cell(fit: LearnerFit) -> str:
    if fit.held_out is None:
        return "— (needs 4 sizes)"
    better = min(fit.held_out, key=fit.held_out.get)
    return f"{fit.held_out['power_law']:.3f} / {fit.held_out['saturating']:.3f} ({better.replace('_', ' ')})"


def _largest_n_cell(curve: Curve) -> str:
    for i in reversed(range(len(curve.n_values))):
        column = curve.table[:, i]
        values = column[~np.isnan(column)]
        if len(values):
            spread = f" ± {values.std(ddof=1):.4f}" if len(values) > 1 else ""
            return f"{values.mean():.4f}{spread} (n={curve.n_values[i]})"
    return "—"


def _law_formula(model: str) -> str:
    return "metric = a·n^-α" if model == "power_law" else "metric = a·n^-α + c"


def _spec_header(summary: SpecSummary) -> list[str]:
    spec = summary.spec
    lines = [f"## {spec['name']}", ""]
    if spec.get("description"):
        lines += [spec["description"], ""]
    sweep = f"- sweep: n_train = {spec['sweep']['n_train']}, seeds = {spec['sweep']['seeds']}"
    if spec["sweep"].get("width"):
        sweep += f", width = {spec['sweep']['width']}"
    lines += [
        f"- dataset: {_format_options(spec['dataset'])}",
        f"- architecture: {_format_options(spec['architecture'])}",
        *[f"- learner `{entry['id']}`: {_format_options(entry)}" for entry in spec["learners"]],
        sweep,
    ]
    if spec.get("dynamics"):
        lines.append(f"- dynamics: {_compact(spec['dynamics'])}")
    return lines


def _group_tables(summary: SpecSummary, group: WidthGroup, heading: str) -> list[str]:
    """The exponents of one group of learners, and each against the network."""
    from tabulate import tabulate

    comparison, metric = group.comparison, summary.spec["metric"]
    rows = []
    for fit in comparison.fits:
        curve = fit.curve
        fitted = curve.n_values[curve.usable()]
        rows.append(
            [
                _rank_cell(fit, comparison.fits),
                _learner_label(curve),
                f"{fit.alpha:.3f}" if fit.law else "—",
                _interval_cell(fit.alpha_interval, fit.reason) if fit.law else f"no fit: {fit.reason}",
                _other_law_cell(fit),
                _held_out_cell(fit) if fit.law else "—",
                _largest_n_cell(curve),
                f"{fitted[0]}–{fitted[-1]} ({len(fitted)} sizes)" if len(fitted) else "—",
                int((~np.all(np.isnan(curve.table), axis=1)).sum()),
                group.failed[curve.learner_id],
            ]
        )
    other = "saturating" if comparison.model == "power_law" else "power law"
    headers = [
        "rank", "learner", "α", "95% CI", f"{other} fit", "held-out error: power law / saturating",
        f"{metric} at largest n (mean ± sd)", "fit n", "seeds", "failed cells",
    ]
    lines = [f"{heading} Exponents", "", tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True), ""]
    if comparison.model == "saturating":
        floors = [
            f"`{fit.curve.learner_id}` {fit.law.floor:.4f} {_interval_cell(fit.floor_interval, None)}"
            for fit in comparison.fits if fit.law
        ]
        lines += ["Irreducible error c of the saturating fit, with its 95% interval: " + "; ".join(floors) + ".", ""]
    if comparison.reference is not None and comparison.comparisons:
        rows = [
            [
                f"`{c.learner_id}`",
                f"{c.delta_alpha:+.3f}",
                _interval_cell(c.delta_interval, None),
                c.verdict,
                f"{c.error_ratio:.3f} (n={c.ratio_n})",
                _interval_cell(c.ratio_interval, None),
            ]
            for c in comparison.comparisons
        ]
        headers = [
            "learner", f"Δα = α({comparison.reference}) − α(learner)", "95% CI", "verdict",
            f"{metric} ratio {comparison.reference} / learner", "95% CI",
        ]
        lines += [
            f"{heading} Against `{comparison.reference}`",
            "",
            tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True),
            "",
        ]
    return lines


EXPLANATION = [
    "Rank: 1 + the number of learners whose interval lies entirely above; learners whose intervals overlap "
    "share a rank (=). Held-out error: |log(predicted / observed)| at the largest n when fitted without it. "
    "Verdict from the interval of Δα: above 0, the network's error falls faster with n; below 0, the "
    "learner's; containing 0, the data do not separate them.",
    "",
]


def _fit_lines(summary: SpecSummary) -> list[str]:
    spec, comparison = summary.spec, summary.groups[0].comparison
    n_min, n_max = summary.fit_window()
    setting = spec["fit"].get("model", "power_law")
    chosen = comparison.model.replace("_", " ") + (" (chosen by held-out error)" if setting == "auto" else "")
    return [
        f"- fit: {chosen}, {_law_formula(comparison.model)}, on log axes over {n_min} ≤ n ≤ {n_max}",
        f"- intervals: 95%, {comparison.resampling}",
        "",
    ]


def _spec_section(summary: SpecSummary, plots: list[tuple[str, str]]) -> list[str]:
    """A spec's section; `plots` are the figure file names (kind, name) in the order drawn."""
    if summary.spec.get("dynamics"):
        return _spec_header(summary) + [""] + _dynamics_lines(summary, plots) + _provenance_lines(summary)
    lines = _spec_header(summary) + _fit_lines(summary)
    figures = dict(plots)
    if len(summary.groups) == 1:
        group = summary.groups[0]
        lines += _group_tables(summary, group, "###") + EXPLANATION
        lines += [f"![{summary.spec['metric']} against n for every learner]({figures['metric']})", ""]
        if group.comparison.comparisons:
            lines += [f"![Δα of every learner against the network]({figures['delta']})", ""]
    else:
        lines += _width_table(summary) + [f"![α of every learner against width]({figures['width']})", ""] + EXPLANATION
        for group in summary.groups:
            lines += [f"### width {group.width}", ""] + _group_tables(summary, group, "####")
            lines += [f"![{summary.spec['metric']} against n at width {group.width}]({figures[f'metric_w{group.width}']})", ""]
    return lines + _provenance_lines(summary)


def _width_table(summary: SpecSummary) -> list[str]:
    from tabulate import tabulate

    learners = [fit.curve.learner_id for fit in summary.groups[0].comparison.fits]
    rows = []
    for learner in learners:
        row = [f"`{learner}`"]
        for group in summary.groups:
            fit = next(f for f in group.comparison.fits if f.curve.learner_id == learner)
            row.append(_alpha_with_half_width(fit))
        rows.append(row)
    headers = ["learner", *[f"width {group.width}" for group in summary.groups]]
    return ["### α by width", "", tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True), ""]


def _alpha_with_half_width(fit: LearnerFit) -> str:
    if fit.law is None:
        return "—"
    if fit.alpha_interval is None:
        return f"{fit.alpha:.3f}"
    return f"{fit.alpha:.3f} ± {fit.alpha_interval.half_width:.3f}"


def _dynamics_table(summary: SpecSummary) -> tuple[list[dict[str, float]], list[float | None]]:
    """Checkpoint rows averaged over seeds, and each seed's settling fraction."""
    runs = [r for r in summary.records.current.values() if r["status"] == "ok" and "checkpoints" in r["info"]]
    if not runs:
        return [], []
    steps = [row["step"] for row in runs[0]["info"]["checkpoints"]]
    keys = ["fraction", "distance_to_init", "distance_to_final", "velocity", "after_kernel_test_error", "network_test_error"]
    rows = []
    for index, step in enumerate(steps):
        rows.append({"step": step, **{k: float(np.mean([r["info"]["checkpoints"][index][k] for r in runs])) for k in keys}})
    return rows, [r["info"]["settled_fraction"] for r in sorted(runs, key=lambda r: r["cell"]["seed"])]


def _dynamics_lines(summary: SpecSummary, plots: list[tuple[str, str]]) -> list[str]:
    from tabulate import tabulate

    from ._dynamics import SETTLED

    rows, settled = _dynamics_table(summary)
    if not rows:
        return ["No successful run yet.", ""]
    table = [
        [r["step"], f"{r['fraction']:.3f}", f"{r['distance_to_init']:.3g}", f"{r['distance_to_final']:.3g}",
         f"{r['velocity']:.3g}", f"{r['after_kernel_test_error']:.4f}", f"{r['network_test_error']:.4f}"]
        for r in rows
    ]
    headers = ["step", "fraction of training", "distance to initial kernel", "distance to final kernel",
               "velocity (distance per step)", "after-kernel test error", "network test error"]
    if all(value is None for value in settled):
        verdict = (f"In no seed does the distance to the final kernel fall below {SETTLED:.0%} of its initial value "
                   "before the end of training: the kernel keeps moving throughout.")
    else:
        shown = ", ".join("never" if value is None else f"{value:.3f}" for value in settled)
        verdict = (f"The distance to the final kernel first falls below {SETTLED:.0%} of its initial value at these "
                   f"fractions of training (one per seed): {shown}.")
    figures = dict(plots)
    return [
        "### Kernel dynamics",
        "",
        verdict,
        "",
        tabulate(table, headers=headers, tablefmt="github", disable_numparse=True),
        "",
        "Kernel distance: 1 − ⟨K1, K2⟩_F / (‖K1‖_F ‖K2‖_F), on the probe inputs; means over seeds.",
        "",
        f"![kernel dynamics]({figures['dynamics']})",
        "",
    ]


def _provenance_lines(summary: SpecSummary) -> list[str]:
    records = summary.records
    spec = summary.spec
    expected = len(spec["learners"]) * len(spec["sweep"]["n_train"]) * len(spec["sweep"]["seeds"])
    ok_records = [r for r in records.current.values() if r["status"] == "ok"]
    failed = len(records.current) - len(ok_records)
    lines = [
        f"Cells: {len(ok_records)} of {expected} succeeded, {failed} failed, "
        f"{expected - len(records.current)} not run; {records.stale} stale record(s) of earlier spec versions ignored.",
    ]
    failures = sorted({r["failure"] for r in records.current.values() if r["status"] != "ok"})
    lines += [f"- failed: {reason}" for reason in failures]
    if ok_records:
        versions = sorted({", ".join(f"{k} {v}" for k, v in r["versions"].items()) for r in ok_records})
        devices = sorted({f"{r['device']['kind']} ×{r['device']['count']} ({r['device']['platform']})" for r in ok_records})
        machines = sorted({f"{r['machine']['system']} {r['machine']['machine']}, {r['machine']['cpu_count']} CPUs" for r in ok_records})
        dates = sorted(r["created"] for r in ok_records)
        compute = sum(r["wall_seconds"] for r in ok_records)
        lines += [
            "",
            "<sub>Provenance: " + "; ".join(versions) + f". Device: {', '.join(devices)}. Machine: {', '.join(machines)}. "
            f"Computed {dates[0][:10]} to {dates[-1][:10]}, {compute / 60:.1f} min of cell time. "
            f"Spec hash `{content_hash(spec)[:16]}`.</sub>",
        ]
    return lines + [""]


def _summary_table(summaries: list[SpecSummary]) -> list[str]:
    from tabulate import tabulate

    groups = [(summary, group) for summary in summaries if not summary.spec.get("dynamics") for group in summary.groups]
    learner_ids: list[str] = []
    for _, group in groups:
        for fit in group.comparison.fits:
            if fit.curve.learner_id not in learner_ids:
                learner_ids.append(fit.curve.learner_id)
    rows = []
    for summary, group in groups:
        fits = {fit.curve.learner_id: fit for fit in group.comparison.fits}
        architecture = summary.spec["architecture"] | ({"width": group.width} if group.width is not None else {})
        row = [f"[{summary.name}](#{summary.name})", f"`{summary.spec['dataset']['name']}`", _format_options(architecture)]
        row += [_alpha_with_half_width(fits[learner]) if learner in fits else "—" for learner in learner_ids]
        rows.append(row)
    headers = ["spec", "dataset", "architecture", *[f"`{learner_id}`" for learner_id in learner_ids]]
    return [
        "## Summary",
        "",
        "α ± half-width of its 95% interval, per spec (dataset and architecture) and learner.",
        "",
        tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True),
        "",
    ]


# --------------------------------------------------------------------------- plots


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(figure, path: Path) -> None:
    figure.tight_layout()
    figure.savefig(path, metadata={"Software": None})
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
    """α of every learner against width; width-independent learners (the infinite NTK) as horizontal lines."""
    plt = _pyplot()
    widths = np.array([group.width for group in summary.groups], dtype=float)
    figure, axes = plt.subplots(figsize=(6.4, 4.4), dpi=120)
    for index, fit in enumerate(summary.groups[0].comparison.fits):
        learner = fit.curve.learner_id
        fits = [next(f for f in g.comparison.fits if f.curve.learner_id == learner) for g in summary.groups]
        alphas = np.array([f.alpha if f.law else np.nan for f in fits])
        color = f"C{index}"
        if fit.curve.name in INFINITE_WIDTH_LEARNERS:
            axes.axhline(np.nanmean(alphas), color=color, linestyle="--", label=f"{learner} (infinite width)")
            continue
        low = [f.alpha - f.alpha_interval.low if f.alpha_interval else 0.0 for f in fits]
        high = [f.alpha_interval.high - f.alpha if f.alpha_interval else 0.0 for f in fits]
        axes.errorbar(widths, alphas, yerr=[low, high], fmt="o-", color=color, capsize=3, label=learner)
    axes.set_xscale("log", base=2)
    axes.set_xlabel("width")
    axes.set_ylabel("α")
    axes.set_title(summary.name)
    axes.grid(True, alpha=0.3)
    axes.legend(fontsize=8)
    _save(figure, path)


def plot_dynamics(summary: SpecSummary, path: Path) -> None:
    """The four dynamics curves against training steps (log x)."""
    plt = _pyplot()
    rows, _ = _dynamics_table(summary)
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


INFINITE_WIDTH_LEARNERS = {"ntk_infinite", "nngp_infinite"}


# --------------------------------------------------------------------------- assembly


@dataclasses.dataclass(frozen=True)
class Figure:
    name: str
    draw: Callable[[Path], None]


@dataclasses.dataclass(frozen=True)
class RenderedLeaderboard:
    markdown: str
    figures: list[Figure]


def _figures(summary: SpecSummary, stem: str) -> list[tuple[str, Figure]]:
    """(kind, figure) for every plot of a spec."""
    if summary.spec.get("dynamics"):
        return [("dynamics", Figure(f"{stem}_dynamics.png", functools.partial(plot_dynamics, summary)))]
    if len(summary.groups) == 1:
        group = summary.groups[0]
        figures = [("metric", Figure(f"{stem}.png", functools.partial(plot_metric, summary, group)))]
        if group.comparison.comparisons:
            figures.append(("delta", Figure(f"{stem}_delta_alpha.png", functools.partial(plot_delta_alpha, summary, group))))
        return figures
    figures = [("width", Figure(f"{stem}_alpha_by_width.png", functools.partial(plot_alpha_by_width, summary)))]
    for group in summary.groups:
        figures.append((f"metric_w{group.width}", Figure(f"{stem}_w{group.width}.png", functools.partial(plot_metric, summary, group))))
    return figures


def render_leaderboard(results_dirs: list[str | Path], out_file: str | Path) -> RenderedLeaderboard:
    """Fit every results directory and render the Markdown (the figures are named, not drawn)."""
    out_file = Path(out_file)
    summaries = [summarize(load_results(directory)) for directory in results_dirs]
    lines = [
        "# ntkbench leaderboard",
        "",
        "Data-scaling exponents α (metric ∝ n^-α) of finite networks and their neural tangent kernels. "
        f"Higher α: the learner improves faster with more data. Every learner is compared with "
        f"`{REFERENCE_LEARNER}` through Δα and its paired 95% interval.",
        "",
        "<sub>Each spec's section ends with the provenance of its records: library versions, device, "
        "machine and the dates they were computed.</sub>",
        "",
    ]
    if len(summaries) > 1:
        lines += _summary_table(summaries)
    figures: list[Figure] = []
    used: set[str] = set()
    for summary in summaries:
        stem = f"{out_file.stem}_{summary.name}"
        suffix = 2
        while stem in used:
            stem, suffix = f"{out_file.stem}_{summary.name}_{suffix}", suffix + 1
        used.add(stem)
        named = _figures(summary, stem)
        figures += [figure for _, figure in named]
        lines += _spec_section(summary, [(kind, figure.name) for kind, figure in named])
    return RenderedLeaderboard("\n".join(lines), figures)


def write_leaderboard(results_dirs: list[str | Path], out_file: str | Path) -> Path:
    """Render and write the Markdown leaderboard and its figures next to it."""
    out_file = Path(out_file)
    out_file.parent.mkdir(parents=True, exist_ok=True)
    rendered = render_leaderboard(results_dirs, out_file)
    for figure in rendered.figures:
        figure.draw(out_file.parent / figure.name)
    out_file.write_text(rendered.markdown, encoding="utf-8")
    return out_file


def leaderboard_is_current(results_dirs: list[str | Path], out_file: str | Path) -> bool:
    """Whether `out_file` holds exactly the Markdown its records render to."""
    out_file = Path(out_file)
    if not out_file.is_file():
        return False
    return out_file.read_text(encoding="utf-8") == render_leaderboard(results_dirs, out_file).markdown
