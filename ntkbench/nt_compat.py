"""Import neural-tangents 0.6.5 on jax 0.5.3 without TensorFlow.

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

Both steps are idempotent. neural-tangents 0.6.5 does not import at all on
jax >= 0.6 (`cannot import name 'Jaxpr' from 'jax.core'`): that is why jax is
pinned to 0.5.3.
"""

from __future__ import annotations

import sys
import types
import warnings
from typing import Any

from .api import EnvironmentProblem

SUPPORTED_VERSION = "0.6.5"
INSTALL_HINT = f"pip install --no-deps neural-tangents=={SUPPORTED_VERSION}"
_EXPERIMENTAL = "neural_tangents.experimental"


def _register_empty_experimental() -> None:
    if _EXPERIMENTAL not in sys.modules:
        placeholder = types.ModuleType(_EXPERIMENTAL)
        placeholder.__doc__ = "Empty stand-in registered by ntkbench.nt_compat (keeps TensorFlow out)."
        sys.modules[_EXPERIMENTAL] = placeholder


def _restore_ad_attributes() -> None:
    import jax
    import jax.extend
    import jax.interpreters.ad as ad

    if not hasattr(ad, "source_info_util"):
        ad.source_info_util = jax.extend.source_info_util
    if not hasattr(ad, "config"):
        ad.config = jax.config


def import_neural_tangents() -> Any:
    """Return the `neural_tangents` module, imported the TensorFlow-free way.

    **Raises:** `EnvironmentProblem` with the install command when
    neural-tangents is not installed.
    """
    if "neural_tangents" in sys.modules and _EXPERIMENTAL in sys.modules:
        _restore_ad_attributes()
        return sys.modules["neural_tangents"]
    _register_empty_experimental()
    _restore_ad_attributes()
    with warnings.catch_warnings():
        # jax 0.5.3 deprecates the jax.core names that neural-tangents 0.6.5 imports.
        warnings.filterwarnings("ignore", message=r"jax\.core\.\w+ is deprecated", category=DeprecationWarning)
        try:
            import neural_tangents
        except ModuleNotFoundError as error:
            if error.name != "neural_tangents":
                raise
            raise EnvironmentProblem(f"neural-tangents is not installed; install it with: {INSTALL_HINT}") from None
    return neural_tangents
