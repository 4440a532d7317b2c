"""Hostile and careless input: every case ends within seconds, under a 4 GB address-space limit, with
exit 2 and a located message (or exit 0 where the input is legitimately valid), never a hang, a
traceback or an "internal error"."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

SECONDS = 5
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


LIMITED = (
    "import os, resource, sys\n"
    f"resource.setrlimit(resource.RLIMIT_AS, ({ADDRESS_SPACE}, {ADDRESS_SPACE}))\n"
    "os.execv(sys.executable, [sys.executable, '-m', 'ntkbench.cli', *sys.argv[1:]])\n"
)
"""Sets the address-space limit, then becomes the CLI (no `preexec_fn`: forking the JAX-loaded test
process is what JAX warns about)."""


def cli(*args: str, cwd: Path) -> tuple[subprocess.CompletedProcess, float]:
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-c", LIMITED, *args], capture_output=True, text=True, cwd=cwd, timeout=SECONDS * 6
    )
    return result, time.monotonic() - started


def assert_refused(result: subprocess.CompletedProcess, seconds: float, *expected: str) -> None:
    assert result.returncode == 2, result.stdout + result.stderr
    assert seconds < SECONDS, f"took {seconds:.1f} s"
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


@pytest.mark.parametrize("case", list(HOSTILE_SPECS))
def test_hostile_specs_are_refused_quickly(case, tmp_path):
    text, expected = HOSTILE_SPECS[case]
    (tmp_path / "spec.yaml").write_text(text)
    assert_refused(*cli("validate", "spec.yaml", cwd=tmp_path), expected)


def test_legitimate_aliases_and_merge_keys_still_validate(tmp_path):
    (tmp_path / "spec.yaml").write_text(
        "training: &training {steps: 10, batch_size: 8}\n"
        + BASE.replace("{name: network, steps: 10, batch_size: 8}", "{<<: *training, name: network}").replace(
            "{name: ntk_infinite}", "{name: entk_final, <<: *training}"
        )
    )
    result, seconds = cli("validate", "spec.yaml", cwd=tmp_path)
    assert result.returncode == 2 and "training: unknown key" in result.stderr  # the anchor's own key is not a spec key
    (tmp_path / "spec.yaml").write_text(BASE.replace("learners:", "shared: &n [16, 32, 64]\nlearners:").replace(
        "sweep: {n_train: [16, 32, 64]", "sweep: {n_train: *n"))
    result, seconds = cli("validate", "spec.yaml", cwd=tmp_path)
    assert result.returncode == 2 and "shared: unknown key" in result.stderr and seconds < SECONDS


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
    result, seconds = cli("validate", str(target), cwd=tmp_path)
    assert_refused(result, seconds, str(target))


def test_out_pointing_at_a_file_is_refused(tmp_path):
    (tmp_path / "spec.yaml").write_text(BASE)
    (tmp_path / "taken").write_text("not a directory")
    result, seconds = cli("run", "spec.yaml", "--out", "taken", "--no-progress", cwd=tmp_path)
    assert_refused(result, seconds, "--out taken: is a file, not a results directory")
    assert (tmp_path / "taken").read_text() == "not a directory"
