"""The leaderboard: per spec, every learner's data-scaling exponent with its interval, and a plot.

record -> fit -> leaderboard. Input is one or more results directories (each holds the
spec it was run from and its records); output is one Markdown file and one PNG per spec
beside it. Only records of the spec's current version enter a fit.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np

from ._cells import Cell
from ._errors import InputError
from ._fit import ExponentFit, fit_exponent
from ._records import SPEC_FILE, RecordStore, StoredRecords
from ._spec import content_hash


@dataclasses.dataclass(frozen=True)
class LearnerSummary:
    learner_id: str
    name: str
    fit: ExponentFit
    n_values: tuple[int, ...]
    table: np.ndarray
    """`table[seed, i]`: the metric of each seed at `n_values[i]` (NaN where there is no successful record)."""
    failed: int


@dataclasses.dataclass(frozen=True)
class SpecSummary:
    spec: dict[str, Any]
    learners: list[LearnerSummary]
    records: StoredRecords

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
    """Fit every learner of a spec from its records."""
    spec = records.spec
    metric = spec["metric"]
    n_train, seeds = spec["sweep"]["n_train"], spec["sweep"]["seeds"]
    n_min = spec["fit"]["n_min"] or n_train[0]
    n_max = spec["fit"]["n_max"] or n_train[-1]
    learners = []
    for learner in spec["learners"]:
        table = np.full((len(seeds), len(n_train)), np.nan)
        failed = 0
        for s, seed in enumerate(seeds):
            for i, n in enumerate(n_train):
                record = records.current.get(Cell(learner["id"], seed, n))
                if record is None:
                    continue
                if record["status"] == "ok":
                    table[s, i] = record["metrics"][metric]
                else:
                    failed += 1
        window = [i for i, n in enumerate(n_train) if n_min <= n <= n_max]
        fit = fit_exponent(np.array(n_train)[window], table[:, window])
        learners.append(LearnerSummary(learner["id"], learner["name"], fit, tuple(n_train), table, failed))
    return SpecSummary(spec, learners, records)


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


def _exponent_cells(fit: ExponentFit) -> tuple[str, str]:
    if not fit.has_exponent:
        return "—", f"no fit: {fit.reason}"
    alpha = f"{fit.alpha:.3f}"
    if not fit.has_interval:
        return alpha, f"— ({fit.reason})"
    return alpha, f"[{fit.ci_low:.3f}, {fit.ci_high:.3f}]"


def _largest_n_cell(summary: LearnerSummary) -> str:
    for i in reversed(range(len(summary.n_values))):
        column = summary.table[:, i]
        values = column[~np.isnan(column)]
        if len(values):
            spread = f" ± {values.std(ddof=1):.4f}" if len(values) > 1 else ""
            return f"{values.mean():.4f}{spread} (n={summary.n_values[i]})"
    return "—"


def _spec_section(summary: SpecSummary, plot_name: str) -> list[str]:
    from tabulate import tabulate

    spec = summary.spec
    metric = spec["metric"]
    n_min, n_max = summary.fit_window()
    ranked = sorted(summary.learners, key=lambda s: -(s.fit.alpha if s.fit.has_exponent else -np.inf))
    rows = []
    for rank, learner in enumerate(ranked, start=1):
        alpha, interval = _exponent_cells(learner.fit)
        fitted_n = learner.fit.n_values
        rows.append(
            [
                rank if learner.fit.has_exponent else "—",
                f"`{learner.learner_id}`" + (f" ({learner.name})" if learner.name != learner.learner_id else ""),
                alpha,
                interval,
                _largest_n_cell(learner),
                f"{fitted_n[0]}–{fitted_n[-1]} ({len(fitted_n)} sizes)" if fitted_n else "—",
                learner.fit.seeds,
                learner.failed,
            ]
        )
    headers = ["rank", "learner", "α", "95% CI (bootstrap over seeds)", f"{metric} at largest n (mean ± sd)", "fit n range", "seeds", "failed cells"]
    records = summary.records.current.values()
    ok_records = [r for r in records if r["status"] == "ok"]
    lines = [f"## {spec['name']}", ""]
    if spec.get("description"):
        lines += [spec["description"], ""]
    lines += [
        f"- dataset: {_format_options(spec['dataset'])}",
        f"- architecture: {_format_options(spec['architecture'])}",
        *[f"- learner `{entry['id']}`: {_format_options(entry)}" for entry in spec["learners"]],
        f"- sweep: n_train = {spec['sweep']['n_train']}, seeds = {spec['sweep']['seeds']}",
        f"- fit: {metric} ∝ n^-α, least squares on log-log axes over {n_min} ≤ n ≤ {n_max}",
        "",
        tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True),
        "",
        f"![{metric} against n for every learner]({plot_name})",
        "",
    ]
    lines += _provenance_lines(summary, ok_records)
    return lines


def _provenance_lines(summary: SpecSummary, ok_records: list[dict[str, Any]]) -> list[str]:
    records = summary.records
    expected = len(summary.spec["learners"]) * len(summary.spec["sweep"]["n_train"]) * len(summary.spec["sweep"]["seeds"])
    failed = sum(1 for r in records.current.values() if r["status"] != "ok")
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
            f"Spec hash `{content_hash(summary.spec)[:16]}`.</sub>",
        ]
    return lines + [""]


# --------------------------------------------------------------------------- plot


def plot_spec(summary: SpecSummary, path: Path) -> None:
    """Log-log plot of the metric against n: seed mean (markers), seed range (band), fitted law (dashed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metric = summary.spec["metric"]
    n_min, n_max = summary.fit_window()
    figure, axes = plt.subplots(figsize=(6.4, 4.4), dpi=120)
    for index, learner in enumerate(summary.learners):
        color = f"C{index}"
        n = np.array(learner.n_values, dtype=float)
        present = ~np.all(np.isnan(learner.table), axis=0)
        if not present.any():
            continue
        table = learner.table[:, present]
        mean = np.nanmean(table, axis=0)
        label = learner.learner_id
        if learner.fit.has_exponent:
            label += f" (α = {learner.fit.alpha:.3f})"
        axes.plot(n[present], mean, "o-", color=color, label=label, markersize=4, linewidth=1.2)
        axes.fill_between(n[present], np.nanmin(table, axis=0), np.nanmax(table, axis=0), color=color, alpha=0.15, linewidth=0)
        if learner.fit.has_exponent:
            grid = np.geomspace(n_min, n_max, 50)
            axes.plot(grid, learner.fit.prefactor * grid ** -learner.fit.alpha, "--", color=color, linewidth=1)
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


def render_leaderboard(results_dirs: list[str | Path], out_file: str | Path) -> Path:
    """Fit every results directory and write the Markdown leaderboard (and one PNG per spec) to `out_file`."""
    out_file = Path(out_file)
    out_file.parent.mkdir(parents=True, exist_ok=True)
    summaries = [summarize(load_results(directory)) for directory in results_dirs]
    lines = [
        "# ntkbench leaderboard",
        "",
        "Data-scaling exponents α (metric ∝ n^-α) of finite networks and their neural tangent kernels. "
        "Higher α: the learner improves faster with more data. Learners are ranked by α.",
        "",
        "<sub>Each table is followed by the provenance of its records: library versions, device, "
        "machine and the dates they were computed.</sub>",
        "",
    ]
    used_names: set[str] = set()
    for summary in summaries:
        plot_name = f"{out_file.stem}_{summary.name}.png"
        suffix = 2
        while plot_name in used_names:
            plot_name, suffix = f"{out_file.stem}_{summary.name}_{suffix}.png", suffix + 1
        used_names.add(plot_name)
        plot_spec(summary, out_file.parent / plot_name)
        lines += _spec_section(summary, plot_name)
    out_file.write_text("\n".join(lines), encoding="utf-8")
    return out_file
