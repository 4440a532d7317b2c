"""Import neural-tangents 0.6.5 on jax 0.5.3 to 0.12 without TensorFlow.

Every ntkbench module that needs neural-tangents gets it from
`import_neural_tangents()`, never from a bare `import neural_tangents`, because
two things have to happen first:

1. `neural_tangents/__init__.py` imports `neural_tangents.experimental`, which
   imports TensorFlow through `jax2tf` (2 GB, and nothing else in the library
   needs it). We register an empty module under that name, so the real one is
   never imported. Its PyPI metadata also requires TensorFlow, which is why
   ntkbench installs neural-tangents with `pip install --no-deps`.
2. jax 0.5 removed `jax.interpreters.ad.source_info_util` and
   `jax.interpreters.ad.config`, which `empirical_ntk_fn(implementation=3)`
   (structured derivatives) still reads. We restore them from their new homes
   (`jax.extend.source_info_util`, `jax.config`). neural-tangents fixed this on
   its main branch after 0.6.5 and never released it; the patch only adds the
   attributes where they are missing.

3. jax 0.6 and later removed names neural-tangents imports: five from `jax.core`
   (`Jaxpr`, `JaxprEqn`, `Var`, `Literal`, `Primitive`, still in `jax._src.core`),
   the module `jax.util` (`safe_map`, `safe_zip`, still in `jax._src.util`) and
   `jax.interpreters.ad.zeros_like_p` (neural-tangents only uses it as a dictionary
   key). We restore them where they are missing.

4. Implementation 3 linearises the network twice per batch, once for each of the two
   quantities it pulls back (the cotangents of every layer's output, and every layer's Jacobian
   with respect to its weights), though the linearisation does not depend on which. We replace
   its `_get_df_dys_and_dy_dws` with one that linearises once and pulls back both from it: the
   same kernel to the bit, traced and run with one forward pass fewer per batch.

Every step is idempotent and steps 1 to 3 only add what is missing. Implementation 3 of
`empirical_ntk_fn` (structured derivatives) reimplements jax's old internal
linearisation, whose signature and results jax 0.6 changed; it cannot be restored
by adding names, so on jax >= 0.6 only implementations 1 and 2 are offered
(`available_implementations()`): `implementation: auto` chooses between them and
`implementation: 3` is refused at validation.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import re
import sys
import types
import warnings
from typing import Any

from .api import EnvironmentProblem

SUPPORTED_VERSION = "0.6.5"
INSTALL_HINT = f"pip install --no-deps neural-tangents=={SUPPORTED_VERSION}"
_EXPERIMENTAL = "neural_tangents.experimental"


STRUCTURED_DERIVATIVES_BEFORE = (0, 6)
"""jax versions from this one on changed `jax.interpreters.ad.linearize`, on which neural-tangents'
implementation 3 is built."""


def jax_version() -> tuple[int, int, int]:
    """The installed jax's (major, minor, patch), read from its metadata (jax is not imported)."""
    text = importlib.metadata.version("jax")
    parts = [int(match) for match in re.findall(r"\d+", text)[:3]]
    return tuple(parts + [0] * (3 - len(parts)))  # type: ignore[return-value]


def available_implementations() -> tuple[int, ...]:
    """The empirical NTK's implementations that work here: 1 (Jacobian contraction) and 2
    (NTK-vector products) always, ntkbench's own; 3 (neural-tangents' structured derivatives)
    where neural-tangents is installed and jax is older than 0.6 (see the module docstring)."""
    structured = jax_version() < STRUCTURED_DERIVATIVES_BEFORE and neural_tangents_installed()
    return (1, 2, 3) if structured else (1, 2)


def preferred_implementation() -> int:
    """The implementation used where none is chosen: 3 where it works (the least memory on
    convolutional networks), else 2."""
    return available_implementations()[-1]


def implementation_problem(implementation: int) -> str | None:
    """Why `implementation` cannot be used with the installed jax, or None."""
    if implementation in available_implementations():
        return None
    if not neural_tangents_installed():
        return f"implementation {implementation} (structured derivatives) is neural-tangents', which is not installed ({INSTALL_HINT}); use 1, 2 or auto"
    version = ".".join(map(str, jax_version()))
    return (f"implementation {implementation} (structured derivatives) of neural-tangents 0.6.5 does not work on jax "
            f"{version} (jax 0.6 changed the linearisation it is built on); use 1, 2 or auto")


def _register_empty_experimental() -> None:
    if _EXPERIMENTAL not in sys.modules:
        placeholder = types.ModuleType(_EXPERIMENTAL)
        placeholder.__doc__ = "Empty stand-in registered by ntkbench.nt_compat (keeps TensorFlow out)."
        sys.modules[_EXPERIMENTAL] = placeholder


def _restore_ad_attributes() -> None:
    import jax
    import jax.extend
    import jax.interpreters.ad as ad

    if not hasattr(ad, "source_info_util"):  # removed in jax 0.5
        ad.source_info_util = jax.extend.source_info_util
    if not hasattr(ad, "config"):  # removed in jax 0.5
        ad.config = jax.config


REMOVED_FROM_JAX_CORE = ("Jaxpr", "JaxprEqn", "Var", "Literal", "Primitive")
"""Names of `jax.core` that neural-tangents 0.6.5 imports and jax 0.6 removed (they live on in `jax._src.core`)."""


def _restore_removed_names() -> None:
    """What jax >= 0.6 removed and neural-tangents 0.6.5 imports; nothing on older jax."""
    import jax
    import jax._src.core as private_core
    import jax._src.util as private_util
    import jax.core
    import jax.interpreters.ad as ad

    for name in REMOVED_FROM_JAX_CORE:
        if not hasattr(jax.core, name):  # removed in jax 0.6
            setattr(jax.core, name, getattr(private_core, name))
    if "jax.util" not in sys.modules:
        try:
            import jax.util  # noqa: F401
        except ImportError:  # removed in jax 0.6 (neural-tangents uses safe_map and safe_zip)
            util = types.ModuleType("jax.util")
            util.__doc__ = "Stand-in registered by ntkbench.nt_compat: what neural-tangents 0.6.5 uses of the removed jax.util."
            util.safe_map, util.safe_zip = private_util.safe_map, private_util.safe_zip
            sys.modules["jax.util"] = util
            jax.util = util
    if not hasattr(ad, "zeros_like_p"):  # removed in jax 0.6; neural-tangents only uses it as a dictionary key
        ad.zeros_like_p = private_core.Primitive("zeros_like")


def _linearise_once() -> None:
    """Step 4 of the module docstring (neural-tangents 0.6.5's private functions, read as of that release)."""
    import jax
    from jax.extend import linear_util as lu
    from jax.interpreters import ad
    from jax.tree_util import tree_flatten, tree_unflatten
    from neural_tangents._src import empirical

    if getattr(empirical._get_df_dys_and_dy_dws, "linearises_once", False):
        return

    def df_dys_and_dy_dws(fn: Any, params: Any, _j_rules: bool, _s_rules: bool, _fwd: Any) -> tuple[Any, Any]:
        primals_in, in_tree = tree_flatten((params,))
        flat_fn, out_tree = jax.api_util.flatten_fun_nokwargs(lu.wrap_init(fn), in_tree)
        with jax.disable_jit():
            primals_out, pvals, jaxpr, consts = ad.linearize(flat_fn, *primals_in, has_aux=False)
        primals_out = tree_unflatten(out_tree(), primals_out)

        def pullback(mode: Any) -> Any:
            def apply(*cotangents: Any) -> Any:
                flat, _ = tree_flatten(cotangents)
                unknown = tuple(ct for ct, pval in zip(flat, pvals) if not pval.is_known())
                out = empirical._backward_pass(jaxpr, mode=mode, consts=consts,
                                               primals_in=[ad.UndefinedPrimal(v.aval) for v in jaxpr.invars],
                                               cotangents_in=unknown, _j_rules=_j_rules, _s_rules=_s_rules, _fwd=_fwd)
                return tree_unflatten(in_tree, out)

            return apply

        df_dys = jax.vmap(pullback(empirical._MODE.DF_DY))(empirical._std_basis(primals_out))
        df_dys = empirical._unravel_dfs(df_dys[0], params, primals_out)
        return df_dys, pullback(empirical._MODE.DY_DW)(primals_out)[0]

    df_dys_and_dy_dws.linearises_once = True
    df_dys_and_dy_dws.replaced = empirical._get_df_dys_and_dy_dws
    empirical._get_df_dys_and_dy_dws = df_dys_and_dy_dws


def neural_tangents_installed() -> bool:
    """Whether neural-tangents can be imported (found without importing it, or jax)."""
    return "neural_tangents" in sys.modules or importlib.util.find_spec("neural_tangents") is not None


def import_neural_tangents() -> Any:
    """Return the `neural_tangents` module, imported the TensorFlow-free way.

    **Raises:** `EnvironmentProblem` with the install command when
    neural-tangents is not installed.
    """
    if "neural_tangents" in sys.modules and _EXPERIMENTAL in sys.modules:
        _restore_ad_attributes()
        if 3 in available_implementations():
            _linearise_once()
        return sys.modules["neural_tangents"]
    _register_empty_experimental()
    _restore_ad_attributes()
    with warnings.catch_warnings():
        # jax 0.5.3 deprecates the jax.core names that neural-tangents 0.6.5 imports.
        warnings.filterwarnings("ignore", message=r"jax\.core\.\w+ is deprecated", category=DeprecationWarning)
        _restore_removed_names()
        try:
            import neural_tangents
        except ModuleNotFoundError as error:
            if error.name != "neural_tangents":
                raise
            raise EnvironmentProblem(f"neural-tangents is not installed; install it with: {INSTALL_HINT}") from None
    if 3 in available_implementations():
        _linearise_once()
    return neural_tangents
