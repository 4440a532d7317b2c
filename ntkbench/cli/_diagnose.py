"""`ntkbench doctor` and `ntkbench check-ntk`: what this installation runs on, and whether an
architecture's empirical NTK approaches its infinite-width twin's."""

from __future__ import annotations

import argparse
import importlib.metadata
import re
import sys

from ..api import NtkbenchError
from ._spec import add_trust_plugins


def add_commands(commands: argparse._SubParsersAction) -> None:
    check = commands.add_parser(
        "check-ntk", help="distance of the empirical NTK at init to the infinite NTK, as the width grows"
    )
    check.add_argument("spec", help="spec whose dataset and architecture to use")
    check.add_argument("--widths", type=int, nargs="+", default=[16, 64, 256], metavar="W")
    check.add_argument("--seeds", type=int, default=8, help="initialisations per width (default 8)")
    check.add_argument("--inputs", type=int, default=32, help="test inputs the kernels are taken on (default 32)")
    add_trust_plugins(check)
    check.set_defaults(handler=_check_ntk)

    doctor = commands.add_parser("doctor", help="devices, versions against the tested stacks, CUDA, neural-tangents, plugins")
    doctor.set_defaults(handler=_doctor)


def _check_ntk(args: argparse.Namespace) -> int:
    from tabulate import tabulate

    from ..api import InputError
    from ..runner import balanced_test_indices
    from ..spec import load_spec

    spec = load_spec(args.spec, trust_plugins=args.trust_plugins)
    architecture = spec.architecture.instantiate()
    name = spec.architecture.name
    if not architecture.has_infinite_kernel():
        raise InputError(f"{args.spec}: architecture {name!r} with these options has no infinite-width kernel")
    if not architecture.has_kernel_map():
        from ..nt_compat import INSTALL_HINT, neural_tangents_installed

        if not neural_tangents_installed():
            raise InputError(f"{args.spec}: architecture {name!r} has its infinite-width kernel from its stax twin, "
                             f"which needs neural-tangents; install it with: {INSTALL_HINT}")
    if not architecture.has_width():
        raise InputError(f"{args.spec}: architecture {name!r} has no 'width' option to vary")
    from ..numerics._convergence import log_log_slope, ntk_distances

    data = spec.dataset.instantiate().load()
    x = data.x_test[balanced_test_indices(data.y_test, args.inputs, data.num_classes)]
    print(
        f"{spec.name}: empirical NTK at initialisation against the infinite NTK of {name}, "
        f"{args.inputs} test inputs of shape {list(x.shape[1:])}, {args.seeds} initialisations per width"
    )
    results = ntk_distances(architecture, x, args.widths, args.seeds, data.num_classes)
    rows = [[r.width, f"{r.mean:.4f}", f"{r.std:.4f}"] for r in results]
    print(tabulate(rows, headers=["width", "relative distance (mean)", "sd over seeds"], tablefmt="github"))
    monotone = all(a.mean > b.mean for a, b in zip(results, results[1:]))
    print(f"log-log slope: {log_log_slope(results):.3f} (fluctuations alone: -0.5); decreasing with width: {monotone}")
    return 0


TESTED_STACKS: dict[str, dict[str, str]] = {
    "py311-jax0.5.3": {"python": "3.11", "jax": "0.5.3", "jaxlib": "0.5.3", "equinox": "0.13.8", "optax": "0.2.8"},
    "py312-jax0.12": {"python": "3.12", "jax": "0.12.0.1", "jaxlib": "0.12.0.1", "equinox": "0.13.8", "optax": "0.2.8"},
    "py313-jax0.12": {"python": "3.13", "jax": "0.12.0.1", "jaxlib": "0.12.0.1", "equinox": "0.13.8", "optax": "0.2.8"},
}
"""The combinations CI tests, as in constraints/ (a test keeps the two the same)."""
CUDA_PLUGINS = ("jax-cuda12-plugin", "jax-cuda13-plugin")


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version))


def _satisfies(version: str, specifiers: str) -> bool:
    """Whether `version` meets `>=a,<b,==c` style specifiers (what ntkbench's requirements use)."""
    for specifier in filter(None, (part.strip() for part in specifiers.split(","))):
        operator, bound = re.fullmatch(r"(==|>=|<=|<|>|!=)\s*(\S+)", specifier).groups()
        ours, theirs = _version_key(version), _version_key(bound)
        if not {"==": ours == theirs, ">=": ours >= theirs, "<=": ours <= theirs, "<": ours < theirs,
                ">": ours > theirs, "!=": ours != theirs}[operator]:
            return False
    return True


def required_versions() -> dict[str, str]:
    """The version ranges ntkbench requires of the numerical stack (from its installed metadata), and
    the neural-tangents release `nt_compat` supports (installed without its dependencies)."""
    from ..nt_compat import SUPPORTED_VERSION

    ranges = {}
    for requirement in importlib.metadata.requires("ntkbench") or ():
        match = re.fullmatch(r"(jax|jaxlib|equinox|optax)\s*([<>=!][^;]*)", requirement.strip())
        if match:
            ranges[match.group(1)] = match.group(2).replace(" ", "")
    return ranges | {"neural-tangents": f"=={SUPPORTED_VERSION}"}


def tested_stack() -> str | None:
    """The name of the tested combination this installation is, or None."""
    python = "%d.%d" % sys.version_info[:2]
    for name, versions in TESTED_STACKS.items():
        if versions["python"] == python and all(_installed_version(k) == v for k, v in versions.items() if k != "python"):
            return name
    return None


def _doctor(args: argparse.Namespace) -> int:
    """What this installation can run on: devices, versions against the required ranges and the tested
    stacks, the CUDA plugin, neural-tangents (and its empirical-NTK implementations), plugins."""
    import jax

    from ..api import ENTRY_POINT_GROUPS, data_root, format_bytes, load_all, memory_budget

    problems = 0
    devices = jax.devices()
    print(f"devices: {len(devices)} x {devices[0].device_kind} ({devices[0].platform}); "
          f"local: {len(jax.local_devices())}; memory budget {format_bytes(memory_budget())}")
    for name, specifiers in required_versions().items():
        installed = _installed_version(name)
        fits = installed != "missing" and _satisfies(installed, specifiers)
        problems += not fits
        print(f"{name}: {installed} {'ok' if fits else f'OUTSIDE {specifiers}'}")
    stack = tested_stack()
    print(f"stack: {stack} (tested by CI)" if stack else
          f"stack: untested combination (tested: {', '.join(TESTED_STACKS)}; see constraints/)")
    cuda = [f"{name} {_installed_version(name)}" for name in CUDA_PLUGINS if _installed_version(name) != "missing"]
    print(f"CUDA: {', '.join(cuda)}" if cuda else "CUDA: no jax CUDA plugin installed (CPU only; see docs/tutorials/paper-scale-gpus.md, 'GPU machines')")
    try:
        from ..nt_compat import available_implementations, import_neural_tangents

        import_neural_tangents()
        tensorflow = "tensorflow" in sys.modules
        print(f"neural-tangents: imports; TensorFlow {'LOADED (it should not be)' if tensorflow else 'not loaded'}; "
              f"empirical NTK implementations {', '.join(map(str, available_implementations()))}")
        problems += tensorflow
    except NtkbenchError as error:
        print(f"neural-tangents: DOES NOT IMPORT: {error}")
        problems += 1
    for kind in ENTRY_POINT_GROUPS:
        plugins = load_all(kind)
        broken = [f"{name} ({error})" for name, error in plugins.broken.items()]
        print(f"{kind}s: {', '.join(plugins.usable) or 'none'}" + (f"; BROKEN: {'; '.join(broken)}" if broken else ""))
        problems += len(broken)
    print(f"data root: {data_root()}")
    return 1 if problems else 0


def _installed_version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "missing"
