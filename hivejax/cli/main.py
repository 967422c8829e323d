"""``hivejax``: evolve, evaluate, show and benchmark programs.

User errors (bad flags, missing or malformed files, bad programs) print one line,
``hivejax: error: ...``, and exit with status 2; they never print a traceback.
"""

import argparse
import json
import os
import pathlib
import sys

EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line instead of usage + message
        raise UsageError(f"{self.prog}: {message}")


class UsageError(Exception):
    """An error in what the user asked for; printed as one line."""


def _int_at_least(low: int):
    """An argparse type: an integer of at least ``low``."""
    what = "a positive integer" if low == 1 else f"an integer >= {low}"

    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"expected {what}, got {value}")
        return value

    return parse


_positive = _int_at_least(1)
_non_negative = _int_at_least(0)


def _positive_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {value}")
    return value


def _add_protocol_flags(p):
    from hivejax._src.models import MODELS
    from hivejax._src.tasks.registry import TASKS

    p.add_argument("--task", default="loss", choices=TASKS, help="what programs define")
    _add_data_flags(p)
    p.add_argument("--model", default="mlp", choices=MODELS, help="the network trained")
    p.add_argument("--steps", type=_positive, default=100, help="training steps per evaluation")
    p.add_argument("--batch-size", type=_positive, default=32)
    p.add_argument("--learning-rate", type=_positive_float, default=1e-3)


def _add_data_flags(p):
    p.add_argument(
        "--dataset",
        default="mnist1d",
        help="mnist1d and digits are built in; mnist, fashion_mnist, cifar10 and npz:PATH "
        "load from --data-dir",
    )
    p.add_argument(
        "--data-dir", metavar="DIR", help="where dataset files are (default: $HIVEJAX_DATA)"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="hivejax", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("evolve", help="search for programs")
    _add_protocol_flags(p)
    p.add_argument("--population", type=_positive, default=256)
    p.add_argument("--generations", type=_positive, default=30)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=pathlib.Path, help="run directory (required unless --resume)")
    p.add_argument(
        "--seed-programs",
        nargs="+",
        default=[],
        metavar="PROGRAM",
        help="start from these programs (paths or builtin:NAME) as well as random ones",
    )
    p.add_argument(
        "--final-seeds",
        type=_positive,
        default=3,
        help="fresh keys on which the best program and the baseline are re-scored",
    )
    p.add_argument(
        "--tune-constants",
        choices=["cma_es", "open_es"],
        help="after the search, tune the elites' constants with this evosax strategy",
    )
    p.add_argument("--tune-generations", type=_positive, default=8)
    p.add_argument("--no-progress", action="store_true", help="print no progress bar")
    g = p.add_argument_group("scale")
    g.add_argument("--islands", type=_positive, default=1, help="sub-populations (ring)")
    g.add_argument("--migration-interval", type=_positive, default=5, help="generations")
    g.add_argument("--migration-count", type=_positive, default=1, help="programs per move")
    g.add_argument(
        "--data-parallel",
        type=_positive,
        default=1,
        help="devices that split each training batch (the mesh's data axis)",
    )
    g.add_argument("--checkpoint-every", type=int, default=0, help="generations (0: never)")
    g.add_argument("--keep-checkpoints", type=_positive, default=3)
    g.add_argument(
        "--resume",
        type=pathlib.Path,
        metavar="DIR",
        help="continue the run in DIR from its latest checkpoint (its own flags apply)",
    )
    g.add_argument("--distributed", action="store_true", help="join a multi-process run")
    g.add_argument("--coordinator-address", help="host:port of process 0")
    g.add_argument("--num-processes", type=_positive)
    g.add_argument("--process-id", type=int)

    p = sub.add_parser("evaluate", help="score one program against the baseline")
    p.add_argument("program", help="a program file (JSON or binary) or builtin:NAME")
    _add_protocol_flags(p)
    p.add_argument("--seeds", type=_positive, default=3)
    p.add_argument(
        "--protocol",
        metavar="NAME",
        help="score under a shipped protocol (see `hivejax protocols`); it fixes the task, "
        "datasets, models, seeds and training, so those flags do not apply",
    )
    p.add_argument(
        "--epoch",
        type=_non_negative,
        help="with --protocol: derive the seeds from the protocol version and this epoch",
    )
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("protocols", help="list the shipped evaluation protocols")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("show", help="print a program as a formula, or as JSON")
    p.add_argument("program", help="a program file (JSON or binary) or builtin:NAME")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("bench", help="fitness evaluations per second (shared/bench protocol)")
    _add_data_flags(p)
    p.add_argument("--population", type=_positive, default=256)
    p.add_argument("--repeats", type=_positive, default=3)
    p.add_argument(
        "--steps",
        type=_positive,
        help="training steps (default: the protocol's 100); only with --devices all, "
        "for quick checks",
    )
    p.add_argument(
        "--reference", action="store_true", help="also time the naive reference interpreter"
    )
    p.add_argument(
        "--baseline-script",
        metavar="PATH",
        help="also run the DEAP + PyTorch baseline script, side by side",
    )
    p.add_argument("--baseline-genomes", type=_positive, default=48)
    p.add_argument(
        "--devices",
        choices=["all"],
        help="only time the population sharded over all devices (evals/s total, per device)",
    )
    p.add_argument("--json", action="store_true")
    return parser


def _train_config(args):
    from hivejax._src.tasks.training import TrainConfig

    return TrainConfig(
        steps=args.steps,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        model=args.model,
    )


def _cmd_evolve(args):
    if args.distributed:
        from hivejax._src.parallel.distributed import initialize

        initialize(args.coordinator_address, args.num_processes, args.process_id)
    elif args.coordinator_address or args.num_processes or args.process_id is not None:
        raise UsageError("--coordinator-address etc. need --distributed")

    import jax

    from hivejax._src.cli_progress import progress_printer
    from hivejax._src.engine import EvolveConfig, evolve, resume_config
    from hivejax._src.parallel.islands import Migration

    if args.resume is not None:
        args.out = args.resume
        config = resume_config(args.resume)
    elif args.out is None:
        raise UsageError("evolve needs --out DIR (or --resume DIR)")
    else:
        config = EvolveConfig(
            task=args.task,
            dataset=args.dataset,
            population=args.population,
            generations=args.generations,
            seed=args.seed,
            seed_programs=tuple(args.seed_programs),
            train=_train_config(args),
            final_seeds=args.final_seeds,
            migration=Migration(
                islands=args.islands,
                interval=args.migration_interval,
                count=args.migration_count,
            ),
            data_parallel=args.data_parallel,
            checkpoint_every=args.checkpoint_every,
            keep_checkpoints=args.keep_checkpoints,
            tune_constants=args.tune_constants,
            tune_elites=min(4, args.population),
            tune_generations=args.tune_generations,
        )
    show = not args.no_progress and jax.process_index() == 0
    with progress_printer(config.generations, enabled=show) as on_generation:
        summary = evolve(
            config, args.out, on_generation=on_generation, resume=args.resume is not None
        )
    print(
        f"best accuracy {summary['best_fitness']:.4f} | re-scored "
        f"{summary['final']['program']['mean']:.4f} vs {summary['baseline']} "
        f"{summary['baseline_accuracy']:.4f} | {summary['evals_per_second']:.1f} evals/s | "
        f"{summary['best_formula']}"
    )
    print(f"best hash {summary['best_hash']} (process {jax.process_index()})")
    if jax.process_index() == 0:
        print(f"wrote {args.out}/metrics.jsonl, best.json, summary.json")


# The evaluate flags a protocol fixes; giving one of them a non-default value with
# --protocol is an error rather than silently ignored.
_FIXED_BY_PROTOCOL = ("task", "dataset", "model", "steps", "batch_size", "learning_rate", "seeds")


def _cmd_evaluate(args):
    if args.protocol is not None:
        return _evaluate_protocol(args)
    if args.epoch is not None:
        raise UsageError("--epoch needs --protocol")
    import jax

    from hivejax._src.data import load_dataset
    from hivejax._src.engine import paired_scores
    from hivejax._src.formats import load_program
    from hivejax._src.tasks.registry import make_task

    task = make_task(args.task, _train_config(args))
    spec, program = load_program(args.program, task.spec)
    if spec != task.spec:
        raise ValueError(
            f"{args.program}: program shape {spec} does not match the {task.name} task's "
            f"{task.spec}"
        )
    scores = paired_scores(task, program, load_dataset(args.dataset), range(args.seeds))
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
            f"{args.program}: {p['mean']:.4f} ± {p['std']:.4f}  "
            f"baseline ({task.baseline}): {b['mean']:.4f} ± {b['std']:.4f}  "
            f"({args.seeds} seeds)"
        )


def _evaluate_protocol(args):
    from hivejax._src.formats import load_program
    from hivejax._src.protocols import get_protocol, run_protocol
    from hivejax._src.tasks.registry import make_task

    defaults = build_parser().parse_args(["evaluate", args.program])
    changed = [k for k in _FIXED_BY_PROTOCOL if getattr(args, k) != getattr(defaults, k)]
    if changed:
        flags = ", ".join("--" + k.replace("_", "-") for k in changed)
        raise UsageError(f"{flags} cannot be combined with --protocol (the protocol fixes them)")
    protocol = get_protocol(args.protocol)
    spec, program = load_program(args.program)  # a builtin comes with its own task's spec
    try:
        make_task(protocol.task, spec=spec)  # the task's own check of the program's shape
    except ValueError:
        want = make_task(protocol.task).spec
        raise ValueError(
            f"{args.program}: protocol {protocol.name} scores {protocol.task} programs (inputs "
            f"{', '.join(want.inputs)}; {want.outputs} output(s); {want.op_set} ops); this "
            f"one has inputs {', '.join(spec.inputs)}; {spec.outputs} output(s); "
            f"{spec.op_set} ops"
        ) from None
    result = {"program": args.program, **run_protocol(protocol, program, args.epoch, spec=spec)}
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
    from hivejax._src.protocols import PROTOCOLS

    rows = [
        {"name": p.name, "version": p.version, **p.content(), "description": p.description}
        for p in PROTOCOLS.values()
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
    from hivejax._src.formats import load_program, to_json
    from hivejax._src.formula import formula

    spec, program = load_program(args.program)
    if args.json:
        print(json.dumps(to_json(spec, program), indent=2))
    else:
        print(formula(spec, program))


def _cmd_bench(args):
    from hivejax._src.bench import bench, sharded

    if args.steps is not None and args.devices != "all":
        raise UsageError("--steps only shortens bench --devices all; the protocol bench keeps 100")
    if args.devices == "all":
        report = sharded(args.population, args.dataset, args.repeats, steps=args.steps)
        if args.json:
            print(json.dumps(report, indent=2))
        else:
            print(
                f"{report['devices']} devices: {report['evals_per_second']:.1f} evals/s "
                f"({report['evals_per_second_per_device']:.1f} per device), one generation "
                f"{report['generation_seconds']:.2f} s"
            )
        return

    report = bench(
        population=args.population,
        dataset=args.dataset,
        repeats=args.repeats,
        reference=args.reference,
        baseline_script=args.baseline_script,
        baseline_genomes=args.baseline_genomes,
    )
    if args.json:
        print(json.dumps(report, indent=2))
        return
    for name in ("fused", "reference", "ceiling"):
        if name in report:
            r = report[name]
            print(
                f"{name:>10}: {r['evals_per_second']:8.1f} evals/s "
                f"(compile {r['compile_seconds']:.1f} s)"
            )
    if "deap_torch" in report:
        print(f"{'deap+torch':>10}: {report['deap_torch']['evals_per_s']:8.1f} evals/s")
    for key, value in report.items():
        if "_over_" in key:
            print(f"{key}: {value:.2f}")


COMMANDS = {
    "evolve": _cmd_evolve,
    "evaluate": _cmd_evaluate,
    "protocols": _cmd_protocols,
    "show": _cmd_show,
    "bench": _cmd_bench,
}


def main(argv=None) -> int:
    from hivejax._src.formats import DecodeError

    try:
        args = build_parser().parse_args(argv)
        if getattr(args, "data_dir", None):
            # The loaders read it when no directory is passed, resumed runs included.
            os.environ["HIVEJAX_DATA"] = str(args.data_dir)
        COMMANDS[args.command](args)
    except UsageError as e:
        print(f"hivejax: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except (DecodeError, ValueError, OSError, RuntimeError) as e:
        print(f"hivejax: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt as e:  # evolve says where it stopped and how to resume
        print(f"hivejax: interrupted{': ' + str(e) if str(e) else ''}", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
