"""Plugin discovery through entry points: built-ins like third parties, broken plugins isolated."""

from __future__ import annotations

import pytest
from conftest import run_cli

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
    assert "ntkbench 0.1.0" in lines["network"] and "built-in" in lines["network"]
    assert "ntkbench-testplugins 0.0.1" in lines["mean_classifier"] and "third-party" in lines["mean_classifier"]
    assert "BROKEN" in lines["broken"] and "a_dependency_that_is_not_installed" in lines["broken"]
    assert "ok" in lines["entk_pretrained"]
    assert "written for plugin API 99; this ntkbench provides plugin API 1" in lines["from_the_future"]
    assert " 1 " in lines["network"]  # the API version column
    assert "3 plugin(s) failed to load" in result.stderr


def test_doctor_reports_devices_pinned_versions_neural_tangents_and_plugins(capsys):
    from ntkbench.cli import main

    assert main(["doctor"]) == 0  # the pinned stack, as `make install` sets it up
    out = capsys.readouterr().out
    assert "devices: 1 x cpu (cpu)" in out
    for name, version in (("jax", "0.5.3"), ("jaxlib", "0.5.3"), ("equinox", "0.13.8"), ("neural-tangents", "0.6.5")):
        assert f"{name}: {version} ok" in out
    assert "neural-tangents: imports; TensorFlow not loaded" in out
    learners = next(line for line in out.splitlines() if line.startswith("learners: "))
    assert {"network", "ntk_infinite", "entk_init", "entk_pretrained"} <= set(learners[len("learners: "):].split(", "))


def test_doctor_names_a_broken_plugin_and_exits_1(third_party_plugins, capsys):
    from ntkbench.cli import main

    assert main(["doctor"]) == 1
    learners = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("learners: "))
    assert "BROKEN: broken (" in learners and "mean_classifier" in learners


def test_doctor_takes_its_pins_from_the_package_metadata():
    import tomllib

    from conftest import REPO

    from ntkbench.cli._diagnose import pinned_versions
    from ntkbench.nt_compat import SUPPORTED_VERSION

    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    pinned = dict(requirement.split("==") for requirement in declared if "==" in requirement)
    assert pinned_versions() == pinned | {"neural-tangents": SUPPORTED_VERSION}
    assert {"jax", "jaxlib", "equinox", "optax"} <= set(pinned)
