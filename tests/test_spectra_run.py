"""A spec's `spectrum` section: validated, taken after the cells and stored beside the records
without touching them, read back (never unpickled) into `Results.spectra` and the leaderboard's
"Spectra" section, and taken again only where it is missing."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import spec_page

from ntkbench.api import SpecError
from ntkbench.learners.entk_init import InitEmpiricalNTKLearner
from ntkbench.results import Results
from ntkbench.runner import SeedSampler, run_spec
from ntkbench.storage import cell_key, cells_of
from ntkbench.runner._spectrum_work import read_spectrum, spectral_units
from ntkbench.spec import parse_spec

SPEC = """\
name: spectra
dataset: {{name: teacher_student, dim: 8, n_test: 200, pool: {pool}}}
architecture: {{name: mlp, width: 32, depth: 1}}
learners:
{learners}
sweep: {{n_train: [16, 32, 64], seeds: [0, 1]}}
{spectrum}
"""
KERNELS = "  - {name: ntk_infinite, ridge: 1.0e-3}\n  - {name: entk_init, ridge: 1.0e-3}"


def spec_text(spectrum: str = "spectrum: {pool: 256}", learners: str = KERNELS, pool: int = 2000) -> str:
    return SPEC.format(spectrum=spectrum, learners=learners, pool=pool)


@pytest.mark.parametrize(
    "spectrum, learners, pool, message",
    [
        ("spectrum: {pool: 255}", KERNELS, 2000, "spectrum.pool: 255 samples are fewer than 4 times the largest n_train"),
        ("spectrum: {pool: 256, fit_modes: [8, 4]}", KERNELS, 2000, "fit_modes \\[8, 4\\] must be increasing"),
        ("spectrum: {pool: 256, fit_modes: [4, 256]}", KERNELS, 2000, "below pool"),
        ("spectrum: {pool: 256}", "  - {name: network, steps: 5}", 2000, "no learner of this spec regresses with a kernel"),
        ("spectrum: {pool: 256}", KERNELS, 300, "plus the spectrum's pool of 256 exceeds the teacher_student training pool"),
        ("spectrum: {pool: 256, every: 2}", KERNELS, 2000, "spectrum.every"),
        ("spectrum: {pool: 256, learners: [network]}", KERNELS + "\n  - {name: network, steps: 5}", 2000,
         "spectrum.learners\\[0\\]: 'network' is not a learner of this spec that regresses with a kernel"),
        ("spectrum: {pool: 256, learners: []}", KERNELS, 2000, "spectrum.learners"),
    ],
)
def test_a_spectrum_section_is_refused_with_its_key_and_reason(spectrum, learners, pool, message):
    with pytest.raises(SpecError, match=message):
        parse_spec(spec_text(spectrum, learners, pool))


def test_a_spectrum_section_changes_no_cell_key_and_fills_in_its_modes():
    with_spectrum, without = parse_spec(spec_text()).as_dict(), parse_spec(spec_text(spectrum="")).as_dict()
    assert with_spectrum["spectrum"] == {"pool": 256, "fit_modes": [4, 16]}
    assert [cell_key(with_spectrum, cell) for cell in cells_of(with_spectrum)] == [
        cell_key(without, cell) for cell in cells_of(without)
    ]


def test_a_kernel_learned_on_the_cells_data_is_taken_per_cell_others_once_per_seed():
    spec = parse_spec(spec_text(learners=KERNELS + "\n  - {name: entk_final, steps: 5}"))
    units = spectral_units(spec, {choice.id: choice.plugin for choice in spec.learners})
    per_learner = {learner: sorted((u.seed, u.n_train) for u in units if u.learner_id == learner)
                   for learner in ("ntk_infinite", "entk_init", "entk_final")}
    assert per_learner["ntk_infinite"] == per_learner["entk_init"] == [(0, 64), (1, 64)]
    assert per_learner["entk_final"] == [(seed, n) for seed in (0, 1) for n in (16, 32, 64)]
    chosen = parse_spec(spec_text(spectrum="spectrum: {pool: 256, learners: [entk_init]}"))
    assert {u.learner_id for u in spectral_units(chosen, {c.id: c.plugin for c in chosen.learners})} == {"entk_init"}
    assert chosen.as_dict()["spectrum"]["learners"] == ["entk_init"]


def test_the_spectrum_pool_is_disjoint_from_training_validation_and_held_out_samples():
    from ntkbench.api import LabelledData

    data = LabelledData(np.zeros((1000, 2), np.float32), np.zeros(1000, int), np.zeros((1, 2), np.float32), np.zeros(1, int), 2)
    sampler = SeedSampler(data, np.random.default_rng(0).permutation(1000), n_max=64, validation_n=32)
    pool = set(sampler.spectrum_pool_indices(256).tolist())
    assert len(pool) == 256
    assert not pool & set(sampler.order[:64].tolist())
    assert not pool & set(sampler.validation_indices().tolist())
    assert not pool & set(sampler.held_out_indices(600).tolist())


def test_spectra_are_taken_after_the_cells_stored_beside_them_and_read_back(tmp_path, write_spec):
    spec_path = write_spec(spec_text())
    out = tmp_path / "out"
    spec = parse_spec(spec_path.read_text(), source=str(spec_path))
    summary = run_spec(spec, out, progress=False)
    assert summary.computed == 12 and summary.spectra.computed == 4 and not summary.spectra.failed
    files = sorted((out / "spectra").glob("*/*.npz"))
    assert [f.parent.name for f in files] == ["entk_init"] * 2 + ["ntk_infinite"] * 2
    stored = read_spectrum(files[0])
    assert stored.pool == 256 and stored.eigenvalues.shape == stored.target_power.shape == (256,)
    assert np.all(np.diff(stored.eigenvalues) <= 0) and stored.target_power.sum() == pytest.approx(1.0)

    frame = Results.load(out).spectra
    assert len(frame) == 12 and set(frame.learner_id) == {"ntk_infinite", "entk_init"}
    assert np.all(np.isfinite(frame.predicted_mse)) and np.all(frame.predicted_mse > 0)
    records = {(r["cell"]["learner_id"], r["cell"]["seed"], r["cell"]["n_train"]): r
               for r in (json.loads(p.read_text()) for p in (out / "records").glob("*/*.json"))}
    for row in frame.itertuples():
        record = records[row.learner_id, row.seed, row.n_train]
        assert row.measured_mse == record["metrics"]["test_loss"]
        assert row.ridge == record["info"]["effective_ridge"]
    leaderboard = (out / "leaderboard.md")
    from ntkbench.report import write_leaderboard

    write_leaderboard([out], leaderboard)
    text = spec_page(out)
    assert "## Spectra" in text and "α of the measured MSE" in text
    assert (out / "leaderboard_spectra_eigenvalues.png").is_file() and (out / "leaderboard_spectra_alignment.png").is_file()

    record_times = {p: p.stat().st_mtime_ns for p in (out / "records").glob("*/*.json")}
    again = run_spec(spec, out, progress=False)
    assert again.computed == 0 and again.spectra.computed == 0 and again.spectra.already_done == 4
    files[0].write_bytes(b"not a spectrum")
    files[1].unlink()
    repaired = run_spec(spec, out, progress=False)
    assert repaired.computed == 0 and repaired.spectra.computed == 2
    assert {p: p.stat().st_mtime_ns for p in (out / "records").glob("*/*.json")} == record_times
    assert read_spectrum(files[0]) is not None


class _TouchesWhenUnpickled:
    """Unpickling this creates the file `path`: a stand-in for a stranger's code in a results directory."""

    def __init__(self, path: Path):
        self.path = path

    def __reduce__(self):
        return (Path.touch, (self.path,))


def test_a_stored_spectrum_is_never_unpickled(tmp_path):
    path, ran = tmp_path / "evil.npz", tmp_path / "ran"
    np.savez(path, eigenvalues=np.ones(3), target_power=np.ones(3), facts=np.array([_TouchesWhenUnpickled(ran)], dtype=object))
    assert read_spectrum(path) is None
    assert not ran.exists()


def test_a_failed_spectrum_costs_no_record_and_is_taken_by_the_next_run(tmp_path, monkeypatch, write_spec):
    spec_path = write_spec(spec_text(spectrum="spectrum: {pool: 256}"))
    spec = parse_spec(spec_path.read_text(), source=str(spec_path))

    def broken(self, task):
        raise RuntimeError("no kernel today")

    with monkeypatch.context() as patch:
        patch.setattr(InitEmpiricalNTKLearner, "regression_kernel", broken)
        summary = run_spec(spec, tmp_path / "out", progress=False)
    assert summary.computed == 12 and not summary.failed
    assert summary.spectra.computed == 2 and [cell.learner_id for cell, _ in summary.spectra.failed] == ["entk_init"] * 2
    assert "no kernel today" in summary.spectra.failed[0][1]
    assert run_spec(spec, tmp_path / "out", progress=False).spectra.computed == 2
    assert len(list(Path(tmp_path / "out" / "spectra").glob("*/*.npz"))) == 4


def test_the_plan_counts_each_spectrum_as_its_kernel_on_the_pool_and_an_eigendecomposition():
    from ntkbench.runner import plan_spectra
    from ntkbench.runner._plan import EIGH_FLOPS_PER_CUBE

    spec = parse_spec(spec_text())
    plans = plan_spectra(spec, detailed=False)
    assert sorted((p.cell.learner_id, p.cell.seed) for p in plans) == [
        ("entk_init", 0), ("entk_init", 1), ("ntk_infinite", 0), ("ntk_infinite", 1)
    ]
    for plan in plans:
        assert plan.cost.factor_flops == EIGH_FLOPS_PER_CUBE * 256**3
        assert plan.cost.peak_bytes >= 3 * 8 * 256**2
    assert plan_spectra(parse_spec(spec_text(spectrum="")), detailed=False) == []


def test_check_plugin_checks_the_kernel_a_learner_declares():
    import jax.numpy as jnp

    import ntkbench
    from ntkbench.learners.ntk_infinite import InfiniteNTKLearner
    from ntkbench.testing import check_plugin

    report = check_plugin(InfiniteNTKLearner, {"ridge": 1e-3})
    assert report.ok and "regression_kernel" in [check.name for check in report.checks], report

    class Indefinite(ntkbench.Learner):
        api_version = 1
        regresses_with_kernel = True

        def fit_predict(self, task):
            return ntkbench.LearnerResult(np.zeros((len(task.x_test), task.num_classes)))

        def regression_kernel(self, task):
            def negative_linear(a, b):
                return -jnp.reshape(a, (len(a), -1)) @ jnp.reshape(b, (len(b), -1)).T

            return ntkbench.RegressionKernel(negative_linear)

    failed = {check.name: check.detail for check in check_plugin(Indefinite).checks if not check.ok}
    assert list(failed) == ["regression_kernel"] and "not positive semi-definite" in failed["regression_kernel"]
