"""The leaderboard: --check catches a stale file, rendering is deterministic, and the
repository's published leaderboard is what its records render."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
from conftest import REPO, run_cli, synthetic_record

from ntkbench import parse_spec
from ntkbench.analysis import load_results
from ntkbench.report import render_leaderboard, stale_pages, write_leaderboard
from ntkbench.storage import RecordStore, cells_of

PUBLISHED = REPO / "leaderboard"


def published_results() -> list[Path]:
    return sorted(path for path in (PUBLISHED / "results").iterdir() if path.is_dir())


def test_the_published_leaderboard_is_current():
    result = run_cli("leaderboard", "--check", cwd=REPO)
    assert result.returncode == 0, result.stderr + "\nregenerate with: ntkbench leaderboard"


def test_check_catches_a_stale_file_and_a_changed_record(tmp_path):
    results = tmp_path / "results"
    shutil.copytree(published_results()[0], results / published_results()[0].name)
    directories = [results / published_results()[0].name]
    board = tmp_path / "README.md"
    rendered = write_leaderboard(directories, board)
    page = tmp_path / next(iter(rendered.pages))
    assert stale_pages(directories, board) == []
    assert render_leaderboard(directories, board).markdown == board.read_text()  # deterministic
    assert render_leaderboard(directories, board).pages[page.name] == page.read_text()

    page.write_text(page.read_text() + "\nedited by hand\n")  # a spec's page, not the front page
    check = run_cli("leaderboard", "--check", "--results", *map(str, directories), "--out", str(board))
    assert check.returncode == 1 and f"1 page(s) of {board} are stale or missing ({page})" in check.stderr
    page.unlink()
    assert stale_pages(directories, board) == [page]

    write_leaderboard(directories, board)
    record = next((directories[0] / "records").glob("*/*.json"))
    record.unlink()  # a cell fewer: the tables change
    assert board in stale_pages(directories, board) and page in stale_pages(directories, board)


WIDTH_SWEEP = """\
name: widths
dataset: {name: teacher_student, dim: 4, pool: 500, n_test: 20}
architecture: {name: mlp, width: 8, depth: 1}
learners: [{name: network}, {name: ntk_infinite}]
sweep: {n_train: [16, 32, 64], seeds: [0, 1], width: [8, 32]}
"""


def falling_record(spec_dict, cell):
    """A successful record whose error falls with n (faster for the network)."""
    error = (0.9 if cell.learner_id == "network" else 0.5) * cell.n_train ** -0.5 * (1 + 0.01 * cell.seed)
    return synthetic_record(spec_dict, cell, error)


def test_a_width_sweep_counts_its_cells_at_every_width(tmp_path):
    spec_dict = parse_spec(WIDTH_SWEEP).as_dict()
    store = RecordStore(tmp_path / "widths")
    store.write_spec(spec_dict)
    cells = cells_of(spec_dict)
    assert len(cells) == 2 * 3 * 2 * 2
    for cell in cells[1:]:
        store.write(spec_dict, cell, falling_record(spec_dict, cell))
    markdown = render_leaderboard([store.root], tmp_path / "README.md").page("widths")
    assert "Cells: 23 of 24 succeeded, 0 failed, 1 not run" in markdown
    assert "## width 8" in markdown and "## width 32" in markdown


def test_learners_declare_that_they_are_the_same_at_every_width():
    from ntkbench.analysis._collect import same_at_every_width

    assert same_at_every_width("ntk_infinite") and same_at_every_width("nngp_infinite")
    assert not same_at_every_width("network") and not same_at_every_width("not_installed")


def test_unconverged_trainings_are_marked_with_their_worst_train_error(tmp_path):
    spec_dict = parse_spec(WIDTH_SWEEP.replace(", width: [8, 32]", "")).as_dict()
    store = RecordStore(tmp_path / "trained")
    store.write_spec(spec_dict)
    for cell in cells_of(spec_dict):
        record = falling_record(spec_dict, cell)
        if cell.learner_id == "network":
            stuck = cell.n_train == 64 and cell.seed == 1
            info = {"steps": 100 if stuck else 40, "train_error": 0.125 if stuck else 0.0, "converged": not stuck}
            record = synthetic_record(spec_dict, cell, record.metrics["test_error"], info)
        store.write(spec_dict, cell, record)
    markdown = render_leaderboard([store.root], tmp_path / "README.md").page("widths")
    exponents = markdown.split("## Exponents")[1].splitlines()
    network = next(line for line in exponents if line.startswith("|") and "`network`" in line)
    kernel = next(line for line in exponents if line.startswith("|") and "`ntk_infinite`" in line)
    assert "**NOT CONVERGED** in 1 of 6 cells; 70 steps at largest n, train error ≤ 0.125" in network
    assert kernel.rstrip(" |").endswith("—")


def test_trained_learners_get_a_training_curve_figure_and_older_records_render_without_it(tmp_path):
    from ntkbench.analysis import summarize, training_curves
    from ntkbench.numerics._training import training_curve

    spec_dict = parse_spec(WIDTH_SWEEP.replace(", width: [8, 32]", "")).as_dict()
    for name, with_curves in (("curves", True), ("older", False)):
        store = RecordStore(tmp_path / name)
        store.write_spec(spec_dict)
        for cell in cells_of(spec_dict):
            record = falling_record(spec_dict, cell)
            if cell.learner_id == "network" and with_curves:
                losses = 2.0 / (1 + np.arange(40 * cell.n_train)) ** 0.5 * (1 + 0.1 * cell.seed)
                info = {"steps": len(losses), "train_error": 0.0, "converged": True,
                        "curve": training_curve(losses, [(len(losses), 0.0, float(losses[-1]))])}
                record = synthetic_record(spec_dict, cell, record.metrics["test_error"], info)
            store.write(spec_dict, cell, record)
        rendered = render_leaderboard([store.root], tmp_path / name / "README.md")
        page = rendered.page("widths")
        names = [figure.name for figure in rendered.figures]
        if not with_curves:  # records computed before curves were stored: no section, no figure
            assert "## Training" not in page and not any("training" in name for name in names)
            continue
        assert "## Training" in page and "![training loss against step, one line per n](README_widths_training.png)" in page
        curves = training_curves(summarize(load_results(store.root)), None)
        assert list(curves) == [("network", "")]  # the kernel learner trains nothing
        assert [(curve.n_train, curve.seed) for curve in curves["network", ""]] == [(16, 0), (32, 0), (64, 0)]
        assert curves["network", ""][-1].step[-1] == 40 * 64
        figure = next(figure for figure in rendered.figures if figure.name == "README_widths_training.png").build()
        lines = figure.axes[0].get_lines()
        assert [line.get_label() for line in lines] == ["n = 16", "n = 32", "n = 64"]
        import matplotlib.pyplot as plt

        plt.close(figure)
