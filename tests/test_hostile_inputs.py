"""Hostile and careless input: every case ends, under a 4 GB address-space limit, with exit 2 and a
located message (or exit 0 where the input is legitimately valid), never a hang, a traceback or an
"internal error". The specs' cases are parsed by `parse_spec` in one resource-limited process;
the command line is checked once per way in (a spec's text, a file that is not a spec, `--out`).
A hang fails at `HANG` seconds, not at the suite's limit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HANG = 60
"""Seconds after which a case counts as hanging (each ends in well under one)."""
ADDRESS_SPACE = 4 << 30

BASE = """\
name: hostile
dataset: {name: teacher_student, dim: 4, pool: 500, n_test: 20}
architecture: {name: mlp, width: 8, depth: 1}
learners:
  - {name: network, steps: 10, batch_size: 8}
  - {name: ntk_infinite}
sweep: {n_train: [16, 32, 64], seeds: [0, 1]}
"""

LIMIT = f"import resource\nresource.setrlimit(resource.RLIMIT_AS, ({ADDRESS_SPACE}, {ADDRESS_SPACE}))\n"

LIMITED = LIMIT + "import os, sys\nos.execv(sys.executable, [sys.executable, '-m', 'ntkbench.cli', *sys.argv[1:]])\n"
"""Sets the address-space limit, then becomes the CLI (no `preexec_fn`: forking the JAX-loaded test
process is what JAX warns about)."""

PARSE_ALL = LIMIT + """\
import json, sys
from ntkbench import SpecError, parse_spec
outcomes = {}
for case, text in json.load(open(sys.argv[1])).items():
    try:
        parse_spec(text, "spec.yaml")
        outcomes[case] = {"valid": True}
    except SpecError as error:
        outcomes[case] = {"valid": False, "message": str(error)}
    except Exception as error:
        outcomes[case] = {"valid": False, "message": f"internal error: {type(error).__name__}: {error}"}
json.dump(outcomes, sys.stdout)
"""
"""Parses every case (a JSON file of texts) under the address-space limit, reporting each one's outcome."""


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """`ntkbench ARGS` under the address-space limit; a hang fails the test at `HANG` seconds."""
    return subprocess.run([sys.executable, "-c", LIMITED, *args], capture_output=True, text=True, cwd=cwd, timeout=HANG)


def assert_refused(result: subprocess.CompletedProcess, *expected: str) -> None:
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr, result.stderr
    for text in expected:
        assert text in result.stderr, result.stderr


HOSTILE_SPECS = {
    "recursive alias": ("a: &a [*a]\n" + BASE, "spec.yaml:1:8: the alias *a refers to a collection that contains it"),
    "recursive mapping alias": ("a: &a {b: *a}\n" + BASE, "the alias *a refers to a collection that contains it"),
    "1000 nested lists": ("k: " + "[" * 1000 + "]" * 1000 + "\n" + BASE, "collections are nested more than 32 deep"),
    "400 nested block lists": ("k:\n" + "".join("  " * i + "- \n" for i in range(400)) + BASE, "nested more than 32 deep"),
    "2000 nested block lists": ("k:\n" + "".join("  " * i + "- \n" for i in range(2000)) + BASE, "a spec is at most"),
    "billion laughs": (
        "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
        + "".join(f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 10)}]\n" for i in range(8))
        + BASE,
        "refusing a possible YAML bomb",
    ),
    "duplicate key": (BASE + "name: again\n", "spec.yaml:8:1: key 'name' is given twice in one mapping"),
    "boolean as n": (BASE.replace("[16, 32, 64]", "[true, 32, 64]"), "sweep.n_train[0]: expected int, got the boolean true"),
    "boolean as width": (BASE.replace("width: 8", "width: true"), "architecture.width: expected int, got the boolean true"),
    "infinite ridge": (BASE.replace("{name: ntk_infinite}", "{name: ntk_infinite, ridge: .inf}"), "learners[1].ridge"),
    "infinite learning rate": (
        BASE.replace("steps: 10", "steps: 10, optimizer: {name: sgd, learning_rate: .inf}"), "learners[0].optimizer.learning_rate"
    ),
    "nan weight scale": (BASE.replace("depth: 1", "depth: 1, w_std: .nan"), "architecture.w_std"),
    "width 10^9": (BASE.replace("width: 8", "width: 1000000000"), "architecture: the network has"),
    "depth 10^5": (BASE.replace("depth: 1", "depth: 100000"), "architecture.depth"),
    "width sweep beyond reason": (
        BASE.replace("depth: 1", "depth: 2").replace("seeds: [0, 1]", "seeds: [0, 1], width: [8, 4000000]"),
        "architecture: the network has 1.6e+13 parameters at width 4000000",
    ),
    "steps 1e20": (BASE.replace("steps: 10", "steps: 1.0e+20"), "learners[0].steps"),
    "seed 2^63": (BASE.replace("seeds: [0, 1]", "seeds: [0, 9223372036854775808]"), "sweep.seeds[1]"),
    "50 MB description": (BASE + "description: " + "x" * (50 << 20) + "\n", "a spec is at most"),
    "long description": (BASE + "description: " + "x" * 20_000 + "\n", "description"),
}


@pytest.fixture(scope="module")
def parsed(tmp_path_factory) -> dict[str, dict]:
    """Every hostile spec parsed by `parse_spec`, in one process under the address-space limit."""
    cases = {case: text for case, (text, _) in HOSTILE_SPECS.items()}
    cases["merge keys"] = "training: &training {steps: 10, batch_size: 8}\n" + BASE.replace(
        "{name: network, steps: 10, batch_size: 8}", "{<<: *training, name: network}").replace(
        "{name: ntk_infinite}", "{name: entk_final, <<: *training}")
    cases["an alias of a list"] = BASE.replace("learners:", "shared: &n [16, 32, 64]\nlearners:").replace(
        "sweep: {n_train: [16, 32, 64]", "sweep: {n_train: *n")
    path = tmp_path_factory.mktemp("hostile") / "cases.json"
    path.write_text(json.dumps(cases))
    result = subprocess.run([sys.executable, "-c", PARSE_ALL, str(path)], capture_output=True, text=True, timeout=HANG)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.parametrize("case", list(HOSTILE_SPECS))
def test_hostile_specs_are_refused_with_a_located_message(case, parsed):
    _, expected = HOSTILE_SPECS[case]
    outcome = parsed[case]
    assert not outcome["valid"] and "internal error" not in outcome["message"], outcome
    assert expected in outcome["message"], outcome["message"]


def test_a_hostile_spec_exits_2_from_the_command_line(tmp_path):
    text, expected = HOSTILE_SPECS["billion laughs"]
    (tmp_path / "spec.yaml").write_text(text)
    assert_refused(cli("validate", "spec.yaml", cwd=tmp_path), "spec.yaml", expected)


def test_legitimate_aliases_and_merge_keys_still_validate(parsed):
    # The anchor's own key is not a spec key: refused for that key alone, the merge itself accepted.
    for case, key in (("merge keys", "training"), ("an alias of a list", "shared")):
        message = parsed[case]["message"]
        assert f"{key}: unknown key" in message and "internal error" not in message, message
        assert len(message.strip().splitlines()) == 1, message


@pytest.mark.parametrize("kind", ["fifo", "device", "directory", "binary"])
def test_files_that_are_not_specs_are_refused_without_hanging(kind, tmp_path):
    target = tmp_path / "spec.yaml"
    if kind == "fifo":
        os.mkfifo(target)  # opening it for reading would block until a writer came
    elif kind == "device":
        target = Path("/dev/zero")  # reading it never ends
    elif kind == "directory":
        target.mkdir()
    else:
        target.write_bytes(b"\xff\xfe\x00name: x\n")
    assert_refused(cli("validate", str(target), cwd=tmp_path), str(target))


def test_out_pointing_at_a_file_is_refused(tmp_path):
    (tmp_path / "spec.yaml").write_text(BASE)
    (tmp_path / "taken").write_text("not a directory")
    assert_refused(cli("run", "spec.yaml", "--out", "taken", "--no-progress", cwd=tmp_path),
                   "--out taken: is a file, not a results directory")
    assert (tmp_path / "taken").read_text() == "not a directory"
