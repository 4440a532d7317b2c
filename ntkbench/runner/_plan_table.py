"""A spec's plan as one table: a row per (learner, width, n) with its cells' FLOPs, peak memory and
seconds, a row per (learner, width) for the work a seed's cells share (a kernel on the largest
training set and its factorisation, a pre-training: done once per seed, at its first cell), a row
per spectrum, the totals in units that read, and what the numbers leave out. `ntkbench plan` prints
it and `ntkbench.plan` returns it."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from ..api import format_bytes
from ..spec import Spec
from ..storage import KERNEL_STORE_DIR, RecordStore, store_disk_bytes
from ._accelerators import FP32_EFFICIENCY, FP64_EFFICIENCY, Accelerator
from ._groups import cell_groups
from ._plan import CellPlan, RecordedFacts, StoredShares, over_budget, plan_spec, plan_spectra

HEADERS = ("learner", "width", "n", "count", "FLOPs each", "peak memory", "seconds each", "over budget")
PER_SEED = "per seed"
"""The `n` of a row of the work a seed's cells share."""


@dataclasses.dataclass(frozen=True)
class PlanRow:
    """The cells of one learner at one width and n (or the spectra of one learner at one width)."""

    learner: str
    width: int | None
    n: str
    """The training-set size, `per seed` for the work a seed's cells share, or `M=<pool>` for spectra."""
    cells: int
    """How many cells (or seeds, for a `per seed` row; spectra) the row counts."""
    flops: float | None
    """Per cell, the solve's factorisation included (None: the learner gives no estimate)."""
    peak_bytes: int | None
    seconds: float | None
    lower_bound: bool
    """Whether most of the time is work the plan did not time, counted at the GEMM rate (a lower bound)."""
    over_budget: bool

    def seconds_text(self) -> str:
        if not self.lower_bound:
            return readable_seconds(self.seconds)
        return f">={self.seconds:.1g} s" if self.seconds < 0.01 else ">=" + readable_seconds(self.seconds)

    def cells_text(self) -> list[str]:
        return [
            self.learner, "" if self.width is None else str(self.width), self.n, str(self.cells),
            "?" if self.flops is None else f"{self.flops:.3g}",
            "?" if self.peak_bytes is None else format_bytes(self.peak_bytes),
            "?" if self.seconds is None else self.seconds_text(),
            "OVER BUDGET" if self.over_budget else "",
        ]


def readable_seconds(seconds: float) -> str:
    """`0.42 s`, `12 min`, `5.3 h`, `31 days`, `8.5 years`: a duration in the unit that reads."""
    if seconds < 0.01:
        return "<0.01 s"
    for unit, size, limit in (("s", 1, 120), ("min", 60, 120 * 60), ("h", 3600, 48 * 3600), ("days", 86400, 730 * 86400)):
        if seconds < limit:
            value = seconds / size
            return f"{value:.2g} {unit}" if value < 10 else f"{value:.0f} {unit}"
    return f"{seconds / (365.25 * 86400):.3g} years"


@dataclasses.dataclass(frozen=True)
class PlanTable:
    rows: list[PlanRow]
    plans: list[CellPlan]
    """Every cell's plan, and every spectrum's after them."""
    spectra: int
    rates: dict[str, float]
    budget: int
    seed_groups: list[int]
    """The sizes of the groups of seeds that train as one computation (empty: none)."""
    out_dir: Path
    kernel_store: Path | None = None
    """The kernel store the run would use."""
    kernel_store_bytes: int = 0
    """What its tiles take on disk now."""
    kernel_store_share: float | None = None
    """The share of the entries of the kernels the plan could name (those whose identity is known
    before running, such as infinite ones) that the store holds: left out of the counts."""
    recorded: tuple[int, float, float] | None = None
    """For the cells with a successful record in `out_dir`: how many, their planned seconds and the
    seconds their records say they took (how close this device's plan came); None without any."""

    def on_device(self, device: Accelerator) -> tuple[float, list[CellPlan]]:
        """The estimated seconds of every estimated cell and spectrum on `device` (its peak rates at
        `FP32_EFFICIENCY` and `FP64_EFFICIENCY`), and the cells whose peak memory exceeds its memory."""
        seconds = sum(device.seconds(p.cost.flops, p.cost.factor_flops) for p in self.plans
                      if p.cost is not None and p.cost.flops is not None)
        return seconds, [p for p in self.plans if p.cost is not None and p.cost.peak_bytes > device.memory_bytes]

    @property
    def total_flops(self) -> float:
        return sum(p.cost.flops + p.cost.factor_flops for p in self.plans if p.seconds is not None)

    @property
    def total_seconds(self) -> float:
        """The compute of every cell and spectrum with an estimate (compilation not included)."""
        return sum(p.seconds for p in self.plans if p.seconds is not None)

    @property
    def peak_bytes(self) -> int:
        return max((p.cost.peak_bytes for p in self.plans if p.cost), default=0)

    @property
    def over_budget(self) -> list[CellPlan]:
        return over_budget(self.plans, self.budget)

    def device_hours(self) -> float:
        """The compute of every estimated cell and spectrum, in hours of this device."""
        return self.total_seconds / 3600

    def text(self, devices: int | None = None, device: Accelerator | None = None) -> str:
        """What `ntkbench plan` prints (without a pilot's sizing); with `devices`, the device-hours
        and the least wall time on that many devices like this one, or with `device` too, like that
        one (an estimate from its published peak rates)."""
        from tabulate import tabulate

        cells = len(self.plans) - self.spectra
        unknown = sum(1 for p in self.plans[:cells] if p.seconds is None)
        units = f" and {self.spectra} spectra" if self.spectra else ""
        shown = [index for index, header in enumerate(HEADERS)
                 if (header != "width" or any(row.width is not None for row in self.rows))
                 and (header != "over budget" or any(row.over_budget for row in self.rows))]
        table = [[row.cells_text()[index] for index in shown] for row in self.rows]
        lines = [
            tabulate(table, headers=[HEADERS[index] for index in shown], tablefmt="simple", disable_numparse=True),
            "",
            f"{cells} cells{units}; estimated {self.total_flops:.3g} FLOPs, {readable_seconds(self.total_seconds)} of compute "
            f"(at {self.rates['gemm_flops'] / 1e9:.0f} GFLOP/s float32 GEMM, {self.rates['cholesky_flops'] / 1e9:.0f} GFLOP/s "
            f"float64 Cholesky; compilation not included); peak memory {format_bytes(self.peak_bytes)} of a "
            f"{format_bytes(self.budget)} budget" + (f"; {unknown} cells of learners that give no estimate" if unknown else ""),
        ]
        if device is not None:
            lines += self._device_lines(device, devices or 1)
        elif devices is not None:
            lines.append(
                f"on {devices} device(s) like this one: {self.device_hours():.3g} device-hours; at best "
                f"{readable_seconds(self.total_seconds / devices)} of wall time, with every kernel spread by its tiles "
                "(--executor ray) and the cells of a seed in order (compilation and data loading not included)"
            )
        if self.recorded is not None:
            count, planned, taken = self.recorded
            lines.append(
                f"on this device, the {count} cells recorded in {self.out_dir} took {readable_seconds(taken)} against "
                f"{readable_seconds(planned)} planned ({taken / planned:.2g} times; their records count compilation, the "
                "plan does not)" if planned > 0 else f"on this device, the {count} cells recorded in {self.out_dir} took "
                f"{readable_seconds(taken)}"
            )
        read = sum(p.cost.read_bytes for p in self.plans if p.cost is not None)
        if read:
            from ..numerics._costs import CG_PLANNED_ITERATIONS  # loaded already by the estimate that counted the reads

            lines.append(
                f"iterative solves read about {format_bytes(int(read))} from kernels memory-mapped on disk ({CG_PLANNED_ITERATIONS} "
                "conjugate-gradient iterations counted per solve; the time above does not count the reads, which the page "
                "cache serves when the kernel fits in memory)"
            )
        if self.kernel_store is not None and self.kernel_store_bytes:
            held = ("" if self.kernel_store_share is None else
                    f"; it holds {100 * self.kernel_store_share:.3g}% of the entries of this spec's kernels known before running "
                    "(infinite ones), read instead of computed and left out of the counts above")
            lines.append(f"kernel store {self.kernel_store}: {format_bytes(self.kernel_store_bytes)} on disk{held}")
        if self.seed_groups:
            lines.append(
                f"{len(self.seed_groups)} groups of seeds train as one computation (up to {max(self.seed_groups)} seeds at one "
                "n); a group holds its cells' memory together and takes their time together"
            )
        lower = sum(row.lower_bound for row in self.rows)
        if lower:
            lines.append(
                f"{lower} rows marked >= count most of their work at the GEMM rate, a lower bound (the plan times a small "
                "instance of each computation for a few seconds in all, and not one too costly to time); plan again to "
                "time more: what was timed is kept"
            )
        bounded = sum(1 for p in self.plans if p.cost is not None and p.cost.upper_bound)
        if bounded:
            lines.append(
                f"{bounded} cells train until a rule and no records in {self.out_dir} say how long that takes: their time "
                "counts the whole max_steps, an upper bound (plan with --out DIR of an earlier run of this spec to "
                "estimate from its records)"
            )
        return "\n".join(lines)


    def _device_lines(self, device: Accelerator, count: int) -> list[str]:
        seconds, too_large = self.on_device(device)
        lines = [
            f"ESTIMATE on {count} × {device.name}: {seconds / 3600:.3g} device-hours; at best {readable_seconds(seconds / count)} "
            f"of wall time with every kernel spread by its tiles (--executor ray). From the plan's FLOPs at "
            f"{FP32_EFFICIENCY:.0%} of its {device.fp32_flops / 1e12:.3g} TFLOP/s float32 peak and its factorisations at "
            f"{FP64_EFFICIENCY:.0%} of its {device.fp64_flops / 1e12:.3g} TFLOP/s float64 peak ({device.source}); memory "
            "traffic, compilation and data loading are not counted, so memory-bound work takes longer"
        ]
        if too_large:
            lines.append(f"{len(too_large)} cells need more than its {format_bytes(device.memory_bytes)} of memory "
                         f"(the largest {format_bytes(max(p.cost.peak_bytes for p in too_large))})")
        return lines


def _recorded(spec: Spec, out_dir: Path, plans: list[CellPlan]) -> tuple[int, float, float] | None:
    """(cells, planned seconds, recorded seconds) of the planned cells with a successful record in `out_dir`."""
    if not (out_dir / "records").is_dir():
        return None
    try:
        current = RecordStore(out_dir).load(spec.as_dict(), set_aside=False).current  # a plan writes nothing
    except OSError:  # an unreadable directory: nothing to compare with
        return None
    pairs = [(plan.seconds, current[plan.cell].wall_seconds) for plan in plans
             if plan.seconds is not None and plan.cell in current and current[plan.cell].ok]
    if not pairs:
        return None
    return len(pairs), sum(planned for planned, _ in pairs), sum(taken for _, taken in pairs)


def plan_table(spec: Spec, *, rates: dict[str, float], budget: int, out_dir: Path, seeds_together: bool | None = None,
               recorded: RecordedFacts | None = None, kernel_store: Path | None = None) -> PlanTable:
    """The plan of every cell and spectrum of `spec` at `rates` (the device's calibration), checked
    against `budget` bytes, with what the records in `out_dir` (or `recorded`) say of trainings until
    a rule, and the kernel store (default `out_dir/kernels`): its disk use, and the tiles it holds
    left out of the counts."""
    from ..numerics._compilation_cache import use_compilation_cache

    use_compilation_cache()  # the small instances a plan times compile as the run's will
    store = kernel_store if kernel_store is not None else out_dir / KERNEL_STORE_DIR
    store_bytes = store_disk_bytes(store)
    stored = StoredShares(spec, store) if store_bytes else None
    plans = plan_spec(spec, detailed=True, rates=rates, records=out_dir, recorded=recorded, stored=stored)
    grouped: dict[tuple, list[CellPlan]] = {}
    for plan in plans:
        grouped.setdefault((plan.cell.learner_id, plan.cell.width, plan.cell.n_train), []).append(plan)
    rows = []
    for (learner, width, n), members in grouped.items():
        sharing = [member for member in members if member.alone is not None]
        shared = [part for part in map(_shared_part, sharing) if part is not None]
        if shared:
            rows.append(_row(learner, width, PER_SEED, shared, rates, budget))
        alone = [dataclasses.replace(member, cost=member.alone[0], seconds=member.alone[1]) for member in sharing]
        rows.append(_row(learner, width, str(n), alone if shared else members, rates, budget))
    spectra = plan_spectra(spec, detailed=True, rates=rates)
    for learner, width in dict.fromkeys((p.cell.learner_id, p.cell.width) for p in spectra):
        members = [p for p in spectra if (p.cell.learner_id, p.cell.width) == (learner, width)]
        rows.append(_row(f"spectrum of {learner}", width, f"M={spec.spectrum.pool}", members, rates, budget, timed=False))
    groups = [len(unit) for unit in cell_groups(spec, [p.cell for p in plans], seeds_together=seeds_together, budget=budget)
              if len(unit) > 1]
    return PlanTable(rows, plans + spectra, len(spectra), rates, budget, groups, out_dir, store, store_bytes,
                     None if stored is None else stored.stored_fraction(), _recorded(spec, out_dir, plans))


def _shared_part(plan: CellPlan) -> CellPlan | None:
    """The work of a seed's first cell that its other cells share: the cell less what it costs
    alone (None when it costs no more)."""
    (alone, alone_seconds), cost = plan.alone, plan.cost
    if cost is None or alone is None or cost.flops is None or alone.flops is None:
        return None
    flops, factor = cost.flops - alone.flops, cost.factor_flops - alone.factor_flops
    seconds = None if plan.seconds is None or alone_seconds is None else plan.seconds - alone_seconds
    if flops + factor <= 0 and not seconds:
        return None
    shared = dataclasses.replace(cost, flops=flops, factor_flops=factor, timed_flops=max(cost.timed_flops - alone.timed_flops, 0.0),
                                 timed_seconds=max(cost.timed_seconds - alone.timed_seconds, 0.0))
    return CellPlan(plan.cell, shared, seconds)


def _row(learner: str, width: int | None, n: str, members: list[CellPlan], rates: dict[str, float], budget: int,
         *, timed: bool = True) -> PlanRow:
    cost, seconds = members[0].cost, members[0].seconds
    if len({(m.cost, m.seconds) for m in members}) > 1:  # the first cell of a seed costs more
        cost = max((m.cost for m in members), key=lambda c: c.peak_bytes)
        seconds = max(m.seconds or 0.0 for m in members)
    # Most of the time at the GEMM rate: work the plan did not time, a lower bound.
    lower = (timed and seconds is not None and cost is not None and cost.flops is not None
             and (cost.flops - cost.timed_flops) / rates["gemm_flops"] > 0.5 * seconds)
    return PlanRow(
        learner, width, n, len(members),
        None if cost is None or cost.flops is None else cost.flops + cost.factor_flops,
        None if cost is None else cost.peak_bytes, seconds, lower, cost is not None and cost.peak_bytes > budget,
    )
