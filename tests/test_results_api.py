"""Results as data: `ntkbench.load_records` and `export`, `ntkbench.run` from Python with `.fits`,
command-line overrides (`--set`, `--learners`), and the code provenance of records."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import REPO, run_cli, synthetic_record

import ntkbench
from ntkbench import SpecError, parse_spec
from ntkbench.storage import RecordStore, cells_of, read_record, summarize_provenance

PUBLISHED = REPO / "leaderboard" / "results" / "fashion_mlp"

TINY = {
    "name": "api_tiny",
    "dataset": {"name": "teacher_student", "dim": 8, "pool": 1000, "n_test": 200},
    "architecture": {"name": "mlp", "width": 64, "depth": 1},
    "learners": [
        {"name": "network", "steps": 150, "optimizer": {"name": "sgd", "learning_rate": 0.5}},
        {"name": "ntk_infinite"},
    ],
    "sweep": {"n_train": [16, 32, 64, 128], "seeds": [0, 1]},
}


def test_load_records_gives_one_row_per_cell_of_a_published_spec():
    frame = ntkbench.load_records(PUBLISHED)
    spec = json.loads((PUBLISHED / "spec.json").read_text())
    assert frame.shape[0] == len(cells_of(spec)) == 140
    assert list(frame.columns[:8]) == ["spec", "learner_id", "learner", "width", "n_train", "seed", "status", "failure"]
    assert set(frame["learner_id"]) == {learner["id"] for learner in spec["learners"]}
    assert frame.groupby("learner_id").size().eq(35).all()
    assert frame["test_error"].between(0, 1).all() and (frame["wall_seconds"] > 0).all()
    assert {"version.ntkbench", "device.platform", "option.optimizer.learning_rate", "info.steps"} <= set(frame.columns)
    # The values are the records' own.
    record = json.loads(next((PUBLISHED / "records" / "network").glob("n0000064-seed0-*.json")).read_text())
    row = frame[(frame.learner_id == "network") & (frame.n_train == 64) & (frame.seed == 0)].iloc[0]
    assert row["test_error"] == record["metrics"]["test_error"] and row["info.steps"] == record["info"]["steps"]


def test_load_records_includes_failed_cells_with_their_reason(tmp_path):
    spec = parse_spec(yaml.safe_dump(TINY)).as_dict()
    store = RecordStore(tmp_path)
    store.write_spec(spec)
    cells = cells_of(spec)
    for cell in cells[:-1]:
        store.write(spec, cell, synthetic_record(spec, cell, error=0.25))
    failed = synthetic_record(spec, cells[-1]).model_copy(update={"status": "failed", "failure": "diverged", "metrics": None})
    store.write(spec, cells[-1], failed)
    frame = ntkbench.load_records(tmp_path)
    assert len(frame) == len(cells)
    last = frame[frame.status == "failed"]
    assert len(last) == 1 and last.iloc[0]["failure"] == "diverged" and np.isnan(last.iloc[0]["test_error"])
    assert (frame[frame.status == "ok"]["test_error"] == 0.25).all()


@pytest.mark.parametrize("form", ["csv", "parquet", "jsonl"])
def test_export_round_trips_every_row(tmp_path, form):
    out = tmp_path / f"records.{form}"
    result = run_cli("export", str(PUBLISHED), "--format", form, "--out", str(out))
    assert result.returncode == 0, result.stderr
    read = {"csv": pd.read_csv, "parquet": pd.read_parquet, "jsonl": lambda p: pd.read_json(p, lines=True)}[form]
    back, original = read(out), ntkbench.load_records(PUBLISHED)
    assert back.shape == original.shape and list(back.columns) == list(original.columns)
    assert back["cell_key"].tolist() == original["cell_key"].tolist()
    np.testing.assert_allclose(back["test_error"], original["test_error"])
    np.testing.assert_allclose(back["test_loss"], original["test_loss"], rtol=1e-12)


def test_export_refuses_a_directory_without_results(tmp_path):
    result = run_cli("export", str(tmp_path), "--format", "csv")
    assert result.returncode == 2 and "not a results directory" in result.stderr


def test_run_takes_a_dict_spec_and_returns_records_and_fits(tmp_path):
    results = ntkbench.run(TINY, out=tmp_path / "tiny")
    assert results.run.computed == 16 and not results.run.failed
    assert results.records.shape[0] == 16 and set(results.records["status"]) == {"ok"}
    fits = results.fits.set_index("learner_id")
    assert list(fits.index) == ["network", "ntk_infinite"]
    assert fits.loc["network", "verdict"] == "reference" and np.isnan(fits.loc["network", "delta_alpha"])
    other = fits.loc["ntk_infinite"]
    assert other["delta_alpha"] == pytest.approx(fits.loc["network", "alpha"] - other["alpha"])
    assert other["delta_low"] <= other["delta_alpha"] <= other["delta_high"]
    assert other["alpha_low"] <= other["alpha"] <= other["alpha_high"]
    assert other["verdict"] in {"network scales better", "kernel scales better", "equivalent", "inconclusive", "depends on the fit"}
    assert other["margin"] == 0.05 and other["delta_low"] <= other["delta_low90"] <= other["delta_high90"] <= other["delta_high"]
    deciding = [other[column] for column in ("seeds_to_decide", "seeds_with_larger_n_test") if not pd.isna(other[column])]
    assert not deciding or other["verdict"] == "inconclusive"  # what would decide, as the leaderboard says it
    assert all(seeds >= 2 for seeds in deciding)
    # The final metric is the seed mean of the records at the largest n.
    largest = results.records[(results.records.learner_id == "ntk_infinite") & (results.records.n_train == 128)]
    assert other["final_metric"] == pytest.approx(largest["test_error"].mean())
    assert (tmp_path / "tiny" / "leaderboard.md").is_file() and results.leaderboard == tmp_path / "tiny" / "leaderboard.md"
    # The same results, loaded again, and the same spec given as YAML text or as a file: nothing recomputed.
    again = ntkbench.Results.load(tmp_path / "tiny")
    pd.testing.assert_frame_equal(again.fits, results.fits)
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(TINY))
    for form in (yaml.safe_dump(TINY), str(path), path, parse_spec(yaml.safe_dump(TINY))):
        assert ntkbench.run(form, out=tmp_path / "tiny", leaderboard=False).run.computed == 0


def test_run_refuses_an_invalid_dict_with_every_problem(tmp_path):
    broken = {**TINY, "sweep": {"n_train": [16, "many"], "seeds": [0]}, "learners": [{"name": "netwrk"}]}
    with pytest.raises(SpecError) as error:
        ntkbench.run(broken, out=tmp_path)
    text = str(error.value)
    assert "sweep.n_train[1]" in text and "did you mean 'network'" in text
    assert not (tmp_path / "spec.json").exists()


def test_overrides_change_the_spec_that_runs_and_is_stored(tmp_path, write_spec):
    path = write_spec(yaml.safe_dump(TINY))
    out = tmp_path / "out"
    result = run_cli(
        "run", str(path), "--out", str(out), "--no-progress",
        "--set", "sweep.seeds=[3]", "--set", "learners.network.steps=40", "--set", "sweep.n_train=[16, 32, 64]",
    )
    assert result.returncode == 0, result.stderr
    stored = json.loads((out / "spec.json").read_text())
    assert stored["sweep"] == {"n_train": [16, 32, 64], "seeds": [3]}
    assert stored["learners"][0]["steps"] == 40
    frame = ntkbench.load_records(out)
    assert len(frame) == 6 and set(frame["seed"]) == {3} and set(frame["option.steps"].dropna()) == {40}

    result = run_cli("run", str(path), "--out", str(out), "--no-progress", "--learners", "network", "--set", "sweep.seeds=[3]",
                     "--set", "sweep.n_train=[16, 32, 64]", "--set", "learners.network.steps=40")
    assert result.returncode == 0, result.stderr
    assert "0 cell(s) computed, 3 already recorded" in result.stdout  # the same cells, by key
    assert [learner["id"] for learner in json.loads((out / "spec.json").read_text())["learners"]] == ["network"]


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--set", "sweep.seeds=[x]"], "--set sweep.seeds=[x]: sweep.seeds[0]: Input should be a valid integer"),
        (["--set", "sweep.seedz=[1]"], "--set sweep.seedz=[1]: sweep.seedz: unknown key (did you mean 'seeds'?)"),
        (["--set", "learners.nope.steps=5"], "--set learners.nope.steps=5: no learner has the id 'nope'"),
        (["--set", "learners.network.steps"], "expected dotted.path=VALUE"),
        (["--set", "learners.network.steps=[1"], "the value is not YAML"),
        (["--learners", "netwrk"], "--learners netwrk: no learner has the id 'netwrk' (did you mean 'network'?)"),
        (["--learners", "ntk_infinite", "--set", "compare.reference=network"], "no learner has the id 'network'"),
    ],
)
def test_invalid_overrides_exit_2_naming_the_override(tmp_path, write_spec, flags, message):
    path = write_spec(yaml.safe_dump(TINY))
    for command in ("validate", "plan", "run"):
        extra = ["--out", str(tmp_path / "out")] if command == "run" else []
        result = run_cli(command, str(path), *extra, *flags)
        assert result.returncode == 2, (command, result.stdout, result.stderr)
        assert message in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()


def test_an_override_inside_a_section_is_named_by_its_rule_problems(write_spec):
    spec = {**TINY, "learners": [{"name": "network", "until": {"train_loss": 0.01}, "max_steps": 100}, {"name": "ntk_infinite"}]}
    with pytest.raises(SpecError, match=r"steps and until are both set \(with --set learners.network.steps=5\)"):
        ntkbench.run(spec, overrides=["learners.network.steps=5"])


def test_records_carry_their_code_and_a_changed_source_is_reported_and_rerun(tmp_path, monkeypatch):
    from ntkbench.storage import _provenance

    spec = {**TINY, "learners": [{"name": "ntk_infinite"}], "compare": {"reference": "ntk_infinite"}}
    first = ntkbench.run(spec, out=tmp_path, leaderboard=False)
    record = json.loads(next((tmp_path / "records" / "ntk_infinite").glob("*.json")).read_text())
    code = record["provenance"]["code"]
    assert set(code) == {"ntkbench", "dataset", "architecture", "learner"}
    assert code["learner"]["distribution"] == "ntkbench" and len(code["learner"]["source"]) == 12
    assert record["provenance"]["command"] and "xla_flags" in record["provenance"]
    assert first.records["provenance.code.ntkbench.source"].nunique() == 1

    # Another source of ntkbench's computing code: the records are kept and reported, then recomputed on request.
    real = _provenance.source_fingerprint
    monkeypatch.setattr(_provenance, "source_fingerprint", lambda root, skip=frozenset(): "0" * 12 if skip else real(root, skip))
    kept = ntkbench.run(spec, out=tmp_path, leaderboard=False)
    assert kept.run.computed == 0 and len(kept.run.changed) == 8
    assert all(f"source {code['ntkbench']['source']}" in origin for origin in kept.run.changed.values())
    rerun = ntkbench.run(spec, out=tmp_path, leaderboard=False, rerun_changed=True)
    assert rerun.run.computed == 8
    assert set(rerun.records["provenance.code.ntkbench.source"]) == {"0" * 12}
    assert ntkbench.run(spec, out=tmp_path, leaderboard=False).run.changed == {}

    # Provenance summed over records: each code version once, with how many records it computed.
    records = [read_record(path) for path in (tmp_path / "records" / "ntk_infinite").glob("*.json")]
    provenance = summarize_provenance([*records, records[0].model_copy(update={"provenance": {}})])
    assert [count for _, count in provenance.code] == [1, 8]
    assert provenance.code[0][0].startswith("not recorded") and "source 000000000000" in provenance.code[1][0]
    assert provenance.cell_seconds == pytest.approx(sum(r.wall_seconds for r in records) + records[0].wall_seconds)
    assert provenance.first_date <= provenance.last_date and len(provenance.devices) == 1


def test_a_change_outside_the_computing_code_leaves_the_fingerprint_alone(tmp_path):
    from ntkbench.storage._provenance import NOT_COMPUTING, source_fingerprint

    package = tmp_path / "pkg"
    for folder in ("numerics", "report"):
        (package / folder).mkdir(parents=True)
        (package / folder / "a.py").write_text("x = 1\n")
    before = source_fingerprint(package, NOT_COMPUTING)
    (package / "report" / "a.py").write_text("x = 2\n")
    source_fingerprint.cache_clear()
    assert source_fingerprint(package, NOT_COMPUTING) == before
    (package / "numerics" / "a.py").write_text("x = 2\n")
    source_fingerprint.cache_clear()
    assert source_fingerprint(package, NOT_COMPUTING) != before
