"""The leaderboard: per spec, every learner's data-scaling exponent with its interval, each learner
against the reference, plots, and a summary across specs; as Markdown with PNGs, or as one HTML page.

record -> fit -> leaderboard. Input is one or more results directories (each holds the spec it
was run from and its records); output is one Markdown file and the PNGs of each spec beside it.
Only records of the spec's current version enter a fit. Rendering is deterministic (jackknife
intervals, no wall-clock date), so `--check` can tell whether a committed leaderboard is
what its records produce.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..analysis import SpecSummary, load_results, summarize
from ..api import RunFailure
from ..storage import library_versions, write_atomically
from ._html import markdown_to_html
from ._markdown import spec_section, summary_table
from ._plots import (
    plot_alignment,
    plot_alpha_by_width,
    plot_delta_alpha,
    plot_dynamics,
    plot_eigenvalue_decay,
    plot_forest,
    plot_metric,
    save_png,
    svg_text,
)


@dataclasses.dataclass(frozen=True)
class Figure:
    """A figure of the leaderboard: its file name and how to build it."""

    name: str
    build: Callable[[], Any]
    """Builds the matplotlib figure (a new one at every call)."""

    def draw(self, path: Path) -> None:
        save_png(self.build(), path)

    def svg(self) -> str:
        return svg_text(self.build())


@dataclasses.dataclass(frozen=True)
class RenderedLeaderboard:
    markdown: str
    figures: list[Figure]
    summaries: list[SpecSummary]
    """The fitted results it was rendered from, one per results directory."""


def _figures(summary: SpecSummary, stem: str) -> list[tuple[str, Figure]]:
    """(kind, figure) for every plot of a spec."""
    spectral = [
        ("eigenvalues", Figure(f"{stem}_eigenvalues.png", functools.partial(plot_eigenvalue_decay, summary))),
        ("alignment", Figure(f"{stem}_alignment.png", functools.partial(plot_alignment, summary))),
    ] if summary.records.spectra else []
    return _metric_figures(summary, stem) + spectral


def _metric_figures(summary: SpecSummary, stem: str) -> list[tuple[str, Figure]]:
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


def render_leaderboard(
    results_dirs: list[str | Path], out_file: str | Path, *, set_aside: bool = True
) -> RenderedLeaderboard:
    """Fit every results directory and render the Markdown (the figures are named, not drawn). With
    `set_aside`, corrupt records met on the way are renamed out of the way; without, nothing is written."""
    out_file = Path(out_file)
    summaries = [summarize(load_results(directory, set_aside=set_aside)) for directory in results_dirs]
    lines = [
        "# ntkbench leaderboard",
        "",
        "Data-scaling exponents α (metric ∝ n^-α) of finite networks and their neural tangent kernels. "
        "Higher α: the learner improves faster with more data. Every learner is compared with its spec's "
        "reference learner (`compare.reference`, by default `network`) through Δα and its paired 95% interval.",
        "",
        f"<sub>Rendered by ntkbench {library_versions()['ntkbench']}, whose rules give the verdicts. Each spec's section ends with the "
        "provenance of its records: the versions of ntkbench and the libraries that computed them, device, machine "
        "and the dates they were computed.</sub>",
        "",
    ]
    figures: list[Figure] = []
    used = {f"{out_file.stem}_summary_forest"}  # no spec's figures take the summary's name
    if len(summaries) > 1:
        forest = Figure(f"{out_file.stem}_summary_forest.png", functools.partial(plot_forest, summaries))
        figures.append(forest)
        lines += summary_table(summaries) + [f"![Δα of every learner against its reference, every spec]({forest.name})", ""]
    for summary in summaries:
        stem = f"{out_file.stem}_{summary.name}"
        suffix = 2
        while stem in used:
            stem, suffix = f"{out_file.stem}_{summary.name}_{suffix}", suffix + 1
        used.add(stem)
        named = _figures(summary, stem)
        figures += [figure for _, figure in named]
        lines += spec_section(summary, [(kind, figure.name) for kind, figure in named])
    return RenderedLeaderboard("\n".join(lines), figures, summaries)


def write_leaderboard(results_dirs: list[str | Path], out_file: str | Path) -> RenderedLeaderboard:
    """Render and write the Markdown leaderboard and its figures next to it, each file atomically;
    return what was rendered (its fits too, for a caller that shows them).

    **Raises:** `RunFailure` when a file cannot be written (no space, read-only, permission).
    """
    out_file = Path(out_file)
    rendered = render_leaderboard(results_dirs, out_file)
    try:
        for figure in rendered.figures:
            figure.draw(out_file.parent / figure.name)
        write_atomically(out_file, lambda out: out.write(rendered.markdown))
    except OSError as error:
        raise RunFailure(
            f"cannot write the leaderboard {out_file} or its figures: {error.strerror or error}. The records are "
            "kept; write it again with `ntkbench leaderboard --results DIR... --out FILE` once there is room."
        ) from None
    return rendered


def write_html_leaderboard(results_dirs: list[str | Path], out_file: str | Path) -> RenderedLeaderboard:
    """Render the leaderboard as one self-contained HTML page (figures inlined as SVG, tables
    sortable) and write it atomically; return what was rendered.

    **Raises:** `RunFailure` when the file cannot be written.
    """
    out_file = Path(out_file)
    rendered = render_leaderboard(results_dirs, out_file)
    figures = {figure.name: figure for figure in rendered.figures}
    page = markdown_to_html(
        rendered.markdown, lambda name: figures[name].svg() if name in figures else None, "ntkbench leaderboard"
    )
    try:
        write_atomically(out_file, lambda out: out.write(page))
    except OSError as error:
        raise RunFailure(f"cannot write the HTML leaderboard {out_file}: {error.strerror or error}; the records are kept") from None
    return rendered


def leaderboard_is_current(results_dirs: list[str | Path], out_file: str | Path) -> bool:
    """Whether `out_file` holds exactly the Markdown its records render to (nothing is written)."""
    out_file = Path(out_file)
    if not out_file.is_file():
        return False
    return out_file.read_text(encoding="utf-8") == render_leaderboard(results_dirs, out_file, set_aside=False).markdown
