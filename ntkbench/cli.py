"""The `ntkbench` command line: run, validate, leaderboard, list, schema.

Every failure is a message and an exit code, never a traceback: 2 for invalid input
(spec, command line, missing data), 1 for a failure at run time (set NTKBENCH_DEBUG=1
to see the traceback of an unexpected error).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from ._errors import NtkbenchError, SpecError

EXIT_INTERRUPTED = 130


def _command_run(args: argparse.Namespace) -> int:
    from ._errors import InputError
    from ._leaderboard import write_leaderboard
    from ._runner import run_spec
    from ._spec import load_spec

    spec = load_spec(args.spec)
    _apply_memory_budget(args)
    if not args.force and spec.dataset.instantiate().input_shape() is not None:  # otherwise nothing to estimate
        from ._plan import budget_refusal, over_budget, plan_spec
        from ._resources import memory_budget

        budget = memory_budget()
        plans = plan_spec(spec, detailed=False)
        if over_budget(plans, budget):
            raise InputError(budget_refusal(spec, plans, budget))
    if args.executor != "ray" and (args.address or args.num_gpus):
        raise InputError("--address and --num-gpus apply to Ray tasks; add --executor ray")
    if args.num_gpus < 0:
        raise InputError(f"--num-gpus must be at least 0, got {args.num_gpus}")
    if args.executor == "ray":
        from ._ray_executor import import_ray

        import_ray()  # refuse before anything is written when Ray is not installed
    out_dir = Path(args.out) if args.out else Path("runs") / spec.name
    args.interrupt_hint = f"records of finished cells are kept in {out_dir}; run the same command to resume"
    summary = run_spec(
        spec, out_dir, progress=not args.no_progress, executor=args.executor, ray_address=args.address,
        num_gpus=args.num_gpus,
    )
    leaderboard = write_leaderboard([out_dir], out_dir / "leaderboard.md")
    busy = f", {len(summary.busy)} computed by another process at the same time" if summary.busy else ""
    print(
        f"{spec.name}: {summary.computed} cell(s) computed, {summary.already_done} already recorded, "
        f"{len(summary.failed)} failed{busy}; records in {out_dir}/records; leaderboard: {leaderboard}"
    )
    for cell, reason in summary.failed:
        print(f"failed: {cell.label()}: {reason}", file=sys.stderr)
    return 1 if summary.failed else 0


def _apply_memory_budget(args: argparse.Namespace) -> None:
    """`--memory-budget` becomes $NTKBENCH_MEMORY_BUDGET, so that subprocesses and workers see it too."""
    from ._resources import BUDGET_VARIABLE, parse_bytes

    if getattr(args, "memory_budget", None):
        parse_bytes(args.memory_budget)  # exit 2 on a malformed size, before anything runs
        os.environ[BUDGET_VARIABLE] = args.memory_budget


def _command_plan(args: argparse.Namespace) -> int:
    from tabulate import tabulate

    from ._plan import over_budget, plan_spec
    from ._resources import calibration, format_bytes, memory_budget
    from ._spec import load_spec

    spec = load_spec(args.spec)
    _apply_memory_budget(args)
    budget, rates = memory_budget(), calibration()
    plans = plan_spec(spec, detailed=True, rates=rates)
    groups: dict[tuple, list] = {}
    for plan in plans:
        groups.setdefault((plan.cell.learner_id, plan.cell.width, plan.cell.n_train), []).append(plan)
    rows = []
    for (learner, width, n), members in groups.items():
        cost, seconds = members[0].cost, members[0].seconds
        if len({(m.cost, m.seconds) for m in members}) > 1:  # the first cell of a seed costs more
            cost = max((m.cost for m in members), key=lambda c: c.peak_bytes)
            seconds = max(m.seconds or 0.0 for m in members)
        rows.append([
            learner, width if width is not None else "", n, len(members),
            "?" if cost is None or cost.flops is None else f"{cost.flops + cost.factor_flops:.3g}",
            "?" if cost is None else format_bytes(cost.peak_bytes),
            "?" if seconds is None else f"{seconds:.2f}",
            "OVER BUDGET" if cost is not None and cost.peak_bytes > budget else "",
        ])
    print(tabulate(rows, headers=["learner", "width", "n", "cells", "FLOPs per cell", "peak memory", "seconds per cell", ""],
                   tablefmt="simple", disable_numparse=True))
    known = [p for p in plans if p.seconds is not None]
    total_flops = sum(p.cost.flops + p.cost.factor_flops for p in known)
    print(
        f"\n{len(plans)} cells; estimated {total_flops:.3g} FLOPs, {sum(p.seconds for p in known) / 60:.1f} min of compute "
        f"(at {rates['gemm_flops'] / 1e9:.0f} GFLOP/s float32 GEMM, {rates['cholesky_flops'] / 1e9:.0f} GFLOP/s float64 "
        f"Cholesky; compilation not included); peak memory {format_bytes(max((p.cost.peak_bytes for p in plans if p.cost), default=0))} "
        f"of a {format_bytes(budget)} budget"
        + (f"; {len(plans) - len(known)} cells of learners that give no estimate" if len(known) < len(plans) else "")
    )
    exceeding = over_budget(plans, budget)
    if exceeding:
        print(f"{len(exceeding)} cell(s) exceed the memory budget; `ntkbench run` refuses them without --force", file=sys.stderr)
    return 0


def _command_validate(args: argparse.Namespace) -> int:
    from ._cells import cells_of
    from ._spec import load_spec

    status = 0
    for path in args.specs:
        try:
            spec = load_spec(path)
        except SpecError as error:
            print(error, file=sys.stderr)
            status = 2
            continue
        cells = len(cells_of(spec.as_dict()))
        print(f"{path}: ok ({spec.name}: {len(spec.learners)} learners, {cells} cells, hash {spec.hash[:12]})")
    return status


PUBLISHED_RESULTS = Path("leaderboard/results")
PUBLISHED_LEADERBOARD = Path("leaderboard/README.md")


def _command_leaderboard(args: argparse.Namespace) -> int:
    from ._errors import InputError
    from ._leaderboard import leaderboard_is_current, write_leaderboard

    results = args.results or sorted(path for path in PUBLISHED_RESULTS.glob("*") if path.is_dir())
    if not results:
        raise InputError(f"no results: pass --results DIR... (nothing under {PUBLISHED_RESULTS}/)")
    if args.check:
        if leaderboard_is_current(results, args.out):
            print(f"{args.out} is what its {len(results)} results director{'y' if len(results) == 1 else 'ies'} render")
            return 0
        print(
            f"ntkbench: {args.out} is stale: it is not what {', '.join(map(str, results))} render. "
            f"Regenerate it with: ntkbench leaderboard --out {args.out}",
            file=sys.stderr,
        )
        return 1
    out = write_leaderboard(results, args.out)
    print(f"leaderboard written to {out}")
    return 0


def _command_list(args: argparse.Namespace) -> int:
    from tabulate import tabulate

    from ._registry import ENTRY_POINT_GROUPS, PluginLoadError, registered

    rows = []
    broken = 0
    for kind in ENTRY_POINT_GROUPS:
        for name, entry in registered(kind).items():
            api = "?"
            try:
                plugin = entry.load()
                api, status = plugin.api_version, "ok"
            except PluginLoadError as error:
                status, broken = f"BROKEN: {error}", broken + 1
            origin = "built-in" if entry.builtin else "third-party"
            rows.append([kind, name, f"{entry.distribution} {entry.version}", origin, api, entry.target, status])
    headers = ["kind", "name", "distribution", "origin", "api", "target", "status"]
    print(tabulate(rows, headers=headers, tablefmt="simple", disable_numparse=True))
    if broken:
        print(f"\n{broken} plugin(s) failed to load; the others are usable.", file=sys.stderr)
    return 0


def _command_check_ntk(args: argparse.Namespace) -> int:
    from tabulate import tabulate

    from ._errors import InputError
    from ._spec import load_spec
    from ._subsets import balanced_test_indices

    spec = load_spec(args.spec)
    architecture = spec.architecture
    if not architecture.instantiate().has_stax_twin():
        raise InputError(f"{args.spec}: architecture {architecture.name!r} with these options has no infinite-width twin")
    if "width" not in architecture.plugin.Options.model_fields:
        raise InputError(f"{args.spec}: architecture {architecture.name!r} has no 'width' option to vary")
    from .numerics._convergence import log_log_slope, ntk_distances

    data = spec.dataset.instantiate().load()
    x = data.x_test[balanced_test_indices(data.y_test, args.inputs, data.num_classes)]
    options = architecture.options.model_dump()
    print(
        f"{spec.name}: empirical NTK at initialisation against the infinite NTK of {architecture.name}, "
        f"{args.inputs} test inputs of shape {list(x.shape[1:])}, {args.seeds} initialisations per width"
    )
    results = ntk_distances(architecture.plugin, options, x, args.widths, args.seeds, data.num_classes)
    rows = [[r.width, f"{r.mean:.4f}", f"{r.std:.4f}"] for r in results]
    print(tabulate(rows, headers=["width", "relative distance (mean)", "sd over seeds"], tablefmt="github"))
    monotone = all(a.mean > b.mean for a, b in zip(results, results[1:]))
    print(f"log-log slope: {log_log_slope(results):.3f} (fluctuations alone: -0.5); decreasing with width: {monotone}")
    return 0


def _dataset_stores(name: str | None) -> dict[str, object]:
    """File stores of every dataset plugin (or of the one named), by name; `None` for generated data."""
    from ._errors import InputError
    from ._registry import PluginLoadError, registered
    from ._spec import suggest

    entries = registered("dataset")
    if name is not None and name not in entries:
        raise InputError(f"unknown dataset {name!r}{suggest(name, entries)}; known: {', '.join(entries)}")
    stores = {}
    for dataset, entry in entries.items():
        if name is None or dataset == name:
            try:
                stores[dataset] = entry.load().file_store()
            except PluginLoadError as error:
                print(f"warning: {error}", file=sys.stderr)
    return stores


def _command_data_list(args: argparse.Namespace) -> int:
    from tabulate import tabulate

    rows = []
    for name, store in _dataset_stores(None).items():
        if store is None:
            rows.append([name, "generated", "-", "-"])
            continue
        located = [store.locate(file) for file in store.files]
        present = sum(path is not None for path in located)
        status = "present" if present == len(located) else ("partial" if present else "missing")
        where = sorted({str(path.parent) for path in located if path is not None}) or [str(store.download_dir)]
        size = sum(path.stat().st_size for path in located if path is not None)
        rows.append([name, f"{status} ({present}/{len(located)} files)", ", ".join(where), f"{size / 1e6:.1f} MB"])
    print(tabulate(rows, headers=["dataset", "status", "where", "size"], tablefmt="simple"))
    return 0


def _command_data_fetch(args: argparse.Namespace) -> int:
    store = _dataset_stores(args.name)[args.name]
    if store is None:
        print(f"{args.name} is generated on the fly; nothing to fetch")
        return 0
    for name, path in store.ensure().items():
        print(f"{name}: {path} (verified)")
    return 0


def _command_data_verify(args: argparse.Namespace) -> int:
    from .datasets._storage import verify_file

    failures = 0
    for dataset, store in _dataset_stores(args.name).items():
        for file in store.files if store is not None else ():
            path = store.locate(file)
            if path is None:
                print(f"{dataset}: {file.name}: missing")
                continue
            problem = verify_file(path, file)
            failures += problem is not None
            print(f"{dataset}: {path}: {'ok' if problem is None else 'FAILED: ' + problem}")
    return 1 if failures else 0


def _command_new_plugin(args: argparse.Namespace) -> int:
    from ._scaffold import write_plugin_package

    root = write_plugin_package(args.name, args.kind, Path(args.dir))
    print(f"wrote {root}: install it with `pip install -e {root}`, then `ntkbench list` and `pytest {root}/tests`")
    return 0


PINNED = {"jax": "0.5.3", "jaxlib": "0.5.3", "equinox": "0.13.8", "optax": "0.2.8", "neural-tangents": "0.6.5"}


def _command_doctor(args: argparse.Namespace) -> int:
    """What this installation can run on: devices, versions against the pins, neural-tangents, plugins."""
    from ._provenance import library_versions
    from ._registry import ENTRY_POINT_GROUPS, PluginLoadError, registered
    from ._resources import format_bytes, memory_budget
    from .datasets._storage import data_root

    problems = 0
    import jax

    devices = jax.devices()
    print(f"devices: {len(devices)} x {devices[0].device_kind} ({devices[0].platform}); "
          f"local: {len(jax.local_devices())}; memory budget {format_bytes(memory_budget())}")
    versions = library_versions()
    for name, pinned in PINNED.items():
        installed = versions.get(name, "missing")
        status = "ok" if installed == pinned else f"MISMATCH (pinned {pinned})"
        problems += installed != pinned
        print(f"{name}: {installed} {status}")
    try:
        from .nt_compat import import_neural_tangents

        import_neural_tangents()
        tensorflow = "tensorflow" in sys.modules
        print(f"neural-tangents: imports; TensorFlow {'LOADED (it should not be)' if tensorflow else 'not loaded'}")
        problems += tensorflow
    except NtkbenchError as error:
        print(f"neural-tangents: DOES NOT IMPORT: {error}")
        problems += 1
    for kind in ENTRY_POINT_GROUPS:
        loaded, broken = [], []
        for name, entry in registered(kind).items():
            try:
                entry.load()
                loaded.append(name)
            except PluginLoadError as error:
                broken.append(f"{name} ({error})")
        print(f"{kind}s: {', '.join(loaded) or 'none'}" + (f"; BROKEN: {'; '.join(broken)}" if broken else ""))
        problems += len(broken)
    print(f"data root: {data_root()}")
    return 1 if problems else 0


def _command_schema(args: argparse.Namespace) -> int:
    from ._spec import spec_json_schema

    print(json.dumps(spec_json_schema(), indent=2))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ntkbench",
        description="Benchmark data-scaling exponents of finite networks against their neural tangent kernels.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

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
    run.set_defaults(handler=_command_run)

    plan = commands.add_parser("plan", help="estimated FLOPs, memory and time of every cell, before running")
    plan.add_argument("spec")
    plan.add_argument("--memory-budget", metavar="SIZE", help="the budget to check cells against (default: half the free memory)")
    plan.set_defaults(handler=_command_plan)

    validate = commands.add_parser("validate", help="check spec files without running them")
    validate.add_argument("specs", nargs="+", metavar="SPEC")
    validate.set_defaults(handler=_command_validate)

    leaderboard = commands.add_parser("leaderboard", help="fit exponents and render the Markdown leaderboard")
    leaderboard.add_argument(
        "--results", nargs="+", metavar="DIR", help=f"results directories (default: every one under {PUBLISHED_RESULTS}/)"
    )
    leaderboard.add_argument(
        "--out", default=str(PUBLISHED_LEADERBOARD), metavar="FILE", help=f"Markdown file (default: {PUBLISHED_LEADERBOARD})"
    )
    leaderboard.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 when FILE is not what the results render"
    )
    leaderboard.set_defaults(handler=_command_leaderboard)

    listing = commands.add_parser("list", help="show every registered plugin and where it comes from")
    listing.set_defaults(handler=_command_list)

    check = commands.add_parser(
        "check-ntk", help="distance of the empirical NTK at init to the infinite NTK, as the width grows"
    )
    check.add_argument("spec", help="spec whose dataset and architecture to use")
    check.add_argument("--widths", type=int, nargs="+", default=[16, 64, 256], metavar="W")
    check.add_argument("--seeds", type=int, default=8, help="initialisations per width (default 8)")
    check.add_argument("--inputs", type=int, default=32, help="test inputs the kernels are taken on (default 32)")
    check.set_defaults(handler=_command_check_ntk)

    data = commands.add_parser("data", help="list, fetch and verify dataset files")
    data_commands = data.add_subparsers(dest="data_command", required=True, metavar="ACTION")
    data_commands.add_parser("list", help="every dataset: present or not, where, size").set_defaults(
        handler=_command_data_list
    )
    fetch = data_commands.add_parser("fetch", help="download a dataset's missing files, verified")
    fetch.add_argument("name")
    fetch.set_defaults(handler=_command_data_fetch)
    verify = data_commands.add_parser("verify", help="re-check the checksums of the files on disk")
    verify.add_argument("name", nargs="?")
    verify.set_defaults(handler=_command_data_verify)

    new_plugin = commands.add_parser("new-plugin", help="write a plugin package skeleton with a passing test")
    new_plugin.add_argument("name", help="plugin name (lower case, digits, underscores)")
    new_plugin.add_argument("--kind", choices=["learner", "dataset", "architecture"], required=True)
    new_plugin.add_argument("--dir", default=".", help="where to create ntkbench-NAME/ (default: here)")
    new_plugin.set_defaults(handler=_command_new_plugin)

    doctor = commands.add_parser("doctor", help="devices, versions against the pinned ones, neural-tangents, plugins")
    doctor.set_defaults(handler=_command_doctor)

    schema = commands.add_parser("schema", help="print the JSON Schema of a spec (for editor completion)")
    schema.set_defaults(handler=_command_schema)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except SpecError as error:
        print(error, file=sys.stderr)  # one "file:line:column: key: reason" line per problem
        return error.exit_code
    except NtkbenchError as error:
        print(f"ntkbench: error: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        hint = getattr(args, "interrupt_hint", "")
        print(f"\nntkbench: interrupted{'; ' + hint if hint else ''}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as error:
        if os.environ.get("NTKBENCH_DEBUG"):
            raise
        print(
            f"ntkbench: internal error: {type(error).__name__}: {error}\n"
            "This is a bug in ntkbench or a plugin; set NTKBENCH_DEBUG=1 to see the traceback.",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
