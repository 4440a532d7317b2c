"""Running a spec from Python: `ntkbench.run(spec)` and the `Results` it returns (records and fits as
DataFrames, the leaderboard's path), the same computation as `ntkbench run`."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..analysis import SpecSummary, load_results, spec_claims, summarize
from ..report import write_leaderboard
from ..runner import PlanTable, RunSummary, refuse_over_budget, run_spec
from ..spec import Spec, load_spec, parse_spec
from ._fits import fits_frame
from ._record_frames import import_pandas, records_frame
from ._spectrum_frames import spectra_frame

if TYPE_CHECKING:
    import pandas

SpecLike = str | Path | Mapping[str, Any] | Spec
"""A spec file's path, YAML text, the mapping YAML would load to, or a validated `Spec`."""


@dataclasses.dataclass(frozen=True)
class Results:
    """A results directory: what `ntkbench.run` computed there (or `Results.load` found), with its
    records and fits as pandas DataFrames (pandas: the `ntkbench[data]` extra)."""

    directory: Path
    run: RunSummary | None = None
    """What the run that returned this did (None for `Results.load`)."""
    leaderboard: Path | None = None
    """The Markdown leaderboard the run wrote (None when it wrote none)."""
    _summary: SpecSummary | None = dataclasses.field(default=None, repr=False)

    @classmethod
    def load(cls, directory: str | Path) -> Results:
        """The results already in `directory` (written by `ntkbench run`); nothing is computed or written.

        **Raises:** `InputError` when the directory holds no results.
        """
        return cls(Path(directory), _summary=summarize(load_results(directory, set_aside=False)))

    @functools.cached_property
    def summary(self) -> SpecSummary:
        """The stored spec, its records and its fits (what the leaderboard is rendered from)."""
        return self._summary if self._summary is not None else summarize(load_results(self.directory, set_aside=False))

    @property
    def spec(self) -> dict[str, Any]:
        """The spec that ran, as stored beside the records (every default filled in)."""
        return self.summary.spec

    @functools.cached_property
    def records(self) -> pandas.DataFrame:
        """One row per cell (see `ntkbench.load_records`)."""
        return records_frame(self.summary.records)

    @functools.cached_property
    def fits(self) -> pandas.DataFrame:
        """One row per learner (and width): α with its interval, the saturating fit, Δα against the
        reference with its interval, and the verdict (see `fits_frame`)."""
        return fits_frame(self.summary)

    @functools.cached_property
    def claims(self) -> pandas.DataFrame:
        """The paper's three claims as this spec's data bear on them: one row per claim with
        `claim` (1-3), `statement`, `status` (`supported`, `contradicted`, `mixed`, `inconclusive`,
        `not tested`), `label` (the status with, when mixed, each kernel's verdict in words) and
        `evidence` (the numbers it rests on, or what would test it)."""
        pandas = import_pandas()
        return pandas.DataFrame([
            {"claim": claim.number, "statement": claim.statement, "status": claim.status, "label": claim.label,
             "evidence": claim.evidence}
            for claim in spec_claims(self.summary)
        ])

    @functools.cached_property
    def spectra(self) -> pandas.DataFrame:
        """One row per cell with a stored spectrum: the test error kernel regression theory predicts
        from it, the one measured, and the fitted exponents (see `spectra_frame`)."""
        return spectra_frame(self.summary)


def as_spec(
    spec: SpecLike, *, overrides: Sequence[str] = (), learners: Sequence[str] | None = None, trust_plugins: bool = False
) -> Spec:
    """Validate `spec` in any of its forms (a `str` is a path when it names a file or ends in
    .yaml/.yml on one line, else YAML text), with `overrides` and `learners` as `ntkbench run --set`
    and `--learners` take them. The spec's `plugins:` are imported only with `trust_plugins` (a
    `Spec` already validated has them imported).

    **Raises:** `SpecError` listing every problem.
    """
    if isinstance(spec, Spec):
        if not overrides and learners is None:
            return spec
        return parse_spec(spec.as_input(), spec.source, overrides=overrides, learners=learners, trust_plugins=True)
    if isinstance(spec, Path) or (
        isinstance(spec, str) and "\n" not in spec and (spec.endswith((".yaml", ".yml")) or Path(spec).is_file())
    ):
        return load_spec(spec, overrides=overrides, learners=learners, trust_plugins=trust_plugins)
    return parse_spec(spec, "<spec>", overrides=overrides, learners=learners, trust_plugins=trust_plugins)


def run(
    spec: SpecLike,
    out: str | Path | None = None,
    *,
    overrides: Sequence[str] = (),
    learners: Sequence[str] | None = None,
    progress: bool = False,
    executor: str = "local",
    force: bool = False,
    rerun_changed: bool = False,
    seeds_together: bool | None = None,
    leaderboard: bool = True,
    trust_plugins: bool = False,
    kernel_store: str | Path | None = None,
    trackers: Sequence[str] = (),
) -> Results:
    """Compute every cell of `spec` without a successful record in `out` (default `runs/<spec name>`),
    as `ntkbench run` does, and return the results.

    The spec is validated first (`SpecError` on a problem; its `plugins:` files and modules are
    imported only with `trust_plugins`, since importing runs their code) and refused when its cells need more
    memory than the budget (`InputError`, unless `force`). Records from other code than this
    ntkbench's are kept (listed in `Results.run.changed`), or computed again with `rerun_changed`.
    `seeds_together` trains a network learner's seeds as one computation (None: on an
    accelerator only; the records are the same either way). Failed cells do not raise: they are in
    `Results.run.failed` and in the records with their reason. With `leaderboard`, the Markdown
    leaderboard and its figures are written to `<out>/leaderboard.md`, the spec's page beside it. Kernels are kept tile by
    tile in `kernel_store` (default `<out>/kernels`): a run killed inside a kernel resumes from its
    last tile, and every run and spec pointed at one store computes each tile once. `trackers`
    names experiment trackers to log to as well (`tensorboard`, `mlflow`, `wandb`, or a plugin's;
    see `ntkbench.tracking`): a tracker that fails warns (`TrackerWarning`) and the run goes on.

    **Raises:** `SpecError`, `InputError` (invalid input), `RunFailure` (a record or the
    leaderboard cannot be written; records already written are kept).
    """
    chosen = as_spec(spec, overrides=overrides, learners=learners, trust_plugins=trust_plugins)
    out_dir = Path(out) if out is not None else Path("runs") / chosen.name
    if not force:
        refuse_over_budget(chosen)
    from ..tracking import open_run_log

    run_log = open_run_log(list(trackers), chosen.name, chosen.as_dict(), out_dir)
    try:
        summary = run_spec(
            chosen, out_dir, progress=progress, executor=executor, rerun_changed=rerun_changed, seeds_together=seeds_together,
            kernel_store=kernel_store, on_record=None if run_log is None else run_log.record,
        )
        rendered = write_leaderboard([out_dir], out_dir / "leaderboard.md") if leaderboard else None
    except BaseException:
        if run_log is not None:
            run_log.abort()
        raise
    if run_log is not None:
        run_log.conclude(out_dir, None if rendered is None else rendered.summaries[0],
                         [] if rendered is None else rendered.files(out_dir, "leaderboard.md"), failed=bool(summary.failed))
    if rendered is None:
        return Results(out_dir, summary)
    return Results(out_dir, summary, out_dir / "leaderboard.md", rendered.summaries[0])


def plan(
    spec: SpecLike,
    out: str | Path | None = None,
    *,
    overrides: Sequence[str] = (),
    learners: Sequence[str] | None = None,
    seeds_together: bool | None = None,
    trust_plugins: bool = False,
    kernel_store: str | Path | None = None,
) -> PlanTable:
    """What `ntkbench plan` prints, as data: a row per learner, width and n with the FLOPs, peak
    memory and seconds of its cells, the totals, and `.text()`, the table itself. `out` (default
    `runs/<spec name>`) is an earlier run whose records say how long trainings until a rule take.
    The device's speed is measured once and kept (`ntkbench.runner.calibration`); the memory budget
    is `$NTKBENCH_MEMORY_BUDGET`, else half the free memory. The table also says what the kernel
    store (`kernel_store`, default `<out>/kernels`) holds on disk.

    **Raises:** `SpecError` for an invalid spec.
    """
    from ..api import memory_budget
    from ..runner import calibration, plan_table

    validated = as_spec(spec, overrides=overrides, learners=learners, trust_plugins=trust_plugins)
    out_dir = Path(out) if out is not None else Path("runs") / validated.name
    return plan_table(validated, rates=calibration(), budget=memory_budget(), out_dir=out_dir, seeds_together=seeds_together,
                      kernel_store=None if kernel_store is None else Path(kernel_store))
