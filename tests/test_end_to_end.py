"""`ntkbench run` and `ntkbench leaderboard` from the command line, on a tiny spec."""

from __future__ import annotations

import importlib.metadata
import json
from pathlib import Path

import pytest
from conftest import requires_fashion_mnist, run_cli, spec_page

TINY = """\
name: tiny_fashion
description: four learners on a few Fashion-MNIST samples
dataset: {name: fashion_mnist, n_test: 100}
architecture: {name: mlp, width: 32, depth: 1}
learners:
  - {name: network, optimizer: {name: sgd, learning_rate: 0.5, momentum: 0.9}, batch_size: 16, steps: 60, center: true}
  - {name: ntk_infinite, ridge: 1.0e-6}
  - {name: entk_init, ridge: 1.0e-6}
  - {name: entk_pretrained, pretrain_n: 32, steps: 60, ridge: 1.0e-6}
sweep: {n_train: [16, 32, 64], seeds: [0, 1]}
metric: test_error
"""

REQUIRED_FIELDS = {
    "format", "status", "spec", "cell", "dataset", "architecture", "learner", "metrics", "info",
    "wall_seconds", "versions", "device", "machine", "created", "checksum",
}


def records(out: Path) -> dict[str, dict]:
    return {str(p.relative_to(out)): json.loads(p.read_text()) for p in sorted((out / "records").glob("*/*.json"))}


@pytest.mark.slow
@requires_fashion_mnist
@pytest.mark.parity
def test_run_records_every_cell_resumes_and_renders(write_spec, tmp_path):
    spec = write_spec(TINY)
    out = tmp_path / "results"
    first = run_cli("run", str(spec), "--out", str(out))
    assert first.returncode == 0, first.stderr
    assert "24 cell(s) computed, 0 already recorded, 0 failed" in first.stdout
    # The answer at the end: every learner's exponent and its verdict against the network.
    table = first.stdout.split("tiny_fashion\n", 1)[1]
    for learner in ("network", "ntk_infinite", "entk_init", "entk_pretrained"):
        assert any(line.split()[1:2] == [learner] for line in table.splitlines() if line.strip())
    assert "Δα vs network" in table and "reference" in table
    assert f"this spec's intervals, laws, claims and plots: {out}/tiny_fashion.md" in first.stdout
    assert "ETA" in first.stderr and "entk_pretrained n=64 seed=1" in first.stderr  # the progress bar

    stored = records(out)
    assert len(stored) == 24
    for record in stored.values():
        assert REQUIRED_FIELDS <= set(record)
        assert record["status"] == "ok"
        assert 0 <= record["metrics"]["test_error"] <= 1 and record["metrics"]["test_loss"] > 0
        assert record["versions"]["jax"] == importlib.metadata.version("jax") and record["versions"]["neural-tangents"] == "0.6.5"
        assert record["device"]["kind"]
        assert record["spec"]["name"] == "tiny_fashion"
    pretrained = [r for r in stored.values() if r["cell"]["learner_id"] == "entk_pretrained"]
    assert {r["info"]["pretrain_train_loss_final"] for r in pretrained if r["cell"]["seed"] == 0}.__len__() == 1

    board = spec_page(out)
    front = (out / "leaderboard.md").read_text()
    assert "[tiny_fashion](tiny_fashion.md)" in front and "## Every comparison" in front
    for learner in ("network", "ntk_infinite", "entk_init", "entk_pretrained"):
        assert f"`{learner}`" in board
    assert "95% CI" in board and "Cells: 24 of 24 succeeded" in board
    against = board.split("## Against `network`")[1].split("\n\n")[1]  # the table after the heading
    verdicts = ("the same rate within ±0.05", "cannot tell yet", "improves faster with n", "depends on the fit", "one seed: no verdict")
    assert sum(against.count(verdict) for verdict in verdicts) == 3
    assert "## Claims" in board
    assert (out / "leaderboard_tiny_fashion.png").stat().st_size > 10_000
    assert (out / "leaderboard_tiny_fashion_delta_alpha.png").stat().st_size > 5_000
    # Every trained network keeps its curve, and its page draws them.
    for record in stored.values():
        learner = record["cell"]["learner_id"]
        key = {"network": "curve", "entk_pretrained": "pretrain_curve"}.get(learner)
        assert (key is None) == ("curve" not in record["info"] and "pretrain_curve" not in record["info"])
        if key is not None:
            curve, steps = record["info"][key], record["info"]["steps" if key == "curve" else "pretrain_steps"]
            assert curve["step"][-1] == curve["check_step"][-1] == steps and len(curve["loss"]) == len(curve["step"])
    assert "## Training" in board and (out / "leaderboard_tiny_fashion_training.png").stat().st_size > 10_000
    errors = [r["test_outcomes"]["test_error"] for r in stored.values()]
    assert all(len(e) == 100 and set(e) <= {"0", "1"} for e in errors)

    # Nothing to do the second time.
    again = run_cli("run", str(spec), "--out", str(out), "--no-progress")
    assert again.returncode == 0 and "0 cell(s) computed, 24 already recorded" in again.stdout
    assert records(out) == stored

    # Editing one learner's options recomputes that learner only; its old records stay on disk.
    spec.write_text(TINY.replace("{name: entk_init, ridge: 1.0e-6}", "{name: entk_init, ridge: 1.0e-4}"))
    edited = run_cli("run", str(spec), "--out", str(out), "--no-progress")
    assert "6 cell(s) computed, 18 already recorded" in edited.stdout
    assert f"6 stale record(s) of earlier versions of this spec (other options or sizes) are kept in {out}/records" in edited.stdout
    assert "stale" not in again.stdout
    assert len(records(out)) == 30
    assert "6 stale record(s)" in spec_page(out)

    # The leaderboard command renders the same results anywhere.
    target = tmp_path / "board" / "README.md"
    rendered = run_cli("leaderboard", "--results", str(out), "--out", str(target))
    assert rendered.returncode == 0, rendered.stderr
    assert "# tiny_fashion" in spec_page(out, target) and (target.parent / "README_tiny_fashion.png").exists()


def test_held_out_samples_beyond_the_pool_stop_the_run_with_exit_2(third_party_plugins, write_spec, tmp_path):
    """Blobs does not declare its pool size, so only the run can check it."""
    spec = write_spec(
        """\
        name: blobs_pretrain
        dataset: {name: blobs, pool: 64}
        architecture: {name: mlp, width: 8, depth: 1}
        learners: [{name: entk_pretrained, pretrain_n: 32, steps: 5}]
        sweep: {n_train: [8, 16, 48], seeds: [0]}
        """
    )
    result = run_cli("run", str(spec), "--out", str(tmp_path / "out"), "--no-progress", env=third_party_plugins)
    assert result.returncode == 2, result.stderr
    assert (
        "sweep.n_train: the largest n_train (48) plus the 32 samples learner 'entk_pretrained' holds out exceeds "
        "the blobs training pool with these options (64 samples)"
    ) in result.stderr
    assert "Traceback" not in result.stderr


def test_an_architecture_with_a_performance_only_option_runs_at_every_width(third_party_plugins, write_spec, tmp_path):
    """The runner builds the architecture at each width from its validated options, which the
    performance-only marker of the canonical spec never re-enters; the option stays out of the keys."""
    spec = write_spec(
        """\
        name: tuned
        dataset: {name: blobs, pool: 128}
        architecture: {name: tuned_mlp, width: 8, depth: 1, unroll: 2}
        learners: [{name: network, steps: 20, batch_size: 16}, {name: ntk_infinite}]
        sweep: {n_train: [16, 32], seeds: [0], width: [8, 16]}
        """
    )
    out = tmp_path / "out"
    result = run_cli("run", str(spec), "--out", str(out), "--no-progress", env=third_party_plugins)
    assert result.returncode == 0, result.stderr
    assert "8 cell(s) computed, 0 already recorded, 0 failed" in result.stdout
    stored = records(out)
    assert all(record["status"] == "ok" for record in stored.values())
    assert {record["architecture"]["width"] for record in stored.values()} == {8, 16}
    assert all(record["architecture"]["unroll"] == 2 for record in stored.values())

    faster = write_spec(spec.read_text().replace("unroll: 2", "unroll: 4"), name="faster.yaml")
    again = run_cli("run", str(faster), "--out", str(out), "--no-progress", env=third_party_plugins)
    assert again.returncode == 0, again.stderr
    assert "0 cell(s) computed, 8 already recorded" in again.stdout
