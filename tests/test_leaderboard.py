"""The leaderboard: --check catches a stale file, rendering is deterministic, and the
repository's published leaderboard is what its records render."""

from __future__ import annotations

import shutil
from pathlib import Path

from conftest import REPO, run_cli
from ntkbench._leaderboard import leaderboard_is_current, render_leaderboard, write_leaderboard

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
    write_leaderboard(directories, board)
    assert leaderboard_is_current(directories, board)
    assert render_leaderboard(directories, board).markdown == board.read_text()  # deterministic

    board.write_text(board.read_text() + "\nedited by hand\n")
    check = run_cli("leaderboard", "--check", "--results", *map(str, directories), "--out", str(board))
    assert check.returncode == 1 and "is stale" in check.stderr

    write_leaderboard(directories, board)
    record = next((directories[0] / "records").glob("*/*.json"))
    record.unlink()  # a cell fewer: the tables change
    assert not leaderboard_is_current(directories, board)
