"""The claims section: each claim supported, contradicted, inconclusive or not tested, from
synthetic records whose exponents are known."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import synthetic_record

from ntkbench import parse_spec
from ntkbench.analysis._claims import spec_claims
from ntkbench.analysis._collect import load_results, summarize
from ntkbench.storage import RecordStore, cells_of

SPEC = """\
name: claims
dataset: {name: teacher_student, dim: 4, pool: 5000, n_test: 20}
architecture: {name: mlp, width: 8, depth: 1}
learners: [{name: network}, {name: ntk_infinite}, {name: entk_init}, {name: entk_pretrained, pretrain_n: 64}]
sweep: {n_train: [16, 32, 64, 128, 256, 512], seeds: [0, 1, 2, 3]}
"""


def results(tmp_path, spec_text: str, alphas: dict[str, float], noise: float = 0.01):
    """Records whose error is 0.9 n^-alpha per learner, with seed-to-seed noise of `noise` (log scale)."""
    spec_dict = parse_spec(spec_text).as_dict()
    store = RecordStore(tmp_path / "results")
    store.write_spec(spec_dict)
    rng = np.random.default_rng(0)
    for cell in cells_of(spec_dict):
        error = 0.9 * cell.n_train ** -alphas[cell.learner_id] * np.exp(rng.normal(0, noise))
        store.write(spec_dict, cell, synthetic_record(spec_dict, cell, error))
    return {claim.number: claim for claim in spec_claims(summarize(load_results(store.root)))}


def test_a_network_that_scales_better_supports_claims_one_and_two(tmp_path):
    claims = results(tmp_path, SPEC, {"network": 0.5, "ntk_infinite": 0.3, "entk_init": 0.3, "entk_pretrained": 0.35})
    assert claims[1].status == "supported" and "`ntk_infinite`: Δα = +0.20" in claims[1].evidence
    assert claims[2].status == "supported" and "pre-trained on 64" in claims[2].evidence
    assert claims[3].status == "not tested" and "width" in claims[3].evidence


def test_kernels_that_scale_better_contradict_them(tmp_path):
    claims = results(tmp_path, SPEC, {"network": 0.3, "ntk_infinite": 0.5, "entk_init": 0.3, "entk_pretrained": 0.5})
    assert claims[1].status == "contradicted" and claims[2].status == "contradicted"


def test_kernels_equivalent_to_the_network_contradict_them(tmp_path):
    claims = results(tmp_path, SPEC, {"network": 0.4, "ntk_infinite": 0.4, "entk_init": 0.4, "entk_pretrained": 0.4})
    assert claims[1].status == "contradicted" and "the same rate within ±0.05 (90% CI inside ±0.05)" in claims[1].evidence
    assert claims[2].status == "contradicted"


def test_kernels_that_disagree_make_a_mixed_claim_that_names_each(tmp_path):
    """The network beats its initial kernel but its infinite one keeps pace: neither "supported"
    nor "contradicted" says that."""
    claims = results(tmp_path, SPEC, {"network": 0.5, "ntk_infinite": 0.5, "entk_init": 0.3, "entk_pretrained": 0.3})
    assert claims[1].status == "mixed" and claims[2].status == "supported"
    assert claims[1].label.startswith("mixed: ")
    assert set(claims[1].parts) == {"against `ntk_infinite`, the same rate within ±0.05",
                                    "against `entk_init`, `network` improves faster with n, by more than 0.05"}
    # The same label in the terminal and in `Results.claims`.
    from ntkbench import Results
    from ntkbench.report import exponents_text

    loaded = Results.load(tmp_path / "results")
    assert loaded.claims.set_index("claim").loc[1, "label"] == claims[1].label
    assert loaded.claims["status"].tolist() == ["mixed", "supported", "not tested"]
    assert f"claim 1, {claims[1].statement}: {claims[1].label}" in exponents_text(loaded.summary)


def test_too_few_data_to_tell_are_inconclusive_and_say_what_would_decide(tmp_path):
    claims = results(tmp_path, SPEC, {"network": 0.4, "ntk_infinite": 0.4, "entk_init": 0.4, "entk_pretrained": 0.4}, noise=0.3)
    assert claims[1].status == "inconclusive" and claims[2].status == "inconclusive"
    assert "cannot tell yet (95% CI contains 0; 90% CI crosses ±0.05): about" in claims[1].evidence
    assert "would decide at ±0.05" in claims[1].evidence


def test_a_spec_without_the_kernels_says_which_learner_would_test_each_claim(tmp_path):
    spec = SPEC.replace(", {name: ntk_infinite}, {name: entk_init}, {name: entk_pretrained, pretrain_n: 64}", ", {name: entk_init}")
    claims = results(tmp_path, spec, {"network": 0.5, "entk_init": 0.3})
    assert claims[1].status == "inconclusive" and "not in this spec: `ntk_infinite`" in claims[1].evidence
    assert claims[2].status == "not tested" and "`entk_pretrained`" in claims[2].evidence


def test_a_spec_whose_reference_is_not_a_trained_network_tests_no_claim(tmp_path):
    """Every claim compares the network with its kernels: a spec of kernels alone, compared with
    `ntk_infinite`, tests none of them, and says what would."""
    spec = SPEC.replace("learners: [{name: network}, {name: ntk_infinite}, {name: entk_init}, {name: entk_pretrained, pretrain_n: 64}]",
                        "learners: [{name: ntk_infinite}, {name: entk_init}]\ncompare: {reference: ntk_infinite}")
    claims = results(tmp_path, spec, {"ntk_infinite": 0.5, "entk_init": 0.3})
    for claim in claims.values():
        assert claim.status == "not tested"
        assert "the reference `ntk_infinite` is not a trained network" in claim.evidence and "`network`" in claim.evidence
    from ntkbench import Results
    from ntkbench.report import exponents_text

    text = exponents_text(Results.load(tmp_path / "results").summary)
    assert "claim 1, the network's exponent beats its infinite NTK's and its empirical NTK's at initialisation: not tested" in text


@pytest.mark.parametrize(("gaps", "status"), [((0.2, 0.2), "supported"), ((0.2, 0.0), "contradicted")])
def test_claim_three_reads_the_gap_at_the_largest_width(tmp_path, gaps, status):
    spec = SPEC.replace("learners: [{name: network}, {name: ntk_infinite}, {name: entk_init}, {name: entk_pretrained, pretrain_n: 64}]",
                        "learners: [{name: network}, {name: entk_init}]").replace("seeds: [0, 1, 2, 3]}", "seeds: [0, 1, 2, 3], width: [8, 64]}")
    spec_dict = parse_spec(spec).as_dict()
    store = RecordStore(tmp_path / "widths")
    store.write_spec(spec_dict)
    rng = np.random.default_rng(1)
    for cell in cells_of(spec_dict):
        gap = gaps[0] if cell.width == 8 else gaps[1]
        alpha = 0.3 + (gap if cell.learner_id == "network" else 0.0)
        store.write(spec_dict, cell, synthetic_record(spec_dict, cell, 0.9 * cell.n_train**-alpha * np.exp(rng.normal(0, 0.01))))
    claims = {claim.number: claim for claim in spec_claims(summarize(load_results(store.root)))}
    assert claims[3].status == status and "width 64" in claims[3].evidence


@pytest.mark.parametrize(("settled", "status"), [([0.7, None], "supported"), ([0.2, 0.3], "contradicted"), ([0.2, 0.8], "inconclusive")])
def test_claim_three_reads_when_the_kernel_settles_in_a_dynamics_spec(tmp_path, settled, status):
    spec = """\
name: moving
dataset: {name: teacher_student, dim: 4, pool: 500, n_test: 20}
architecture: {name: mlp, width: 8, depth: 1}
learners: [{name: network, steps: 10}]
sweep: {seeds: [0, 1]}
dynamics: {train_n: 16, probe_n: 8, checkpoints: 3}
"""
    spec_dict = parse_spec(spec).as_dict()
    store = RecordStore(tmp_path / "dynamics")
    store.write_spec(spec_dict)
    for cell, fraction in zip(cells_of(spec_dict), settled, strict=True):
        rows = [
            {"step": step, "fraction": step / 10, "distance_to_init": 0.1 * step, "distance_to_final": 1 - 0.1 * step,
             "velocity": 0.1, "after_kernel_test_error": 0.4 - 0.01 * step, "network_test_error": 0.5 - 0.02 * step}
            for step in (0, 5, 10)
        ]
        store.write(spec_dict, cell, synthetic_record(spec_dict, cell, 0.3, {"checkpoints": rows, "settled_fraction": fraction}))
    claims = {claim.number: claim for claim in spec_claims(summarize(load_results(store.root)))}
    assert claims[1].status == claims[2].status == "not tested"
    assert claims[3].status == status
    assert "final (after) kernel 0.300, of the trained network 0.300" in claims[3].evidence
