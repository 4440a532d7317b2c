"""The leaderboard: per spec, every learner's data-scaling exponent with its interval, each learner
against the reference, plots, and a summary across specs; as Markdown with PNGs, or as one HTML page.

record -> fit -> leaderboard. Input is one or more results directories (each holds the spec it
was run from and its records); output is a front page (the specs and the paper's claims, a forest
plot, every comparison in words, no table wider than 8 columns), a page per spec beside it, and
the PNGs.
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

from ..analysis import SpecSummary, load_results, summarize, training_curves
from ..api import RunFailure
from ..storage import library_versions, write_atomically
from ._html import leaderboard_html
from ._markdown import comparisons_table, spec_section, specs_table
from ._plots import (
    plot_alignment,
    plot_alpha_by_width,
    plot_delta_alpha,
    plot_dynamics,
    plot_eigenvalue_decay,
    plot_forest,
    plot_metric,
    plot_training_curves,
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
    """The front page: the specs, the forest plot, every comparison."""
    pages: dict[str, str]
    """Per spec, its page: file name (beside the front page) -> Markdown."""
    figures: list[Figure]
    summaries: list[SpecSummary]
    """The fitted results it was rendered from, one per results directory."""

    def files(self, folder: Path, front: str) -> list[Path]:
        """The paths of its files once written to `folder` with the front page named `front`."""
        return [folder / front, *(folder / name for name in self.pages), *(folder / figure.name for figure in self.figures)]

    def page(self, spec_name: str) -> str:
        """The Markdown of the page of the spec named `spec_name` (its first, if several share the name)."""
        for summary, markdown in zip(self.summaries, self.pages.values()):
            if summary.name == spec_name:
                return markdown
        raise KeyError(spec_name)


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
        return figures + _training_figures(summary, stem, None, "training")
    figures = [("width", Figure(f"{stem}_alpha_by_width.png", functools.partial(plot_alpha_by_width, summary)))]
    for group in summary.groups:
        figures.append((f"metric_w{group.width}", Figure(f"{stem}_w{group.width}.png", functools.partial(plot_metric, summary, group))))
        figures += _training_figures(summary, f"{stem}_w{group.width}", group.width, f"training_w{group.width}")
    return figures


def _training_figures(summary: SpecSummary, stem: str, width: int | None, kind: str) -> list[tuple[str, Figure]]:
    """The training curves at `width`, when the records store any (records computed before they were stored do not)."""
    if not training_curves(summary, width):
        return []
    return [(kind, Figure(f"{stem}_training.png", functools.partial(plot_training_curves, summary, width)))]


def render_leaderboard(
    results_dirs: list[str | Path], out_file: str | Path, *, set_aside: bool = True
) -> RenderedLeaderboard:
    """Fit every results directory and render the Markdown: the front page `out_file` and a page per
    spec beside it (the figures are named, not drawn). With `set_aside`, corrupt records met on the
    way are renamed out of the way; without, nothing is written."""
    out_file = Path(out_file)
    summaries = [summarize(load_results(directory, set_aside=set_aside)) for directory in results_dirs]
    used = {out_file.stem, f"{out_file.stem}_summary_forest"}  # no spec's page or figures take these names
    pages, stems = [], []
    for summary in summaries:
        page, stem, suffix = summary.name, f"{out_file.stem}_{summary.name}", 2
        while page in used or stem in used:
            page, stem, suffix = f"{summary.name}_{suffix}", f"{out_file.stem}_{summary.name}_{suffix}", suffix + 1
        used.update((page, stem))
        pages.append(f"{page}.md")
        stems.append(stem)
    forest = Figure(f"{out_file.stem}_summary_forest.png", functools.partial(plot_forest, summaries))
    compared = any(c.delta_interval is not None for summary in summaries if not summary.spec.get("dynamics")
                   for group in summary.groups for c in group.comparison.comparisons)
    figures = [forest] if compared else []
    front = [
        "# ntkbench leaderboard",
        "",
        "Does the neural tangent kernel explain how a network's test error falls with more data? Each spec trains "
        "networks and fits the data-scaling exponent α (test error ∝ n^-α) of every learner, networks and their "
        "kernels alike; higher α: the learner improves faster with more data. Each learner is compared with its "
        "spec's reference (`compare.reference`, by default the trained `network`) through Δα and its paired "
        "intervals: 95% to tell a difference from none, 90% to tell the same rate within the spec's margin.",
        "",
        *specs_table(summaries, pages),
        *([f"![Δα of every learner against its reference, every spec]({forest.name})", ""] if compared else []),
        *comparisons_table(summaries, pages),
        f"<sub>Rendered by ntkbench {library_versions()['ntkbench']}, whose rules give the verdicts. Each spec's page "
        "gives its settings, exponents, laws, spectra, dynamics and figures, and ends with the provenance of its "
        "records: the versions of ntkbench and the libraries that computed them, device, machine and dates.</sub>",
        "",
    ]
    rendered_pages = {}
    for summary, page, stem in zip(summaries, pages, stems):
        named = _figures(summary, stem)
        figures += [figure for _, figure in named]
        lines = [f"[← every spec]({out_file.name})", "", *spec_section(summary, [(kind, figure.name) for kind, figure in named])]
        rendered_pages[page] = "\n".join(lines)
    return RenderedLeaderboard("\n".join(front), rendered_pages, figures, summaries)


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
        for name, markdown in rendered.pages.items():
            write_atomically(out_file.parent / name, lambda out, markdown=markdown: out.write(markdown))
        write_atomically(out_file, lambda out: out.write(rendered.markdown))
    except OSError as error:
        raise RunFailure(
            f"cannot write the leaderboard {out_file} or its figures: {error.strerror or error}. The records are "
            "kept; write it again with `ntkbench leaderboard --results DIR... --out FILE` once there is room."
        ) from None
    return rendered


def write_html_leaderboard(results_dirs: list[str | Path], out_file: str | Path) -> RenderedLeaderboard:
    """Render the leaderboard as one self-contained HTML page (the front page, then every spec's page
    as a section; figures inlined as SVG, tables sortable) and write it atomically; return what was
    rendered.

    **Raises:** `RunFailure` when the file cannot be written.
    """
    out_file = Path(out_file)
    rendered = render_leaderboard(results_dirs, out_file)
    figures = {figure.name: figure for figure in rendered.figures}
    page = leaderboard_html(rendered.markdown, rendered.pages, out_file.name,
                            lambda name: figures[name].svg() if name in figures else None, "ntkbench leaderboard")
    try:
        write_atomically(out_file, lambda out: out.write(page))
    except OSError as error:
        raise RunFailure(f"cannot write the HTML leaderboard {out_file}: {error.strerror or error}; the records are kept") from None
    return rendered


def stale_pages(results_dirs: list[str | Path], out_file: str | Path) -> list[Path]:
    """The files of the leaderboard `out_file` (its front page and every spec's page) that are not
    exactly the Markdown their records render to, missing ones included (nothing is written)."""
    out_file = Path(out_file)
    rendered = render_leaderboard(results_dirs, out_file, set_aside=False)
    expected = {out_file: rendered.markdown, **{out_file.parent / name: text for name, text in rendered.pages.items()}}
    return [path for path, text in expected.items() if not path.is_file() or path.read_text(encoding="utf-8") != text]
