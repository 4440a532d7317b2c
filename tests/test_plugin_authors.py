"""What a plugin author meets: `ntkbench.testing`, `check-plugin`, plugins from a file named by the
spec, `plan` figures from `estimate_cost`, and clear blame when a plugin breaks its contract."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml
from conftest import run_cli

import ntkbench
from ntkbench.storage import stored_kernels
from ntkbench.testing import check_plugin, make_task, tiny_dataset

PLUGINS = '''
"""A dataset, an architecture with its stax twin and a learner, written from docs/reference/plugin-api.md with
the public API only, registered by the spec that names this file."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from pydantic import NonNegativeInt, PositiveFloat, PositiveInt

import ntkbench


class ClustersOptions(ntkbench.DatasetOptions):
    dim: PositiveInt = 8
    classes: PositiveInt = 3
    pool: PositiveInt = 1000
    data_seed: NonNegativeInt = 0
    poison: bool = False
    """Put a NaN into one pool input (a broken dataset)."""
    explode: bool = False


class Clusters(ntkbench.Dataset):
    Options = ClustersOptions
    api_version = 1
    plugin_name = "file_clusters"

    def load(self) -> ntkbench.LabelledData:
        o = self.options
        if o.explode:
            raise ValueError("the files are corrupt")
        rng = np.random.default_rng(o.data_seed)
        centres = rng.normal(size=(o.classes, o.dim))

        def draw(count):
            labels = rng.integers(0, o.classes, size=count)
            return (centres[labels] + rng.normal(size=(count, o.dim))).astype(np.float32), labels.astype(np.int32)

        x_pool, y_pool = draw(o.pool)
        x_test, y_test = draw(600)
        if o.poison:
            x_pool[7, 3] = np.nan
        return ntkbench.LabelledData(x_pool, y_pool, x_test, y_test, num_classes=o.classes)

    def pool_size(self) -> int:
        return self.options.pool

    def input_shape(self) -> tuple[int, ...]:
        return (self.options.dim,)

    def num_classes(self) -> int:
        return self.options.classes


class LinearOptions(ntkbench.ArchitectureOptions):
    w_std: PositiveFloat = 1.0


class Linear(ntkbench.Architecture):
    Options = LinearOptions
    api_version = 1
    plugin_name = "file_linear"
    stax_twin_availability = "always"

    def init_model(self, *, input_shape: tuple[int, ...], num_classes: int, key: Any) -> Any:
        import equinox as eqx
        import jax
        import jax.numpy as jnp

        w_std = self.options.w_std

        class Model(eqx.Module):
            weight: jax.Array

            def __call__(self, x):
                flat = jnp.ravel(x)
                return w_std / math.sqrt(flat.size) * flat @ self.weight

        return Model(jax.random.normal(key, (math.prod(input_shape), num_classes)))

    def has_stax_twin(self) -> bool:
        return True

    def stax_twin(self, *, num_classes: int) -> ntkbench.StaxTwin:
        from ntkbench.nt_compat import import_neural_tangents

        stax = import_neural_tangents().stax
        return ntkbench.StaxTwin(*stax.serial(stax.Flatten(), stax.Dense(num_classes, self.options.w_std)))

    def stax_parameters(self, model: Any) -> Any:
        return [(), (model.weight, None)]


class NearestMeanOptions(ntkbench.LearnerOptions):
    shape: str = "right"
    """`wrong`: return one prediction per training input (a broken learner)."""
    crash: bool = False


class NearestMean(ntkbench.Learner):
    Options = NearestMeanOptions
    api_version = 1
    plugin_name = "file_nearest_mean"

    def fit_predict(self, task: ntkbench.LearnerTask) -> ntkbench.LearnerResult:
        if self.options.crash:
            return {}["no such key"]
        x = task.x_train.reshape(task.n_train, -1)
        means = np.stack([x[task.y_train == c].mean(0) if np.any(task.y_train == c) else np.zeros(x.shape[1])
                          for c in range(task.num_classes)])
        inputs = task.x_train if self.options.shape == "wrong" else task.x_test
        flat = inputs.reshape(len(inputs), -1)
        return ntkbench.LearnerResult(-((flat[:, None] - means[None]) ** 2).sum(-1), {"classes": task.num_classes})

    def estimate_cost(self, context: ntkbench.CostContext) -> ntkbench.CellCost:
        d = math.prod(context.input_shape)
        return ntkbench.CellCost(peak_bytes=8 * d * (context.n_train + context.n_test), flops=3.0 * d * context.n_test * context.num_classes)


class LaplaceOptions(ntkbench.KernelRidgeOptions):
    scale: PositiveFloat = 1.0


class LaplaceRidge(ntkbench.Learner):
    """Kernel ridge regression with a Laplace kernel, its plan counted as the built-in kernels' are."""

    Options = LaplaceOptions
    api_version = 1
    plugin_name = "file_laplace"

    def _kernel(self):
        import jax.numpy as jnp

        scale = self.options.scale

        def kernel_fn(x1, x2):
            a, b = x1.reshape(x1.shape[0], -1), x2.reshape(x2.shape[0], -1)  # sizes are symbolic in a plan: no len()
            distances = jnp.sqrt(jnp.maximum(jnp.sum(a * a, 1)[:, None] + jnp.sum(b * b, 1)[None] - 2 * a @ b.T, 0.0))
            return jnp.exp(-distances / scale)

        return kernel_fn

    def fit_predict(self, task: ntkbench.LearnerTask) -> ntkbench.LearnerResult:
        from ntkbench.kernels import regress_with_kernel

        return regress_with_kernel(self._kernel(), task, self.options.ridges(), kernel_key=("laplace", self.options.scale),
                                   kernel_description={"kernel": "laplace", "scale": self.options.scale})

    def estimate_cost(self, context: ntkbench.CostContext) -> ntkbench.CellCost:
        from ntkbench.costs import KernelComputation, kernel_regression_cost

        if not context.detailed:
            return kernel_regression_cost(None, context)
        return kernel_regression_cost(KernelComputation(self._kernel(), (), ("laplace", self.options.scale)), context)
'''


@pytest.fixture
def plugin_file(tmp_path):
    path = tmp_path / "author_plugins.py"
    path.write_text(PLUGINS)
    return path


def _spec(plugin_file, **changes) -> dict:
    spec = {
        "name": "author",
        "plugins": [str(plugin_file)],
        "dataset": {"name": "file_clusters", "n_test": 300},
        "architecture": {"name": "file_linear"},
        "learners": [
            {"name": "network", "steps": 200, "optimizer": {"name": "sgd", "learning_rate": 0.5}},
            {"name": "ntk_infinite"},
            {"name": "file_nearest_mean"},
        ],
        "sweep": {"n_train": [32, 64, 128], "seeds": [0, 1]},
    }
    spec.update(changes)
    return spec


def test_make_task_samples_exactly_as_the_runner_does():
    from ntkbench.runner._work import prepare

    spec = ntkbench.parse_spec(yaml.safe_dump({
        "name": "same", "dataset": {"name": "teacher_student", "dim": 4, "pool": 600, "n_test": 60, "validation_n": 40},
        "architecture": {"name": "mlp", "width": 16, "depth": 1}, "learners": [{"name": "ntk_infinite"}],
        "sweep": {"n_train": [16, 64], "seeds": [3]},
    }))
    context, _ = prepare(spec)
    data = spec.dataset.instantiate().load()
    task = make_task(data, n_train=16, seed=3, n_train_values=(16, 64), validation_n=40, architecture="mlp",
                     architecture_options={"width": 16, "depth": 1})
    sampler = context.samplers[3]
    np.testing.assert_array_equal(task.x_train, sampler.nested_subset(16)[0])
    np.testing.assert_array_equal(task.nested_subset(64)[1], sampler.nested_subset(64)[1])
    np.testing.assert_array_equal(task.held_out_subset(10)[0], sampler.held_out_subset(10)[0])
    np.testing.assert_array_equal(task.validation[0], sampler.validation_subset()[0])
    assert task.n_train_max == 64 and task.n_train_values == (16, 64) and task.architecture.options.width == 16


def test_plugins_written_with_the_public_api_pass_the_check_and_run_from_a_file(plugin_file, tmp_path):
    spec = ntkbench.parse_spec(_spec(plugin_file), trust_plugins=True)
    classes = {choice.name: choice.plugin for choice in (spec.dataset, spec.architecture, *spec.learners)}
    for name, options in [("file_clusters", {"n_test": 60}), ("file_linear", {}), ("file_nearest_mean", {})]:
        report = check_plugin(classes[name], options)
        assert report.ok, report
    assert "stax_twin" in [check.name for check in check_plugin(classes["file_linear"]).checks]
    data = tiny_dataset()
    result = classes["file_nearest_mean"](classes["file_nearest_mean"].Options()).fit_predict(make_task(data, n_train=60))
    assert np.mean(result.predictions.argmax(1) == data.y_test) > 0.8

    results = ntkbench.run(_spec(plugin_file), out=tmp_path / "out", trust_plugins=True)
    assert results.run.computed == 18 and not results.run.failed
    assert set(results.fits["learner_id"]) == {"network", "ntk_infinite", "file_nearest_mean"}
    digest = __import__("hashlib").sha256(plugin_file.read_bytes()).hexdigest()
    record = json.loads(next((tmp_path / "out" / "records" / "file_nearest_mean").glob("*.json")).read_text())
    assert record["provenance"]["code"]["learner"] == {
        "distribution": "local", "version": digest[:12], "source": digest[:12], "file": str(plugin_file), "sha256": digest,
    }
    assert record["provenance"]["code"]["dataset"]["file"] == str(plugin_file)
    assert json.loads((tmp_path / "out" / "spec.json").read_text())["plugins"] == [str(plugin_file)]


def test_a_relative_plugin_path_is_read_from_the_spec_folder_and_plugin_adds_one(plugin_file, tmp_path):
    spec = _spec(plugin_file, plugins=["author_plugins.py"])
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(spec))
    assert run_cli("validate", str(tmp_path / "spec.yaml"), "--trust-plugins").returncode == 0
    without = {key: value for key, value in spec.items() if key != "plugins"}
    (tmp_path / "bare.yaml").write_text(yaml.safe_dump(without))
    refused = run_cli("validate", str(tmp_path / "bare.yaml"))
    assert refused.returncode == 2 and "unknown dataset 'file_clusters'" in refused.stderr
    added = run_cli("validate", str(tmp_path / "bare.yaml"), "--plugin", str(plugin_file))
    assert added.returncode == 0, added.stderr
    listed = run_cli("list", "--spec", str(tmp_path / "spec.yaml"), "--trust-plugins")
    assert listed.returncode == 0 and "file_nearest_mean" in listed.stdout and str(plugin_file) in listed.stdout


def test_a_plugin_file_that_does_not_load_is_an_input_error(tmp_path, write_spec, plugin_file):
    (tmp_path / "broken.py").write_text("import no_such_module_anywhere\n")
    path = write_spec(yaml.safe_dump(_spec(plugin_file, plugins=["broken.py", "missing.py"])))
    result = run_cli("validate", str(path), "--trust-plugins")
    assert result.returncode == 2
    assert "plugins[0]: plugins: broken.py failed to import: ModuleNotFoundError" in result.stderr
    assert "plugins[1]" in result.stderr and "missing.py does not exist" in result.stderr


def test_plan_gives_figures_for_a_plugin_that_estimates_its_cost(plugin_file, write_spec):
    path = write_spec(yaml.safe_dump(_spec(plugin_file)))
    result = run_cli("plan", str(path), "--trust-plugins")
    assert result.returncode == 0, result.stderr
    rows = [line.split() for line in result.stdout.splitlines() if line.startswith("file_nearest_mean")]
    assert len(rows) == 3 and all("?" not in row for row in rows)
    assert rows[0][:4] == ["file_nearest_mean", "32", "2", f"{3.0 * 8 * 300 * 3:.3g}"]  # FLOPs as estimate_cost gave them
    assert "give no estimate" not in result.stdout


def test_a_third_party_kernel_learner_counts_its_cost_with_the_public_cost_helpers(plugin_file, write_spec):
    spec = _spec(plugin_file)
    spec["learners"] = [{"name": "file_laplace"}, {"name": "ntk_infinite"}]
    spec["compare"] = {"reference": "ntk_infinite"}
    plan = ntkbench.plan(spec, trust_plugins=True)
    rows = {(row.learner, row.n): row for row in plan.rows}
    seed, first, later = rows[("file_laplace", "per seed")], rows[("file_laplace", "32")], rows[("file_laplace", "128")]
    # Once per seed, at its first cell: the kernel on the seed's largest set (128 training and 300
    # test rows, 8 inputs each), traced from the plugin's own function and timed, and its factor;
    # every cell solves.
    kernel_flops = seed.flops - 128**3 / 3
    assert kernel_flops >= 2 * 8 * (128 * 129 / 2 + 300 * 128) and seed.seconds is not None and not seed.lower_bound
    assert seed.cells == 2 and seed.peak_bytes >= 8 * 128 * 128 + 4 * 300 * 128
    assert later.flops == 2 * 128 * 128 * 3 + 2 * 300 * 128 * 3 and first.flops == 2 * 32 * 32 * 3 + 2 * 300 * 32 * 3
    out = write_spec("x").parent / "out"
    laplace = ntkbench.run(spec, out=out, trust_plugins=True, leaderboard=False)
    assert laplace.run.computed == 12 and not laplace.run.failed
    # Its kernel, described by the plugin, is kept in the run's kernel store beside ntk_infinite's.
    stored = {kernel.description["kernel"]: kernel for kernel in stored_kernels(out / "kernels")}
    assert stored["laplace"].description == {"kernel": "laplace", "scale": 1.0} and "infinite ntk" in stored
    assert all(evaluation.present == evaluation.tiles for evaluation in stored["laplace"].evaluations)


def test_a_learner_with_the_wrong_shape_is_stopped_after_its_first_cell(plugin_file, tmp_path, write_spec):
    spec = _spec(plugin_file)
    spec["learners"] = [{"name": "ntk_infinite"}, {"name": "file_nearest_mean", "shape": "wrong"}]
    spec["compare"] = {"reference": "ntk_infinite"}
    result = run_cli("run", str(write_spec(yaml.safe_dump(spec))), "--out", str(tmp_path / "out"), "--no-progress", "--trust-plugins")
    assert result.returncode == 1
    stopped = [line for line in result.stderr.splitlines() if line.startswith("stopped:")]
    assert len(stopped) == 1 and "predictions have shape (32, 3); expected (n_test, num_classes) = (300, 3)" in stopped[0]
    assert f"NearestMean ({plugin_file}:" in stopped[0] and "its other cells were not computed" in stopped[0]
    assert len(list((tmp_path / "out" / "records" / "file_nearest_mean").glob("*.json"))) == 1
    assert len(list((tmp_path / "out" / "records" / "ntk_infinite").glob("*.json"))) == 6


def test_a_dataset_with_a_nan_is_refused_before_any_learner_runs(plugin_file, tmp_path, write_spec):
    spec = _spec(plugin_file)
    spec["dataset"]["poison"] = True
    result = run_cli("run", str(write_spec(yaml.safe_dump(spec))), "--out", str(tmp_path / "out"), "--no-progress", "--trust-plugins")
    assert result.returncode == 2
    assert "dataset 'file_clusters' (Clusters (" in result.stderr and "x_pool has 1 non-finite value(s)" in result.stderr
    assert "the first at index 7" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "out" / "records").exists()


def test_a_dataset_that_raises_is_named_with_the_line(plugin_file, tmp_path, write_spec):
    spec = _spec(plugin_file)
    spec["dataset"]["explode"] = True
    result = run_cli("run", str(write_spec(yaml.safe_dump(spec))), "--out", str(tmp_path / "out"), "--no-progress", "--trust-plugins")
    line = PLUGINS.splitlines().index('            raise ValueError("the files are corrupt")') + 1
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "dataset 'file_clusters' (Clusters (" in result.stderr
    assert f"failed to load: ValueError: the files are corrupt (raised at {plugin_file}:{line})" in result.stderr


def test_a_plain_exception_names_the_plugin_line_and_its_traceback_is_shown(plugin_file, tmp_path, write_spec):
    spec = _spec(plugin_file, sweep={"n_train": [32, 64], "seeds": [0]})
    spec["learners"] = [{"name": "ntk_infinite"}, {"name": "file_nearest_mean", "crash": True}]
    spec["compare"] = {"reference": "ntk_infinite"}
    out = tmp_path / "out"
    result = run_cli("run", str(write_spec(yaml.safe_dump(spec))), "--out", str(out), "--no-progress", "--trust-plugins")
    assert result.returncode == 1
    line = PLUGINS.splitlines().index('            return {}["no such key"]') + 1
    assert f"KeyError: 'no such key' (raised at {plugin_file}:{line})" in result.stderr
    assert f"ntkbench show-failure {out} CELL" in result.stderr
    shown = run_cli("show-failure", str(out), "file_nearest_mean n=64 seed=0")
    assert shown.returncode == 0 and "Traceback (most recent call last)" in shown.stdout
    assert f'File "{plugin_file}", line {line}, in fit_predict' in shown.stdout
    listed = run_cli("show-failure", str(out))
    assert listed.stdout.count("file_nearest_mean") == 2
    missing = run_cli("show-failure", str(out), "file_nearest_mean n=65 seed=0")
    assert missing.returncode == 2 and "no failed cell match" in missing.stderr


def test_check_plugin_reports_what_breaks_the_contract(plugin_file, tmp_path):
    env = {**__import__("os").environ, "NTKBENCH_CACHE_DIR": str(tmp_path / "cache")}
    good = run_cli("check-plugin", "file_nearest_mean", "--plugin", str(plugin_file), env=env)
    assert good.returncode == 0 and "passes the plugin contract" in good.stdout, good.stdout + good.stderr
    bad = run_cli("check-plugin", "file_nearest_mean", "--plugin", str(plugin_file), "--options", "{shape: wrong}", env=env)
    assert bad.returncode == 1
    assert "FAIL fit_predict: n=24: predictions have shape (24, 3); expected (n_test, num_classes) = (90, 3)" in bad.stdout
    unknown = run_cli("check-plugin", "nearest_mean", "--plugin", str(plugin_file), env=env)
    assert unknown.returncode == 2 and "did you mean 'file_nearest_mean'" in unknown.stderr
    assert run_cli("check-plugin", "ntk_infinite", env=env).returncode == 0
    listed = run_cli("list", env=env)
    row = next(line for line in listed.stdout.splitlines() if line.split()[1:2] == ["ntk_infinite"])
    assert " passes " in row
    needs = run_cli("check-plugin", "entk_pretrained", env=env)
    assert needs.returncode == 1 and "pretrain_n" in needs.stdout
    row = next(line for line in run_cli("list", env=env).stdout.splitlines() if line.split()[1:2] == ["entk_pretrained"])
    assert "needs options" in row
    # With options, the list shows the last result and the options it was checked with.
    assert run_cli("check-plugin", "entk_pretrained", "--options", "{pretrain_n: 20}", env=env).returncode == 0
    row = next(line for line in run_cli("list", env=env).stdout.splitlines() if line.split()[1:2] == ["entk_pretrained"])
    assert "passes with {pretrain_n: 20}" in row


def test_check_plugin_catches_a_learner_that_is_not_deterministic():
    class Noisy(ntkbench.Learner):
        api_version = 1

        def fit_predict(self, task):
            return ntkbench.LearnerResult(np.random.default_rng().normal(size=(len(task.x_test), task.num_classes)))

    report = check_plugin(Noisy)
    assert not report.ok
    failed = {check.name: check.detail for check in report.checks if not check.ok}
    assert list(failed) == ["deterministic"] and "declares deterministic = True but a second run differs" in failed["deterministic"]
    assert "FAIL deterministic" in str(report)


def test_the_scaffolded_tests_use_only_the_public_testing_api():
    from ntkbench.cli._scaffold import TEMPLATES

    for kind in ("learner", "dataset", "architecture"):
        text = (TEMPLATES / f"test_{kind}.py.tmpl").read_text()
        imports = [line for line in text.splitlines() if line.startswith(("import ", "from "))]
        assert all("._" not in line and ".architectures" not in line for line in imports), imports
        assert "from ntkbench.testing import" in text
