"""Every supported jax stack computes the same results: a small spec's records and a few kernels,
computed here, agree with the reference computed on the default stack (Python 3.11, jax 0.5.3)
and committed in tests/data/stack_parity/. CI runs this (with the other `parity` tests) on each
stack of constraints/.

Regenerate the reference on the default stack with `NTKBENCH_WRITE_PARITY=1 pytest tests/test_stack_parity.py`:
the tests then write it and skip (a reference compared with itself proves nothing); under CI the
variable is refused (`conftest.py`).
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from conftest import REPO

import ntkbench

pytestmark = pytest.mark.parity
REFERENCE = REPO / "tests" / "data" / "stack_parity"
WRITE = bool(os.environ.get("NTKBENCH_WRITE_PARITY"))

SPEC = {
    "name": "stack_parity",
    "dataset": {"name": "teacher_student", "dim": 8, "pool": 800, "n_test": 200},
    "architecture": {"name": "mlp", "width": 64, "depth": 2},
    "learners": [
        {"name": "ntk_infinite"},
        {"name": "entk_init", "implementation": 1},
        {"name": "network", "steps": 100, "optimizer": {"name": "sgd", "learning_rate": 0.5}, "center": True},
    ],
    "sweep": {"n_train": [32, 64, 128], "seeds": [0, 1]},
}


def _kernels() -> dict[str, np.ndarray]:
    """The infinite NTK of the MLP and the Myrtle-5 twin, and the MLP's empirical NTK, on fixed inputs."""
    import jax

    from ntkbench.architectures.mlp import MLPArchitecture
    from ntkbench.architectures.myrtle import MyrtleArchitecture
    from ntkbench.kernels import empirical_ntk, infinite_kernel_fn

    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(6, 8)).astype(np.float32)
    images = rng.normal(size=(4, 8, 8, 1)).astype(np.float32)
    mlp = MLPArchitecture(MLPArchitecture.Options(width=64, depth=2))
    myrtle = MyrtleArchitecture(MyrtleArchitecture.Options(width=8))
    model = mlp.init_model(input_shape=(8,), num_classes=3, key=jax.random.PRNGKey(0))
    return {
        "mlp_infinite": np.asarray(infinite_kernel_fn(mlp.stax_twin(num_classes=3))(vectors, vectors)),
        "myrtle_infinite": np.asarray(infinite_kernel_fn(myrtle.stax_twin(num_classes=3))(images, images)),
        "mlp_empirical": np.asarray(empirical_ntk(model, vectors, vectors, 1)),
    }


def test_the_kernels_agree_with_the_default_stack_to_float32_round_off():
    kernels = _kernels()
    if WRITE:
        np.savez(REFERENCE / "kernels.npz", **kernels)
        pytest.skip(f"wrote {REFERENCE / 'kernels.npz'}; run again without NTKBENCH_WRITE_PARITY to check against it")
    reference = np.load(REFERENCE / "kernels.npz")
    for name, kernel in kernels.items():
        error = np.abs(kernel - reference[name]) / np.abs(reference[name]).max()
        off_diagonal = ~np.eye(len(kernel), dtype=bool)
        assert error[off_diagonal].max() < 1e-6, (name, error[off_diagonal].max())
        # On the diagonal the ReLU's arc-cosine kernel sees cos = 1, where arccos is not differentiable:
        # one float32 ulp of the cosine moves it by about its square root (measured: 3.6e-5 on jax 0.12).
        assert np.diag(error).max() < 1e-4, (name, np.diag(error).max())


@pytest.mark.slow
def test_a_spec_gives_the_records_of_the_default_stack(tmp_path):
    records = ntkbench.run(SPEC, out=tmp_path, leaderboard=False).records
    found = {
        f"{row.learner_id} n={row.n_train} seed={row.seed}": {"test_error": row.test_error, "test_loss": row.test_loss}
        for row in records.itertuples()
    }
    if WRITE:
        (REFERENCE / "records.json").write_text(json.dumps(found, indent=1, sort_keys=True) + "\n")
        pytest.skip(f"wrote {REFERENCE / 'records.json'}; run again without NTKBENCH_WRITE_PARITY to check against it")
    reference = json.loads((REFERENCE / "records.json").read_text())
    assert set(found) == set(reference)
    for cell, metrics in found.items():
        assert metrics["test_error"] == reference[cell]["test_error"], cell
        assert metrics["test_loss"] == pytest.approx(reference[cell]["test_loss"], rel=1e-4), cell
