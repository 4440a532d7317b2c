"""The Fashion-MNIST loader: IDX parsing, where files are looked for, downloads and checksums."""

from __future__ import annotations

import functools
import gzip
import http.server
import threading
from pathlib import Path

import numpy as np
import pytest

from conftest import requires_fashion_mnist
from ntkbench import DataUnavailable
from ntkbench.datasets import fashion_mnist
from ntkbench.datasets._idx import IdxFormatError, format_idx, parse_idx
from ntkbench.datasets._storage import data_root, sha256_bytes
from ntkbench.datasets.fashion_mnist import FashionMNIST, FashionMNISTOptions


def test_idx_round_trip_and_damage():
    array = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    payload = format_idx(array)
    assert np.array_equal(parse_idx(payload), array)
    with pytest.raises(IdxFormatError, match="needs 24"):
        parse_idx(payload[:-1])
    with pytest.raises(IdxFormatError, match="magic"):
        parse_idx(b"\x01" + payload[1:])


def test_data_root_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("NTKBENCH_DATA", str(tmp_path / "data"))
    assert data_root() == tmp_path / "data"
    monkeypatch.delenv("NTKBENCH_DATA")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert data_root() == tmp_path / "cache" / "ntkbench"


@pytest.fixture
def fake_release(tmp_path, monkeypatch):
    """Small Fashion-MNIST-shaped IDX files, with the loader's checksums pointed at them.

    Returns the directory holding the gzipped files (as a mirror would serve them).
    """
    rng = np.random.default_rng(0)
    arrays = {
        "train_images": rng.integers(0, 256, size=(50, 28, 28), dtype=np.uint8),
        "train_labels": np.arange(50, dtype=np.uint8) % 10,
        "test_images": rng.integers(0, 256, size=(30, 28, 28), dtype=np.uint8),
        "test_labels": np.arange(30, dtype=np.uint8) % 10,
    }
    served = tmp_path / "served"
    served.mkdir()
    files = {}
    for key, array in arrays.items():
        spec = fashion_mnist.FILES[key]
        payload = format_idx(array)
        (served / f"{spec.name}.gz").write_bytes(gzip.compress(payload))
        files[key] = fashion_mnist.IdxFile(spec.name, sha256_bytes(payload))
    monkeypatch.setattr(fashion_mnist, "FILES", files)
    monkeypatch.setattr(fashion_mnist, "SYSTEM_DIRS", (tmp_path / "no_system_copy",))
    monkeypatch.setenv("NTKBENCH_DATA", str(tmp_path / "data"))
    monkeypatch.setattr(fashion_mnist, "MIRRORS", ("http://127.0.0.1:9/unreachable/",))  # port 9: discard, refused
    return served


@pytest.fixture
def mirror(fake_release, monkeypatch):
    """Serve the fake release over HTTP on localhost and point the loader's mirrors at it."""
    class QuietHandler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(QuietHandler, directory=str(fake_release))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setattr(
        fashion_mnist, "MIRRORS", ("http://127.0.0.1:9/unreachable/", f"http://127.0.0.1:{server.server_port}/")
    )
    yield fake_release
    server.shutdown()


def test_files_in_the_data_root_are_read_verified_and_standardised(fake_release, tmp_path):
    target = tmp_path / "data" / "fashion_mnist"
    target.mkdir(parents=True)
    for path in fake_release.iterdir():  # one gzipped, the others unpacked: both are accepted
        if path.name.startswith("train-images"):
            (target / path.name).write_bytes(path.read_bytes())
        else:
            (target / path.stem).write_bytes(gzip.decompress(path.read_bytes()))
    data = FashionMNIST(FashionMNISTOptions()).load()
    assert data.x_pool.shape == (50, 28, 28, 1) and data.x_test.shape == (30, 28, 28, 1)
    assert data.x_pool.dtype == np.float32 and data.y_pool.dtype == np.int32
    assert abs(data.x_pool.mean()) < 1e-5 and abs(data.x_pool.std() - 1) < 1e-4
    raw = FashionMNIST(FashionMNISTOptions(standardize=False)).load()
    assert raw.x_pool.min() >= 0 and raw.x_pool.max() <= 1


def test_missing_files_are_downloaded_verified_and_renamed(mirror, tmp_path):
    data = FashionMNIST(FashionMNISTOptions()).load()
    assert data.x_pool.shape[0] == 50
    stored = sorted(p.name for p in (tmp_path / "data" / "fashion_mnist").iterdir())
    assert stored == sorted(p.name for p in mirror.iterdir())  # no .partial left behind


def test_a_corrupted_download_is_deleted_and_reported(mirror, tmp_path):
    served = mirror / "t10k-labels-idx1-ubyte.gz"
    served.write_bytes(gzip.compress(format_idx(np.zeros(30, dtype=np.uint8))))  # wrong content
    with pytest.raises(DataUnavailable, match="failed verification.*SHA-256.*partial file was deleted"):
        FashionMNIST(FashionMNISTOptions()).load()
    assert not list((tmp_path / "data" / "fashion_mnist").glob("t10k-labels*"))


def test_a_truncated_file_on_disk_never_reaches_a_learner(fake_release, tmp_path):
    target = tmp_path / "data" / "fashion_mnist"
    target.mkdir(parents=True)
    for path in fake_release.iterdir():
        (target / path.name).write_bytes(path.read_bytes())
    damaged = target / "train-images-idx3-ubyte.gz"
    damaged.write_bytes(damaged.read_bytes()[:-100])
    with pytest.raises(DataUnavailable, match="not the official Fashion-MNIST train-images-idx3-ubyte.*gzip"):
        FashionMNIST(FashionMNISTOptions()).load()


def test_offline_and_missing_says_how_to_get_the_files(fake_release, tmp_path):
    with pytest.raises(DataUnavailable) as caught:
        FashionMNIST(FashionMNISTOptions()).load()
    message = str(caught.value)
    assert "apt-get install dataset-fashion-mnist" in message
    assert str(tmp_path / "data" / "fashion_mnist") in message
    assert "train-images-idx3-ubyte.gz" in message and fashion_mnist.FILES["train_images"].payload_sha256 in message
    assert caught.value.exit_code == 2


@requires_fashion_mnist
def test_the_real_files_pass_their_checksums():
    data = FashionMNIST(FashionMNISTOptions(standardize=False)).load()
    assert data.x_pool.shape == (60000, 28, 28, 1) and data.x_test.shape == (10000, 28, 28, 1)
    assert np.bincount(data.y_pool).tolist() == [6000] * 10
    assert np.bincount(data.y_test).tolist() == [1000] * 10
