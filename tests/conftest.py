"""Shared fixtures: a third-party plugin distribution made on the fly, spec files, data checks."""

from __future__ import annotations

import contextlib
import io
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

FAKE_PLUGINS = Path(__file__).parent / "fake_plugins"
REPO = Path(__file__).resolve().parents[1]


def jax_compilation_cache() -> Path:
    """The suite's persistent JAX compilation cache: one directory per jax, jaxlib and Python, so
    that an upgrade never reads what another version wrote (JAX keys its entries by its version
    too; the directory keeps the versions' entries apart, and old ones easy to delete)."""
    from importlib.metadata import version

    python = "py{}{}".format(*sys.version_info[:2])
    return REPO / ".jax-cache" / f"jax-{version('jax')}-jaxlib-{version('jaxlib')}-{python}"


COMPILATION_CACHE = {
    "JAX_COMPILATION_CACHE_DIR": str(jax_compilation_cache()),
    # Also the short compilations: most of the suite's are tenths of a second, each many times over.
    "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0.1",
    # A size limit turns on JAX's file lock, so that the processes of a session (xdist workers, the
    # CLI subprocesses, Ray workers) never read an entry another one is still writing.
    "JAX_COMPILATION_CACHE_MAX_SIZE": str(4 * 2**30),
}
for _name, _value in COMPILATION_CACHE.items():
    os.environ.setdefault(_name, _value)  # inherited by every process the suite starts


def pytest_configure(config: pytest.Config) -> None:
    """Refuse to rewrite the parity reference under CI; the compilation cache in this process too,
    should jax have been imported before this file."""
    if os.environ.get("NTKBENCH_WRITE_PARITY") and os.environ.get("CI"):
        raise pytest.UsageError(
            "NTKBENCH_WRITE_PARITY is set under CI: it rewrites tests/data/stack_parity/ from this run, so the "
            "parity tests would pass by construction. Regenerate the reference on the default stack, outside CI."
        )
    if "jax" in sys.modules:
        import jax

        jax.config.update("jax_compilation_cache_dir", os.environ["JAX_COMPILATION_CACHE_DIR"])
        jax.config.update("jax_persistent_cache_min_compile_time_secs", float(os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"]))
        jax.config.update("jax_compilation_cache_max_size", int(os.environ["JAX_COMPILATION_CACHE_MAX_SIZE"]))

ENTRY_POINTS = """\
[ntkbench.datasets]
blobs = ntkbench_testplugins:Blobs

[ntkbench.architectures]
twinless = ntkbench_testplugins:Twinless
tuned_mlp = ntkbench_testplugins:TunedMLP

[ntkbench.learners]
always_fails = ntkbench_testplugins:AlwaysFails
mean_classifier = ntkbench_testplugins:MeanClassifier
slow_mean = ntkbench_testplugins:SlowMean
crashes_its_process = ntkbench_testplugins:CrashesItsProcess
not_a_plugin = ntkbench_testplugins:NotAPlugin
from_the_future = ntkbench_testplugins:FromTheFuture
broken = ntkbench_brokenplugin:Learner

[ntkbench.trackers]
full_disk = ntkbench_testplugins:FullDiskTracker
hanging = ntkbench_testplugins:HangingTracker
"""


@pytest.fixture(autouse=True, scope="session")
def measurements_of_this_session(tmp_path_factory: pytest.TempPathFactory):
    """Measurements of compiled computations (`numerics/_measured.py`) start empty in every test
    session and are kept in a temporary file, never in the user's data root: a test that counts
    compilations must not find them measured by an earlier session."""
    from ntkbench.numerics import _measured

    path = tmp_path_factory.mktemp("measured") / _measured.FILE
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_measured, "_SECTIONS", {})
        patch.setattr(_measured, "_path", lambda: path)
        yield


def _fake_distribution(site: Path) -> None:
    """A dist-info of the fake distribution `ntkbench-testplugins` in `site`."""
    dist_info = site / "ntkbench_testplugins-0.0.1.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: ntkbench-testplugins\nVersion: 0.0.1\n")
    (dist_info / "entry_points.txt").write_text(ENTRY_POINTS)


@pytest.fixture
def third_party_plugins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Install a fake distribution `ntkbench-testplugins` (a dist-info on sys.path).

    Returns the environment a subprocess needs to see it too.
    """
    site = tmp_path / "site"
    _fake_distribution(site)
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.syspath_prepend(str(FAKE_PLUGINS))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(site), str(FAKE_PLUGINS), env.get("PYTHONPATH", "")])
    return env


@pytest.fixture(scope="session")
def ray_head(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The address of one local Ray head for the whole session (`ray start --head`), started when a
    test first asks for it: runs join it with `--address` instead of starting an instance each.
    Its workers see the third-party test plugins (they have only the head's environment)."""
    pytest.importorskip("ray", reason="the Ray executor's tests need ntkbench[ray]")
    site = tmp_path_factory.mktemp("ray_site")
    _fake_distribution(site)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # A test cluster without Ray's token authentication, so that drivers join it with an address alone.
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(site), str(FAKE_PLUGINS), os.environ.get("PYTHONPATH", "")]),
               RAY_AUTH_MODE="disabled")
    log = (tmp_path_factory.mktemp("ray_head") / "head.log").open("w")
    head = subprocess.Popen(
        [str(Path(sys.executable).with_name("ray")), "start", "--head", "--block", f"--port={port}",
         "--num-cpus=2", "--include-dashboard=false", "--disable-usage-stats"],
        stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True,
    )
    address = f"127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while subprocess.run([str(Path(sys.executable).with_name("ray")), "status", f"--address={address}"],
                             capture_output=True, env=env).returncode != 0:
            assert head.poll() is None and time.monotonic() < deadline, f"the Ray head did not start ({log.name})"
            time.sleep(0.5)
        yield address
    finally:
        # Every process of the head is in its session; a graceful stop would wait 30 s for a drain.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(head.pid, signal.SIGKILL)
        head.wait(timeout=60)
        log.close()


@pytest.fixture
def write_spec(tmp_path: Path):
    """Write a spec file from YAML text (dedented) and return its path."""

    def write(text: str, name: str = "spec.yaml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text).lstrip())
        return path

    return write


def spec_page(results: Path, board: Path | None = None) -> str:
    """The leaderboard page of the spec whose results are in `results` (beside `board`, by default
    the run's own `results/leaderboard.md`)."""
    import json

    name = json.loads((results / "spec.json").read_text())["name"]
    return ((board or results / "leaderboard.md").parent / f"{name}.md").read_text()


def run_cli(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run `ntkbench ARGS` in this process (`ntkbench.cli.main`), as the command would in its own:
    the exit code and the text it writes to stdout and stderr, with `env` as the whole environment
    and `cwd` as the working directory while it runs (both restored after). It imports nothing
    again and reuses what this process compiled; `run_cli_process` is for the tests whose subject
    is the process itself (kills, locks between processes, resource limits, what a fresh
    interpreter imports)."""
    from ntkbench.cli import main

    saved_environment, saved_directory = dict(os.environ), os.getcwd()
    stdout, stderr = io.StringIO(), io.StringIO()
    try:
        if env is not None:
            os.environ.clear()
            os.environ.update(env)
        if cwd is not None:
            os.chdir(cwd)
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            try:
                code = main(list(args))
            except SystemExit as exit_:  # argparse: --help, --version, a usage error
                code = exit_.code if isinstance(exit_.code, int) else 0 if exit_.code is None else 1
    finally:
        os.chdir(saved_directory)
        os.environ.clear()
        os.environ.update(saved_environment)
    return subprocess.CompletedProcess(["ntkbench", *args], code, stdout.getvalue(), stderr.getvalue())


def run_cli_process(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run `python -m ntkbench.cli ARGS` in a subprocess, capturing text output."""
    return subprocess.run(
        [sys.executable, "-m", "ntkbench.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=900,
    )


def fashion_mnist_available() -> bool:
    from ntkbench.datasets.fashion_mnist import FashionMNIST

    return all(FashionMNIST.store.locate(file) is not None for file in FashionMNIST.store.files)


requires_fashion_mnist = pytest.mark.skipif(
    not fashion_mnist_available() and not os.environ.get("CI"),
    reason="Fashion-MNIST files not installed (sudo apt-get install dataset-fashion-mnist); CI installs them",
)


def synthetic_record(spec_dict: dict, cell, error: float = 0.5, info: dict | None = None):
    """A successful record of `cell` with the given test error, as the runner would write it."""
    from ntkbench.storage import Record, cell_key
    from ntkbench.storage import RECORD_FORMAT

    return Record(
        format=RECORD_FORMAT,
        spec={"name": spec_dict["name"], "hash": "0" * 64, "source": "spec.yaml"},
        cell={"learner_id": cell.learner_id, "n_train": cell.n_train, "seed": cell.seed, "width": cell.width,
              "key": cell_key(spec_dict, cell)},
        dataset=spec_dict["dataset"],
        architecture=spec_dict["architecture"],
        learner=next(learner for learner in spec_dict["learners"] if learner["id"] == cell.learner_id),
        wall_seconds=1.0,
        created="2026-11-29T00:00:00+00:00",
        status="ok",
        failure=None,
        metrics={"test_error": error, "test_loss": 2 * error},
        info=info or {},
        versions={"ntkbench": "0"},
        device={"platform": "cpu", "kind": "cpu", "count": 1},
        machine={"system": "Linux", "machine": "x86_64", "cpu_count": 2},
    )
