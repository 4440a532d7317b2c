"""Sizing a study before it runs (`ntkbench plan SPEC --pilot DIR`): from a pilot run of the spec,
the Δα half-width every compared pair would have in the spec as written and in designs that vary
the seeds, the test-set size and the largest n, each with its planned time, the cheapest design
that decides every pair at the margin, and the seeds to run it on.

A pilot is the spec run with fewer seeds, fewer sizes or a smaller test set (`pilot_command`
suggests one). The final study runs on seeds after the pilot's
(`ntkbench.analysis._power.fresh_seeds`): the design is chosen from the pilot's Δα, and reusing
the pilot's seeds in the final analysis would let that choice lean on its own verdict. A design
*decides* a pair when its expected interval at the pilot's Δα excludes 0 or lies inside ±margin
(`ntkbench.analysis.verdict`); the half-widths come from `ntkbench.analysis._power`.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from ..analysis import SpecSummary, load_results, summarize
from ..analysis._intervals import DECISIVE, EQUIVALENCE_LEVEL, verdict
from ..analysis._power import (
    Design,
    Pair,
    cheapest,
    chosen_design,
    designs_at,
    fresh_seeds,
    half_width_text,
    narrowest,
    pairs_of,
)
from ..api import InputError, SpecError
from ..runner import RecordedFacts, plan_spec, recorded_facts
from ..spec import Spec, parse_spec

MAX_SEEDS = 20
"""Designs of at most this many seeds."""
TEST_FACTORS = (1, 2, 4)
"""Designs with the spec's n_test times each of these (up to the dataset's test pool)."""
SIZE_STEPS = (-1, 0, 1, 2)
"""Designs with the spec's sizes, one fewer, or one or two more steps of its ladder."""
SATURATING_PILOT_SIZES = 5
"""Below this many sizes in the pilot, projections of the saturating law's half-width are rough
(`tests/test_power.py`)."""
COMPARED = ("dataset", "architecture", "metric", "plugins")


@dataclasses.dataclass(frozen=True)
class Sizing:
    pilot: SpecSummary
    pairs: list[Pair]
    margin: float
    as_written: Design
    """The spec's seeds (as many, after the pilot's), test set and sizes."""
    designs: list[Design]
    facts: RecordedFacts
    """What the pilot's records say of the cells' costs (how long trainings until a rule took)."""

    @property
    def pilot_seeds(self) -> list[int]:
        return list(self.pilot.spec["sweep"]["seeds"])

    def cheapest(self, label: str | None = None) -> Design | None:
        """The design of least planned time that decides every pair (or the pair `label`)."""
        return cheapest(self.designs, label)

    def chosen(self) -> Design:
        """The recommended design: the cheapest that decides every pair, else the narrowest."""
        return chosen_design(self.designs)

    def seeds_of(self, design: Design) -> list[int]:
        """The seeds to run `design` on: after the pilot's."""
        return fresh_seeds(self.pilot_seeds, design.seeds)


def _differences(spec: dict[str, Any], pilot: dict[str, Any]) -> list[str]:
    """How the pilot's stored spec differs from `spec` beyond what a pilot may change."""
    found = []
    if pilot["name"] != spec["name"]:
        found.append(f"its name is {pilot['name']!r}, the spec's {spec['name']!r}")
    for section in COMPARED:
        theirs, ours = pilot.get(section), spec.get(section)
        if section == "dataset":
            theirs, ours = ({k: v for k, v in d.items() if k != "n_test"} for d in (theirs, ours))
        if theirs != ours:
            found.append(f"its {section} differs from the spec's")
    ours = {learner["id"]: learner for learner in spec["learners"]}
    for learner in pilot["learners"]:
        if ours.get(learner["id"]) != learner:
            found.append(f"its learner {learner['id']!r} is not the spec's")
    if pilot.get("compare", {}).get("reference") != spec["compare"]["reference"]:
        found.append("its compare.reference differs")
    widths = set(spec["sweep"].get("width") or [None])
    if not set(pilot["sweep"].get("width") or [None]) <= widths:
        found.append("it has widths the spec does not")
    return found


def load_pilot(spec: Spec, directory: str | Path) -> SpecSummary:
    """The pilot's records, fitted, after checking that they are a pilot of `spec`.

    **Raises:** `InputError` for a directory without results, of another spec, or with one seed.
    """
    summary = summarize(load_results(directory, set_aside=False))
    differences = _differences(spec.as_dict(), summary.spec)
    if differences:
        raise InputError(f"--pilot {directory}: not a pilot of {spec.source}: " + "; ".join(differences))
    seeds = len(summary.spec["sweep"]["seeds"])
    if seeds < 2:
        raise InputError(f"--pilot {directory}: the pilot has {seeds} seed; at least 2 are needed to measure the seeds' "
                         "part of the interval (run it with --set sweep.seeds=[0,1] or more)")
    if summary.spec.get("dynamics"):
        raise InputError(f"--pilot {directory}: a dynamics spec compares no exponents; there is nothing to size")
    return summary


def _pairs(pilot: SpecSummary) -> list[Pair]:
    one_seed = pilot.spec["fit"].get("one_seed", "no_interval")
    return [pair for group in pilot.groups for pair in pairs_of(group.comparison, pilot.spec["metric"], one_seed, group.width)]


def _ladders(spec: Spec, pool: int | None) -> list[tuple[int, ...]]:
    sizes = list(spec.n_train)
    ratio = sizes[-1] / sizes[-2] if len(sizes) > 1 else 2.0
    ladders = []
    for step in SIZE_STEPS:
        if step < 0:
            ladder = sizes[:step]
        else:
            ladder = sizes + [int(round(sizes[-1] * ratio**k)) for k in range(1, step + 1)]
        if len(ladder) >= 3 and (pool is None or ladder[-1] <= pool):
            ladders.append(tuple(ladder))
    return ladders


def _window(spec: Spec, ladder: tuple[int, ...]) -> np.ndarray:
    n_min = spec.fit_n_min or ladder[0]
    n_max = spec.fit_n_max if spec.fit_n_max and ladder == spec.n_train else ladder[-1]
    return np.array([n for n in ladder if n_min <= n <= n_max], dtype=np.float64)


def _variant(spec: Spec, seeds: list[int], ladder: tuple[int, ...], n_test: int) -> Spec | None:
    """The spec with these seeds, sizes and test set (None when it is not a valid spec)."""
    changes = [f"sweep.seeds={seeds}", f"sweep.n_train={list(ladder)}", f"dataset.n_test={n_test}"]
    if spec.fit_n_max and ladder != spec.n_train:
        changes.append(f"fit.n_max={ladder[-1]}")
    try:
        return parse_spec(spec.as_input(), spec.source, overrides=changes, trust_plugins=True)  # imported when `spec` was
    except SpecError:
        return None


def _seconds_by_seed(spec: Spec, facts: dict, rates: dict[str, float]) -> dict[int, float] | None:
    """Planned seconds per seed of the cells of `spec`."""
    by_seed: dict[int, float] = {}
    for plan in plan_spec(spec, detailed=True, rates=rates, recorded=facts):
        if plan.seconds is None:
            return None
        by_seed[plan.cell.seed] = by_seed.get(plan.cell.seed, 0.0) + plan.seconds
    return by_seed


def size_study(spec: Spec, pilot_dir: str | Path, rates: dict[str, float], margin: float | None = None) -> Sizing:
    """The sizing of `spec` from the pilot in `pilot_dir` (see the module docstring); `margin`
    replaces the spec's `compare.margin`.

    **Raises:** `InputError` as `load_pilot` does, or when the pilot compares no pair with an interval.
    """
    pilot_dir = Path(pilot_dir)
    pilot = load_pilot(spec, pilot_dir)
    margin = spec.margin if margin is None else margin
    pairs = _pairs(pilot)
    if not pairs:
        raise InputError(f"--pilot {pilot_dir}: the pilot compares no learner with the reference "
                         f"{spec.reference!r} with an interval (too few sizes or failed cells?); nothing to size")
    dataset = spec.dataset.instantiate()
    facts = recorded_facts(pilot.spec, pilot_dir)
    from ..numerics._costs import measuring

    with measuring():  # every plan of the sizing times computations for a few seconds in all
        return _sized(spec, pilot_dir, pilot, pairs, margin, dataset, facts, rates)


def _sized(spec: Spec, pilot_dir: Path, pilot: SpecSummary, pairs: list[Pair], margin: float, dataset: Any,
           facts: RecordedFacts, rates: dict[str, float]) -> Sizing:
    test_pool = dataset.test_pool_size()
    seeds = fresh_seeds(pilot.spec["sweep"]["seeds"], MAX_SEEDS)
    designs = []
    test_sizes = sorted({spec.dataset.options.n_test * f for f in TEST_FACTORS
                         if test_pool is None or spec.dataset.options.n_test * f <= test_pool})
    for n_test in test_sizes:
        for ladder in _ladders(spec, dataset.pool_size()):
            variant = _variant(spec, seeds, ladder, n_test)
            if variant is None:
                continue
            by_seed = _seconds_by_seed(variant, facts, rates)
            candidates = [(count, n_test, None if by_seed is None else sum(by_seed.get(seed, 0.0) for seed in seeds[:count]))
                          for count in range(2, MAX_SEEDS + 1)]
            designs += designs_at(pairs, margin, ladder, _window(spec, ladder), candidates)
    written = _variant(spec, seeds[:len(spec.seeds)], spec.n_train, spec.dataset.options.n_test)
    written_seconds = None if written is None else _seconds_by_seed(written, facts, rates)
    (as_written,) = designs_at(pairs, margin, spec.n_train, _window(spec, spec.n_train), [
        (len(spec.seeds), spec.dataset.options.n_test, None if written_seconds is None else sum(written_seconds.values()))])
    return Sizing(pilot, pairs, margin, as_written, designs, facts)


def sizing_text(sizing: Sizing, spec: Spec) -> str:
    """What `ntkbench plan --pilot` prints."""
    from tabulate import tabulate

    pilot = sizing.pilot.spec
    seeds = len(pilot["sweep"]["seeds"])
    rough = (f" With {seeds} seeds the pilot measures the seeds' part of each interval with {seeds - 1} degree(s) of freedom: "
             "its projections are rough; a pilot of 3 or more seeds is steadier.") if seeds < 3 else ""
    sizes = min(len(pair.projection.n_values) for pair in sizing.pairs)
    if sizing.pilot.groups[0].comparison.model == "saturating" and sizes < SATURATING_PILOT_SIZES:
        rough += (f" The saturating law's three parameters are fitted to {sizes} sizes of the pilot: its projections to "
                  f"other sizes are rough; a pilot of {SATURATING_PILOT_SIZES} or more sizes is steadier.")
    lines = [
        f"Pilot: {seeds} seeds, n_test {pilot['dataset']['n_test']}, n_train {pilot['sweep']['n_train']}; "
        f"Δα = α({spec.reference}) − α(learner). A design decides a pair when its expected interval at the pilot's Δα "
        f"gives a verdict: the 90% interval inside ±{sizing.margin:g} (equivalent) or the 95% interval excluding 0 "
        f"(separated). Each half-width is of the interval that gives the expected verdict (90% or 95%), both where "
        f"none is expected.{rough}",
        "",
    ]
    rows = []
    for pair in sizing.pairs:
        spread, delta = pair.projection.spread, pair.projection.delta_alpha
        in_pilot = half_width_text(verdict(delta, spread, sizing.margin), spread.half_width(), spread.half_width(EQUIVALENCE_LEVEL))
        expected = sizing.as_written.expected[pair.label]
        rows.append([pair.label, f"{delta:+.3f}", in_pilot, sizing.as_written.decisive_half_width(pair.label),
                     expected if expected in DECISIVE else f"no ({expected})"])
    headers = ["pair", "Δα in the pilot", "half-width in the pilot", "half-width as written", "expected verdict as written"]
    lines += [tabulate(rows, headers=headers, tablefmt="simple", disable_numparse=True), ""]
    lines.append(f"The spec as written ({_design_text(sizing.as_written)}): "
                 + ("decides every pair." if sizing.as_written.decides else "does not decide every pair."))
    best = sizing.cheapest()
    shown = []
    for candidate in (best, *(sizing.cheapest(p.label) for p in sizing.pairs)):
        if candidate is not None and all(candidate is not d for d in shown):
            shown.append(candidate)
    shown.sort(key=lambda d: d.seconds)
    if shown:
        rows = [[_design_text(d), *[d.decisive_half_width(p.label) + ("" if d.deciding[p.label] else " (no)") for p in sizing.pairs],
                 "every pair" if d.decides else ", ".join(p.label for p in sizing.pairs if d.deciding[p.label])]
                for d in shown]
        headers = ["design (planned time)", *[f"half-width {p.label}" for p in sizing.pairs], "decides"]
        lines += ["", "The cheapest design for every pair and for each pair:", "",
                  tabulate(rows, headers=headers, tablefmt="simple", disable_numparse=True)]
    if best is not None:
        lines += ["", f"Cheapest design that decides every pair at ±{sizing.margin:g}: {_design_text(best)}."]
    else:
        lines += ["", f"No design of up to {MAX_SEEDS} seeds, n_test up to {max(d.n_test for d in sizing.designs)} and "
                      f"n up to {max(d.n_train[-1] for d in sizing.designs)} decides every pair at ±{sizing.margin:g}; "
                      f"the narrowest: {_design_text(narrowest(sizing.designs))}."]
    design = sizing.chosen()
    seeds = sizing.seeds_of(design)
    overrides = [f"sweep.seeds=[{','.join(map(str, seeds))}]", f"dataset.n_test={design.n_test}",
                 f"sweep.n_train=[{','.join(map(str, design.n_train))}]"]
    lines += [
        "",
        f"Seeds to run: {seeds}. The pilot's seeds {sizing.pilot_seeds} are left out of the final analysis: the design "
        "was chosen from their Δα, and a verdict fitted to them again would lean on that choice (docs/concepts/pilot-procedure.md). "
        "Run the design in a new directory, and keep the pilot's apart (a published study keeps it under "
        "leaderboard/pilots/):",
        f"  ntkbench run {spec.source} " + " ".join(f"--set {o}" for o in overrides) + f" --out runs/{spec.name}",
    ]
    return "\n".join(lines)


def _design_text(design: Design) -> str:
    time = "time unknown" if design.seconds is None else f"{design.seconds / 60:.1f} min"
    return f"{design.seeds} seeds, n_test {design.n_test}, n_train {design.n_train[0]}–{design.n_train[-1]} ({time})"

