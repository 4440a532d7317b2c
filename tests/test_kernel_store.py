"""Kernels kept tile by tile: the same matrix bit for bit, each tile computed once across runs, specs,
nested sizes and processes, a killed computation resumed from its last tile, a corrupt tile kept
aside and recomputed, a full disk stopped with every tile kept, and `ntkbench kernels` listing it."""

from __future__ import annotations

import errno
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import yaml
from conftest import REPO, run_cli

import ntkbench
from ntkbench.api import RunFailure, StoredKernel
from ntkbench.numerics import _kernels
from ntkbench.numerics._kernels import evaluate_tiled
from ntkbench.storage import TileDirectory, stored_kernels

DESCRIPTION = {"kernel": "test rbf", "scale": 1.0}


def rbf(x1, x2):
    """A kernel of two batches that jax computes (any function of two arrays serves)."""
    import jax.numpy as jnp

    squared = jnp.sum(x1**2, 1)[:, None] + jnp.sum(x2**2, 1)[None] - 2 * x1 @ x2.T
    return jnp.exp(-squared / x1.shape[1])


def inputs(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, 5)).astype(np.float32)


@pytest.fixture
def counted(monkeypatch):
    """How many tiles were computed (not read from a store) since the test began."""
    computed = []
    real = _kernels.TileComputer.tiles

    def counting(self, origins):
        for origin, tile in real(self, origins):
            computed.append(origin)
            yield origin, tile

    monkeypatch.setattr(_kernels.TileComputer, "tiles", counting)
    return computed


def test_a_stored_kernel_is_the_same_matrix_and_is_computed_once(tmp_path, counted):
    x, test = inputs(100), inputs(30, seed=1)
    plain = evaluate_tiled(rbf, x, max_tile=32), evaluate_tiled(rbf, test, x, max_tile=32)
    assert len(counted) == 10 + 4  # 4 x 4 blocks on and above the diagonal; 1 x 4 test blocks
    store, reports = TileDirectory(tmp_path), []
    stored = StoredKernel(store, DESCRIPTION, lambda done, total: reports.append((done, total)))
    first = evaluate_tiled(rbf, x, max_tile=32, stored=stored), evaluate_tiled(rbf, test, x, max_tile=32, stored=stored)
    assert all(np.array_equal(a, b) for a, b in zip(plain, first))
    assert len(counted) == 2 * 14 and reports[-1] == (4, 4) and (10, 10) in reports
    again = evaluate_tiled(rbf, x, max_tile=32, stored=stored), evaluate_tiled(rbf, test, x, max_tile=32, stored=stored)
    assert all(np.array_equal(a, b) for a, b in zip(plain, again)) and len(counted) == 2 * 14  # all read back
    other = StoredKernel(store, {**DESCRIPTION, "scale": 2.0})  # another kernel: nothing of the first is read
    evaluate_tiled(rbf, x, max_tile=32, stored=other)
    assert len(counted) == 2 * 14 + 10


def test_a_larger_nested_set_reads_the_leading_blocks_of_the_smaller(tmp_path, counted):
    x, stored = inputs(128), StoredKernel(TileDirectory(tmp_path), DESCRIPTION)
    evaluate_tiled(rbf, x[:64], max_tile=32, stored=stored)
    assert len(counted) == 3
    larger = evaluate_tiled(rbf, x, max_tile=32, stored=stored)
    assert len(counted) == 3 + 10 - 3  # of 10 blocks, the 3 of the first 64 samples were stored
    assert np.array_equal(larger, evaluate_tiled(rbf, x, max_tile=32))


def test_a_corrupt_tile_is_kept_aside_and_computed_again(tmp_path, counted):
    x, store = inputs(64), TileDirectory(tmp_path)
    stored = StoredKernel(store, DESCRIPTION)
    expected = evaluate_tiled(rbf, x, max_tile=32, stored=stored)
    tile = sorted(tmp_path.glob("*/tiles/*.npy"))[0]
    content = bytearray(tile.read_bytes())
    content[-1] ^= 0xFF
    tile.write_bytes(bytes(content))
    with pytest.warns(UserWarning, match="did not match its checksum: set aside"):
        again = evaluate_tiled(rbf, x, max_tile=32, stored=stored)
    assert np.array_equal(again, expected) and len(counted) == 3 + 1
    assert [path.name for path in store.set_aside] == [tile.name] and store.set_aside[0].read_bytes() == bytes(content)
    assert len(list(tmp_path.glob("*/tiles/*.npy"))) == 3


def test_a_full_disk_stops_with_a_message_and_keeps_every_tile_written(tmp_path, monkeypatch):
    from ntkbench.storage import _kernel_tiles

    x, writes = inputs(64), []
    real = _kernel_tiles.write_atomically

    def filling(path, write, **options):
        if len(writes) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        writes.append(path)
        real(path, write, **options)

    monkeypatch.setattr(_kernel_tiles, "write_atomically", filling)
    stored = StoredKernel(TileDirectory(tmp_path), DESCRIPTION)
    with pytest.raises(RunFailure, match="No space left on device. Every tile written before is kept"):
        evaluate_tiled(rbf, x, max_tile=32, stored=stored)
    assert sorted(tmp_path.glob("*/tiles/*.npy")) == sorted(writes)
    assert not list(tmp_path.rglob("*.tmp"))


SLOW_KERNEL = textwrap.dedent("""
    import sys, time
    import numpy as np
    from ntkbench.api import StoredKernel
    from ntkbench.numerics import _kernels
    from ntkbench.storage import TileDirectory

    computed = []
    real = _kernels.TileComputer.tiles

    def counting(self, origins):
        for origin, tile in real(self, origins):
            computed.append(origin)
            yield origin, tile

    _kernels.TileComputer.tiles = counting

    def slow(x1, x2):
        time.sleep(float(sys.argv[2]))
        return np.asarray(x1) @ np.asarray(x2).T

    if len(sys.argv) > 4:  # a barrier: start computing when this many processes are ready
        import os, pathlib
        barrier = pathlib.Path(sys.argv[4])
        (barrier / str(os.getpid())).touch()
        while len(list(barrier.iterdir())) < int(sys.argv[5]):
            time.sleep(0.01)

    x = np.random.default_rng(0).normal(size=(96, 5)).astype(np.float32)
    matrix = _kernels.evaluate_tiled(slow, x, max_tile=16, stored=StoredKernel(TileDirectory(sys.argv[1]), {"kernel": "slow"}))
    np.save(sys.argv[3], matrix)
    print(len(computed))
""")


def _slow(tmp_path, store, seconds: float, out: str, *barrier: str) -> subprocess.Popen:
    script = tmp_path / "slow.py"
    script.write_text(SLOW_KERNEL)
    return subprocess.Popen([sys.executable, str(script), str(store), str(seconds), str(tmp_path / out), *barrier],
                            stdout=subprocess.PIPE, text=True, cwd=REPO)


def _wait_for_tiles(store, count: int, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 120
    while len(list(store.glob("*/tiles/*.npy"))) < count:
        assert process.poll() is None and time.monotonic() < deadline, "the kernel process ended before its tiles"
        time.sleep(0.05)


@pytest.mark.slow
def test_a_kernel_killed_part_way_resumes_from_its_last_tile(tmp_path):
    store = tmp_path / "store"
    process = _slow(tmp_path, store, 0.3, "killed.npy")
    _wait_for_tiles(store, 5, process)
    process.send_signal(signal.SIGKILL)
    process.wait()
    kept = len(list(store.glob("*/tiles/*.npy")))
    assert 5 <= kept < 21  # 6 x 6 blocks of 16: 21 on and above the diagonal
    [kernel] = stored_kernels(store)
    assert kernel.evaluations[0].present == kept and kernel.evaluations[0].tiles == 21
    listing = run_cli("kernels", str(store))
    assert f"{kept} of 21 tiles stored" in listing.stdout and "slow of a network" in listing.stdout
    resumed = _slow(tmp_path, store, 0.0, "resumed.npy")
    assert int(resumed.communicate(timeout=120)[0]) == 21 - kept
    x = np.random.default_rng(0).normal(size=(96, 5)).astype(np.float32)
    assert np.array_equal(np.load(tmp_path / "resumed.npy"), evaluate_tiled(lambda a, b: np.asarray(a) @ np.asarray(b).T, x, max_tile=16))


@pytest.mark.slow
def test_two_processes_on_one_store_never_compute_a_tile_twice(tmp_path):
    store, barrier = tmp_path / "store", tmp_path / "barrier"
    barrier.mkdir()
    first = _slow(tmp_path, store, 0.2, "first.npy", str(barrier), "2")
    second = _slow(tmp_path, store, 0.2, "second.npy", str(barrier), "2")
    counts = [int(process.communicate(timeout=120)[0]) for process in (first, second)]
    assert sum(counts) == 21 and min(counts) > 0  # shared: both computed some, none twice
    assert np.array_equal(np.load(tmp_path / "first.npy"), np.load(tmp_path / "second.npy"))


def test_runs_and_specs_on_one_store_share_their_kernels_and_give_the_same_records(tmp_path, write_spec, counted):
    spec = {
        "name": "stored",
        "dataset": {"name": "teacher_student", "dim": 8, "pool": 800, "n_test": 100},
        "architecture": {"name": "mlp", "width": 32, "depth": 1},
        "learners": [{"name": "ntk_infinite"}, {"name": "entk_init", "implementation": 1}],
        "sweep": {"n_train": [16, 32, 64], "seeds": [0, 1]},
        "compare": {"reference": "ntk_infinite"},
    }
    first = ntkbench.run(spec, out=tmp_path / "first", leaderboard=False)
    computed = len(counted)
    assert computed > 0 and (tmp_path / "first" / "kernels").is_dir()
    # The run and its records say what they computed: every tile, none read.
    tiles = first.run.kernel_tiles
    assert sum(entry["computed"] for entry in tiles.values()) == computed and sum(entry["read"] for entry in tiles.values()) == 0
    assert first.records["info.kernel_tiles_computed"].sum() == computed
    kinds = sorted(kernel.description["kernel"] for kernel in stored_kernels(tmp_path / "first" / "kernels"))
    assert kinds == ["empirical ntk", "empirical ntk", "infinite ntk"]  # one network per seed, one infinite kernel
    plan = ntkbench.plan(spec, out=tmp_path / "first")
    on_disk = sum(path.stat().st_size for path in (tmp_path / "first" / "kernels").rglob("*.npy"))
    assert plan.kernel_store_bytes == on_disk and f"kernel store {tmp_path / 'first' / 'kernels'}:" in plan.text()

    # Another spec on the same architecture and data (another ridge, a learner less) reads every tile,
    # and says so: in the run's output, per kernel and in total, and in each record.
    other = {**spec, "name": "other", "learners": [{"name": "ntk_infinite", "ridge": 1e-3}]}
    path = write_spec(yaml.safe_dump(other))
    printed = run_cli("run", str(path), "--out", str(tmp_path / "other"), "--no-progress",
                      "--kernel-store", str(tmp_path / "first" / "kernels"))
    assert printed.returncode == 0, printed.stderr
    assert len(counted) == computed
    infinite = {identity: entry for identity, entry in tiles.items() if entry["kernel"] == "infinite ntk"}
    read = sum(entry["computed"] for entry in infinite.values())
    assert f"kernel tiles: {read} read from the store, 0 computed ({tmp_path / 'first' / 'kernels'})" in printed.stdout
    (identity,) = infinite
    assert f"  infinite ntk {identity}: {read} read, 0 computed" in printed.stdout
    records = ntkbench.load_records(tmp_path / "other")
    assert records["info.kernel_tiles_read"].sum() == read and records["info.kernel_tiles_computed"].sum() == 0

    # The same spec again in a fresh directory, from the stored tiles: the same records.
    again = ntkbench.run(spec, out=tmp_path / "again", leaderboard=False, kernel_store=tmp_path / "first" / "kernels")
    assert len(counted) == computed
    columns = ["learner_id", "n_train", "seed", "test_error", "test_loss"]
    ordered = [frame.records[columns].sort_values(columns[:3]).reset_index(drop=True) for frame in (first, again)]
    assert ordered[0].equals(ordered[1])


def test_the_kernels_command_refuses_what_is_no_store(tmp_path):
    result = run_cli("kernels", str(tmp_path / "missing"))
    assert result.returncode == 2 and "no such kernel store" in result.stderr
    (tmp_path / "empty").mkdir()
    assert "no kernel stored" in run_cli("kernels", str(tmp_path / "empty")).stdout


def test_the_progress_bar_shows_a_kernels_tiles_rate_and_time_left(monkeypatch):
    import io

    import tqdm.std

    from ntkbench.runner._progress import ProgressBar

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    clock = iter(range(0, 10_000, 5))  # tqdm's clock: 5 s per reading
    monkeypatch.setattr(tqdm.std, "time", lambda: float(next(clock)))
    stream = Terminal()
    bar = ProgressBar(["a", "b", "c", "d"], stream=stream)
    bar.start("ntk_infinite n=1024 seed=0")
    bar.tiles(10, 110)  # ten read from the store
    bar.tiles(30, 110)  # twenty computed since
    shown = stream.getvalue()
    assert "0/4 cells ETA ?  ntk_infinite n=1024 seed=0" in shown
    assert "kernel [" in shown and "30/110 tiles" in shown and "tile/s" in shown
    bar.tiles(110, 110)
    bar.finish("a")
    bar.close()
    assert stream.getvalue().endswith("1/4 cells in 00:00\n")  # the run's own clock, not tqdm's


def test_in_a_log_the_eta_weighs_cells_by_their_planned_cost_and_long_kernels_report(monkeypatch):
    import io

    from ntkbench.runner import _progress

    now = [0.0]
    monkeypatch.setattr(_progress.time, "monotonic", lambda: now[0])
    stream = io.StringIO()  # not a terminal: lines
    bar = _progress.ProgressBar(["kernel", "solve 1", "solve 2", "solve 3"], {"kernel": 9.0, "solve 1": 1.0, "solve 2": 1.0}, stream)
    bar.start("ntk_infinite n=64 seed=0")
    now[0] = 100.0
    bar.tiles(10, 110)  # ten read from the store
    now[0] = 140.0
    bar.tiles(30, 110)  # twenty computed in 40 s, after 40 s of kernel: a line
    now[0] = 150.0
    bar.tiles(31, 110)  # within LOG_EVERY of the last line: none
    now[0] = 90.0 + 100.0
    bar.finish("kernel")
    bar.start("ntk_infinite n=128 seed=0")
    lines = stream.getvalue().splitlines()
    assert lines[0].startswith("[") and "0/4 cells ETA ?  ntk_infinite n=64 seed=0" in lines[0]
    assert lines[1] == "ntk_infinite n=64 seed=0 |  kernel [####............] 30/110 tiles,  2.00s/tile, ETA 02:40"
    # 9 of 12 planned seconds done in 190 s (the cell without a plan weighs the median, 1): 3 more take
    # about 63 s, where counting cells would say 570 s.
    assert len(lines) == 3 and "1/4 cells ETA 01:03  ntk_infinite n=128 seed=0" in lines[2]


def test_the_eta_learns_each_learners_pace_and_counts_the_cell_in_progress(monkeypatch):
    """A plan that is right for one learner and 5 times too low for another, on a machine running at
    the plan's pace: once a learner's first cell is done, the ETA is the time the run will still
    take, and it falls as the clock runs within a cell instead of jumping between cells."""
    import io

    from ntkbench.runner import _progress
    from ntkbench.storage import Cell

    now = [0.0]
    monkeypatch.setattr(_progress.time, "monotonic", lambda: now[0])
    network = [Cell("network", 0, n) for n in (16, 32, 64)]
    kernel = [Cell("ntk_infinite", 0, n) for n in (16, 32, 64)]
    planned = {cell: 10.0 for cell in network} | {cell: 2.0 for cell in kernel}
    taken = {cell: 10.0 for cell in network} | {cell: 10.0 for cell in kernel}  # the kernel is 5x slower than planned
    bar = _progress.ProgressBar([*network, *kernel], planned, io.StringIO())
    assert bar.seconds_left() is None  # no pace measured yet
    truth = sum(taken.values())
    etas = []
    for cell in [*network, *kernel]:
        bar.start(cell.label())
        now[0] += taken[cell] / 2
        etas.append((bar.seconds_left(), truth - now[0]))
        now[0] += taken[cell] / 2
        bar.finish(cell)
    # Both learners' cells at the network's pace (the plan's: the kernel's cells look cheap), then each
    # at its own: exact once the kernel's first cell is done.
    assert etas[1] == (21.0, 45.0) and etas[2] == (11.0, 35.0)
    assert etas[4] == etas[4][::-1] == (15.0, 15.0) and etas[5] == (5.0, 5.0)
    assert bar.seconds_left() == 0.0


def test_the_plan_counts_only_the_tiles_a_store_does_not_hold(tmp_path, counted):
    spec = {
        "name": "planned",
        "dataset": {"name": "teacher_student", "dim": 8, "pool": 3000, "n_test": 100},
        "architecture": {"name": "mlp", "width": 32, "depth": 1},
        "learners": [{"name": "ntk_infinite"}],
        "sweep": {"n_train": [64, 512], "seeds": [0, 1]},
    }
    fresh = ntkbench.plan(spec, out=tmp_path / "fresh")
    assert fresh.kernel_store_share is None  # no store yet: nothing to ask
    ntkbench.run(spec, out=tmp_path / "first", leaderboard=False)
    again = ntkbench.plan(spec, out=tmp_path / "first")
    assert again.kernel_store_share == 1.0 and "it holds 100% of the entries" in again.text()
    fresh_seed, stored_seed = ([row for row in plan.rows if row.n == "per seed"][0] for plan in (fresh, again))
    assert 0 < stored_seed.flops < fresh_seed.flops  # the kernel's tiles left out, the factorisation kept

    # A larger sweep and a third seed: the first seeds' 512-sample kernels are the leading tiles of
    # their 1024-sample ones (of 512 x 512 tiles); the third seed's kernel is not stored at all.
    larger = {**spec, "sweep": {"n_train": [64, 512, 1024], "seeds": [0, 1, 2]}}
    store = tmp_path / "first" / "kernels"
    plan = ntkbench.plan(larger, out=tmp_path / "larger", kernel_store=store)
    per_seed = (512 * 513 / 2 + 100 * 512) / (1024 * 1025 / 2 + 100 * 1024)
    assert plan.kernel_store_share == pytest.approx(2 * per_seed / 3)
    before = len(counted)
    ntkbench.run(larger, out=tmp_path / "larger", leaderboard=False, kernel_store=store)
    # What the run computed is what the plan counted: per stored seed, two of the three training
    # tiles and one of the two test tiles; for the third seed, all five.
    assert len(counted) - before == 2 * 3 + 5


def test_the_progress_bar_shows_an_iterative_solves_iterations_and_residual(monkeypatch):
    import io

    from ntkbench.runner import _progress

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    stream = Terminal()
    bar = _progress.ProgressBar(["a"], stream=stream)
    bar.start("ntk_infinite n=60000 seed=0")
    bar.solve(1, 0.5, 1e-8)
    bar.solve(37, 3.2e-5, 1e-8)
    assert "solve: conjugate gradients, iteration 37, relative residual 3.2e-05 (stops at 1e-08)" in stream.getvalue()
    bar.finish("a")
    bar.close()
    now = [0.0]
    monkeypatch.setattr(_progress.time, "monotonic", lambda: now[0])
    log = io.StringIO()  # not a terminal: a line once the solve has taken LOG_EVERY seconds, then one per LOG_EVERY
    bar = _progress.ProgressBar(["a"], stream=log)
    bar.start("ntk_infinite n=60000 seed=0")
    for iteration, second in enumerate([0, 10, 31, 40, 62], start=1):
        now[0] = float(second)
        bar.solve(iteration, 10.0 ** -iteration, 1e-8)
    lines = log.getvalue().splitlines()[1:]
    assert lines == ["ntk_infinite n=60000 seed=0 |  solve: conjugate gradients, iteration 3, relative residual 1.0e-03 (stops at 1e-08)",
                     "ntk_infinite n=60000 seed=0 |  solve: conjugate gradients, iteration 5, relative residual 1.0e-05 (stops at 1e-08)"]
