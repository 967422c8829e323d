"""``hivejax bench throughput``: fitness evaluations per second (``bench/PROTOCOL.md``).

Each interpreter asked for, the hard-coded ceiling and, with ``--baseline``, the
sequential DEAP + PyTorch baseline, side by side in one process; or, with ``--devices
all``, the population sharded over every device.
"""

import hivejax as hj
import hivejax.bench as hb
from hivejax.cli.bench.common import add_json, add_repeats, emit, interpreters
from hivejax.cli.flags import UsageError, add_data_flags, add_interpreter_flag, positive, usage


def add(workloads) -> None:
    """Add the ``throughput`` workload to the subcommands ``workloads``."""
    p = workloads.add_parser(
        "throughput",
        help="evals/s of the interpreters against the hard-coded ceiling (the default)",
    )
    p.add_argument("--population", type=positive, default=256, help="programs timed at once")
    add_data_flags(p)
    add_repeats(p)
    add_interpreter_flag(p, several=True)
    p.add_argument(
        "--baseline",
        action="store_true",
        help="also run the sequential DEAP + PyTorch baseline, side by side (needs the "
        "[bench] extra)",
    )
    p.add_argument(
        "--baseline-genomes", type=positive, default=48, help="genomes the baseline trains"
    )
    p.add_argument(
        "--devices",
        choices=["all"],
        help="only time the population sharded over all devices (evals/s total, per device)",
    )
    p.add_argument(
        "--steps",
        type=positive,
        help="with --devices all: training steps (default: the protocol's 100), for quick checks",
    )
    add_json(p)
    p.set_defaults(run=run)


def run(args) -> None:
    """Measure and print."""
    if args.steps is not None and args.devices != "all":
        raise UsageError("--steps only shortens bench --devices all; the protocol bench keeps 100")
    if args.devices == "all":
        report = hb.sharded_throughput(
            args.population, args.dataset, args.repeats, steps=args.steps, data_dir=args.data_dir
        )
        return emit(report, format_sharded, args.json)
    if args.baseline:
        with usage():  # what to install, said before anything runs
            hb.require_baseline()
    report = hb.throughput(
        population=args.population,
        dataset=args.dataset,
        repeats=args.repeats,
        interpreters=interpreters(args.interpreter),
        baseline_genomes=args.baseline_genomes if args.baseline else None,
        data_dir=args.data_dir,
    )
    emit(report, format_report, args.json)


def format_report(report: dict) -> str:
    """One line per interpreter, the ceiling and the baseline, then the ratios."""
    lines = []
    for name in (*hj.INTERPRETERS, "ceiling"):
        if name in report:
            r = report[name]
            lines.append(
                f"{name:>10}: {r['evals_per_second']:8.1f} evals/s "
                f"(compile {r['compile_seconds']:.1f} s)"
            )
    if "deap_torch" in report:
        lines.append(f"{'deap+torch':>10}: {report['deap_torch']['evals_per_s']:8.1f} evals/s")
    lines += [f"{key}: {value:.2f}" for key, value in report.items() if "_over_" in key]
    return "\n".join(lines)


def format_sharded(report: dict) -> str:
    """The line of a sharded measurement."""
    return (
        f"{report['devices']} devices: {report['evals_per_second']:.1f} evals/s "
        f"({report['evals_per_second_per_device']:.1f} per device), one generation "
        f"{report['generation_seconds']:.2f} s"
    )
