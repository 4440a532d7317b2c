"""Plugin discovery through entry points: built-ins like third parties, broken plugins isolated."""

from __future__ import annotations

import pytest
from conftest import REPO, run_cli

import ntkbench
from ntkbench import Learner, parse_spec
from ntkbench.api._registry import PluginLoadError, registered

BUILTINS = {
    "dataset": {"fashion_mnist"},
    "architecture": {"mlp"},
    "learner": {"network", "ntk_infinite", "entk_init", "entk_pretrained"},
}


def load_learner(name: str) -> type:
    return registered("learner")[name].load()


@pytest.mark.parametrize("kind", sorted(BUILTINS))
def test_builtins_register_through_entry_points(kind):
    entries = registered(kind)
    assert BUILTINS[kind] <= set(entries)
    for name in BUILTINS[kind]:
        assert entries[name].distribution == "ntkbench" and entries[name].builtin
        entries[name].load()


def test_third_party_plugins_are_discovered(third_party_plugins):
    learners = registered("learner")
    assert {"always_fails", "mean_classifier", "broken"} <= set(learners)
    assert learners["mean_classifier"].distribution == "ntkbench-testplugins"
    assert not learners["mean_classifier"].builtin
    assert issubclass(load_learner("mean_classifier"), Learner)


def test_broken_plugin_fails_alone(third_party_plugins):
    with pytest.raises(PluginLoadError, match="failed to import: ModuleNotFoundError.*a_dependency_that_is_not_installed"):
        load_learner("broken")
    with pytest.raises(PluginLoadError, match="not a subclass of ntkbench.Learner"):
        load_learner("not_a_plugin")
    with pytest.raises(PluginLoadError, match="from_the_future.*written for plugin API 99; this ntkbench provides plugin API 1"):
        load_learner("from_the_future")
    # Every other plugin still loads.
    for name in BUILTINS["learner"] | {"mean_classifier", "always_fails"}:
        load_learner(name)


def test_spec_naming_a_broken_plugin_reports_its_import_error(third_party_plugins):
    from ntkbench import SpecError

    text = """\
name: x
dataset: {name: blobs}
architecture: {name: mlp, width: 8, depth: 1}
learners: [{name: broken}, {name: mean_classifier}]
sweep: {n_train: [8, 16, 32], seeds: [0]}
"""
    with pytest.raises(SpecError) as caught:
        parse_spec(text, "x.yaml")
    (problem,) = caught.value.problems
    assert problem.key == "learners[0].name" and "a_dependency_that_is_not_installed" in problem.reason


def test_list_shows_every_plugin_with_its_distribution(third_party_plugins):
    result = run_cli("list", env=third_party_plugins)
    assert result.returncode == 0, result.stderr
    lines = {line.split()[1]: line for line in result.stdout.splitlines()[2:] if line.strip()}
    assert f"ntkbench {ntkbench.__version__}" in lines["network"] and "built-in" in lines["network"]
    assert "ntkbench-testplugins 0.0.1" in lines["mean_classifier"] and "third-party" in lines["mean_classifier"]
    assert "BROKEN" in lines["broken"] and "a_dependency_that_is_not_installed" in lines["broken"]
    assert "ok" in lines["entk_pretrained"]
    assert "written for plugin API 99; this ntkbench provides plugin API 1" in lines["from_the_future"]
    assert " 1 " in lines["network"]  # the API version column
    assert "3 plugin(s) failed to load" in result.stderr
    assert lines["mlflow"].startswith("tracker") and "built-in" in lines["mlflow"] and lines["mlflow"].endswith("ok")
    assert "ntkbench_testplugins:FullDiskTracker" in lines["full_disk"] and "third-party" in lines["full_disk"]


def test_list_says_which_trackers_lack_their_backend(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *rest: None if name == "wandb" else real(name, *rest))
    lines = {line.split()[1]: line for line in run_cli("list").stdout.splitlines()[2:] if line.strip()}
    assert lines["wandb"].endswith("backend not installed: pip install 'ntkbench[wandb]'")
    assert lines["tensorboard"].endswith("ok")


@pytest.mark.parity
def test_doctor_reports_devices_versions_the_stack_neural_tangents_and_plugins(capsys):
    from ntkbench.cli import main
    from ntkbench.cli._diagnose import TESTED_STACKS, tested_stack

    assert main(["doctor"]) == 0  # a tested stack, as `make install` sets it up
    out = capsys.readouterr().out
    assert "devices: 1 x cpu (cpu)" in out
    stack = tested_stack()
    assert stack is not None and f"stack: {stack} (tested by CI)" in out
    for name in ("jax", "jaxlib", "equinox", "optax"):
        assert f"{name}: {TESTED_STACKS[stack][name]} ok" in out
    assert "neural-tangents: 0.6.5 ok" in out
    assert "neural-tangents: imports; TensorFlow not loaded; empirical NTK implementations 1, 2" in out
    assert "CUDA: no jax CUDA plugin installed" in out
    learners = next(line for line in out.splitlines() if line.startswith("learners: "))
    assert {"network", "ntk_infinite", "entk_init", "entk_pretrained"} <= set(learners[len("learners: "):].split(", "))


def test_doctor_names_a_broken_plugin_and_exits_1(third_party_plugins, capsys):
    from ntkbench.cli import main

    assert main(["doctor"]) == 1
    learners = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("learners: "))
    assert "BROKEN: broken (" in learners and "mean_classifier" in learners


def test_doctor_takes_its_ranges_from_the_package_metadata():
    import tomllib

    from conftest import REPO

    from ntkbench.cli._diagnose import required_versions
    from ntkbench.nt_compat import SUPPORTED_VERSION

    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    ranges = {requirement.split(">")[0].split("=")[0]: requirement[len(requirement.split(">")[0].split("=")[0]):]
              for requirement in declared if requirement.split(">")[0].split("=")[0] in {"jax", "jaxlib", "equinox", "optax"}}
    required = {name: set(specifiers.split(",")) for name, specifiers in required_versions().items()}
    assert required == {name: set(specifiers.split(",")) for name, specifiers in ranges.items()} | {
        "neural-tangents": {f"=={SUPPORTED_VERSION}"}}
    assert ranges["jax"] == ">=0.5.3,<0.13"


def test_the_tested_stacks_are_the_constraint_files():
    from conftest import REPO

    from ntkbench.cli._diagnose import TESTED_STACKS

    files = {path.stem: path for path in (REPO / "constraints").glob("*.txt")}
    assert set(files) == set(TESTED_STACKS)
    for name, path in files.items():
        pins = dict(line.split("==") for line in path.read_text().splitlines() if line and not line.startswith("#"))
        assert pins == {key: value for key, value in TESTED_STACKS[name].items() if key != "python"}, name
        assert name.startswith("py" + TESTED_STACKS[name]["python"].replace(".", "") + "-")


def test_version_ranges_are_read_as_pip_reads_them():
    from ntkbench.cli._diagnose import _satisfies

    assert _satisfies("0.12.0.1", ">=0.5.3,<0.13") and _satisfies("0.5.3", ">=0.5.3,<0.13")
    assert not _satisfies("0.13.0", ">=0.5.3,<0.13") and not _satisfies("0.5.2", ">=0.5.3,<0.13")
    assert _satisfies("0.6.5", "==0.6.5") and not _satisfies("0.6.4", "==0.6.5")


def test_ntkbench_says_its_version_which_is_the_packages_and_the_changelogs():
    import tomllib

    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    result = run_cli("--version")
    assert result.returncode == 0 and result.stdout.strip() == f"ntkbench {declared}" == f"ntkbench {ntkbench.__version__}"
    assert f"## {declared} - " in (REPO / "CHANGELOG.md").read_text()
    assert f"Rendered by ntkbench {declared}" in (REPO / "leaderboard" / "README.md").read_text()


def test_the_citation_file_names_this_version_and_the_paper_it_tests():
    import tomllib

    import yaml

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    citation = yaml.safe_load((REPO / "CITATION.cff").read_text())
    assert citation["cff-version"] == "1.2.0" and citation["message"] and citation["authors"]
    assert str(citation["version"]) == project["version"] and citation["license"] == project["license"]["text"]
    paper = citation["preferred-citation"]
    assert [author["family-names"] for author in paper["authors"]] == ["Vyas", "Bansal", "Nakkiran"]
    assert "Limitations of the NTK" in paper["title"] and paper["year"] == 2022
