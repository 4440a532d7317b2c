"""The compat module imports neural-tangents 0.6.5 on jax 0.5.3 without TensorFlow."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def run_python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=300)


def test_import_keeps_tensorflow_out_and_restores_ad_attributes():
    result = run_python(
        """
        import sys
        import jax.interpreters.ad as ad
        assert not hasattr(ad, "source_info_util") and not hasattr(ad, "config"), "jax no longer needs the patch"
        from ntkbench.nt_compat import import_neural_tangents
        nt = import_neural_tangents()
        assert nt.__version__ == "0.6.5", nt.__version__
        assert "tensorflow" not in sys.modules
        assert sys.modules["neural_tangents.experimental"].__doc__.startswith("Empty stand-in")
        import jax
        assert ad.source_info_util is jax.extend.source_info_util and ad.config is jax.config
        assert import_neural_tangents() is nt
        print("ok")
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
    assert "DeprecationWarning" not in result.stderr


def test_structured_derivatives_agree_with_jacobian_contraction():
    """Implementation 3 is what needs the restored attributes; it must agree with implementation 1."""
    import jax
    import numpy as np

    from ntkbench.nt_compat import import_neural_tangents

    nt = import_neural_tangents()
    stax = nt.stax
    init_fn, apply_fn, _ = stax.serial(stax.Dense(16, 1.5, 0.1), stax.Relu(), stax.Dense(3, 1.5, 0.1))
    _, params = init_fn(jax.random.PRNGKey(0), (-1, 5))
    x = jax.random.normal(jax.random.PRNGKey(1), (6, 5))
    kernels = [
        np.asarray(nt.empirical_ntk_fn(apply_fn, trace_axes=(-1,), vmap_axes=0, implementation=i)(x, x, params))
        for i in (1, 3)
    ]
    np.testing.assert_allclose(kernels[1], kernels[0], rtol=1e-5, atol=1e-6)


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
