"""The compat module imports neural-tangents 0.6.5 without TensorFlow on every supported jax
(0.5.3 to 0.12), restoring what each removed, and offers the implementations that work there."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from ntkbench.nt_compat import available_implementations, implementation_problem, jax_version

pytestmark = pytest.mark.parity


def run_python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=300)


def test_import_keeps_tensorflow_out_and_restores_ad_attributes():
    result = run_python(
        """
        import sys
        import warnings
        import jax.interpreters.ad as ad
        import jax.core
        from ntkbench.nt_compat import REMOVED_FROM_JAX_CORE, import_neural_tangents, jax_version
        assert not hasattr(ad, "source_info_util") and not hasattr(ad, "config"), "jax no longer needs the patch"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # jax 0.5.3 deprecates the names it still has
            missing = [name for name in REMOVED_FROM_JAX_CORE if not hasattr(jax.core, name)]
        assert bool(missing) == (jax_version() >= (0, 6)), missing  # the shims are needed exactly from jax 0.6
        nt = import_neural_tangents()
        assert nt.__version__ == "0.6.5", nt.__version__
        assert "tensorflow" not in sys.modules
        assert sys.modules["neural_tangents.experimental"].__doc__.startswith("Empty stand-in")
        import jax
        assert ad.source_info_util is jax.extend.source_info_util and ad.config is jax.config
        assert all(hasattr(jax.core, name) for name in REMOVED_FROM_JAX_CORE) and hasattr(ad, "zeros_like_p")
        assert sys.modules["jax.util"].safe_map is not None
        assert import_neural_tangents() is nt
        print("ok")
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
    assert "DeprecationWarning" not in result.stderr


def test_every_available_implementation_agrees_and_the_unavailable_one_is_broken():
    """The implementations offered on this jax agree with Jacobian contraction; implementation 3,
    offered only before jax 0.6, does fail from then on (so refusing it is right)."""
    import jax
    import numpy as np

    from ntkbench.nt_compat import import_neural_tangents

    nt = import_neural_tangents()
    stax = nt.stax
    init_fn, apply_fn, _ = stax.serial(stax.Dense(16, 1.5, 0.1), stax.Relu(), stax.Dense(3, 1.5, 0.1))
    _, params = init_fn(jax.random.PRNGKey(0), (-1, 5))
    x = jax.random.normal(jax.random.PRNGKey(1), (6, 5))

    def kernel(implementation: int) -> np.ndarray:
        return np.asarray(nt.empirical_ntk_fn(apply_fn, trace_axes=(-1,), vmap_axes=0, implementation=implementation)(x, x, params))

    reference = kernel(1)
    for implementation in available_implementations():
        np.testing.assert_allclose(kernel(implementation), reference, rtol=1e-5, atol=1e-6)
    assert (3 in available_implementations()) == (jax_version() < (0, 6))
    if 3 not in available_implementations():
        with pytest.raises(TypeError, match="has_aux"):
            kernel(3)
        assert "does not work on jax" in implementation_problem(3)


def test_missing_neural_tangents_gives_the_install_command():
    result = run_python(
        """
        import sys
        sys.modules["neural_tangents"] = None  # makes the import fail as if it were not installed
        from ntkbench.nt_compat import import_neural_tangents
        from ntkbench import NtkbenchError
        try:
            import_neural_tangents()
        except NtkbenchError as error:
            print(error)
        """
    )
    assert "pip install --no-deps neural-tangents==0.6.5" in result.stdout, result.stderr


@pytest.mark.skipif(3 not in available_implementations(), reason="structured derivatives need jax < 0.6")
def test_structured_derivatives_linearise_once_and_give_the_same_kernel_to_the_bit(monkeypatch):
    """Step 4: implementation 3 with one linearisation per batch equals neural-tangents' own, which
    linearises twice, on a network with convolutions, batch norm and a residual sum."""
    import equinox as eqx
    import jax
    import numpy as np

    from ntkbench.api import load_all
    from ntkbench.nt_compat import import_neural_tangents
    from ntkbench.numerics._networks import example_function, split_model

    nt = import_neural_tangents()
    from neural_tangents._src import empirical

    patched = empirical._get_df_dys_and_dy_dws
    assert patched.linearises_once
    linearisations = []
    real_linearize = jax.interpreters.ad.linearize
    monkeypatch.setattr(jax.interpreters.ad, "linearize", lambda *a, **k: linearisations.append(1) or real_linearize(*a, **k))
    plugin = load_all("architecture").usable["resnet18"]
    model = plugin(plugin.Options(width=4, norm="batch")).init_model(input_shape=(8, 8, 3), num_classes=3, key=jax.random.PRNGKey(0))
    module, state = split_model(model)
    params, static = eqx.partition(module, eqx.is_inexact_array)
    x = jax.random.normal(jax.random.PRNGKey(1), (3, 8, 8, 3))

    def apply(p, inputs):
        return jax.vmap(example_function(eqx.combine(p, static), state))(inputs)

    def kernel(function) -> tuple[np.ndarray, int]:
        monkeypatch.setattr(empirical, "_get_df_dys_and_dy_dws", function)
        linearisations.clear()
        ntk = nt.empirical_ntk_fn(apply, trace_axes=(-1,), vmap_axes=0, implementation=3)
        return np.asarray(jax.jit(lambda a, b, p: ntk(a, b, p))(x, x[:2], params)), len(linearisations)

    ours, once = kernel(patched)
    theirs, twice = kernel(patched.replaced)
    assert np.array_equal(ours, theirs) and (once, twice) == (2, 4)
