"""`ntkbench run` and `ntkbench plan`: compute a spec's cells, or estimate what they will cost."""

from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path

from ._spec import add_spec_changes, load_changed_spec


def add_commands(commands: argparse._SubParsersAction) -> None:
    run = commands.add_parser("run", help="compute every cell of a spec that has no record yet")
    run.add_argument("spec", help="spec file (YAML)")
    run.add_argument("--out", help="results directory (default: runs/<spec name>)")
    run.add_argument("--no-progress", action="store_true", help="do not draw the progress bar")
    run.add_argument("--memory-budget", metavar="SIZE", help="bytes a run may use, e.g. 16G (default: half the free memory)")
    run.add_argument("--force", action="store_true", help="run even when cells need more memory than the budget")
    run.add_argument("--executor", choices=["local", "ray"], default="local",
                     help="local: cells in this process (default); ray: cells as Ray tasks (pip install 'ntkbench[ray]')")
    run.add_argument("--address", help="Ray cluster to join (default: start a local Ray instance)")
    run.add_argument("--num-gpus", type=float, default=0.0, help="GPUs each Ray task asks for (default 0)")
    run.add_argument("--rerun-changed", action="store_true",
                     help="recompute the cells whose records came from other code (another ntkbench or plugin source)")
    run.add_argument("--kernel-store", metavar="DIR",
                     help="keep kernels tile by tile in DIR, shared by every run and spec pointed at it (default: OUT/kernels)")
    run.add_argument("--tracker", action="append", metavar="NAME[,NAME]",
                     help="also log to these experiment trackers: tensorboard, mlflow, wandb, or one a plugin registers "
                          "(each backend is an extra: pip install 'ntkbench[trackers]')")
    add_seeds_together(run)
    add_spec_changes(run)
    run.set_defaults(handler=_run)

    plan = commands.add_parser("plan", help="estimated FLOPs, memory and time of every cell, before running")
    plan.add_argument("spec")
    plan.add_argument("--out", help="results directory of an earlier run, whose records say how long trainings until a rule take "
                                    "(default: runs/<spec name>, where it exists)")
    plan.add_argument("--memory-budget", metavar="SIZE", help="the budget to check cells against (default: half the free memory)")
    plan.add_argument("--pilot", metavar="DIR",
                      help="results directory of a pilot run of this spec (fewer seeds, sizes or a smaller test set): predict "
                           "each compared pair's Δα half-width, as written and in other designs, and name the cheapest that decides")
    plan.add_argument("--kernel-store", metavar="DIR", help="the kernel store the run will use (default: OUT/kernels)")
    plan.add_argument("--devices", type=int, metavar="N", help="also give device-hours and the least wall time on N devices like this one "
                                                                 "(or like --device)")
    plan.add_argument("--device", metavar="MODEL",
                      help="estimate device-hours and wall time on an accelerator you do not have, from its published peak "
                           "rates: h100, h200, a100, a100-40gb, v100, l4 or t4")
    plan.add_argument("--margin", type=float, metavar="DELTA",
                      help="the margin of equivalence to size the study for (default: the spec's compare.margin)")
    add_seeds_together(plan)
    add_spec_changes(plan)
    plan.set_defaults(handler=_plan)


SEEDS_TOGETHER = {"auto": None, "on": True, "off": False}


def add_seeds_together(command: argparse.ArgumentParser) -> None:
    command.add_argument("--seeds-together", choices=list(SEEDS_TOGETHER), default="auto",
                         help="train the seeds of a network learner as one computation: on an accelerator (auto, the "
                              "default), always, or never; the records are the same")


def _run(args: argparse.Namespace) -> int:
    from ..api import InputError, RunFailure
    from ..report import write_leaderboard
    from ..runner import run_spec

    spec = load_changed_spec(args.spec, args)
    out_dir = Path(args.out) if args.out else Path("runs") / spec.name
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"--out {out_dir}: is a file, not a results directory; choose another --out")
    if args.kernel_store and Path(args.kernel_store).exists() and not Path(args.kernel_store).is_dir():
        raise InputError(f"--kernel-store {args.kernel_store}: is a file, not a folder; choose another")
    apply_memory_budget(args)
    if args.executor != "ray" and (args.address or args.num_gpus):
        raise InputError("--address and --num-gpus apply to Ray tasks; add --executor ray")
    if args.num_gpus < 0:
        raise InputError(f"--num-gpus must be at least 0, got {args.num_gpus}")
    if not args.force:
        from ..runner import refuse_over_budget

        refuse_over_budget(spec)
    if args.executor == "ray":
        from ..runner import import_ray

        import_ray()  # refuse before anything is written when Ray is not installed
    if (note := spec.comparison_note()) is not None:
        print(f"{spec.source}: note: {note}", file=sys.stderr)
    args.interrupt_hint = f"records of finished cells are kept in {out_dir}; run the same command to resume"
    from ..tracking import open_run_log

    names = [name.strip() for value in args.tracker or [] for name in value.split(",") if name.strip()]
    run_log = open_run_log(names, spec.name, spec.as_dict(), out_dir)
    try:
        summary = run_spec(
            spec, out_dir, progress=not args.no_progress, executor=args.executor, ray_address=args.address,
            num_gpus=args.num_gpus, rerun_changed=args.rerun_changed,
            seeds_together=SEEDS_TOGETHER[args.seeds_together], kernel_store=args.kernel_store,
            on_record=None if run_log is None else run_log.record,
        )
    except BaseException:
        if run_log is not None:
            run_log.abort()
        raise
    leaderboard, rendered, unwritten = out_dir / "leaderboard.md", None, None
    try:
        rendered = write_leaderboard([out_dir], leaderboard)
    except RunFailure as error:
        leaderboard, unwritten = "not written", error
    if run_log is not None:
        run_log.conclude(out_dir, None if rendered is None else rendered.summaries[0],
                         [] if rendered is None else rendered.files(out_dir, "leaderboard.md"), failed=bool(summary.failed))
    busy = f", {len(summary.busy)} computed by another process at the same time" if summary.busy else ""
    print(
        f"{spec.name}: {summary.computed} cell(s) computed, {summary.already_done} already recorded, "
        f"{len(summary.failed)} failed{busy}; records in {out_dir}/records; leaderboard: {leaderboard}"
    )
    if summary.stale:
        print(f"{summary.stale} stale record(s) of earlier versions of this spec (other options or sizes) are kept in "
              f"{out_dir}/records and used by no fit")
    tiles = summary.kernel_tiles_text()
    if tiles is not None:
        print(tiles)
    spectra = summary.spectra
    if spectra is not None:
        print(f"spectra: {spectra.computed} taken, {spectra.already_done} already stored, {len(spectra.failed)} failed; "
              f"in {out_dir}/spectra")
    if rendered is not None:
        from ..report import exponents_text

        table = exponents_text(rendered.summaries[0])
        if table:
            page = Path(leaderboard).parent / next(iter(rendered.pages))
            print(f"\n{table}\n\nThe leaderboard: {leaderboard}; this spec's intervals, laws, claims and plots: {page}")
    if summary.changed:
        _report_changed(summary.changed, summary.rerun_changed)
    for cell, reason in summary.failed:
        print(f"failed: {cell.label()}: {reason}", file=sys.stderr)
    for learner, reason in summary.stopped.items():
        print(f"stopped: learner {learner!r}: {reason}", file=sys.stderr)
    for cell, reason in spectra.failed if spectra is not None else []:
        print(f"failed: the spectrum of {cell.label()}: {reason}; run the same command to try again", file=sys.stderr)
    if summary.failed:
        print(f"The traceback of a failed cell: ntkbench show-failure {out_dir} CELL (e.g. {summary.failed[0][0].label()!r})",
              file=sys.stderr)
    if unwritten is not None:
        print(f"ntkbench: error: {unwritten}", file=sys.stderr)
    return 1 if summary.failed or summary.stopped or unwritten or (spectra is not None and spectra.failed) else 0


def _report_changed(changed: dict, rerun: bool) -> None:
    """Say which records came from other code than this run's, and what became of them."""
    by_code: dict[str, int] = {}
    for code in changed.values():
        by_code[code] = by_code.get(code, 0) + 1
    origins = "; ".join(
        f"{count} recorded before code versions were kept" if code == "unknown" else f"{count} by {code}"
        for code, count in sorted(by_code.items())
    )
    if rerun:
        print(f"{len(changed)} cell(s) whose records came from other code were computed again ({origins})")
    else:
        print(f"note: {len(changed)} cell(s) have records from other code than this ntkbench's ({origins}); "
              "they were kept. `--rerun-changed` computes them again.", file=sys.stderr)


def apply_memory_budget(args: argparse.Namespace) -> None:
    """`--memory-budget` becomes $NTKBENCH_MEMORY_BUDGET, so that subprocesses and workers see it too."""
    from ..api import BUDGET_VARIABLE, parse_bytes

    if getattr(args, "memory_budget", None):
        parse_bytes(args.memory_budget)  # exit 2 on a malformed size, before anything runs
        os.environ[BUDGET_VARIABLE] = args.memory_budget


def _plan(args: argparse.Namespace) -> int:
    from ..api import InputError, memory_budget
    from ..runner import calibration, plan_table
    if args.margin is not None and not (math.isfinite(args.margin) and args.margin > 0):
        raise InputError(f"--margin {args.margin}: the margin of equivalence must be a positive number of α units")
    if args.devices is not None and args.devices < 1:
        raise InputError(f"--devices {args.devices}: give at least one device")
    device = None
    if args.device is not None:
        from ..runner import accelerator

        try:
            device = accelerator(args.device)
        except KeyError as error:
            raise InputError(f"--device: {error.args[0]}") from None
    spec = load_changed_spec(args.spec, args)
    from ..spec import pilot_command

    if args.pilot is not None and not Path(args.pilot).is_dir():
        raise InputError(f"--pilot {args.pilot}: no such results directory; run a pilot first, e.g. "
                         f"{pilot_command(spec, args.spec, args.pilot)}")
    apply_memory_budget(args)
    budget, rates = memory_budget(), calibration()
    sizing = None
    if args.pilot is not None:
        from ..results import size_study

        sizing = size_study(spec, args.pilot, rates, args.margin)  # an unfit pilot exits before anything is printed
    out_dir = Path(args.out) if args.out else Path(args.pilot) if args.pilot else Path("runs") / spec.name
    table = plan_table(spec, rates=rates, budget=budget, out_dir=out_dir, seeds_together=SEEDS_TOGETHER[args.seeds_together],
                       recorded=sizing.facts if sizing else None,
                       kernel_store=Path(args.kernel_store) if args.kernel_store else None)
    print(table.text(args.devices, device))
    if table.over_budget:
        print(f"{len(table.over_budget)} cell(s) exceed the memory budget; `ntkbench run` refuses them without --force",
              file=sys.stderr)
    if sizing is None:
        print(
            "This plan predicts cost, not power: run a pilot (the spec with fewer seeds, sizes or a smaller test set, e.g. "
            f"`{pilot_command(spec, args.spec, 'DIR')}`) and plan with --pilot DIR for each pair's "
            "Δα half-width and the cheapest design that decides."
        )
        return 0
    from ..results import sizing_text

    print("\n" + sizing_text(sizing, spec))
    return 0
