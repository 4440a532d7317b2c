"""Gathering a results directory: its records as curves per learner and width, fitted and compared,
and the trajectory of a dynamics spec. The report renders it; the results API frames it."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ..api import load_all
from ..spec import DEFAULT_REFERENCE
from ..storage import Cell, RecordStore, StoredRecords, decode_outcomes, load_spectra, widths_of
from ._compare import Comparison, Curve, SpecComparison, compare
from ._intervals import DEFAULT_MARGIN
from ._laws import MODELS
from ._power import project
from ._spectral_predictions import CellOutcome, SpectralCurve, SpectralPoint, spectral_curves, spectral_points
from ._verdicts import Decision, decide


@dataclasses.dataclass(frozen=True)
class TrainingFacts:
    """How a learner's trainings went, from the facts its records carry (`steps`, `train_error`,
    `converged`, possibly prefixed, as `train_network`'s log gives them)."""

    cells: int
    """Successful cells that report a training."""
    unconverged: int
    """Of them, those whose stopping rule was not met."""
    worst_train_error: float | None
    steps_at_largest_n: float | None
    """Mean steps taken at the largest n with results."""


@dataclasses.dataclass(frozen=True)
class WidthGroup:
    """The learners at one width of a width sweep (width None: no sweep)."""

    width: int | None
    curves: list[Curve]
    """Each learner over the whole sweep (for plots)."""
    comparison: SpecComparison
    failed: dict[str, int]
    training: dict[str, TrainingFacts | None] = dataclasses.field(default_factory=dict)
    """Per learner id; None for a learner that reports no training."""
    fits: dict[tuple[str, str], SpecComparison] = dataclasses.field(default_factory=dict)
    """The comparison under every (law, metric) that is one quantity for all learners, the spec's own included."""
    metrics_left_out: str | None = None
    """Why a metric is not among `fits` (test losses that are different quantities), or None."""
    one_seed: str = "no_interval"
    """The spec's `fit.one_seed`."""

    def decision(self, chosen: Comparison) -> Decision:
        """The verdict on one learner of `comparison`, weighed against every other law and metric
        (`decide`); an inconclusive one's advice projects the pair to other sizes too."""
        others = {
            key: other
            for key, fits in self.fits.items() if fits is not self.comparison
            for other in fits.comparisons if other.learner_id == chosen.learner_id
        }
        projection = None
        own = next((key for key, fits in self.fits.items() if fits is self.comparison), None)
        if chosen.verdict == "inconclusive" and chosen.delta_spread is not None:
            metric = own[1] if own is not None else "test_error"
            projection = project([fit.curve for fit in self.comparison.fits], self.comparison.reference, chosen.learner_id,
                                 chosen.delta_spread, chosen.delta_alpha, metric, self.comparison.model, self.one_seed)
        return decide(chosen, others, projection, own)


@dataclasses.dataclass(frozen=True)
class SpecSummary:
    spec: dict[str, Any]
    records: StoredRecords
    groups: list[WidthGroup]
    spectral_points: list[SpectralPoint] = dataclasses.field(default_factory=list)
    """Per cell with a stored spectrum, the test error it predicts and the one measured."""
    spectral_curves: list[SpectralCurve] = dataclasses.field(default_factory=list)

    @property
    def name(self) -> str:
        return self.spec["name"]

    def fit_window(self) -> tuple[int, int]:
        n_train = self.spec["sweep"]["n_train"]
        return self.spec["fit"]["n_min"] or n_train[0], self.spec["fit"]["n_max"] or n_train[-1]


def load_results(results_dir: str | Path, *, set_aside: bool = True) -> StoredRecords:
    """The stored spec, records and spectra of a results directory written by `ntkbench run`; with
    `set_aside`, corrupt records are renamed out of the way (see `RecordStore.load`).

    **Raises:** `InputError` when the directory holds no results or its spec is malformed.
    """
    store = RecordStore(results_dir)
    records = store.load(store.read_spec(), set_aside=set_aside)
    return dataclasses.replace(records, spectra=tuple(load_spectra(results_dir, records.spec)))


def summarize(records: StoredRecords) -> SpecSummary:
    """Curves of every learner from its records, and their comparison over the fit window, per width."""
    points = _spectral_points(records)
    return SpecSummary(
        records.spec, records, [_width_group(records, width) for width in widths_of(records.spec)], points,
        spectral_curves(points),
    )


def _spectral_points(records: StoredRecords) -> list[SpectralPoint]:
    """The predictions of the stored spectra against their cells' squared errors (records that give
    the absolute ridge they used, `info["effective_ridge"]`, as ntkbench's kernel regression does)."""
    if not records.spectra:
        return []
    outcomes = {}
    for cell, record in records.current.items():
        ridge = record.info.get("effective_ridge")
        if record.ok and record.test_loss_measures == "squared_error" and isinstance(ridge, int | float) and record.metrics:
            outcomes[cell.learner_id, cell.width, cell.seed, cell.n_train] = CellOutcome(record.metrics["test_loss"], float(ridge))
    fit_modes = tuple(records.spec["spectrum"]["fit_modes"])
    return spectral_points(records.spectra, outcomes, records.spec["sweep"]["n_train"], fit_modes)


def _width_group(records: StoredRecords, width: int | None) -> WidthGroup:
    spec = records.spec
    n_train = np.array(spec["sweep"]["n_train"])
    curves, failed, training = _curves(records, width, spec["metric"])
    n_min = spec["fit"]["n_min"] or n_train[0]
    n_max = spec["fit"]["n_max"] or n_train[-1]
    window = (n_train >= n_min) & (n_train <= n_max)
    compared = spec.get("compare", {})  # specs run before `compare` existed have none
    reference, margin = compared.get("reference", DEFAULT_REFERENCE), compared.get("margin", DEFAULT_MARGIN)
    fit = spec["fit"]
    chosen_law = fit.get("model", "power_law")

    def comparison(metric_curves: list[Curve], law: str) -> SpecComparison:
        windowed = [
            Curve(c.learner_id, c.name, c.n_values[window], c.table[:, window],
                  c.outcomes[:, window] if c.outcomes is not None else None)
            for c in metric_curves
        ]
        return compare(windowed, law, reference, fit.get("one_seed", "no_interval"), margin)

    chosen = comparison(curves, chosen_law)
    losses = {record.test_loss_measures for record in records.current.values() if record.ok}
    metrics = {spec["metric"]: curves}
    left_out = None
    if len(losses) > 1:
        left_out = f"test_loss is left out: the learners' test losses are different quantities ({', '.join(sorted(losses))})"
    for metric in ("test_error", "test_loss"):
        if metric not in metrics and (metric == "test_error" or left_out is None):
            metrics[metric] = _curves(records, width, metric)[0]
    fits = {
        (law, metric): chosen if (law, metric) == (chosen.model, spec["metric"]) else comparison(metric_curves, law)
        for metric, metric_curves in metrics.items()
        for law in MODELS
    }
    return WidthGroup(width, curves, chosen, failed, training, fits, left_out, fit.get("one_seed", "no_interval"))


def _curves(records: StoredRecords, width: int | None, metric: str) -> tuple[list[Curve], dict[str, int], dict[str, TrainingFacts | None]]:
    """Every learner's `metric` over the whole sweep at `width`, its failed cells and its training facts."""
    spec = records.spec
    n_train, seeds = np.array(spec["sweep"]["n_train"]), spec["sweep"]["seeds"]
    curves, failed, training = [], {}, {}
    for learner in spec["learners"]:
        table = np.full((len(seeds), len(n_train)), np.nan)
        outcomes: list[list[np.ndarray | None]] = [[None] * len(n_train) for _ in seeds]
        failed[learner["id"]] = 0
        for s, seed in enumerate(seeds):
            for i, n in enumerate(n_train):
                record = records.current.get(Cell(learner["id"], seed, int(n), width))
                if record is None:
                    continue
                if not record.ok:
                    failed[learner["id"]] += 1
                    continue
                table[s, i] = record.metrics[metric]
                if record.test_outcomes is not None:
                    outcomes[s][i] = decode_outcomes(record.test_outcomes, metric)
        curves.append(Curve(learner["id"], learner["name"], n_train, table, _stack_outcomes(outcomes)))
        training[learner["id"]] = _training_facts([
            record for n in n_train for seed in seeds
            if (record := records.current.get(Cell(learner["id"], seed, int(n), width))) is not None and record.ok
        ])
    return curves, failed, training


def _fact(info: dict[str, Any], name: str) -> Any:
    """The fact `name` of a record's info, or of the one training it reports under a prefix (`train_`, `pretrain_`)."""
    if name in info:
        return info[name]
    prefixed = [key for key in info if key.endswith("_" + name)]
    return info[prefixed[0]] if len(prefixed) == 1 else None


def _training_facts(records: list) -> TrainingFacts | None:
    """`records`: a learner's successful records, n ascending."""
    trained = [record for record in records if _fact(record.info, "train_error") is not None]
    if not trained:
        return None
    largest = trained[-1].cell.n_train
    steps = [_fact(r.info, "steps") for r in trained if r.cell.n_train == largest and _fact(r.info, "steps") is not None]
    return TrainingFacts(
        cells=len(trained),
        unconverged=sum(_fact(r.info, "converged") is False for r in trained),
        worst_train_error=max(float(_fact(r.info, "train_error")) for r in trained),
        steps_at_largest_n=float(np.mean(steps)) if steps else None,
    )


def _stack_outcomes(outcomes: list[list[np.ndarray | None]]) -> np.ndarray | None:
    """`(seeds, n, test examples)` when every cell has its per-example outcomes, else None."""
    if any(value is None for row in outcomes for value in row):
        return None
    return np.array(outcomes, dtype=np.float64)


def same_at_every_width(learner_name: str) -> bool:
    """Whether the learner plugin of this name declares that its result does not depend on the
    width (False when it is not installed: it is then drawn like any other)."""
    plugin = load_all("learner").usable.get(learner_name)
    return bool(plugin is not None and plugin.same_at_every_width)


@dataclasses.dataclass(frozen=True)
class TrainingCurve:
    """A training's stored curve (`training_curve`): the mean minibatch loss at steps on a log scale."""

    learner_id: str
    training: str
    """What was trained, from the record's `info` key: "" for the learner's own network (`curve`),
    else the prefix of a training it reports (`pretrain` for `pretrain_curve`)."""
    n_train: int
    seed: int
    step: np.ndarray
    loss: np.ndarray


def stored_curves(info: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(training, curve) of every training curve a record's `info` keeps (`training_curve`): the
    training "" for the learner's own network (`curve`), else its prefix (`pretrain` for `pretrain_curve`)."""
    for key, value in info.items():
        if (key == "curve" or key.endswith("_curve")) and isinstance(value, dict) and "step" in value:
            yield key.removesuffix("curve").removesuffix("_"), value


def training_curves(summary: SpecSummary, width: int | None) -> dict[tuple[str, str], list[TrainingCurve]]:
    """Per (learner, training) at `width`, one curve per n (n ascending), each the lowest seed's
    that has one; a training that is the same at every n (a pre-training on a fixed set) gives one.
    Records computed before curves were stored give none."""
    found: dict[tuple[str, str], dict[int, TrainingCurve]] = {}
    for cell, record in sorted(summary.records.current.items(), key=lambda item: (item[0].n_train, item[0].seed)):
        if not record.ok or cell.width != width:
            continue
        for training, value in stored_curves(record.info):
            curve = TrainingCurve(cell.learner_id, training, cell.n_train, cell.seed,
                                  np.asarray(value["step"], dtype=np.float64), np.asarray(value["loss"], dtype=np.float64))
            found.setdefault((cell.learner_id, training), {}).setdefault(cell.n_train, curve)
    curves = {}
    for key, by_n in found.items():
        kept: list[TrainingCurve] = []
        for curve in by_n.values():
            if not any(np.array_equal(curve.step, other.step) and np.array_equal(curve.loss, other.loss) for other in kept):
                kept.append(curve)
        curves[key] = kept
    return curves


DYNAMICS_KEYS = ("fraction", "distance_to_init", "distance_to_final", "velocity", "after_kernel_test_error", "network_test_error")


def dynamics_by_seed(summary: SpecSummary) -> tuple[np.ndarray, dict[str, np.ndarray], list[float | None]]:
    """The checkpoints' steps, every quantity per seed and checkpoint (`(seeds, checkpoints)`, seeds
    ascending) and each seed's settling fraction; empty without a successful run."""
    runs = sorted((r for r in summary.records.current.values() if r.ok and "checkpoints" in r.info), key=lambda r: r.cell.seed)
    if not runs:
        return np.array([]), {}, []
    steps = np.array([row["step"] for row in runs[0].info["checkpoints"]])
    values = {key: np.array([[row[key] for row in r.info["checkpoints"]] for r in runs], dtype=np.float64) for key in DYNAMICS_KEYS}
    return steps, values, [r.info["settled_fraction"] for r in runs]


def dynamics_table(summary: SpecSummary) -> tuple[list[dict[str, float]], list[float | None]]:
    """Checkpoint rows averaged over seeds, and each seed's settling fraction."""
    steps, values, settled = dynamics_by_seed(summary)
    rows = [
        {"step": step, **{key: float(np.mean(values[key][:, index])) for key in DYNAMICS_KEYS}}
        for index, step in enumerate(steps.tolist())
    ]
    return rows, settled
