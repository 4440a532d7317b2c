"""Testing plugins: tasks and data as the runner makes them, and the plugin contract checked.

>>> from ntkbench.testing import check_plugin, make_task, tiny_dataset      # doctest: +SKIP
>>> task = make_task(n_train=32)  # doctest: +SKIP
>>> report = check_plugin(MyLearner, {"ridge": 0.1})  # doctest: +SKIP
>>> assert report.ok, report  # doctest: +SKIP

`make_task(n_train=32)` is a `LearnerTask` on tiny synthetic data with every field filled; the
report of `check_plugin` says what failed and why.

`make_task` samples exactly as `ntkbench run` does (the seed's order of the pool, nested training
sets, a validation set after the largest one, held-out samples from the end); its test inputs
are all of `data.x_test`, so `data.y_test` scores the predictions. `check_plugin` runs a plugin on
a tiny problem and checks what ntkbench relies on (see `check_plugin`). `ntkbench check-plugin
NAME` runs the same check on an installed plugin.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from pydantic import BaseModel, ValidationError

from .api import (
    AcrossSeeds,
    Architecture,
    ArtifactCache,
    CellCost,
    CostContext,
    Dataset,
    LabelledData,
    Learner,
    LearnerResult,
    LearnerTask,
    PluginOptions,
    RegressionKernel,
    registered,
)
from .nt_compat import neural_tangents_installed
from .runner import SeedSampler, dataset_problems, prediction_problem, training_order

__all__ = ["DEFAULT_ARCHITECTURE", "Check", "PluginReport", "check_plugin", "make_task", "tiny_dataset"]

DEFAULT_ARCHITECTURE = "mlp"
"""The registered architecture `make_task` and `check_plugin` use when given none."""


def tiny_dataset(
    *, pool: int = 400, n_test: int = 90, input_shape: tuple[int, ...] = (8,), num_classes: int = 3, seed: int = 0
) -> LabelledData:
    """Gaussian class clusters (the centres standard normal, spread 0.5), float32 inputs of
    `input_shape` and int32 labels: separable enough that any sensible learner beats chance."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(num_classes, *input_shape))

    def draw(count: int) -> tuple[np.ndarray, np.ndarray]:
        labels = np.arange(count) % num_classes
        rng.shuffle(labels)
        x = centres[labels] + 0.5 * rng.normal(size=(count, *input_shape))
        return x.astype(np.float32), labels.astype(np.int32)

    x_pool, y_pool = draw(pool)
    x_test, y_test = draw(n_test)
    return LabelledData(x_pool, y_pool, x_test, y_test, num_classes)


def _architecture(architecture: Architecture | str, options: Mapping[str, Any] | None) -> Architecture:
    if isinstance(architecture, Architecture):
        return architecture
    entries = registered("architecture")
    if architecture not in entries:
        raise ValueError(f"no architecture {architecture!r} is registered; known: {', '.join(sorted(entries))}")
    plugin = entries[architecture].load()
    return plugin(plugin.Options.model_validate(dict(options or {})))


def make_task(
    data: LabelledData | None = None,
    *,
    n_train: int = 32,
    seed: int = 0,
    n_train_values: tuple[int, ...] | None = None,
    validation_n: int = 32,
    architecture: Architecture | str = DEFAULT_ARCHITECTURE,
    architecture_options: Mapping[str, Any] | None = None,
    cache: ArtifactCache | None = None,
    seeds: tuple[int, ...] = (),
) -> LearnerTask:
    """The `LearnerTask` of one cell (`n_train`, `seed`) on `data` (default `tiny_dataset()`), with every
    field the runner fills: nested and held-out subsets and the validation set of the seed's order,
    `n_train_values` (default `(n_train,)`; the largest is `n_train_max`), the architecture (an
    instance, or the name of a registered one with its options), a fresh `ArtifactCache` unless
    `cache` is given (pass one cache to the cells of one seed, n ascending, as the runner does), and,
    with `seeds`, the `AcrossSeeds` of those seeds. The test inputs are all of `data.x_test`."""
    data = data if data is not None else tiny_dataset()
    values = tuple(sorted(n_train_values or (n_train,)))
    if n_train not in values:
        raise ValueError(f"n_train={n_train} is not among n_train_values={values}")
    samplers = {
        each: SeedSampler(data, training_order(data.y_pool, each), max(values), validation_n) for each in {seed, *seeds}
    }
    sampler = samplers[seed]
    x_train, y_train = sampler.nested_subset(n_train)
    across = None
    if len(seeds) > 1:
        across = AcrossSeeds(data.x_pool, {each: samplers[each].order[: samplers[each].n_max] for each in seeds})
    return LearnerTask(
        x_train=x_train,
        y_train=y_train,
        x_test=data.x_test,
        num_classes=data.num_classes,
        seed=seed,
        n_train_max=max(values),
        architecture=_architecture(architecture, architecture_options),
        nested_subset=sampler.nested_subset,
        held_out_subset=sampler.held_out_subset,
        cache=cache if cache is not None else ArtifactCache(),
        across_seeds=across,
        validation=sampler.validation_subset(),
        n_train_values=values,
    )


@dataclasses.dataclass(frozen=True)
class Check:
    """One checked promise of the plugin contract."""

    name: str
    ok: bool
    detail: str


@dataclasses.dataclass(frozen=True)
class PluginReport:
    """The checks `check_plugin` ran on one plugin; `str()` is the report."""

    plugin: str
    kind: str
    checks: tuple[Check, ...]

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)

    def __str__(self) -> str:
        lines = [f"{self.kind} {self.plugin}: {'passes' if self.ok else 'FAILS'} the plugin contract"]
        lines += [f"  {'ok  ' if check.ok else 'FAIL'} {check.name}: {check.detail}" for check in self.checks]
        return "\n".join(lines)


class _Checks:
    def __init__(self) -> None:
        self.checks: list[Check] = []

    def run(self, name: str, check: Callable[[], str]) -> bool:
        """Run `check` (its return value: what it found); an `AssertionError` or any exception fails it."""
        try:
            self.checks.append(Check(name, True, check()))
            return True
        except AssertionError as failure:
            self.checks.append(Check(name, False, str(failure)))
        except Exception as error:  # the plugin's own error is what the report is for
            self.checks.append(Check(name, False, f"raised {type(error).__name__}: {error}"))
        return False


def _options(plugin: type, options: Mapping[str, Any] | BaseModel | None) -> PluginOptions:
    if isinstance(options, BaseModel):
        return options
    return plugin.Options.model_validate(dict(options or {}))


def _round_trip(plugin: type, options: PluginOptions) -> str:
    dumped = options.model_dump(mode="json")
    json.dumps(dumped, allow_nan=False)
    again = plugin.Options.model_validate(dumped)
    assert again == options, f"options do not survive JSON: {options!r} became {again!r}"
    return f"{type(options).__name__} validates and survives a JSON round trip ({len(dumped)} field(s))"


def check_plugin(
    plugin: type,
    options: Mapping[str, Any] | BaseModel | None = None,
    *,
    data: LabelledData | None = None,
    architecture: Architecture | str = DEFAULT_ARCHITECTURE,
) -> PluginReport:
    """Run `plugin` (a Dataset, Architecture or Learner class) with `options` on a tiny problem and
    check the contract ntkbench relies on:

    - every kind: `api_version`, and options that validate and survive a JSON round trip (records
      store them as JSON);
    - a learner: on two cells of one seed (n ascending, one cache) of `data` (default
      `tiny_dataset()`) with `architecture`, predictions of shape `(n_test, num_classes)`, finite,
      in a `LearnerResult` whose `info` is JSON; the same predictions from a fresh run when it
      declares `deterministic`; `test_loss()` one of the two measures; `estimate_cost` either None
      or a `CellCost` with a non-negative peak and FLOPs; when it declares `regresses_with_kernel`,
      a `RegressionKernel` whose matrix on 16 inputs is finite, symmetric and positive semi-definite;
    - a dataset: `load()` returns finite float32 inputs and integer labels in `[0, num_classes)`,
      shapes that agree with `input_shape()` and `pool_size()`;
    - an architecture: a network that maps inputs to finite `(num_classes,)` logits, `parameter_count`
      (when given) equal to the parameters created, `at_width` keeping the class (when it has a
      width), and its `stax` twin computing the same function (when it has one).

    Nothing raises: a failed check is in the report (`report.ok`, `str(report)`).
    """
    kinds = {Learner: "learner", Dataset: "dataset", Architecture: "architecture"}
    kind = next((name for base, name in kinds.items() if isinstance(plugin, type) and issubclass(plugin, base)), None)
    if kind is None:
        return PluginReport(getattr(plugin, "__name__", repr(plugin)), "plugin",
                            (Check("kind", False, "not a subclass of ntkbench.Learner, Dataset or Architecture"),))
    checks = _Checks()
    checks.run("api_version", lambda: _api_version(plugin))
    chosen: list[PluginOptions] = []

    def validate() -> str:
        try:
            chosen.append(_options(plugin, options))
        except ValidationError as error:
            raise AssertionError(f"the options do not validate: {error.errors()[0]['msg']} at {error.errors()[0]['loc']}") from None
        return _round_trip(plugin, chosen[0])

    if checks.run("options", validate):
        instance = plugin(chosen[0])
        if kind == "learner":
            _check_learner(checks, instance, data, architecture)
        elif kind == "dataset":
            _check_dataset(checks, instance)
        else:
            _check_architecture(checks, instance)
    return PluginReport(plugin.__name__, kind, tuple(checks.checks))


def _api_version(plugin: type) -> str:
    from .api import API_VERSION

    assert plugin.api_version == API_VERSION, (
        f"api_version is {plugin.api_version!r}; this ntkbench provides plugin API {API_VERSION} (ntkbench refuses to load it)"
    )
    return f"plugin API {API_VERSION}"


def _check_learner(checks: _Checks, learner: Learner, data: LabelledData | None, architecture: Architecture | str) -> None:
    data = data if data is not None else tiny_dataset()
    tasks: list[LearnerTask] = []

    def setup() -> str:
        arch = _architecture(architecture, None)
        problem = learner.architecture_problem(arch)
        assert problem is None, f"refuses the test architecture {type(arch).__name__}: {problem}"
        if learner.needs_stax_twin:
            assert arch.has_stax_twin(), f"needs a stax twin; the test architecture {type(arch).__name__} has none"
        if learner.needs_infinite_kernel:
            assert arch.has_infinite_kernel(), f"needs an infinite kernel; the test architecture {type(arch).__name__} has none"
        cache = ArtifactCache()
        values = (24, 48)
        tasks.extend(make_task(data, n_train=n, n_train_values=values, architecture=arch, cache=cache) for n in values)
        assert learner.held_out_samples() + max(values) + 32 <= len(data.x_pool), (
            f"held_out_samples() is {learner.held_out_samples()}; the tiny pool has {len(data.x_pool)}: pass a larger `data`"
        )
        return f"cells n = 24, 48 of seed 0 on {type(arch).__name__}"

    if not checks.run("task", setup):
        return
    results: list[LearnerResult] = []

    def fit_predict() -> str:
        for task in tasks:
            result = learner.fit_predict(task)
            assert isinstance(result, LearnerResult), f"fit_predict returned {type(result).__name__}, not ntkbench.LearnerResult"
            problem = prediction_problem(result.predictions, len(task.x_test), task.num_classes)
            assert problem is None, f"n={task.n_train}: {problem}"
            assert np.all(np.isfinite(np.asarray(result.predictions, dtype=np.float64))), f"n={task.n_train}: predictions are not all finite"
            try:
                json.dumps(result.info, allow_nan=False)
            except (TypeError, ValueError) as error:
                raise AssertionError(f"n={task.n_train}: info is not JSON ({error}); records store it as JSON") from None
            results.append(result)
        error = np.mean(np.argmax(results[-1].predictions, axis=1) != data.y_test)
        return f"predictions {np.shape(results[-1].predictions)}, finite; test error {error:.3f} at n=48 (chance {1 - 1 / data.num_classes:.3f})"

    checks.run("fit_predict", fit_predict)
    if results and type(learner).deterministic:
        def deterministic() -> str:
            fresh = make_task(data, n_train=24, n_train_values=(24, 48), architecture=tasks[0].architecture)
            again = np.asarray(learner.fit_predict(fresh).predictions, dtype=np.float64)
            first = np.asarray(results[0].predictions, dtype=np.float64)
            assert np.allclose(again, first, rtol=1e-5, atol=1e-6), (
                f"declares deterministic = True but a second run differs by up to {np.max(np.abs(again - first)):.3g}"
            )
            return "a second run gives the same predictions"

        checks.run("deterministic", deterministic)
    checks.run("test_loss", lambda: _test_loss(learner))
    checks.run("estimate_cost", lambda: _estimate_cost(learner, tasks[0]))
    if type(learner).regresses_with_kernel:
        checks.run("regression_kernel", lambda: _regression_kernel(learner, tasks[-1]))


def _regression_kernel(learner: Learner, task: LearnerTask) -> str:
    """The kernel a spec's `spectrum` eigendecomposes: a `RegressionKernel` whose function gives a
    finite, symmetric, positive semi-definite matrix on a few pool samples."""
    from .kernels import evaluate_tiled

    kernel = learner.regression_kernel(task)
    assert isinstance(kernel, RegressionKernel), f"regression_kernel returned {type(kernel).__name__}, not ntkbench.RegressionKernel"
    x = task.x_train[:16]
    matrix = np.asarray(evaluate_tiled(kernel.function, x), dtype=np.float64)
    assert matrix.shape == (16, 16), f"the kernel of 16 inputs has shape {matrix.shape}"
    assert np.all(np.isfinite(matrix)), "the kernel is not all finite"
    assert np.allclose(matrix, matrix.T, rtol=1e-4, atol=1e-6 * np.abs(matrix).max()), "the kernel is not symmetric"
    smallest, largest = np.linalg.eigvalsh((matrix + matrix.T) / 2)[[0, -1]]
    assert smallest >= -1e-4 * abs(largest), f"the kernel is not positive semi-definite (eigenvalue {smallest:.3g} of {largest:.3g})"
    return f"a 16 x 16 kernel, finite, symmetric, eigenvalues {smallest:.3g} ... {largest:.3g}"


def _test_loss(learner: Learner) -> str:
    loss = learner.test_loss()
    assert loss in ("squared_error", "cross_entropy"), f"test_loss() is {loss!r}; expected squared_error or cross_entropy"
    return loss


def _estimate_cost(learner: Learner, task: LearnerTask) -> str:
    context = CostContext(
        architecture=task.architecture, input_shape=task.input_shape, num_classes=task.num_classes, n_train=task.n_train,
        n_train_max=task.n_train_max, n_test=len(task.x_test), first_of_seed=True, detailed=True,
    )
    cost = learner.estimate_cost(context)
    if cost is None:
        return "gives no estimate (allowed: `ntkbench plan` shows ? and the memory check skips the learner)"
    assert isinstance(cost, CellCost), f"estimate_cost returned {type(cost).__name__}, not ntkbench.CellCost or None"
    assert isinstance(cost.peak_bytes, int) and cost.peak_bytes >= 0, f"peak_bytes is {cost.peak_bytes!r}; expected an int >= 0"
    for field in ("flops", "factor_flops", "timed_flops", "timed_seconds"):
        value = getattr(cost, field)
        assert value is None if field == "flops" and value is None else (math.isfinite(value) and value >= 0), (
            f"{field} is {value!r}; expected a finite number >= 0"
        )
    return f"peak {cost.peak_bytes} bytes, {cost.flops if cost.flops is not None else '?'} FLOPs"


def _check_dataset(checks: _Checks, dataset: Dataset) -> None:
    def load() -> str:
        data = dataset.load()
        problems = dataset_problems(dataset, data)
        assert not problems, "; ".join(problems)
        counts = np.bincount(data.y_test, minlength=data.num_classes)
        need = -(-dataset.options.n_test // data.num_classes)
        assert counts.min() >= need, (
            f"the test split has {counts.min()} samples of its rarest class; n_test={dataset.options.n_test} needs {need} per class"
        )
        return f"pool {data.x_pool.shape}, test {data.x_test.shape}, {data.num_classes} classes, finite, labels in range"

    checks.run("load", load)


def _check_architecture(checks: _Checks, architecture: Architecture) -> None:
    shapes = [(8,), (8, 8, 1), (16, 16, 3), (32, 32, 3)]
    usable = [shape for shape in shapes if architecture.input_problem(shape) is None]
    found: dict[str, Any] = {}

    def forward() -> str:
        import jax

        from .training import predict

        assert usable, f"input_problem refuses every test input shape ({', '.join(map(str, shapes))})"
        shape = usable[0]
        model = architecture.init_model(input_shape=shape, num_classes=3, key=jax.random.PRNGKey(0))
        x = np.random.default_rng(0).normal(size=(5, *shape)).astype(np.float32)
        outputs = predict(model, x)
        assert outputs.shape == (5, 3), f"the network maps 5 inputs of shape {shape} to outputs of shape {outputs.shape}; expected (5, 3)"
        assert np.all(np.isfinite(outputs)), "the network's outputs are not all finite"
        found.update(model=model, shape=shape, x=x, outputs=outputs)
        return f"inputs {shape} -> finite logits (3 classes)"

    if not checks.run("init_model", forward):
        return

    def parameters() -> str:
        import equinox as eqx
        import jax

        from .api import StatefulModel

        module = found["model"].module if isinstance(found["model"], StatefulModel) else found["model"]
        created = sum(leaf.size for leaf in jax.tree_util.tree_leaves(eqx.filter(module, eqx.is_inexact_array)))
        declared = architecture.parameter_count(input_shape=found["shape"], num_classes=3)
        if declared is None:
            return f"{created} parameters (parameter_count not given: counted from shapes)"
        assert declared == created, f"parameter_count says {declared}; init_model creates {created}"
        return f"parameter_count = {created}, as created"

    checks.run("parameter_count", parameters)
    if architecture.has_width():
        def width() -> str:
            wider = architecture.at_width(2 * int(architecture.options.width))
            assert type(wider) is type(architecture), f"at_width returned {type(wider).__name__}"
            assert wider.options.width == 2 * int(architecture.options.width), "at_width did not set the width"
            return "at_width sets the width and keeps every other option"

        checks.run("width", width)
    if architecture.has_stax_twin():
        def twin() -> str:
            if not neural_tangents_installed():
                return "not checked: neural-tangents is not installed"
            twin = architecture.stax_twin(num_classes=3)
            ours = found["outputs"]
            theirs = np.asarray(twin.apply_fn(architecture.stax_parameters(found["model"]), found["x"]), dtype=np.float64)
            assert np.allclose(ours, theirs, rtol=1e-4, atol=1e-5), (
                f"the stax twin's outputs differ from the network's by up to {np.max(np.abs(ours - theirs)):.3g}"
            )
            from .kernels import infinite_kernel_fn

            kernel = np.asarray(infinite_kernel_fn(twin)(found["x"], found["x"]))
            assert np.all(np.isfinite(kernel)), "the twin's infinite NTK is not finite"
            return "the stax twin computes the same function; its NTK is finite"

        checks.run("stax_twin", twin)
    if architecture.has_kernel_map():
        def kernel_map() -> str:
            from .kernels import architecture_kernel_fn

            kernel = np.asarray(architecture_kernel_fn(architecture, num_classes=3)(found["x"], found["x"]), dtype=np.float64)
            assert kernel.shape == (len(found["x"]),) * 2 and np.all(np.isfinite(kernel)), "the native infinite NTK is not a finite matrix"
            if not (architecture.has_stax_twin() and neural_tangents_installed()):
                return "the kernel map gives a finite infinite NTK (no stax twin to compare it with)"
            from .kernels import infinite_kernel_fn

            reference = np.asarray(infinite_kernel_fn(architecture.stax_twin(num_classes=3))(found["x"], found["x"]), dtype=np.float64)
            error = float(np.max(np.abs(kernel - reference)) / np.max(np.abs(reference)))
            assert error < 1e-4, f"the kernel map's NTK differs from the stax twin's by {error:.2g} of its largest entry"
            return f"the kernel map's NTK equals the stax twin's (within {error:.1g} of its largest entry)"

        checks.run("kernel_map", kernel_map)
