"""What determines a kernel's values, as JSON: the description under which a kernel store keeps its
tiles (`ntkbench.api.kernel_identity` hashes it). Two evaluations with equal descriptions compute
the same tiles bit for bit, so a tile kept under one is read by the other; anything that may change a
bit is in it: the architecture and its options, the kernel's kind, the network's parameters (for an
empirical kernel), the code that computes it and the jax that runs it."""

from __future__ import annotations

import hashlib
import re
import sys
from pathlib import Path
from typing import Any

import jax
import numpy as np

from ..api import Architecture, installed_version, source_fingerprint

DESCRIPTION_FORMAT = 1
"""The version of these descriptions: raising it keeps every stored tile from being read again."""
_NUMERICS = Path(__file__).resolve().parent


def _code_of(architecture: Architecture) -> str:
    """The fingerprint of the Python files beside the module that defines the architecture's class
    (its network and kernel map are written there or next to it)."""
    module = sys.modules.get(type(architecture).__module__)
    location = getattr(module, "__file__", None)
    return source_fingerprint(Path(location).resolve().parent, recursive=False) if location else "unknown"


def _versions(*distributions: str) -> dict[str, str]:
    return {name: installed_version(name) for name in distributions}


def _architecture(architecture: Architecture) -> dict[str, Any]:
    return {
        "class": f"{type(architecture).__module__}.{type(architecture).__qualname__}",
        "options": architecture.options.model_dump(mode="json"),
        "code": _code_of(architecture),
    }


def infinite_kernel_description(architecture: Architecture, *, num_classes: int, kind: str = "ntk") -> dict[str, Any]:
    """An architecture's infinite-width kernel: native from its kernel map (ntkbench's infinite
    layers' code counts) or from its `stax` twin (neural-tangents' version counts)."""
    native = architecture.has_kernel_map()
    return {
        "format": DESCRIPTION_FORMAT,
        "kernel": f"infinite {kind}",
        "source": "native" if native else "stax",
        "architecture": _architecture(architecture),
        "num_classes": num_classes,
        "dtype": "float32",
        "code": source_fingerprint(_NUMERICS / "infinite") if native else "",
        "versions": _versions("jax", "jaxlib", *([] if native else ["neural-tangents"])),
    }


def _without_addresses(text: str) -> str:
    """`text` without the addresses a function's repr holds, which differ between processes."""
    return re.sub(r" at 0x[0-9a-fA-F]+", "", text)


def parameters_fingerprint(model: Any) -> str:
    """16 hex digits of a SHA-256 over a network's structure and every array in it."""
    leaves, structure = jax.tree_util.tree_flatten(model)
    digest = hashlib.sha256(_without_addresses(str(structure)).encode())
    for leaf in leaves:
        if isinstance(leaf, jax.Array | np.ndarray):
            array = np.asarray(leaf)
            digest.update(f"{array.dtype.str}{array.shape}".encode() + array.tobytes())
        else:
            digest.update(_without_addresses(repr(leaf)).encode())
    return digest.hexdigest()[:16]


def empirical_kernel_description(
    model: Any, architecture: Architecture | None, implementation: int | str, contraction: str,
    strategies: tuple[str, ...] | None = None,
) -> dict[str, Any]:
    """A network's empirical NTK: its parameters (by hash), how it is contracted, and which
    implementation computes it (with `native`, each layer's strategy): they agree to round-off,
    not bit for bit."""
    return {
        "format": DESCRIPTION_FORMAT,
        "kernel": "empirical ntk",
        "parameters": parameters_fingerprint(model),
        "architecture": None if architecture is None else _architecture(architecture),
        "implementation": implementation,
        **({"strategies": list(strategies)} if strategies is not None else {}),
        "contraction": contraction,
        "dtype": "float32",
        "code": source_fingerprint(_NUMERICS, recursive=False),
        "versions": _versions("jax", "jaxlib"),
    }
