"""The figures people read and the HTML page they open: one colour per learner in every figure of
a spec (and across specs), bands and fits said in the legend, and the self-contained HTML
leaderboard rendered by headless Chromium with every table and figure and no console error."""

from __future__ import annotations

import base64
import hashlib
import os
import re
import shutil
import subprocess
from collections import defaultdict
from pathlib import Path

import pytest
from conftest import REPO, run_cli

from ntkbench.report import render_leaderboard
from ntkbench.report._html import markdown_to_html

RESULTS = REPO / "leaderboard" / "results"


def _learner_colors(figure) -> dict[str, set[str]]:
    """The colours of every artist drawn for a learner (gid `learner:<id>`), per learner id."""
    from matplotlib.collections import Collection
    from matplotlib.colors import to_hex
    from matplotlib.lines import Line2D

    colors: dict[str, set[str]] = defaultdict(set)
    for artist in figure.findobj():
        gid = artist.get_gid()
        if not gid or not gid.startswith("learner:"):
            continue
        if isinstance(artist, Line2D):
            colors[gid.removeprefix("learner:")].add(to_hex(artist.get_color()))
        elif isinstance(artist, Collection):
            colors[gid.removeprefix("learner:")].update(to_hex(c, keep_alpha=False) for c in artist.get_facecolor())
    return colors


@pytest.mark.parametrize("spec", ["fashion_mlp", "fashion_width", "fashion_mlp_plugins"])
def test_every_learner_has_one_colour_in_every_figure_of_a_spec(tmp_path, spec):
    import matplotlib.pyplot as plt

    rendered = render_leaderboard([RESULTS / spec], tmp_path / "README.md", set_aside=False)
    assert rendered.figures[0].name == "README_summary_forest.png"  # the front page's: its rows are specs
    assert len(rendered.figures) >= 3
    seen: dict[str, set[str]] = defaultdict(set)
    for figure in rendered.figures[1:]:
        built = figure.build()
        drawn = _learner_colors(built)
        plt.close(built)
        assert drawn, f"{figure.name}: no artist carries a learner's id"
        for learner, colors in drawn.items():
            seen[learner] |= colors
    assert all(len(colors) == 1 for colors in seen.values()), dict(seen)
    learners = [learner["id"] for learner in rendered.summaries[0].spec["learners"]]
    assert set(seen) == set(learners)
    assert len({next(iter(colors)) for colors in seen.values()}) == len(seen), "two learners share a colour"


def test_a_learner_id_has_the_same_colour_in_every_spec(tmp_path):
    import matplotlib.pyplot as plt

    colors: dict[str, set[str]] = defaultdict(set)
    rendered = render_leaderboard([RESULTS / "fashion_mlp", RESULTS / "fashion_width", RESULTS / "control_positive"],
                                  tmp_path / "README.md", set_aside=False)
    for figure in rendered.figures:
        built = figure.build()
        for learner, drawn in _learner_colors(built).items():
            colors[learner] |= drawn
        plt.close(built)
    assert {learner for learner, drawn in colors.items()} >= {"network", "ntk_infinite", "entk_init"}
    assert all(len(drawn) == 1 for drawn in colors.values()), dict(colors)


def test_the_legend_says_what_bands_and_dashed_lines_are(tmp_path):
    import matplotlib.pyplot as plt

    rendered = render_leaderboard([RESULTS / "fashion_mlp"], tmp_path / "README.md", set_aside=False)
    built = next(f for f in rendered.figures if f.name.endswith("fashion_mlp.png")).build()
    labels = [text.get_text() for text in built.axes[0].get_legend().get_texts()]
    plt.close(built)
    assert "band: min–max over 5 seeds" in labels
    assert "dashed: fitted power law, n in [64, 4096]" in labels
    assert any(label.startswith("network (α = ") for label in labels)


def test_the_dynamics_figure_shows_the_spread_over_seeds(tmp_path):
    import matplotlib.pyplot as plt
    from matplotlib.collections import PolyCollection

    rendered = render_leaderboard([RESULTS / "fashion_dynamics"], tmp_path / "README.md", set_aside=False)
    assert [figure.name for figure in rendered.figures] == ["README_fashion_dynamics_dynamics.png"]  # no forest: nothing compared
    built = rendered.figures[0].build()
    bands = [artist for axes in built.axes for artist in axes.collections if isinstance(artist, PolyCollection)]
    labels = {text.get_text() for axes in built.axes for text in axes.get_legend().get_texts()}
    plt.close(built)
    assert len(bands) == 5 and "min–max over 3 seeds" in labels


def _chromium() -> str | None:
    return next((path for name in ("chromium", "chromium-browser", "google-chrome") if (path := shutil.which(name))), None)


requires_chromium = pytest.mark.skipif(
    _chromium() is None and not os.environ.get("CI"),
    reason="no headless Chromium (sudo apt-get install chromium); CI installs it",
)


def _render_in_chromium(page: Path) -> tuple[str, list[str]]:
    """The DOM of `page` after its scripts ran, and the console messages Chromium logged."""
    browser = _chromium()
    assert browser is not None, "Chromium is not installed: .ci/run installs Debian's chromium"
    result = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr", "--v=0",
         "--virtual-time-budget=5000", "--dump-dom", page.resolve().as_uri()],
        capture_output=True, text=True, timeout=180,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout, [line for line in result.stderr.splitlines() if ":CONSOLE" in line]


@requires_chromium
def test_the_console_check_sees_an_error():
    """The check below would pass vacuously if Chromium's console messages were not read."""
    page = Path(os.environ.get("TMPDIR", "/tmp")) / f"ntkbench-console-{os.getpid()}.html"
    page.write_text("<!DOCTYPE html><html><body><script>throw new Error('boom')</script></body></html>")
    try:
        _, console = _render_in_chromium(page)
    finally:
        page.unlink()
    assert any("Uncaught Error: boom" in line for line in console)


@pytest.mark.slow
@requires_chromium
def test_the_html_leaderboard_renders_every_table_and_figure(tmp_path):
    page = tmp_path / "leaderboard.html"
    result = run_cli("leaderboard", "--html", str(page), cwd=REPO)
    assert result.returncode == 0, result.stderr
    assert not list(tmp_path.glob("*.png")) and not list(tmp_path.glob("*.md"))  # one file, nothing beside it
    text = page.read_text()
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", text), "the page fetches something"
    specs = sorted(path.name for path in RESULTS.iterdir() if path.is_dir())
    markdown = "\n".join(path.read_text() for path in [REPO / "leaderboard" / "README.md",
                                                        *(REPO / "leaderboard" / f"{spec}.md" for spec in specs)])
    tables = len(re.findall(r"^\|[-|: ]+\|$", markdown, flags=re.M))
    figures = len(re.findall(r"^!\[", markdown, flags=re.M))

    dom, console = _render_in_chromium(page)
    assert not console, console
    assert dom.count("<table") == tables == dom.count('<div class="table-box">') and dom.count("<svg") == figures
    assert f'data-sortable-tables="{tables}"' in dom  # the script ran to its end
    assert dom.count('<figure role="img"') == figures and 'class="learner" data-learner="network"' in dom
    for spec in specs:  # every spec's page is a section, in the navigation, and the front page's links lead to it
        assert f'<section class="spec" aria-labelledby="{spec}">' in dom and f'<h2 id="{spec}">' in dom
        assert dom.count(f'href="#{spec}"') >= 2  # the bar and the specs table
    assert dom.count('<nav aria-label="sections">') == 1 and '<a class="back" href="#top">' in dom
    assert '<td class="wrap">' in dom and "<td>" in dom  # long cells wrap, short ones keep their row to one line
    assert 'href="#fashion_mlp-claims"' in dom and '<h3 id="fashion_mlp-claims">' in dom
    assert ".md" not in "".join(re.findall(r'href="([^"]*)"', dom))  # no link to a Markdown page is left


MEASURE = (
    "var root = document.documentElement; var boxes = document.querySelectorAll('.table-box');"
    "var scrolling = Array.prototype.filter.call(boxes, function (box) { return box.scrollWidth > box.clientWidth; });"
    "document.body.setAttribute('data-overflow', String(root.scrollWidth - root.clientWidth));"
    "document.body.setAttribute('data-scrolling-tables', String(scrolling.length));"
)


def _measured(page_html: str, path: Path, width: int) -> tuple[int, int]:
    """(how far the page scrolls sideways, how many table boxes scroll inside) at a window `width` px wide."""
    allowed = base64.b64encode(hashlib.sha256(MEASURE.encode()).digest()).decode()
    path.write_text(page_html.replace("</body>", f"<script>{MEASURE}</script></body>")
                    .replace("script-src ", f"script-src 'sha256-{allowed}' "))  # the page's policy, with the measurement allowed
    browser = _chromium()
    assert browser is not None, "Chromium is not installed: .ci/run installs Debian's chromium"
    result = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", f"--window-size={width},900",
         "--virtual-time-budget=5000", "--dump-dom", path.resolve().as_uri()],
        capture_output=True, text=True, timeout=180,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    overflow = re.search(r'data-overflow="(-?\d+)"', result.stdout)
    scrolling = re.search(r'data-scrolling-tables="(\d+)"', result.stdout)
    assert overflow and scrolling, "the measurement did not run"
    return int(overflow.group(1)), int(scrolling.group(1))


@pytest.mark.slow
@requires_chromium
def test_the_html_leaderboard_never_scrolls_sideways_on_a_desktop_or_a_phone(tmp_path):
    from ntkbench.report import _html

    page = tmp_path / "leaderboard.html"
    assert run_cli("leaderboard", "--html", str(page), cwd=REPO).returncode == 0
    text = page.read_text()
    for width in (1280, 390):
        overflow, scrolling = _measured(text, tmp_path / f"measured{width}.html", width)
        assert overflow <= 0, f"at {width} px the page scrolls sideways by {overflow} px"
        assert scrolling > 0  # the wide tables scroll inside their own boxes instead
    # The measurement sees a page that does scroll: the same page without the tables' boxes.
    unboxed = text.replace(".table-box { overflow-x: auto;", ".table-box {")
    assert _html.STYLE.count(".table-box { overflow-x: auto;") == 1 and unboxed != text
    assert _measured(unboxed, tmp_path / "unboxed.html", 390)[0] > 0


@requires_chromium
def test_a_click_on_a_header_sorts_the_rows_by_number(tmp_path):
    markdown = "# t\n\n| learner | Δα |\n|---|---|\n| a | +0.300 [0.1, 0.5] |\n| b | −0.100 |\n| c | — |\n| d | 0.25 |\n"
    clicks = (
        "var th = document.querySelectorAll('th')[1]; var order = [];"
        "th.click(); order.push(Array.from(document.querySelectorAll('tbody tr td:first-child')).map(c => c.textContent).join(''));"
        "th.click(); order.push(Array.from(document.querySelectorAll('tbody tr td:first-child')).map(c => c.textContent).join(''));"
        "document.body.setAttribute('data-order', order.join(','));"
    )
    allowed = base64.b64encode(hashlib.sha256(clicks.encode()).digest()).decode()
    page = markdown_to_html(markdown, lambda name: None, "t").replace(
        "</body>", f"<script>{clicks}</script></body>"
    ).replace("script-src ", f"script-src 'sha256-{allowed}' ")  # the page's policy, with the test's clicks allowed
    (tmp_path / "page.html").write_text(page)
    dom, console = _render_in_chromium(tmp_path / "page.html")
    assert not console, console
    assert 'data-order="bdac,cadb"' in dom  # numbers ascending (the non-number last), then descending
