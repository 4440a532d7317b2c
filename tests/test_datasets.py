"""Dataset plugins on files generated here in each official format: loading, checksums,
downloads, offline messages and preprocessing."""

from __future__ import annotations

import functools
import gzip
import hashlib
import http.server
import io
import pickle
import struct
import tarfile
import threading
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from conftest import requires_fashion_mnist

from ntkbench import DataFile, DataUnavailable, FileStore
from ntkbench.api import data_root
from ntkbench.cli import main
from ntkbench.datasets._idx import IdxFormatError, parse_idx
from ntkbench.datasets.cifar10 import CIFAR10, RestrictedUnpickler
from ntkbench.datasets.fashion_mnist import FashionMNIST
from ntkbench.datasets.mnist import MNIST
from ntkbench.datasets.svhn import SVHN
from ntkbench.datasets.teacher_student import TeacherStudent

UNREACHABLE = "http://127.0.0.1:9/"  # the discard port: connection refused, instantly


def format_idx(array: np.ndarray) -> bytes:
    """Serialise `array` (uint8) as an IDX payload: the inverse of `parse_idx`, to make test files."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}i", *array.shape)
    return header + array.tobytes()


# ----------------------------------------------------------------------------- official formats


def idx_release(rng) -> dict[str, bytes]:
    """MNIST-layout files: 60 training and 40 test 28x28 images, gzipped IDX."""
    arrays = {
        "train-images-idx3-ubyte.gz": rng.integers(0, 256, size=(60, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte.gz": (np.arange(60) % 10).astype(np.uint8),
        "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, size=(40, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte.gz": (np.arange(40) % 10).astype(np.uint8),
    }
    return {name: gzip.compress(format_idx(array)) for name, array in arrays.items()}


def cifar_release(rng) -> dict[str, bytes]:
    """A CIFAR-10 python tarball with the real layout: five training batches and a test batch,
    each a protocol-2 pickle of a dict with bytes keys, 3072 bytes per image (R, G, B planes)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
        for index, name in enumerate(names):
            labels = [(index + j) % 10 for j in range(20)]
            batch = {
                b"batch_label": f"batch {name}".encode(),
                b"labels": labels,
                b"data": rng.integers(0, 256, size=(20, 3072), dtype=np.uint8),
                b"filenames": [f"img_{j}.png".encode() for j in range(20)],
            }
            payload = pickle.dumps(batch, protocol=2)
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    return {"cifar-10-python.tar.gz": buffer.getvalue()}


def svhn_release(rng) -> dict[str, bytes]:
    """SVHN's MATLAB files: X as (32, 32, 3, N), y as (N, 1) with digit 0 labelled 10."""
    files = {}
    for name, count in (("train_32x32.mat", 50), ("test_32x32.mat", 30)):
        buffer = io.BytesIO()
        labels = (np.arange(count) % 10 + 1).reshape(-1, 1).astype(np.uint8)
        scipy.io.savemat(buffer, {"X": rng.integers(0, 256, size=(32, 32, 3, count), dtype=np.uint8), "y": labels})
        files[name] = buffer.getvalue()
    return files


RELEASES = {MNIST: idx_release, FashionMNIST: idx_release, CIFAR10: cifar_release, SVHN: svhn_release}


@pytest.fixture
def isolated_data(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("NTKBENCH_DATA", str(tmp_path / "data"))
    return tmp_path / "data"


def install_release(monkeypatch, dataset, tmp_path, mirror: str = UNREACHABLE) -> Path:
    """Write a generated release to `tmp_path/served/` and point `dataset`'s store at it."""
    files = RELEASES[dataset](np.random.default_rng(0))
    served = tmp_path / "served"
    served.mkdir(exist_ok=True)
    entries = []
    for name, payload in files.items():
        (served / name).write_bytes(payload)
        entries.append(DataFile(name, (UNREACHABLE + name, mirror + name), (("md5", hashlib.md5(payload).hexdigest()),)))
    monkeypatch.setattr(dataset, "store", FileStore(dataset.store.subdir, tuple(entries)))
    return served


@pytest.fixture
def mirror_requests() -> list[str]:
    """The request lines `local_mirror` has answered."""
    return []


@pytest.fixture
def local_mirror(tmp_path, mirror_requests):
    """An HTTP server on 127.0.0.1 serving `tmp_path/served/`."""
    served = tmp_path / "served"
    served.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_request(self, code="-", size="-"):
            mirror_requests.append(self.requestline)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(served)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/"
    server.shutdown()


def copy_into_data_root(served: Path, dataset, root: Path) -> Path:
    target = root / dataset.store.subdir
    target.mkdir(parents=True)
    for path in served.iterdir():
        (target / path.name).write_bytes(path.read_bytes())
    return target


# ----------------------------------------------------------------------------- loading


@pytest.mark.parametrize(
    ("dataset", "pool", "test", "shape"),
    [(MNIST, 60, 40, (28, 28, 1)), (FashionMNIST, 60, 40, (28, 28, 1)), (CIFAR10, 100, 20, (32, 32, 3)), (SVHN, 50, 30, (32, 32, 3))],
)
def test_each_format_loads_as_nhwc_floats(dataset, pool, test, shape, isolated_data, tmp_path, monkeypatch):
    served = install_release(monkeypatch, dataset, tmp_path)
    copy_into_data_root(served, dataset, isolated_data)
    data = dataset(dataset.Options(standardize=False)).load()
    assert data.x_pool.shape == (pool, *shape) and data.x_test.shape == (test, *shape)
    assert data.x_pool.dtype == np.float32 and data.y_pool.dtype == np.int32
    assert 0 <= data.x_pool.min() and data.x_pool.max() <= 1
    assert set(np.unique(data.y_pool)) <= set(range(10)) and data.num_classes == 10


def test_cifar_pixels_are_laid_out_as_the_official_planes(isolated_data, tmp_path, monkeypatch):
    served = install_release(monkeypatch, CIFAR10, tmp_path)
    copy_into_data_root(served, CIFAR10, isolated_data)
    with tarfile.open(served / "cifar-10-python.tar.gz") as tar:
        raw = pickle.load(tar.extractfile("cifar-10-batches-py/data_batch_1"), encoding="bytes")[b"data"][0]
    image = CIFAR10(CIFAR10.Options(standardize=False)).load().x_pool[0]
    # pixel (row 1, column 2): red at 32 + 2, green 1024 later, blue 2048 later
    assert np.allclose(image[1, 2] * 255, [raw[34], raw[1024 + 34], raw[2048 + 34]])


def test_svhn_digit_zero_is_relabelled(isolated_data, tmp_path, monkeypatch):
    served = install_release(monkeypatch, SVHN, tmp_path)
    copy_into_data_root(served, SVHN, isolated_data)
    data = SVHN(SVHN.Options()).load()
    assert data.y_pool[:10].tolist() == [1, 2, 3, 4, 5, 6, 7, 8, 9, 0]


def test_cifar_batches_refuse_foreign_pickles():
    class Payload:
        def __reduce__(self):
            return (print, ("pwned",))

    with pytest.raises(pickle.UnpicklingError, match=r"refusing to load (__builtin__|builtins)\.print"):
        RestrictedUnpickler(io.BytesIO(pickle.dumps(Payload(), protocol=2)), encoding="bytes").load()


def test_idx_round_trip_and_damage():
    array = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    payload = format_idx(array)
    assert np.array_equal(parse_idx(payload), array)
    with pytest.raises(IdxFormatError, match="needs 24"):
        parse_idx(payload[:-1])
    with pytest.raises(IdxFormatError, match="magic"):
        parse_idx(b"\x01" + payload[1:])


# ----------------------------------------------------------------------------- where data lives


def test_data_root_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("NTKBENCH_DATA", str(tmp_path / "data"))
    assert data_root() == tmp_path / "data"
    monkeypatch.delenv("NTKBENCH_DATA")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert data_root() == tmp_path / "cache" / "ntkbench"


def test_system_copies_are_read_in_place(isolated_data, tmp_path, monkeypatch):
    served = install_release(monkeypatch, FashionMNIST, tmp_path)
    store = FashionMNIST.store
    monkeypatch.setattr(FashionMNIST, "store", FileStore(store.subdir, store.files, system_dirs=(served,)))
    assert FashionMNIST(FashionMNIST.Options()).load().x_pool.shape[0] == 60
    assert not isolated_data.exists()  # nothing copied or downloaded


# ----------------------------------------------------------------------------- downloads and failures


def test_missing_files_are_downloaded_verified_and_renamed(isolated_data, tmp_path, monkeypatch, local_mirror):
    served = install_release(monkeypatch, CIFAR10, tmp_path, mirror=local_mirror)
    assert main(["data", "fetch", "cifar10"]) == 0
    stored = isolated_data / "cifar10"
    assert [p.name for p in stored.iterdir() if p.name != ".fetch.lock"] == ["cifar-10-python.tar.gz"]  # no .partial
    assert (stored / "cifar-10-python.tar.gz").read_bytes() == (served / "cifar-10-python.tar.gz").read_bytes()
    assert CIFAR10(CIFAR10.Options()).load().x_pool.shape == (100, 32, 32, 3)


def test_concurrent_loaders_download_a_file_once(isolated_data, tmp_path, monkeypatch, local_mirror, mirror_requests):
    """Workers sharing a data root: one downloads under the lock, the others wait and use its file."""
    from concurrent.futures import ThreadPoolExecutor

    install_release(monkeypatch, CIFAR10, tmp_path, mirror=local_mirror)
    with ThreadPoolExecutor(4) as pool:
        shapes = list(pool.map(lambda _: CIFAR10(CIFAR10.Options()).load().x_pool.shape, range(4)))
    assert shapes == [(100, 32, 32, 3)] * 4
    assert mirror_requests == ["GET /cifar-10-python.tar.gz HTTP/1.1"]


def test_a_corrupted_download_is_deleted_and_reported(isolated_data, tmp_path, monkeypatch, local_mirror):
    served = install_release(monkeypatch, SVHN, tmp_path, mirror=local_mirror)
    (served / "test_32x32.mat").write_bytes(b"not what was published")
    with pytest.raises(DataUnavailable, match="failed its checksum.*partial file was deleted"):
        SVHN(SVHN.Options()).load()
    assert sorted(p.name for p in (isolated_data / "svhn").iterdir()) == [".fetch.lock", "train_32x32.mat"]


def test_a_truncated_file_on_disk_never_reaches_a_learner(isolated_data, tmp_path, monkeypatch):
    served = install_release(monkeypatch, MNIST, tmp_path)
    target = copy_into_data_root(served, MNIST, isolated_data)
    damaged = target / "train-images-idx3-ubyte.gz"
    damaged.write_bytes(damaged.read_bytes()[:-100])
    with pytest.raises(DataUnavailable, match="is not the expected train-images-idx3-ubyte.gz: MD5 is"):
        MNIST(MNIST.Options()).load()


def test_offline_and_missing_exits_2_with_url_file_checksum_and_directory(isolated_data, monkeypatch, capsys):
    monkeypatch.setattr(
        CIFAR10, "store", FileStore("cifar10", tuple(DataFile(f.name, (UNREACHABLE + f.name,), f.checksums) for f in CIFAR10.store.files))
    )
    assert main(["data", "fetch", "cifar10"]) == 2
    message = capsys.readouterr().err
    assert UNREACHABLE + "cifar-10-python.tar.gz" in message
    assert "MD5 c58f30108f718f92721af3b95e74349a" in message
    assert str(isolated_data / "cifar10") in message
    assert "Traceback" not in message


def test_data_list_and_verify(isolated_data, tmp_path, monkeypatch, capsys):
    served = install_release(monkeypatch, MNIST, tmp_path)
    target = copy_into_data_root(served, MNIST, isolated_data)
    assert main(["data", "list"]) == 0
    listing = capsys.readouterr().out
    rows = {line.split()[0]: line for line in listing.splitlines()[2:]}
    assert set(rows) >= {"mnist", "fashion_mnist", "cifar10", "svhn", "teacher_student"}
    assert "present (4/4 files)" in rows["mnist"] and str(target) in rows["mnist"]
    assert "generated" in rows["teacher_student"]
    assert main(["data", "verify", "mnist"]) == 0
    (target / "t10k-labels-idx1-ubyte.gz").write_bytes(b"\x1f\x8bjunk")
    assert main(["data", "verify", "mnist"]) == 1
    assert "t10k-labels-idx1-ubyte.gz: FAILED: MD5 is" in capsys.readouterr().out


# ----------------------------------------------------------------------------- preprocessing


@pytest.fixture
def cifar(isolated_data, tmp_path, monkeypatch):
    served = install_release(monkeypatch, CIFAR10, tmp_path)
    copy_into_data_root(served, CIFAR10, isolated_data)
    return lambda **options: CIFAR10(CIFAR10.Options(**options)).load()


def test_statistics_are_fitted_on_the_pool_only(cifar):
    data = cifar()
    assert np.allclose(data.x_pool.mean(axis=(0, 1, 2)), 0, atol=1e-5)
    assert np.allclose(data.x_pool.std(axis=(0, 1, 2)), 1, atol=1e-4)
    raw = cifar(standardize=False)
    mean, std = raw.x_pool.mean(axis=(0, 1, 2)), raw.x_pool.std(axis=(0, 1, 2))
    np.testing.assert_allclose(data.x_test, (raw.x_test - mean) / std, atol=1e-4)
    assert not np.allclose(data.x_test.mean(axis=(0, 1, 2)), 0, atol=1e-3)  # test data kept its own offset


def test_classes_are_selected_and_relabelled(cifar):
    data = cifar(classes=[3, 5], standardize=False)
    raw = cifar(standardize=False)
    assert data.num_classes == 2
    assert np.array_equal(data.x_pool, raw.x_pool[np.isin(raw.y_pool, [3, 5])])
    assert np.array_equal(data.y_pool, (raw.y_pool[np.isin(raw.y_pool, [3, 5])] == 5).astype(np.int32))


def test_area_downsampling_grayscale_and_flatten(cifar):
    raw = cifar(standardize=False)
    small = cifar(standardize=False, image_size=(8, 8))
    assert small.x_pool.shape == (100, 8, 8, 3)
    np.testing.assert_allclose(small.x_pool[0, 0, 0], raw.x_pool[0, :4, :4].mean(axis=(0, 1)), rtol=1e-5)
    odd = cifar(standardize=False, image_size=(5, 7))  # non-integer factors: overlapping areas
    np.testing.assert_allclose(odd.x_pool.mean(axis=(1, 2)), raw.x_pool.mean(axis=(1, 2)), rtol=1e-4)
    gray = cifar(standardize=False, grayscale=True)
    np.testing.assert_allclose(gray.x_pool[..., 0], raw.x_pool @ np.array([0.299, 0.587, 0.114]), rtol=1e-5)
    flat = cifar(image_size=(4, 4), grayscale=True, flatten=True)
    assert flat.x_pool.shape == (100, 16)
    assert CIFAR10.Options(image_size=(4, 4), grayscale=True, flatten=True).output_shape() == (16,)


def test_zca_whitens_the_pool(cifar):
    data = cifar(image_size=(4, 4), zca=1e-6)
    flat = data.x_pool.reshape(100, -1)
    covariance = flat.T @ flat / len(flat)
    eigenvalues = np.linalg.eigvalsh(covariance)
    top = eigenvalues[-40:]  # 48 features, rank <= 99: the non-degenerate directions are equalised
    assert top.max() / top.min() < 1.01
    strong = cifar(image_size=(4, 4), zca=10.0).x_pool.reshape(100, -1)
    assert np.linalg.eigvalsh(strong.T @ strong / 100).max() < eigenvalues.max()


def test_bad_preprocessing_options_are_refused():
    with pytest.raises(ValueError, match=r"class ids \[10\] do not exist"):
        CIFAR10.Options(classes=[3, 10])
    with pytest.raises(ValueError, match="larger than the images"):
        MNIST.Options(image_size=(32, 32))


def test_pool_size_follows_the_class_subset():
    assert CIFAR10(CIFAR10.Options(classes=[0, 1])).pool_size() == 10_000
    assert MNIST(MNIST.Options(classes=[0, 1])).pool_size() == 5923 + 6742
    assert SVHN(SVHN.Options()).pool_size() == 73_257 and SVHN(SVHN.Options(classes=[0, 1])).pool_size() is None


# ----------------------------------------------------------------------------- synthetic data


def test_teacher_student_is_deterministic_and_learnable():
    options = TeacherStudent.Options(dim=8, pool=2000, test_pool=500, spectrum_decay=1.0)
    first, second = TeacherStudent(options).load(), TeacherStudent(options).load()
    assert np.array_equal(first.x_pool, second.x_pool) and np.array_equal(first.y_test, second.y_test)
    assert first.x_pool.shape == (2000, 8) and TeacherStudent(options).input_shape() == (8,)
    variances = first.x_pool.var(axis=0)
    assert variances[0] > 4 * variances[-1]  # power-law spectrum
    assert 0.2 < first.y_pool.mean() < 0.8  # both classes occur
    assert TeacherStudent(TeacherStudent.Options(data_seed=1)).load().x_pool[0, 0] != first.x_pool[0, 0]


@requires_fashion_mnist
def test_the_real_fashion_mnist_files_pass_their_checksums():
    data = FashionMNIST(FashionMNIST.Options(standardize=False)).load()
    assert data.x_pool.shape == (60000, 28, 28, 1) and data.x_test.shape == (10000, 28, 28, 1)
    assert np.bincount(data.y_pool).tolist() == [6000] * 10
    assert np.bincount(data.y_test).tolist() == [1000] * 10


def test_running_a_cifar_spec_offline_exits_2_with_instructions(isolated_data, monkeypatch, capsys):
    spec = Path(__file__).resolve().parents[1] / "specs" / "cifar_resnet.yaml"
    monkeypatch.setattr(
        CIFAR10, "store", FileStore("cifar10", tuple(DataFile(f.name, (UNREACHABLE + f.name,), f.checksums) for f in CIFAR10.store.files))
    )
    assert main(["validate", str(spec)]) == 0  # validation needs no files
    assert main(["run", str(spec), "--out", str(isolated_data.parent / "out"), "--no-progress"]) == 2
    message = capsys.readouterr().err
    assert "cifar-10-python.tar.gz" in message and "MD5 c58f30108f718f92721af3b95e74349a" in message
    assert str(isolated_data / "cifar10") in message and "Traceback" not in message


def test_a_few_index_teacher_reads_only_its_directions():
    """With `index_dim` 2, the labels are a function of the inputs' projection on 2 directions (the
    first draw of the data seed): a nearest-neighbour rule on that projection predicts them almost
    perfectly, and on 2 directions orthogonal to it no better than the majority class."""
    from ntkbench.datasets.teacher_student import TeacherStudentOptions, teacher_student_data

    assert "index_dim" not in TeacherStudentOptions().canonical()
    with pytest.raises(ValueError, match="index_dim"):
        TeacherStudentOptions(dim=4, index_dim=5)
    options = TeacherStudentOptions(dim=16, index_dim=2, num_classes=3, data_seed=2, pool=4000, test_pool=10)
    data = teacher_student_data(options)
    rng = np.random.default_rng(options.data_seed)
    directions = np.linalg.qr(rng.normal(size=(16, 2)))[0]
    complement = np.linalg.qr((np.eye(16) - directions @ directions.T) @ rng.normal(size=(16, 2)))[0]
    labels = data.y_pool

    def nearest_neighbour_accuracy(features: np.ndarray) -> float:
        train, test = features[:3000], features[3000:]
        nearest = np.argmin(((test[:, None, :] - train[None, :, :]) ** 2).sum(-1), axis=1)
        return float(np.mean(labels[:3000][nearest] == labels[3000:]))

    majority = np.bincount(labels).max() / len(labels)
    assert nearest_neighbour_accuracy(data.x_pool @ directions) > 0.9
    assert nearest_neighbour_accuracy(data.x_pool @ complement) < majority + 0.05
