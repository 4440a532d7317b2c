"""Spec validation: every problem located by file, line, column and key, with a reason."""

from __future__ import annotations

import json

import pytest
from conftest import run_cli

from ntkbench import SpecError, load_spec, parse_spec

VALID = """\
name: tiny
description: a test spec
dataset: {name: fashion_mnist, n_test: 100}
architecture: {name: mlp, width: 32, depth: 1}
learners:
  - {name: network, optimizer: {name: sgd, learning_rate: 0.5, momentum: 0.9}, batch_size: 16, steps: 20}
  - {name: ntk_infinite, ridge: 1.0e-6}
  - {name: entk_init}
  - {name: entk_pretrained, pretrain_n: 32}
sweep: {n_train: [16, 32, 64], seeds: [0, 1]}
metric: test_error
fit: {n_min: 16}
"""


def problems(text: str) -> list:
    with pytest.raises(SpecError) as caught:
        parse_spec(text, "spec.yaml")
    return caught.value.problems


def only_problem(text: str):
    found = problems(text)
    assert len(found) == 1, [str(p) for p in found]
    return found[0]


def test_valid_spec_resolves_plugins_and_fills_defaults():
    spec = parse_spec(VALID, "spec.yaml")
    assert [learner.id for learner in spec.learners] == ["network", "ntk_infinite", "entk_init", "entk_pretrained"]
    assert spec.n_train == (16, 32, 64) and spec.seeds == (0, 1)
    pretrained = spec.learner("entk_pretrained").options
    assert pretrained.pretrain_n == 32 and pretrained.steps == 2000 and pretrained.ridge == 1e-6
    as_dict = spec.as_dict()
    assert as_dict["architecture"] == {
        "name": "mlp", "width": 32, "depth": 1, "w_std": pytest.approx(2**0.5), "b_std": 0.1, "parameterization": "ntk"
    }
    assert as_dict["learners"][0]["optimizer"] == {"name": "sgd", "learning_rate": 0.5, "momentum": 0.9, "nesterov": False}


def test_hash_is_stable_and_tracks_options():
    first, second = parse_spec(VALID), parse_spec(VALID)
    assert first.hash == second.hash
    # Writing a default explicitly does not change what the spec means.
    explicit = VALID.replace("{name: entk_init}", "{name: entk_init, ridge: 1.0e-6}")
    assert parse_spec(explicit).hash == first.hash
    assert parse_spec(VALID.replace("width: 32", "width: 64")).hash != first.hash


def test_a_validated_spec_is_revalidated_with_overrides():
    """`plan --pilot` and `ntkbench.run(spec, overrides=...)` re-parse a validated spec; its kernel
    learners' `as_dict` lists their performance-only options, which `as_input` leaves out."""
    from ntkbench.results import as_spec

    spec = parse_spec(VALID, "spec.yaml")
    assert "_performance_only" in spec.as_dict()["learners"][2]
    assert parse_spec(spec.as_input(), "spec.yaml").hash == spec.hash
    again = as_spec(spec, overrides=["sweep.seeds=[0,1,2]", "dataset.n_test=200"])
    assert again.seeds == (0, 1, 2) and again.dataset.options.n_test == 200
    assert again.learner("entk_init").options == spec.learner("entk_init").options


def test_unknown_top_level_key_is_located_with_a_suggestion():
    problem = only_problem(VALID + "metrik: test_loss\n")
    assert (problem.file, problem.line, problem.column) == ("spec.yaml", 13, 1)
    assert problem.key == "metrik"
    assert "unknown key" in problem.reason and "did you mean 'metric'" in problem.reason


def test_unknown_plugin_option_is_located_with_a_suggestion():
    problem = only_problem(VALID.replace("batch_size: 16", "bach_size: 16"))
    assert problem.key == "learners[0].bach_size"
    assert problem.line == 6
    assert "did you mean 'batch_size'" in problem.reason


def test_unknown_key_inside_a_nested_option_model():
    problem = only_problem(VALID.replace("momentum: 0.9", "momentun: 0.9"))
    assert problem.key == "learners[0].optimizer.momentun"
    assert "did you mean 'momentum'" in problem.reason


def test_wrong_type_names_key_and_reason():
    problem = only_problem(VALID.replace("steps: 20", "steps: many"))
    assert problem.key == "learners[0].steps"
    assert problem.line == 6
    assert "integer" in problem.reason


def test_unknown_plugin_name_gets_a_suggestion_and_the_known_names():
    problem = only_problem(VALID.replace("{name: entk_init}", "{name: entk_int}"))
    assert problem.key == "learners[2].name"
    assert problem.line == 8
    assert "unknown learner 'entk_int'" in problem.reason
    assert "did you mean 'entk_init'" in problem.reason
    assert "ntk_infinite" in problem.reason  # the list of known learners


def test_unknown_dataset_and_architecture_names():
    found = problems(VALID.replace("fashion_mnist", "fashion_mnsit").replace("name: mlp", "name: mpl"))
    reasons = {p.key: p.reason for p in found}
    assert "did you mean 'fashion_mnist'" in reasons["dataset.name"]
    assert "did you mean 'mlp'" in reasons["architecture.name"]


@pytest.mark.parametrize(
    ("n_train", "expected"),
    [
        ("[0, 16, 32]", "greater than 0"),
        ("[-16, 32, 64]", "greater than 0"),
        ("[16, 32, 32]", "repeated: [32]"),
        ("[16, 32.5, 64]", "integer"),
        ("[]", "at least 1"),
        ("[16, 32, 100000]", "exceeds the fashion_mnist training pool with these options (60000 samples)"),
    ],
)
def test_bad_n_values(n_train: str, expected: str):
    found = problems(VALID.replace("n_train: [16, 32, 64]", f"n_train: {n_train}").replace("fit: {n_min: 16}", "fit: {}"))
    assert any(p.key.startswith("sweep.n_train") and expected in p.reason for p in found), [str(p) for p in found]


def test_held_out_pretraining_samples_count_against_the_pool():
    text = VALID.replace("n_train: [16, 32, 64]", "n_train: [16, 32, 59990]").replace("pretrain_n: 32", "pretrain_n: 20")
    problem = only_problem(text)
    assert problem.key == "sweep.n_train"
    assert "plus the 20 samples learner 'entk_pretrained' holds out" in problem.reason
    # A class subset shrinks the pool: CIFAR-10 cats and dogs have 10000 training images.
    cats_dogs = VALID.replace("{name: fashion_mnist, n_test: 100}", "{name: cifar10, n_test: 100, classes: [3, 5]}")
    parse_spec(cats_dogs.replace("n_train: [16, 32, 64]", "n_train: [16, 32, 9968]"))
    assert "(10000 samples)" in only_problem(cats_dogs.replace("n_train: [16, 32, 64]", "n_train: [16, 32, 9969]")).reason


def test_fit_window_must_use_sweep_sizes():
    problem = only_problem(VALID.replace("fit: {n_min: 16}", "fit: {n_min: 20}"))
    assert problem.key == "fit.n_min" and "nearest: 16" in problem.reason


def test_duplicate_learner_ids():
    problem = only_problem(VALID.replace("{name: entk_init}", "{name: network}"))
    assert problem.key == "learners[2].name" and "used twice" in problem.reason
    # A distinct id makes the same plugin usable twice.
    parse_spec(VALID.replace("{name: entk_init}", "{name: network, id: network_adam, optimizer: {name: adam}}"))


def test_missing_required_keys_are_reported_together():
    found = problems("name: x\ndataset: {name: fashion_mnist}\n")
    keys = {p.key for p in found}
    assert {"architecture", "learners", "sweep"} <= keys
    assert all(p.reason == "required key is missing" for p in found if p.key in {"architecture", "learners", "sweep"})


def test_missing_plugin_option():
    problem = only_problem(VALID.replace("{name: entk_pretrained, pretrain_n: 32}", "{name: entk_pretrained}"))
    assert problem.key == "learners[3].pretrain_n" and problem.reason == "required key is missing"


def test_bad_name_pattern():
    problem = only_problem(VALID.replace("name: tiny", "name: Tiny Spec"))
    assert problem.key == "name" and "pattern" in problem.reason


def test_yaml_syntax_error_is_located():
    problem = only_problem("name: x\nlearners: [a, b\nsweep: {}\n")
    assert problem.line is not None and "invalid YAML" in problem.reason


def test_non_mapping_and_empty_files():
    assert "mapping" in only_problem("- a\n- b\n").reason
    assert "empty" in only_problem("").reason


def test_learner_that_needs_a_twin_is_refused_for_a_twinless_architecture(third_party_plugins):
    problem = only_problem(VALID.replace("name: mlp, width: 32, depth: 1", "name: twinless"))
    assert problem.key == "learners[1].name"
    assert "needs an infinite-width kernel" in problem.reason


def test_load_spec_reports_missing_file(tmp_path):
    with pytest.raises(SpecError, match="no such file"):
        load_spec(tmp_path / "absent.yaml")


def test_validate_cli_exit_codes_and_messages(write_spec):
    good = write_spec(VALID, "good.yaml")
    bad = write_spec(VALID.replace("steps: 20", "stepz: 20"), "bad.yaml")
    result = run_cli("validate", str(good))
    assert result.returncode == 0 and "ok" in result.stdout

    result = run_cli("validate", str(good), str(bad))
    assert result.returncode == 2
    assert f"{bad}:6:" in result.stderr and "learners[0].stepz" in result.stderr and "did you mean 'steps'" in result.stderr
    assert "Traceback" not in result.stderr


def test_run_refuses_invalid_spec_with_exit_2(write_spec, tmp_path):
    bad = write_spec(VALID.replace("{name: entk_init}", "{name: entk_int}"))
    result = run_cli("run", str(bad), "--out", str(tmp_path / "out"))
    assert result.returncode == 2
    assert "did you mean 'entk_init'" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()


def test_cli_usage_errors_exit_2():
    result = run_cli("run")
    assert result.returncode == 2 and "usage" in result.stderr and "Traceback" not in result.stderr


def test_schema_lists_plugin_options():
    result = run_cli("schema")
    assert result.returncode == 0
    schema = json.loads(result.stdout)
    text = json.dumps(schema)
    for option in ("pretrain_n", "batch_size", "ridge", "n_test", "width"):
        assert option in text
    assert set(schema["required"]) >= {"name", "dataset", "architecture", "learners", "sweep"}


def test_the_reference_learner_is_the_specs_and_must_be_one_of_its_learners():
    assert parse_spec(VALID).as_dict()["compare"] == {"reference": "network", "margin": 0.05}
    chosen = parse_spec(VALID + "compare: {reference: ntk_infinite}\n")
    assert chosen.reference == "ntk_infinite" and chosen.hash != parse_spec(VALID).hash
    problem = only_problem(VALID + "compare: {reference: ntk}\n")
    assert problem.key == "compare.reference" and "no learner has the id 'ntk'" in problem.reason
    assert problem.line == 13  # the line after VALID's twelve
    # Left out, the default reference may be absent: the leaderboard then compares nothing.
    without_network = VALID.replace(
        "  - {name: network, optimizer: {name: sgd, learning_rate: 0.5, momentum: 0.9}, batch_size: 16, steps: 20}\n", ""
    )
    assert parse_spec(without_network).reference == "network"


def test_the_margin_of_equivalence_is_a_positive_number():
    assert parse_spec(VALID + "compare: {margin: 0.1}\n").margin == 0.1
    for bad in ("0", "-0.05", ".nan", ".inf", "many"):
        problem = only_problem(VALID + f"compare: {{margin: {bad}}}\n")
        assert problem.key == "compare.margin" and problem.line == 13, (bad, problem)


def test_a_dynamics_spec_needs_a_learner_that_follows_its_kernel():
    text = VALID.split("learners:")[0] + (
        "learners: [{name: ntk_infinite}]\nsweep: {seeds: [0]}\ndynamics: {train_n: 32, probe_n: 16}\n"
    )
    problem = only_problem(text)
    assert problem.key == "learners[0].name"
    assert "does not follow its kernel through training" in problem.reason and "learners that do: network" in problem.reason


def test_learners_that_would_share_their_results_are_refused():
    twins = VALID.replace("{name: entk_init}", "{name: entk_init}\n  - {name: entk_init, id: again, implementation: 3}")
    problem = only_problem(twins)
    assert problem.key == "learners[3].name"
    assert "learners 'entk_init' and 'again' would compute the same results" in problem.reason
    assert "performance-only options (implementation)" in problem.reason
    renamed = VALID.replace("{name: ntk_infinite, ridge: 1.0e-6}", "{name: ntk_infinite, ridge: 1.0e-6}\n  - {name: ntk_infinite, id: k}")
    assert "would compute the same results: they differ only in their id; remove one" in only_problem(renamed).reason
    different = twins.replace("implementation: 3}", "implementation: 3, ridge: 1.0e-3}")
    assert "again" in [learner.id for learner in parse_spec(different).learners]


def test_ranking_by_test_loss_needs_one_kind_of_loss():
    mixed = VALID.replace("batch_size: 16, steps: 20}", "batch_size: 16, steps: 20, loss: cross_entropy}").replace(
        "metric: test_error", "metric: test_loss"
    )
    problem = only_problem(mixed)
    assert problem.key == "metric"
    assert "cross_entropy: network; squared_error: ntk_infinite, entk_init, entk_pretrained" in problem.reason
    assert parse_spec(mixed.replace("metric: test_loss", "metric: test_error")).metric == "test_error"


def test_a_problem_of_a_learner_is_located_at_its_own_entry_when_an_earlier_one_failed(third_party_plugins):
    text = VALID.replace("{name: network,", "{name: netwrk,").replace(
        "architecture: {name: mlp, width: 32, depth: 1}", "architecture: {name: twinless}"
    )
    found = problems(text)
    twin = next(problem for problem in found if "needs an infinite-width kernel" in problem.reason)
    assert twin.key == "learners[1].name"  # ntk_infinite, the second entry, though the first did not resolve
    pretrained = VALID.replace("{name: ntk_infinite, ridge: 1.0e-6}", "{name: ntk_infnite}").replace(
        "dataset: {name: fashion_mnist, n_test: 100}", "dataset: {name: fashion_mnist, n_test: 100, validation_n: 10}"
    ).replace("{name: entk_init}", "{name: entk_init, ridge: auto}\n  - {name: entk_init, id: twin, ridge: auto}")
    duplicate = next(problem for problem in problems(pretrained) if "would compute the same results" in problem.reason)
    assert duplicate.key == "learners[3].name"  # not [2]: the unknown learner at [1] resolved to nothing


def test_without_neural_tangents_a_twin_only_architecture_is_refused_with_the_install_command(monkeypatch):
    from ntkbench.architectures.mlp import MLPArchitecture
    from ntkbench.spec import _rules

    monkeypatch.setattr(_rules, "neural_tangents_installed", lambda: False)
    parse_spec(VALID, "spec.yaml")  # valid: the built-in kernels are native, neural-tangents is not needed
    monkeypatch.setattr(MLPArchitecture, "has_kernel_map", lambda self: False)  # as a third-party twin-only architecture
    monkeypatch.setattr(MLPArchitecture, "has_stax_twin", lambda self: True)
    problem = only_problem(VALID)
    assert problem.key == "learners[1].name"
    assert "needs the stax twin of architecture 'mlp'" in problem.reason
    assert "pip install --no-deps neural-tangents==0.6.5" in problem.reason


def test_without_neural_tangents_structured_derivatives_are_refused(monkeypatch):
    from ntkbench import nt_compat

    monkeypatch.setattr(nt_compat, "neural_tangents_installed", lambda: False)
    assert nt_compat.available_implementations() == (1, 2)
    problem = only_problem(VALID.replace("{name: entk_init}", "{name: entk_init, implementation: 3}"))
    assert "neural-tangents" in problem.reason


@pytest.mark.parametrize("command", ["schema", "list"])
def test_a_reader_that_closes_the_pipe_ends_the_command_quietly(command, tmp_path):
    """`ntkbench schema | head -1`: the closed pipe ends the command as a Unix tool ends, without
    "internal error" or a traceback on standard error."""
    import subprocess
    import sys

    errors = tmp_path / "stderr"
    # `true` reads nothing and exits long before the command (seconds to start) writes its first line.
    result = subprocess.run(
        f"'{sys.executable}' -m ntkbench.cli {command} 2>'{errors}' | true; exit ${{PIPESTATUS[0]}}",
        shell=True, executable="/bin/bash", capture_output=True, text=True, timeout=120,
    )
    assert errors.read_text() == "" and result.returncode == 141  # 128 + SIGPIPE, as a Unix tool


def test_a_spec_whose_learners_have_no_reference_is_told_so(write_spec, tmp_path):
    kernels_only = VALID.replace(
        "  - {name: network, optimizer: {name: sgd, learning_rate: 0.5, momentum: 0.9}, batch_size: 16, steps: 20}\n", ""
    )
    validated = run_cli("validate", str(write_spec(kernels_only)))
    assert validated.returncode == 0
    assert "note: no learner is compared: compare.reference is 'network', which no learner is" in validated.stderr
    assert "name one of ntk_infinite, entk_init, entk_pretrained as compare.reference" in validated.stderr
    named = kernels_only + "compare: {reference: ntk_infinite}\n"
    assert "note:" not in run_cli("validate", str(write_spec(named))).stderr
    assert "note:" not in run_cli("validate", str(write_spec(VALID))).stderr


def test_a_number_yaml_reads_as_text_and_a_scalar_for_a_list_are_explained(write_spec):
    spec = VALID.replace("dataset: {name: fashion_mnist, n_test: 100}", "dataset: {name: fashion_mnist, n_test: 100, image_size: 8}")
    spec = spec.replace("pretrain_n: 32}", "pretrain_n: 32, steps: 5e2}")
    result = run_cli("validate", str(write_spec(spec)))
    assert result.returncode == 2
    assert "dataset.image_size: Input should be a valid tuple: give a list, e.g. [8, 8]" in result.stderr
    assert "learners[3].steps: '5e2' is text to YAML, which reads a number in scientific notation only with a dot and " \
           "a signed exponent (5.0e+2); write 500" in result.stderr


def test_a_quoted_number_is_located_and_an_unquoted_one_is_a_number(write_spec):
    """`ridge: "1e-6"` names its key, as the other mistakes do; `ridge: 1e-6`, which PyYAML also reads
    as text, stays a number, and so does the same value given on the command line."""
    quoted = VALID.replace("ridge: 1.0e-6}", 'ridge: "1e-6"}').replace("n_test: 100}", "n_test: '100'}")
    found = problems(quoted)
    assert [(p.key, p.line) for p in found] == [("dataset.n_test", 3), ("learners[1].ridge", 7)]
    assert found[1].reason == "expected a number, got the string '1e-6': write it without quotes"
    assert parse_spec(VALID.replace("ridge: 1.0e-6}", "ridge: 1e-6}")).learner("ntk_infinite").options.ridge == 1e-6
    result = run_cli("validate", str(write_spec(VALID)), "--set", 'learners.ntk_infinite.ridge="1e-3"')
    assert result.returncode == 2 and "--set learners.ntk_infinite.ridge=\"1e-3\": learners[1].ridge: expected a number" in result.stderr


def test_problems_are_listed_in_the_order_of_their_lines():
    """Validation finds some problems (the plugins' options) before others (the sweep, the fit): they
    are listed by line, then column, whatever the order of finding."""
    text = VALID.replace("fit: {n_min: 16}", "fit: {n_min: x}").replace("batch_size: 16", "bach_size: 16")
    text = text.replace("seeds: [0, 1]}", "seeds: [0, -1]}")
    found = problems(text)
    lines = [(p.line, p.column) for p in found]
    assert len(found) == 3 and lines == sorted(lines), [str(p) for p in found]
