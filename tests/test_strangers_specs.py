"""A spec from a stranger: reading, validating or planning it runs none of its code without consent
(`--trust-plugins`), and nothing in it puts script in the HTML leaderboard."""

from __future__ import annotations

import hashlib
import re

import pytest
import yaml
from conftest import run_cli, run_cli_process

import ntkbench
from ntkbench import SpecError

PROBE = """\
import pathlib
pathlib.Path({marker!r}).write_text("imported")
"""
SPEC = {
    "name": "stranger",
    "plugins": ["probe.py"],
    "dataset": {"name": "teacher_student", "dim": 4, "pool": 500, "n_test": 50},
    "architecture": {"name": "mlp", "width": 8, "depth": 1},
    "learners": [{"name": "ntk_infinite"}, {"name": "probe_learner", "ridge": 0.1}],
    "sweep": {"n_train": [16, 32, 64], "seeds": [0, 1]},
}


@pytest.fixture
def stranger(tmp_path):
    """A spec whose plugin file writes a marker when it is imported."""
    marker = tmp_path / "MARKER"
    (tmp_path / "probe.py").write_text(PROBE.format(marker=str(marker)))
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(SPEC))
    return tmp_path / "spec.yaml", marker


@pytest.mark.parametrize("command", [["validate"], ["plan"], ["run", "--no-progress"], ["list", "--spec"], ["check-ntk"]])
def test_no_command_imports_a_specs_plugins_without_consent(stranger, command):
    """In a fresh interpreter started in the spec's directory, as a user would run it: that
    directory is on its import path."""
    spec, marker = stranger
    result = run_cli_process(*command, str(spec), cwd=spec.parent)
    assert not marker.exists(), "the plugin file was imported"
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    digest = hashlib.sha256((spec.parent / "probe.py").read_bytes()).hexdigest()
    assert "not imported" in result.stderr and digest in result.stderr and "--trust-plugins" in result.stderr
    assert not (spec.parent / "runs").exists()  # nothing was run or written


def test_validate_checks_everything_else_and_names_each_file_once(stranger):
    spec, marker = stranger
    broken = {**SPEC, "sweep": {"n_train": [16, "many"], "seeds": [0]}, "plugins": ["probe.py", "elsewhere.py"]}
    spec.write_text(yaml.safe_dump(broken))
    result = run_cli("validate", str(spec))
    assert result.returncode == 2 and not marker.exists()
    assert "sweep.n_train[1]" in result.stderr  # the rest of the spec is still checked
    assert result.stderr.count("not imported") == 1 and "elsewhere.py (not found)" in result.stderr
    assert "probe_learner" not in result.stderr  # a name the files may define is not called unknown


def test_consent_imports_them(stranger):
    spec, marker = stranger
    result = run_cli("validate", str(spec), "--trust-plugins")
    assert marker.exists()
    assert result.returncode == 2 and "probe.py defines no plugin" in result.stderr
    marker.unlink()
    # --plugin on the command line is consent too, for that file (in a fresh interpreter: this one
    # imported it already).
    bare = spec.parent / "bare.yaml"
    bare.write_text(yaml.safe_dump({key: value for key, value in SPEC.items() if key != "plugins"}))
    run_cli_process("validate", str(bare), "--plugin", str(spec.parent / "probe.py"))
    assert marker.exists()


def test_the_python_api_asks_for_consent_too(stranger, monkeypatch):
    spec, marker = stranger
    monkeypatch.chdir(spec.parent)
    with pytest.raises(SpecError, match="--trust-plugins"):
        ntkbench.run(str(spec))
    with pytest.raises(SpecError, match="not imported"):
        ntkbench.load_spec(spec)
    assert not marker.exists()
    with pytest.raises(SpecError, match="defines no plugin"):
        ntkbench.load_spec(spec, trust_plugins=True)
    assert marker.exists()


HOSTILE = (
    "<script>document.body.setAttribute('data-pwned', 'script')</script> "
    "<img src=x onerror=\"document.body.setAttribute('data-pwned', 'onerror')\"> "
    "[a](javascript:document.body.setAttribute('data-pwned','href')) "
    "[b](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==) [c](JaVaScRiPt:alert(1)) "
    "<sub onclick=alert(1)>x</sub> ![d](javascript:alert(1))"
)


def hostile_results(directory) -> None:
    """A results directory whose every free text holds script: the description (also as a line of
    its own), a failed cell's reason, the library versions, the device and the machine."""
    from conftest import synthetic_record

    from ntkbench import parse_spec
    from ntkbench.storage import RecordStore, cells_of

    spec = {key: value for key, value in SPEC.items() if key != "plugins"}
    spec["learners"] = [{"name": "network", "steps": 5}, {"name": "ntk_infinite"}]
    spec["description"] = HOSTILE + "\n\n![e](javascript:alert(1))\n\n# " + HOSTILE
    spec_dict = parse_spec(spec).as_dict()
    store = RecordStore(directory)
    store.write_spec(spec_dict)
    for index, cell in enumerate(cells_of(spec_dict)):
        record = synthetic_record(spec_dict, cell, 0.5 * cell.n_train**-0.3)
        record = record.model_copy(update={"versions": {"ntkbench": HOSTILE}, "device": {"platform": HOSTILE, "kind": HOSTILE, "count": 1},
                                           "machine": {"system": HOSTILE, "machine": "x", "cpu_count": 2}})
        if index == 0:
            record = record.model_copy(update={"status": "failed", "failure": HOSTILE, "metrics": {}})
        store.write(spec_dict, cell, record)


def test_the_html_page_shows_a_strangers_text_and_runs_none_of_it(tmp_path):
    from test_report_views import _chromium, _render_in_chromium

    hostile_results(tmp_path / "results")
    page = tmp_path / "page.html"
    result = run_cli("leaderboard", "--results", str(tmp_path / "results"), "--html", str(page))
    assert result.returncode == 0, result.stderr
    text = page.read_text()
    assert "Content-Security-Policy" in text and "script-src 'sha256-" in text
    assert text.count("<script>") == 1  # the sort script
    assert not any(f'{attribute}="{scheme}' in text.lower() for attribute in ("href", "src") for scheme in ("javascript:", "data:"))
    if _chromium() is None:
        pytest.skip("no headless Chromium here (CI installs it)")
    dom, console = _render_in_chromium(page)
    assert "data-pwned=" not in dom.replace("'data-pwned'", "")  # no payload set its attribute
    assert 'data-sortable-tables="' in dom  # the page's own script ran
    assert "javascript:" not in "".join(re.findall(r'(?:href|src)="([^"]*)"', dom)).lower()
    assert not console, console
