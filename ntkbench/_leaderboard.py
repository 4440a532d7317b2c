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
import json
from pathlib import Path
from typing import Any

import numpy as np

from ._cells import Cell
from ._compare import REFERENCE_LEARNER, Curve, LearnerFit, SpecComparison, compare
from ._errors import InputError
from ._metrics import decode_outcomes
from ._records import SPEC_FILE, RecordStore, StoredRecords
from ._spec import content_hash


@dataclasses.dataclass(frozen=True)
class SpecSummary:
    spec: dict[str, Any]
    records: StoredRecords
    curves: list[Curve]
    """Each learner over the whole sweep (for plots)."""
    comparison: SpecComparison
    failed: dict[str, int]

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
    """Curves of every learner from its records, and their comparison over the fit window."""
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
                record = records.current.get(Cell(learner["id"], seed, int(n)))
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
    return SpecSummary(spec, records, curves, compare(windowed, spec["fit"].get("model", "power_law")), failed)


def _stack_outcomes(outcomes: list[list[np.ndarray | None]]) -> np.ndarray | None:
    """`(seeds, n, test examples)` when every cell has its per-example outcomes, else None."""
    if any(value is None for row in outcomes for value in row):
        return None
    return np.array(outcomes, dtype=np.float64)


# --------------------------------------------------------------------------- Markdown


def _format_options(section: dict[str, Any]) -> str:
    options = ", ".join(f"{key}={_compact(value)}" for key, value in section.items() if key not in {"name", "id"})
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


def _spec_section(summary: SpecSummary, plot_names: tuple[str, str]) -> list[str]:
    from tabulate import tabulate

    spec, comparison = summary.spec, summary.comparison
    metric = spec["metric"]
    n_min, n_max = summary.fit_window()
    model_setting = spec["fit"].get("model", "power_law")
    chosen = f"{comparison.model.replace('_', ' ')}" + (" (chosen by held-out error)" if model_setting == "auto" else "")
    lines = [f"## {spec['name']}", ""]
    if spec.get("description"):
        lines += [spec["description"], ""]
    lines += [
        f"- dataset: {_format_options(spec['dataset'])}",
        f"- architecture: {_format_options(spec['architecture'])}",
        *[f"- learner `{entry['id']}`: {_format_options(entry)}" for entry in spec["learners"]],
        f"- sweep: n_train = {spec['sweep']['n_train']}, seeds = {spec['sweep']['seeds']}",
        f"- fit: {chosen}, {_law_formula(comparison.model)}, on log axes over {n_min} ≤ n ≤ {n_max}",
        f"- intervals: 95%, {comparison.resampling}",
        "",
    ]
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
                summary.failed[curve.learner_id],
            ]
        )
    other = "saturating" if comparison.model == "power_law" else "power law"
    headers = [
        "rank", "learner", "α", "95% CI", f"{other} fit", "held-out error: power law / saturating",
        f"{metric} at largest n (mean ± sd)", "fit n", "seeds", "failed cells",
    ]
    lines += ["### Exponents", "", tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True), ""]
    lines += [
        "Rank: 1 + the number of learners whose interval lies entirely above; learners whose intervals "
        "overlap share a rank (=). Held-out error: |log(predicted / observed)| at the largest n when "
        "fitted without it.",
        "",
    ]
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
            f"### Against `{comparison.reference}`",
            "",
            tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True),
            "",
            "Verdict from the interval of Δα: above 0, the network's error falls faster with n; below 0, "
            "the learner's; containing 0, the data do not separate them.",
            "",
        ]
    lines += [f"![{metric} against n for every learner]({plot_names[0]})", ""]
    if comparison.comparisons:
        lines += [f"![Δα of every learner against the network]({plot_names[1]})", ""]
    lines += _provenance_lines(summary)
    return lines


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

    learner_ids: list[str] = []
    for summary in summaries:
        for fit in summary.comparison.fits:
            if fit.curve.learner_id not in learner_ids:
                learner_ids.append(fit.curve.learner_id)
    rows = []
    for summary in summaries:
        fits = {fit.curve.learner_id: fit for fit in summary.comparison.fits}
        row = [f"[{summary.name}](#{summary.name})", _format_options(summary.spec["dataset"]).split(" (")[0],
               _format_options(summary.spec["architecture"])]
        for learner_id in learner_ids:
            fit = fits.get(learner_id)
            if fit is None or fit.law is None:
                row.append("—")
            elif fit.alpha_interval is None:
                row.append(f"{fit.alpha:.3f}")
            else:
                row.append(f"{fit.alpha:.3f} ± {fit.alpha_interval.half_width:.3f}")
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


def plot_metric(summary: SpecSummary, path: Path) -> None:
    """Log-log plot of the metric against n: seed mean (markers), seed range (band), fitted law (dashed)."""
    plt = _pyplot()
    metric = summary.spec["metric"]
    n_min, n_max = summary.fit_window()
    fits = {fit.curve.learner_id: fit for fit in summary.comparison.fits}
    figure, axes = plt.subplots(figsize=(6.4, 4.4), dpi=120)
    for index, curve in enumerate(summary.curves):
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
    axes.set_title(summary.name)
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, metadata={"Software": None})
    plt.close(figure)


def plot_delta_alpha(summary: SpecSummary, path: Path) -> None:
    """Δα of every learner against the network, with its 95% interval."""
    plt = _pyplot()
    comparisons = summary.comparison.comparisons
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
    axes.set_xlabel(f"Δα = α({summary.comparison.reference}) − α(learner)   (> 0: the network scales better)")
    axes.set_title(summary.name)
    axes.grid(True, axis="x", alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, metadata={"Software": None})
    plt.close(figure)


# --------------------------------------------------------------------------- assembly


@dataclasses.dataclass(frozen=True)
class RenderedLeaderboard:
    markdown: str
    plots: list[tuple[SpecSummary, str, str]]
    """Per spec: the summary and the file names of its two plots."""


def render_leaderboard(results_dirs: list[str | Path], out_file: str | Path) -> RenderedLeaderboard:
    """Fit every results directory and render the Markdown (plots are named, not drawn)."""
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
    plots = []
    used: set[str] = set()
    for summary in summaries:
        stem = f"{out_file.stem}_{summary.name}"
        suffix = 2
        while stem in used:
            stem, suffix = f"{out_file.stem}_{summary.name}_{suffix}", suffix + 1
        used.add(stem)
        names = (f"{stem}.png", f"{stem}_delta_alpha.png")
        plots.append((summary, *names))
        lines += _spec_section(summary, names)
    return RenderedLeaderboard("\n".join(lines), plots)


def write_leaderboard(results_dirs: list[str | Path], out_file: str | Path) -> Path:
    """Render and write the Markdown leaderboard and its plots next to it."""
    out_file = Path(out_file)
    out_file.parent.mkdir(parents=True, exist_ok=True)
    rendered = render_leaderboard(results_dirs, out_file)
    for summary, metric_plot, delta_plot in rendered.plots:
        plot_metric(summary, out_file.parent / metric_plot)
        if summary.comparison.comparisons:
            plot_delta_alpha(summary, out_file.parent / delta_plot)
    out_file.write_text(rendered.markdown, encoding="utf-8")
    return out_file


def leaderboard_is_current(results_dirs: list[str | Path], out_file: str | Path) -> bool:
    """Whether `out_file` holds exactly the Markdown its records render to."""
    out_file = Path(out_file)
    if not out_file.is_file():
        return False
    return out_file.read_text(encoding="utf-8") == render_leaderboard(results_dirs, out_file).markdown
