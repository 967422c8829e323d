"""``hivejax evaluate``, ``show`` and ``protocols``: score a program, print one, list protocols.

``evaluate`` trains under the flags of ``hj.TrainConfig`` (made by ``config_flags``, with
the benchmark protocol's numbers as defaults), or under a shipped protocol
(``--protocol``), which fixes the task, the data sets, the seeds and the training: those
flags given with it are a usage error rather than silently ignored.
"""

import functools
import json
import pathlib

import jax

import hivejax as hj
from hivejax.cli.config_flags import ConfigFlags, add_config_flags
from hivejax.cli.flags import (
    CHOICES,
    UsageError,
    add_data_flags,
    add_interpreter_flag,
    non_negative,
    positive,
    usage,
)

_EVOLVE = hj.EvolveConfig()
DEFAULTS = {"task": _EVOLVE.task, "dataset": _EVOLVE.dataset, "seeds": _EVOLVE.finish.final_seeds}
"""The defaults of the ``evaluate`` flags that are no config field but a protocol fixes."""


def add(sub) -> None:
    """Add ``evaluate``, ``protocols`` and ``show`` to the subcommands ``sub``."""
    p = sub.add_parser("evaluate", help="score one program against the baseline")
    p.add_argument(
        "program",
        help="a program file (JSON or binary; or an original subnet best_gene.json or .deap "
        "expression) or builtin:NAME",
    )
    p.add_argument(
        "--task", default=DEFAULTS["task"], choices=hj.TASKS, help="what programs define"
    )
    add_data_flags(p)
    train = add_config_flags(p, hj.TrainConfig(), choices=CHOICES)
    p.add_argument("--seeds", type=positive, default=DEFAULTS["seeds"])
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
    p.set_defaults(run=functools.partial(evaluate, train=train))

    p = sub.add_parser("protocols", help="list the shipped evaluation protocols")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=protocols)

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
    p.set_defaults(run=show)


def evaluate(args, train: ConfigFlags) -> None:
    """Score the program paired with the baseline, and print the scores."""
    if args.protocol is not None:
        return _evaluate_protocol(args, train)
    if args.epoch is not None:
        raise UsageError("--epoch needs --protocol")
    config = train.read(args)
    spec, program = _load_for(args.program, args.task)
    task = hj.make_task(args.task, config, spec=spec, interpreter=args.interpreter)
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
        return
    p, b = scores["program"], scores["baseline"]
    print(
        f"{args.program}: {p['mean']:.4f} ± {_std(p['std'])}  "
        f"baseline ({task.baseline}): {b['mean']:.4f} ± {_std(b['std'])}  "
        f"({args.seeds} seeds)"
    )


def _fixed_by_protocol(args, train: ConfigFlags) -> list[str]:
    """The flags given that a protocol fixes: the task, data set, seeds and training."""
    changed = [f"--{dest}" for dest, default in DEFAULTS.items() if getattr(args, dest) != default]
    return changed + train.given(args)


def _evaluate_protocol(args, train: ConfigFlags) -> None:
    changed = _fixed_by_protocol(args, train)
    if changed:
        raise UsageError(
            f"{', '.join(changed)} cannot be combined with --protocol (the protocol fixes them)"
        )
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


def protocols(args) -> None:
    """Print the shipped protocols, one line each, or as JSON."""
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


def show(args) -> None:
    """Print a program as a formula or JSON, or a run's Pareto front."""
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
