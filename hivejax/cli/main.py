"""``hivejax``: evolve, evaluate, show and benchmark programs.

A thin layer over the public API (``import hivejax as hj``): it parses flags, builds the
configs, calls the library and prints. Flag defaults come from the library's dataclasses
(``TrainConfig``, ``EvolveConfig``), so the two cannot drift apart.

Exit status: 0 on success; 2 for a usage error (bad or conflicting flags, unknown names,
values a config refuses), found before anything runs; 1 for a failure while running (a
missing or malformed file, a data set that does not load, a run directory that cannot be
used); 130 when interrupted. Every error is one line, ``hivejax: error: ...``, never a
traceback.
"""

import argparse
import dataclasses
import json
import pathlib
import sys

import jax

import hivejax as hj
from hivejax.cli import (
    bench,
    bench_device,
    bench_judged,
    bench_memory,
    bench_ranking,
    bench_regression,
    bench_search,
    regression,
)
from hivejax.cli.bench_device import POPULATIONS
from hivejax.cli.export import add_export, cmd_export
from hivejax.cli.flags import (
    EXIT_RUNTIME,
    EXIT_USAGE,
    Parser,
    UsageError,
    add_data_flags,
    add_interpreter_flag,
    chunk_size,
    non_negative,
    positive,
    positive_float,
    usage,
)
from hivejax.cli.plot import add_plot, cmd_plot
from hivejax.cli.progress import progress_printer
from hivejax.cli.subnet import add_subnet, cmd_subnet

_TRAIN = hj.TrainConfig()
_EVOLVE = hj.EvolveConfig()


def _add_protocol_flags(p, train: hj.TrainConfig, tasks=hj.TASKS):
    """The task, data set and inner-training flags, with ``train``'s numbers as defaults."""
    p.add_argument("--task", default=_EVOLVE.task, choices=tasks, help="what programs define")
    add_data_flags(p)
    p.add_argument("--model", default=train.model, choices=hj.MODELS, help="the network trained")
    p.add_argument(
        "--steps", type=positive, default=train.steps, help="training steps per evaluation"
    )
    p.add_argument("--batch-size", type=positive, default=train.batch_size)
    p.add_argument("--learning-rate", type=positive_float, default=train.learning_rate)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="hivejax", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    _add_evolve(sub)
    _add_evaluate(sub)
    p = sub.add_parser("protocols", help="list the shipped evaluation protocols")
    p.add_argument("--json", action="store_true")
    p = sub.add_parser("show", help="print a program as a formula, or as JSON")
    p.add_argument(
        "program", help="a program file (JSON or binary) or builtin:NAME; with --front, a run"
    )
    p.add_argument("--json", action="store_true")
    p.add_argument(
        "--front",
        action="store_true",
        help="print the run's Pareto front of accuracy against live length (its summary.json)",
    )
    add_export(sub)
    _add_bench(sub)
    add_subnet(sub)
    add_plot(sub)
    return parser


def _add_evolve(sub):
    p = sub.add_parser("evolve", help="search for programs")
    _add_protocol_flags(p, _EVOLVE.train, (*hj.TASKS, hj.REGRESSION))
    p.add_argument(
        "--problem",
        choices=tuple(hj.REGRESSION_PROBLEMS),
        help=f"with --task {hj.REGRESSION}: the benchmark whose formula to find",
    )
    p.add_argument("--population", type=positive, default=_EVOLVE.population)
    p.add_argument("--generations", type=positive, default=_EVOLVE.generations)
    p.add_argument("--seed", type=int, default=_EVOLVE.seed)
    p.add_argument("--out", type=pathlib.Path, help="run directory (required unless --resume)")
    p.add_argument(
        "--seed-programs",
        nargs="+",
        default=[],
        metavar="PROGRAM",
        help="start from these programs (paths, best_gene.json genomes included, or "
        "builtin:NAME) as well as random ones",
    )
    p.add_argument(
        "--no-derived-inputs",
        action="store_true",
        help="loss programs read only x and y, not also softmax(x) as p and log_softmax(x) as ls",
    )
    p.add_argument(
        "--seed-builtins",
        action="store_true",
        help="start from every hand-designed program of the task too (the builtins)",
    )
    p.add_argument(
        "--final-seeds",
        type=positive,
        default=_EVOLVE.final_seeds,
        help="fresh keys on which the best program and the baseline are re-scored",
    )
    p.add_argument(
        "--tune-constants",
        choices=(*hj.TUNERS, hj.META_GRADIENT),
        help="after the search, tune the elites' constants with this evosax strategy, or "
        "refine them by meta-gradient through their training",
    )
    p.add_argument("--tune-generations", type=positive, default=_EVOLVE.tune_generations)
    p.add_argument(
        "--no-cascade",
        action="store_true",
        help="train every program, without the rejection cascade's cheap checks first",
    )
    p.add_argument(
        "--validation",
        type=_fraction,
        default=_EVOLVE.train.validation,
        help="fraction of the training set held out for selection (0: select on test)",
    )
    p.add_argument(
        "--survivors",
        type=positive,
        default=_EVOLVE.survivors,
        help="train at most this many programs per generation, those that passed the "
        "cascade and missed the cache first",
    )
    p.add_argument(
        "--hurdle-steps",
        type=positive,
        default=_EVOLVE.hurdle_steps,
        help="train every survivor this many steps first ...",
    )
    p.add_argument(
        "--promoted",
        type=positive,
        default=_EVOLVE.promoted,
        help="... and only this many of the best of them on the full budget",
    )
    p.add_argument(
        "--cache",
        type=int,
        default=_EVOLVE.cache,
        help="functional-equivalence cache entries (0: none)",
    )
    p.add_argument(
        "--restart-every",
        type=int,
        default=_EVOLVE.restart_every,
        help="every N generations a quarter of each island restarts from the best (0: never)",
    )
    p.add_argument("--funnel", type=positive, default=_EVOLVE.funnel, help="finalists re-scored")
    add_interpreter_flag(p)
    p.add_argument("--no-progress", action="store_true", help="print no progress bar")
    g = p.add_argument_group("scale")
    migration = _EVOLVE.migration
    g.add_argument(
        "--islands", type=positive, default=migration.islands, help="sub-populations (ring)"
    )
    g.add_argument(
        "--migration-interval", type=positive, default=migration.interval, help="generations"
    )
    g.add_argument(
        "--migration-count", type=positive, default=migration.count, help="programs per move"
    )
    g.add_argument(
        "--data-parallel",
        type=positive,
        default=_EVOLVE.data_parallel,
        help="devices that split each training batch (the mesh's data axis)",
    )
    g.add_argument(
        "--checkpoint-every",
        type=non_negative,
        default=_EVOLVE.checkpoint_every,
        help="generations (0: never)",
    )
    g.add_argument("--keep-checkpoints", type=positive, default=_EVOLVE.keep_checkpoints)
    g.add_argument(
        "--chunk-size",
        type=chunk_size,
        default=_EVOLVE.chunk_size,
        help="programs trained at once per device, to bound memory (auto: as many as fit "
        "half the free memory); results do not change",
    )
    g.add_argument(
        "--resume",
        type=pathlib.Path,
        metavar="DIR",
        help="continue the run in DIR from its latest checkpoint (its own flags apply)",
    )
    g.add_argument("--distributed", action="store_true", help="join a multi-process run")
    g.add_argument("--coordinator-address", help="host:port of process 0")
    g.add_argument("--num-processes", type=positive)
    g.add_argument("--process-id", type=int)


def _add_evaluate(sub):
    p = sub.add_parser("evaluate", help="score one program against the baseline")
    p.add_argument(
        "program",
        help="a program file (JSON or binary; or an original subnet best_gene.json or .deap "
        "expression) or builtin:NAME",
    )
    _add_protocol_flags(p, _TRAIN)
    p.add_argument("--seeds", type=positive, default=_EVOLVE.final_seeds)
    p.add_argument(
        "--protocol",
        metavar="NAME",
        help="score under a shipped protocol (see `hivejax protocols`); it fixes the task, "
        "datasets, models, seeds and training, so those flags do not apply",
    )
    p.add_argument(
        "--epoch",
        type=non_negative,
        help="with --protocol: derive the seeds from the protocol version and this epoch",
    )
    add_interpreter_flag(p)
    p.add_argument("--json", action="store_true")


def _add_bench(sub):
    p = sub.add_parser(
        "bench",
        help="measure: evaluations per second (shared/bench protocol), or evolution against "
        "random search (--workload search)",
    )
    p.add_argument(
        "--workload",
        choices=["throughput", "search", "ranking", "judged", "memory", "regression", "device"],
        default="throughput",
        help="throughput: evals/s of the interpreters; search: evolution against random "
        "search at the same budget, per task and seed; ranking: the search protocol's "
        "ranking against the validator's; judged: programs judged per second by the main "
        "job against training every program; memory: peak memory of training one population, "
        "chunked or not; regression: GP operations per second of the interpreters on symbolic "
        "regression (or, with --solve-rate, solve rates); device: the one-call check of a GPU "
        "or TPU host (bench/device.sh)",
    )
    bench_regression.add_flags(p)
    p.add_argument(
        "--populations",
        type=positive,
        nargs="+",
        help=f"device: throughput populations (default {' '.join(map(str, POPULATIONS))})",
    )
    p.add_argument(
        "--regression-populations",
        type=positive,
        nargs="+",
        help="device: regression populations (default: the regression workload's)",
    )
    p.add_argument(
        "--programs",
        nargs="+",
        default=[],
        metavar="PROGRAM",
        help="ranking: programs to rank besides the builtins (paths or builtin:NAME)",
    )
    p.add_argument(
        "--random", type=non_negative, default=16, help="ranking: random programs that pass"
    )
    add_data_flags(p)
    p.add_argument(
        "--population",
        type=positive,
        help=f"programs per generation (default: 256; search: {_budgets()})",
    )
    p.add_argument("--repeats", type=positive, default=3)
    p.add_argument(
        "--steps",
        type=positive,
        help="training steps (default: the bench protocol's 100, search and judged: the search "
        "protocol's 400); for throughput only "
        "with --devices all, for quick checks",
    )
    p.add_argument(
        "--task",
        choices=hj.TASKS,
        nargs="+",
        default=list(hj.TASKS),
        help="search: the tasks (default: all)",
    )
    p.add_argument(
        "--seeds", type=non_negative, nargs="+", default=[0, 1, 2], help="search: run seeds"
    )
    p.add_argument("--generations", type=positive, help="search: generations (default: above)")
    add_interpreter_flag(p, several=True)
    p.add_argument(
        "--chunk-size",
        type=chunk_size,
        help="memory: programs trained at once (auto: as many as fit half the free memory; "
        "default: all)",
    )
    p.add_argument(
        "--baseline-script",
        metavar="PATH",
        help="also run the DEAP + PyTorch baseline script, side by side",
    )
    p.add_argument("--baseline-genomes", type=positive, default=48)
    p.add_argument(
        "--devices",
        choices=["all"],
        help="only time the population sharded over all devices (evals/s total, per device)",
    )
    p.add_argument("--json", action="store_true")


def _builtins_of(args) -> tuple[str, ...]:
    """``--seed-builtins``: every builtin of the task, as ``builtin:NAME`` sources."""
    if not args.seed_builtins:
        return ()
    return tuple(f"builtin:{name}" for name in hj.builtin_names(args.task))


def _fraction(text: str) -> float:
    value = float(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), got {text}")
    return value


def _train_config(args) -> hj.TrainConfig:
    return hj.TrainConfig(
        steps=args.steps,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        model=args.model,
        validation=getattr(args, "validation", 0.0),
    )


def _evolve_config(args) -> hj.EvolveConfig:
    args = regression.evolve_flags(args, build_parser().parse_args(["evolve"]))
    return hj.EvolveConfig(
        task=args.task,
        problem=args.problem,
        dataset=args.dataset,
        population=args.population,
        generations=args.generations,
        seed=args.seed,
        seed_programs=tuple(args.seed_programs) + _builtins_of(args),
        train=_train_config(args),
        final_seeds=args.final_seeds,
        migration=hj.Migration(
            islands=args.islands,
            interval=args.migration_interval,
            count=args.migration_count,
        ),
        data_parallel=args.data_parallel,
        checkpoint_every=args.checkpoint_every,
        keep_checkpoints=args.keep_checkpoints,
        tune_constants=args.tune_constants,
        tune_elites=min(_EVOLVE.tune_elites, args.population),
        tune_generations=args.tune_generations,
        cascade=not args.no_cascade,
        survivors=args.survivors,
        hurdle_steps=args.hurdle_steps,
        promoted=args.promoted,
        cache=args.cache,
        funnel=args.funnel,
        derived_inputs=not args.no_derived_inputs,
        restart_every=args.restart_every,
        interpreter=args.interpreter,
        chunk_size=args.chunk_size,
    )


def _cmd_evolve(args):
    if args.distributed:
        with usage():
            hj.initialize_distributed(args.coordinator_address, args.num_processes, args.process_id)
    elif args.coordinator_address or args.num_processes or args.process_id is not None:
        raise UsageError("--coordinator-address etc. need --distributed")
    if args.resume is not None:
        out, config = args.resume, hj.resume_config(args.resume)
    elif args.out is None:
        raise UsageError("evolve needs --out DIR (or --resume DIR)")
    else:
        with usage():
            out, config = args.out, _evolve_config(args)
    show = not args.no_progress and jax.process_index() == 0
    with progress_printer(config.generations, enabled=show) as on_generation:
        summary = hj.evolve(
            config,
            out,
            on_generation=on_generation,
            resume=args.resume is not None,
            data_dir=args.data_dir,
        )
    if "regression" in summary:  # a formula search: its MSE and R², not accuracies
        print(regression.format_run(summary))
    else:
        print(
            f"best validation accuracy {_accuracy(summary['best_fitness'])} (fresh keys "
            f"{_accuracy(summary['fresh_fitness'])}) | test "
            f"{summary['final']['program']['mean']:.4f} vs {summary['baseline']} "
            f"{summary['baseline_accuracy']:.4f} | {summary['evals_per_second']:.1f} evals/s | "
            f"{summary['best_formula']}"
        )
    print(f"best hash {summary['best_hash']} (process {jax.process_index()})")
    if jax.process_index() == 0:
        print(f"wrote {out}/metrics.jsonl, best.json, summary.json")


def _accuracy(value) -> str:
    """An accuracy for the terminal; ``None`` when every program was rejected."""
    return "none (every program rejected)" if value is None else f"{value:.4f}"


def _load_for(source: str, task: str) -> tuple[hj.ProgramSpec, hj.Program]:
    """Load a program and check that it fits ``task`` (a usage error if not)."""
    spec, program = hj.load_program(source)
    try:
        hj.make_task(task, spec=spec)
    except ValueError as e:
        raise UsageError(f"{source}: {e}") from None
    return spec, program


def _std(value) -> str:
    return "n/a" if value is None else f"{value:.4f}"


# The evaluate flags a protocol fixes; giving one of them a non-default value with
# --protocol is an error rather than silently ignored.
_FIXED_BY_PROTOCOL = ("task", "dataset", "model", "steps", "batch_size", "learning_rate", "seeds")


def _cmd_evaluate(args):
    if args.protocol is not None:
        return _evaluate_protocol(args)
    if args.epoch is not None:
        raise UsageError("--epoch needs --protocol")
    with usage():
        train = _train_config(args)
    spec, program = _load_for(args.program, args.task)
    task = hj.make_task(args.task, train, spec=spec, interpreter=args.interpreter)
    scores = hj.paired_scores(
        task, program, hj.load_dataset(args.dataset, args.data_dir), range(args.seeds)
    )
    result = {
        "program": args.program,
        "task": args.task,
        "dataset": args.dataset,
        **scores,
        "devices": [str(d) for d in jax.devices()],
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        p, b = scores["program"], scores["baseline"]
        print(
            f"{args.program}: {p['mean']:.4f} ± {_std(p['std'])}  "
            f"baseline ({task.baseline}): {b['mean']:.4f} ± {_std(b['std'])}  "
            f"({args.seeds} seeds)"
        )


def _evaluate_protocol(args):
    defaults = build_parser().parse_args(["evaluate", args.program])
    changed = [k for k in _FIXED_BY_PROTOCOL if getattr(args, k) != getattr(defaults, k)]
    if changed:
        flags = ", ".join("--" + k.replace("_", "-") for k in changed)
        raise UsageError(f"{flags} cannot be combined with --protocol (the protocol fixes them)")
    with usage():
        protocol = hj.get_protocol(args.protocol)
    spec, program = _load_for(args.program, protocol.task)
    run = hj.run_protocol(
        protocol,
        program,
        args.epoch,
        spec=spec,
        interpreter=args.interpreter,
        data_dir=args.data_dir,
    )
    result = {"program": args.program, **run}
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(
        f"{args.program} under {protocol.name} (version {result['version']}, task "
        f"{protocol.task}, seeds {result['seeds']})"
    )
    print(f"{'cell':<18} {'program':>8} {'baseline':>8} {'improvement':>11} {'broken':>6}")
    for c in result["cells"]:
        cell = f"{c['dataset']}/{c['model']}"
        print(
            f"{cell:<18} {c['program_mean']:8.4f} {c['baseline_mean']:8.4f} "
            f"{c['improvement_mean']:+11.4f} {sum(c['broken']):6d}"
        )
    imp = result["improvement"]
    print(
        f"improvement: mean {imp['mean']:+.4f}, std {imp['std']:.4f}, "
        f"{imp['confidence']:.0%} lower bound {imp['lower_bound']:+.4f} (n={imp['n']})"
    )


def _cmd_protocols(args):
    rows = [
        {"name": p.name, "version": p.version, **p.content(), "description": p.description}
        for p in hj.PROTOCOLS.values()
    ]
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    for r in rows:
        cells = " ".join(f"{d}/{m}" for d, m in r["cells"])
        print(
            f"{r['name']:<22} {r['version']}  {r['task']:<10} {r['seeds']} seeds x {cells}; "
            f"{r['steps']} steps, batch {r['batch_size']}, lr {r['learning_rate']:g}"
        )


def _cmd_show(args):
    if args.front:
        return _show_front(pathlib.Path(args.program), args.json)
    spec, program = hj.load_program(args.program)
    if args.json:
        print(json.dumps(hj.to_json(spec, program), indent=2))
    else:
        print(hj.formula(spec, program))


def _show_front(run: pathlib.Path, as_json: bool) -> None:
    path = run / "summary.json"
    try:
        front = json.loads(path.read_text())["front"]
    except OSError as e:
        raise OSError(f"{path}: {e.strerror}; --front takes a finished run directory") from None
    except (ValueError, KeyError, TypeError):
        raise ValueError(f"{path} holds no Pareto front (a run of an older hivejax?)") from None
    if as_json:
        print(json.dumps(front, indent=2))
        return
    print(f"{'live':>4} {'accuracy':>8}  formula")
    for entry in front:
        print(f"{entry['live_length']:>4} {entry['accuracy']:>8.4f}  {entry['formula']}")


def _budgets() -> str:
    return ", ".join(f"{t} {p} x {g}" for t, (p, g) in bench_search.BUDGETS.items())


def _cmd_bench(args):
    if args.workload == "device":
        report = bench_device.device_check(
            args.populations or POPULATIONS,
            _interpreters(args) if args.interpreter != ["auto"] else None,
            args.repeats,
            args.regression_populations or bench_regression.POPULATIONS,
            args.points or bench_regression.POINTS,
            args.max_seconds or bench_regression.MAX_SECONDS,
            args.dataset,
            args.steps,
            args.data_dir,
        )
        print(json.dumps(report, indent=2))
        return
    if args.populations or args.regression_populations:
        raise UsageError("--populations and --regression-populations are device flags")
    if args.workload == "regression":
        report, text = bench_regression.command(args)
        print(json.dumps(report, indent=2) if args.json else text)
        return
    bench_regression.refuse_flags(args)
    if args.workload == "search":
        return _bench_search(args)
    if args.workload == "ranking":
        for task in args.task:
            report = bench_ranking.ranking(task, args.programs, args.random, data_dir=args.data_dir)
            print(
                json.dumps(report, indent=2) if args.json else bench_ranking.format_ranking(report)
            )
        return
    if args.workload == "judged":
        with usage():
            config = hj.EvolveConfig(
                population=args.population or _EVOLVE.population,
                generations=args.generations or 90,
                train=dataclasses.replace(_EVOLVE.train, steps=args.steps or _EVOLVE.train.steps),
            )
        report = bench_judged.judged_against_trained(config, data_dir=args.data_dir)
        print(json.dumps(report, indent=2) if args.json else bench_judged.format_judged(report))
        return
    if args.workload == "memory":
        if len(args.interpreter) > 1 or "all" in args.interpreter:
            raise UsageError("bench --workload memory measures one --interpreter")
        report = bench_memory.memory(
            args.population or 256,
            args.chunk_size,
            args.steps,
            args.interpreter[0],
            args.dataset,
            args.data_dir,
        )
        print(json.dumps(report, indent=2) if args.json else bench_memory.format_memory(report))
        return
    if args.chunk_size is not None:
        raise UsageError("--chunk-size is a flag of bench --workload memory")
    if args.generations is not None:
        raise UsageError("--generations is a flag of bench --workload search and judged")
    args.population = args.population or 256
    if args.steps is not None and args.devices != "all":
        raise UsageError("--steps only shortens bench --devices all; the protocol bench keeps 100")
    if args.devices == "all":
        report = bench.sharded(
            args.population, args.dataset, args.repeats, steps=args.steps, data_dir=args.data_dir
        )
        print(json.dumps(report, indent=2) if args.json else bench.format_sharded(report))
        return
    report = bench.bench(
        population=args.population,
        dataset=args.dataset,
        repeats=args.repeats,
        interpreters=_interpreters(args),
        baseline_script=args.baseline_script,
        baseline_genomes=args.baseline_genomes,
        data_dir=args.data_dir,
    )
    print(json.dumps(report, indent=2) if args.json else bench.format_report(report))


def _interpreters(args) -> tuple[str, ...]:
    """``bench --interpreter``: ``all`` is every interpreter."""
    return hj.INTERPRETERS if "all" in args.interpreter else tuple(args.interpreter)


def _bench_search(args):
    if args.devices or args.interpreter != ["auto"] or args.baseline_script:
        raise UsageError("--devices, --interpreter and --baseline-script are throughput flags")
    with usage():
        train = dataclasses.replace(_EVOLVE.train, steps=args.steps or _EVOLVE.train.steps)
    reports = []
    for task in args.task:
        population, generations = bench_search.BUDGETS[task]
        report = bench_search.compare(
            task,
            args.seeds,
            args.population or population,
            args.generations or generations,
            train,
            args.dataset,
            args.data_dir,
        )
        reports.append(report)
        if not args.json:
            print(bench_search.format_comparison(report), flush=True)
    if args.json:
        print(json.dumps({"search": reports, "machine": bench.machine()}, indent=2))


COMMANDS = {
    "evolve": _cmd_evolve,
    "evaluate": _cmd_evaluate,
    "protocols": _cmd_protocols,
    "show": _cmd_show,
    "export": cmd_export,
    "bench": _cmd_bench,
    "subnet": cmd_subnet,
    "plot": cmd_plot,
}


def main(argv=None) -> int:
    try:
        args = build_parser().parse_args(argv)
        hj.enable_compilation_cache()
        COMMANDS[args.command](args)
    except UsageError as e:
        print(f"hivejax: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except (ValueError, OSError, RuntimeError) as e:  # DecodeError, DatasetError included
        print(f"hivejax: error: {e}", file=sys.stderr)
        return EXIT_RUNTIME
    except KeyboardInterrupt as e:  # evolve says where it stopped and how to resume
        print(f"hivejax: interrupted{': ' + str(e) if str(e) else ''}", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
