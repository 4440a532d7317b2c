"""`contraction: sum_logits`: the empirical NTK of the summed logits (Mohamadi et al. 2022), exactly
(1/C) sum_c sum_c' J_c J_c'^T, close to the traced kernel where the logits' Jacobians are
uncorrelated (a wide network at initialisation), a separate result (its own cell key), and
refused nowhere it should work."""

from __future__ import annotations

import jax
import jax.flatten_util
import jax.numpy as jnp
import numpy as np
import pytest

from ntkbench import parse_spec
from ntkbench.architectures.mlp import MLPArchitecture
from ntkbench.kernels import empirical_ntk
from ntkbench.nt_compat import available_implementations
from ntkbench.storage import Cell, cell_key


def _jacobians(model, x: np.ndarray) -> np.ndarray:
    """J[c, i, p]: the derivative of logit c of input i with respect to parameter p."""
    import equinox as eqx

    params, static = eqx.partition(model, eqx.is_inexact_array)
    flat, unravel = jax.flatten_util.ravel_pytree(params)

    def logits(vector):
        return jax.vmap(eqx.combine(unravel(vector), static))(jnp.asarray(x))

    return np.transpose(np.asarray(jax.jacrev(logits)(flat), dtype=np.float64), (1, 0, 2))


@pytest.mark.parametrize("implementation", available_implementations())
def test_both_contractions_are_what_they_say(implementation):
    model = MLPArchitecture(MLPArchitecture.Options(width=16, depth=2)).init_model(
        input_shape=(5,), num_classes=3, key=jax.random.PRNGKey(0))
    x = np.random.default_rng(0).normal(size=(7, 5)).astype(np.float32)
    jacobians = _jacobians(model, x)
    per_pair = np.einsum("aip,bjp->abij", jacobians, jacobians)
    expected = {"trace": np.einsum("ccij->ij", per_pair) / 3, "sum_logits": per_pair.sum(axis=(0, 1)) / 3}
    for contraction, kernel in expected.items():
        ours = np.asarray(empirical_ntk(model, x, x, implementation, contraction), dtype=np.float64)
        np.testing.assert_allclose(ours, kernel, rtol=2e-4, atol=2e-5 * np.abs(kernel).max(), err_msg=contraction)


def _distance(a: np.ndarray, b: np.ndarray) -> float:
    return float(1 - np.sum(a * b) / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_sum_logits_approaches_the_trace_as_the_network_widens():
    x = np.random.default_rng(1).normal(size=(24, 8)).astype(np.float32)
    distances = {}
    for width in (16, 1024):
        model = MLPArchitecture(MLPArchitecture.Options(width=width, depth=2)).init_model(
            input_shape=(8,), num_classes=10, key=jax.random.PRNGKey(0))
        kernels = [np.asarray(empirical_ntk(model, x, x, None, contraction)) for contraction in ("trace", "sum_logits")]
        distances[width] = _distance(*kernels)
    assert distances[1024] < 0.01 and distances[1024] < distances[16] / 4, distances


SPEC = {
    "name": "contraction",
    "dataset": {"name": "teacher_student", "dim": 8, "pool": 600, "n_test": 100},
    "architecture": {"name": "mlp", "width": 64, "depth": 1},
    "learners": [{"name": "entk_init"}, {"name": "entk_init", "id": "pntk", "contraction": "sum_logits"}],
    "sweep": {"n_train": [16, 32, 64], "seeds": [0]},
}


def test_the_contraction_enters_the_cell_key_only_when_it_is_not_the_default():
    spec = parse_spec(SPEC).as_dict()
    assert "contraction" not in spec["learners"][0] and spec["learners"][1]["contraction"] == "sum_logits"
    assert cell_key(spec, Cell("entk_init", 0, 32, None)) != cell_key(spec, Cell("pntk", 0, 32, None))
    written = parse_spec({**SPEC, "learners": [{"name": "entk_init", "contraction": "trace"}]}).as_dict()
    assert cell_key(written, Cell("entk_init", 0, 32, None)) == cell_key(spec, Cell("entk_init", 0, 32, None))


def test_a_sum_logits_learner_runs(tmp_path):
    import ntkbench

    records = ntkbench.run(SPEC, out=tmp_path, leaderboard=False).records
    assert set(records["status"]) == {"ok"} and len(records) == 6
    assert set(records[records.learner_id == "pntk"]["option.contraction"]) == {"sum_logits"}
