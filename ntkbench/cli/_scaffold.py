"""`ntkbench new-plugin NAME --kind KIND`: a plugin package skeleton in the documented shape.

The skeleton, made from the files in `templates/`, is a complete, working plugin (the minimal
examples of docs/reference/plugin-api.md, which a test keeps identical to these templates), with a passing
test, ready for `pip install -e`.
"""

from __future__ import annotations

import importlib.resources
import re
from pathlib import Path

from ..api import ENTRY_POINT_GROUPS, InputError

NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")

TEMPLATES = importlib.resources.files(__package__) / "templates"
"""The package skeleton's files, as `str.format` templates (literal braces doubled)."""


def _template(name: str) -> str:
    return (TEMPLATES / name).read_text(encoding="utf-8")


def class_name(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def plugin_source(kind: str, name: str) -> str:
    return _template(f"{kind}.py.tmpl").format(name=name, cls=class_name(name))


def write_plugin_package(name: str, kind: str, directory: Path) -> Path:
    """Write `ntkbench-<name>/` under `directory`; return its path.

    **Raises:** `InputError` for a bad name or an existing target.
    """
    if not NAME_PATTERN.match(name):
        raise InputError(f"plugin name {name!r}: use lower-case letters, digits and underscores, starting with a letter")
    distribution = f"ntkbench-{name.replace('_', '-')}"
    module = f"ntkbench_{name}"
    root = directory / distribution
    if root.exists():
        raise InputError(f"{root} already exists; choose another name or directory")
    fields = dict(
        name=name, cls=class_name(name), module=module, distribution=distribution, kind=kind,
        group=ENTRY_POINT_GROUPS[kind], kind_key="learners: -" if kind == "learner" else kind,
    )
    (root / "src" / module).mkdir(parents=True)
    (root / "tests").mkdir()
    (root / "pyproject.toml").write_text(_template("pyproject.toml.tmpl").format(**fields))
    (root / "README.md").write_text(_template("README.md.tmpl").format(**fields))
    (root / "src" / module / "__init__.py").write_text(plugin_source(kind, name))
    (root / "tests" / f"test_{name}.py").write_text(_template(f"test_{kind}.py.tmpl").format(**fields))
    return root
