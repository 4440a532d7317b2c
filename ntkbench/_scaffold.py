"""`ntkbench new-plugin NAME --kind KIND`: a plugin package skeleton in the documented shape.

The skeleton is a complete, working plugin (the minimal examples of docs/plugins.md, which a
test keeps identical to these templates), with a passing test, ready for `pip install -e`.
"""

from __future__ import annotations

import re
from pathlib import Path

from ._errors import InputError
from ._registry import ENTRY_POINT_GROUPS

NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")

PLUGIN_SOURCES = {
    "learner": '''"""`{name}`: kernel ridge regression with a Gaussian (RBF) kernel, as an ntkbench learner."""

from __future__ import annotations

from pydantic import NonNegativeFloat, PositiveFloat

import ntkbench


class {cls}Options(ntkbench.LearnerOptions):
    lengthscale: PositiveFloat = 10.0
    """Length scale of exp(-|x - x'|^2 / (2 lengthscale^2)), in input units."""
    ridge: NonNegativeFloat = 1e-3
    """Ridge relative to the mean diagonal of the training kernel."""


class {cls}(ntkbench.Learner):
    """Kernel ridge regression of the one-hot labels with an RBF kernel on the flattened inputs."""

    Options = {cls}Options
    api_version = 1

    def fit_predict(self, task: ntkbench.LearnerTask) -> ntkbench.LearnerResult:
        import jax
        import jax.numpy as jnp

        from ntkbench.kernels import regress_with_kernel

        scale = 2 * self.options.lengthscale**2

        @jax.jit
        def rbf(x1, x2):
            a, b = x1.reshape(len(x1), -1), x2.reshape(len(x2), -1)
            squared = jnp.sum(a**2, 1)[:, None] + jnp.sum(b**2, 1)[None, :] - 2 * a @ b.T
            return jnp.exp(-jnp.maximum(squared, 0) / scale)

        return regress_with_kernel(rbf, task, self.options.ridge)
''',
    "dataset": '''"""`{name}`: Gaussian class clusters in a few dimensions, as an ntkbench dataset (no files)."""

from __future__ import annotations

import numpy as np
from pydantic import NonNegativeInt, PositiveFloat, PositiveInt

import ntkbench


class {cls}Options(ntkbench.DatasetOptions):
    dim: PositiveInt = 8
    classes: PositiveInt = 3
    pool: PositiveInt = 4000
    """Training pool size."""
    spread: PositiveFloat = 1.0
    """Standard deviation of each cluster (the cluster centres are standard normal)."""
    data_seed: NonNegativeInt = 0


class {cls}(ntkbench.Dataset):
    """`classes` Gaussian clusters in `dim` dimensions, drawn from `data_seed`."""

    Options = {cls}Options
    api_version = 1

    def load(self) -> ntkbench.LabelledData:
        options = self.options
        rng = np.random.default_rng(options.data_seed)
        centres = rng.normal(size=(options.classes, options.dim))

        def draw(count: int) -> tuple[np.ndarray, np.ndarray]:
            labels = rng.integers(0, options.classes, size=count)
            x = centres[labels] + options.spread * rng.normal(size=(count, options.dim))
            return x.astype(np.float32), labels.astype(np.int32)

        x_pool, y_pool = draw(options.pool)
        x_test, y_test = draw(max(options.n_test * 2, 100))
        return ntkbench.LabelledData(x_pool, y_pool, x_test, y_test, num_classes=options.classes)

    def pool_size(self) -> int:
        return self.options.pool

    def input_shape(self) -> tuple[int, ...]:
        return (self.options.dim,)
''',
    "architecture": '''"""`{name}`: a linear model on the flattened input, with its neural-tangents `stax` twin."""

from __future__ import annotations

import math
from typing import Any

from pydantic import PositiveFloat

import ntkbench


class {cls}Options(ntkbench.ArchitectureOptions):
    w_std: PositiveFloat = 1.0


class {cls}(ntkbench.Architecture):
    """logits = w_std / sqrt(d) * flatten(x) @ W, with W standard normal (NTK parameterisation)."""

    Options = {cls}Options
    api_version = 1
    stax_twin_availability = "always"

    def init_model(self, *, input_shape: tuple[int, ...], num_classes: int, key: Any) -> Any:
        import equinox as eqx
        import jax
        import jax.numpy as jnp

        w_std = self.options.w_std

        class Linear(eqx.Module):
            weight: jax.Array

            def __call__(self, x: jax.Array) -> jax.Array:
                flat = jnp.ravel(x)
                return w_std / math.sqrt(flat.size) * flat @ self.weight

        return Linear(jax.random.normal(key, (math.prod(input_shape), num_classes)))

    def has_stax_twin(self) -> bool:
        return True

    def stax_twin(self, *, num_classes: int) -> ntkbench.StaxTwin:
        from ntkbench.nt_compat import import_neural_tangents

        stax = import_neural_tangents().stax
        return ntkbench.StaxTwin(*stax.serial(stax.Flatten(), stax.Dense(num_classes, self.options.w_std)))

    def stax_parameters(self, model: Any) -> Any:
        return [(), (model.weight, None)]
''',
}

TEST_SOURCES = {
    "learner": '''"""The `{name}` learner predicts well on separable data."""

import numpy as np

import ntkbench
from ntkbench.architectures.mlp import MLPArchitecture
from {module} import {cls}


def test_fit_predict():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 4)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int32)
    task = ntkbench.LearnerTask(
        x_train=x[:80], y_train=y[:80], x_test=x[80:], num_classes=2, seed=0, n_train_max=80,
        architecture=MLPArchitecture(MLPArchitecture.Options()), nested_subset=lambda m: (x[:m], y[:m]),
        held_out_subset=lambda m: (x[-m:], y[-m:]), cache=ntkbench.ArtifactCache(),
    )
    result = {cls}({cls}.Options(lengthscale=2.0, ridge=0.01)).fit_predict(task)
    assert result.predictions.shape == (40, 2)
    assert np.mean(result.predictions.argmax(1) == y[80:]) > 0.8
''',
    "dataset": '''"""The `{name}` dataset has the declared shapes and sizes."""

import numpy as np

from {module} import {cls}


def test_load():
    dataset = {cls}({cls}.Options(n_test=50))
    data = dataset.load()
    assert data.x_pool.shape == (dataset.pool_size(), *dataset.input_shape())
    assert data.x_test.dtype == np.float32 and set(np.unique(data.y_pool)) == {{0, 1, 2}}
''',
    "architecture": '''"""The `{name}` architecture and its stax twin compute the same function."""

import jax
import numpy as np

from {module} import {cls}


def test_parity_with_the_stax_twin():
    architecture = {cls}({cls}.Options())
    x = np.random.default_rng(0).normal(size=(5, 3, 3, 1)).astype(np.float32)
    model = architecture.init_model(input_shape=(3, 3, 1), num_classes=4, key=jax.random.PRNGKey(0))
    twin = architecture.stax_twin(num_classes=4)
    ours = np.asarray(jax.vmap(model)(x))
    np.testing.assert_allclose(ours, twin.apply_fn(architecture.stax_parameters(model), x), rtol=1e-5, atol=1e-6)
''',
}

PYPROJECT = '''[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "{distribution}"
version = "0.1.0"
description = "An ntkbench {kind} plugin: {name}."
requires-python = ">=3.11"
dependencies = ["ntkbench"]

[project.entry-points."{group}"]
{name} = "{module}:{cls}"

[tool.setuptools.packages.find]
where = ["src"]
'''

README = '''# {distribution}

An ntkbench {kind} plugin, `{name}`. Install it next to ntkbench and check that it loads:

```sh
pip install -e .
ntkbench list        # shows {name} as a third-party {kind}
pytest tests
```

Then name it in a spec (`{kind_key}: {{name: {name}}}`). See ntkbench's docs/plugins.md for the API.
'''


def class_name(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def plugin_source(kind: str, name: str) -> str:
    return PLUGIN_SOURCES[kind].format(name=name, cls=class_name(name))


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
    (root / "pyproject.toml").write_text(PYPROJECT.format(**fields))
    (root / "README.md").write_text(README.format(**fields))
    (root / "src" / module / "__init__.py").write_text(plugin_source(kind, name))
    (root / "tests" / f"test_{name}.py").write_text(TEST_SOURCES[kind].format(**fields))
    return root
