"""ntkbench's empirical NTKs (`native`, the structured kernel of `ntkbench.numerics._structured_ntk`;
implementations 1 and 2 of `_empirical`) against neural-tangents' `empirical_ntk_fn`, the oracle,
on every built-in architecture (batch norm in inference mode included, where `native` does not
apply) and both contractions, within 1e-5 of the largest entry (float32)."""

from __future__ import annotations

import functools

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ntkbench.architectures.mlp import MLPArchitecture
from ntkbench.architectures.myrtle import MyrtleArchitecture
from ntkbench.architectures.resnet import ResNet18Architecture
from ntkbench.nt_compat import import_neural_tangents
from ntkbench.numerics._kernels import empirical_ntk
from ntkbench.numerics._networks import example_function, split_model

pytestmark = pytest.mark.parity
TOLERANCE = 1e-5
ARCHITECTURES = {
    "mlp": (MLPArchitecture(MLPArchitecture.Options(depth=2, width=32)), (4, 4, 1)),
    "mlp-standard": (MLPArchitecture(MLPArchitecture.Options(depth=1, width=32, parameterization="standard")), (4, 4, 1)),
    "myrtle": (MyrtleArchitecture(MyrtleArchitecture.Options(depth=5, width=8)), (8, 8, 1)),
    "resnet-batch-norm": (ResNet18Architecture(ResNet18Architecture.Options(width=4, norm="batch")), (8, 8, 3)),
}


def reference(model, x1, x2, contraction: str) -> np.ndarray:
    nt = import_neural_tangents()
    module, state = split_model(model)
    params, static = eqx.partition(module, eqx.is_inexact_array)

    def apply(p, x):
        logits = jax.vmap(example_function(eqx.combine(p, static), state))(x)
        if contraction == "sum_logits":
            return jnp.sum(logits, axis=-1, keepdims=True) / jnp.sqrt(logits.shape[-1])
        return logits

    return np.asarray(jax.jit(nt.empirical_ntk_fn(apply, trace_axes=(-1,), vmap_axes=0, implementation=1))(x1, x2, params))


@functools.cache
def case(name: str, contraction: str) -> tuple:
    """The model, inputs and neural-tangents' kernel of one architecture and contraction, once per
    session: both implementations of ours are checked against the same reference."""
    architecture, shape = ARCHITECTURES[name]
    rng = np.random.default_rng(0)
    x1, x2 = (jnp.asarray(rng.normal(size=(n, *shape)), jnp.float32) for n in (5, 3))
    model = architecture.init_model(input_shape=shape, num_classes=4, key=jax.random.PRNGKey(1))
    return model, x1, x2, reference(model, x1, x2, contraction)


@pytest.mark.parametrize("contraction", ["trace", "sum_logits"])
@pytest.mark.parametrize("implementation", ["native", 1, 2])
@pytest.mark.parametrize("name", [pytest.param(name, marks=[pytest.mark.slow] if "resnet" in name else []) for name in ARCHITECTURES])
def test_the_native_empirical_ntk_equals_neural_tangents(name, implementation, contraction):
    if implementation == "native" and "batch-norm" in name:
        pytest.skip("native takes no batch norm: test_native_refuses_batch_norm_and_auto_takes_it_wherever_it_applies")
    model, x1, x2, theirs = case(name, contraction)
    ours = np.asarray(empirical_ntk(model, x1, x2, implementation, contraction))
    assert ours.shape == theirs.shape == (5, 3)
    assert np.max(np.abs(ours - theirs)) / np.max(np.abs(theirs)) < TOLERANCE


def test_native_refuses_batch_norm_and_auto_takes_it_wherever_it_applies():
    from ntkbench.api import CellFailure
    from ntkbench.numerics._kernels import resolve_implementation

    model, x1, _, _ = case("resnet-batch-norm", "trace")
    with pytest.raises(CellFailure, match="implementation native: the network keeps a state \\(batch norm\\)"):
        resolve_implementation(model, np.asarray(x1), "native")
    assert resolve_implementation(model, np.asarray(x1), "auto") in (1, 2, 3)
    for name in ("mlp", "myrtle"):
        layered, x, _, _ = case(name, "trace")
        assert resolve_implementation(layered, np.asarray(x), "auto") == "native"
