"""``hivejax bench regression``: GP operations per second of the interpreters on symbolic
regression (``hb.gp_ops``), or with ``--solve-rate`` how often a search finds each
benchmark's formula (``hb.solve_rate``). The two modes take different flags: those of
the other mode are a usage error."""

import hivejax as hj
import hivejax.bench as hb
from hivejax.cli.bench.common import add_json, add_repeats, emit
from hivejax.cli.flags import (
    UsageError,
    add_interpreter_flag,
    chunk_size,
    positive,
    positive_float,
    usage,
)

GP_OPS_ONLY = ("--points", "--max-seconds", "--baseline", "--chunk-size")
SOLVE_RATE_ONLY = ("--problem", "--runs", "--generations")


def add(workloads) -> None:
    """Add the ``regression`` workload to the subcommands ``workloads``."""
    p = workloads.add_parser(
        "regression",
        help="GP operations per second of the interpreters on symbolic regression (or, with "
        "--solve-rate, solve rates)",
    )
    sizes = " ".join(map(str, hb.GP_OPS_POPULATIONS))
    p.add_argument(
        "--population",
        type=positive,
        help=f"one population size instead of {sizes}; with --solve-rate, programs per "
        f"generation (default {hb.SOLVE_BUDGET[0]})",
    )
    add_repeats(p)
    add_interpreter_flag(p, several=True)
    g = p.add_argument_group("GP operations per second")
    g.add_argument(
        "--points",
        type=positive,
        nargs="+",
        help=f"data points per program (default: {' '.join(map(str, hb.GP_OPS_POINTS))})",
    )
    g.add_argument(
        "--max-seconds",
        type=positive_float,
        help=f"skip a size predicted to take longer (default: {hb.GP_OPS_MAX_SECONDS:g} s)",
    )
    g.add_argument(
        "--baseline",
        action="store_true",
        help="also run the DEAP + numpy baseline on the same programs and points; skipped "
        "if deap is not installed",
    )
    g.add_argument(
        "--chunk-size", type=chunk_size, help="programs evaluated at once (default: by points)"
    )
    g = p.add_argument_group("solve rates")
    g.add_argument(
        "--solve-rate",
        action="store_true",
        help=f"instead, {hb.SOLVE_RUNS} evolve runs per problem at a fixed budget "
        f"(--population, --generations; default {hb.SOLVE_BUDGET[0]} x {hb.SOLVE_BUDGET[1]}), "
        f"and the share reaching R² > {hb.SOLVE_THRESHOLD}",
    )
    g.add_argument(
        "--problem",
        nargs="+",
        choices=tuple(hj.REGRESSION_PROBLEMS),
        help="the problems (default: the fifteen of the first table, nguyen-1 .. koza-3)",
    )
    g.add_argument("--runs", type=positive, help=f"seeds per problem (default {hb.SOLVE_RUNS})")
    g.add_argument(
        "--generations", type=positive, help=f"generations (default {hb.SOLVE_BUDGET[1]})"
    )
    add_json(p)
    p.set_defaults(run=run)


def _given(args, options) -> list[str]:
    return [o for o in options if getattr(args, o[2:].replace("-", "_")) not in (None, False)]


def run(args) -> None:
    """Measure in the mode asked for and print."""
    other = _given(args, GP_OPS_ONLY if args.solve_rate else SOLVE_RATE_ONLY)
    if other:
        mode = "GP operations per second" if args.solve_rate else "--solve-rate"
        raise UsageError(f"{', '.join(other)}: flags of {mode}")
    if args.solve_rate:
        return _solve_rate(args)
    every = args.interpreter == ["auto"] or "all" in args.interpreter
    names = hj.INTERPRETERS if every else args.interpreter
    report = hb.gp_ops(
        (args.population,) if args.population else hb.GP_OPS_POPULATIONS,
        tuple(args.points or hb.GP_OPS_POINTS),
        tuple(dict.fromkeys(hj.resolve_interpreter(name) for name in names)),
        args.repeats,
        chunk_size=args.chunk_size if args.chunk_size != "auto" else None,
        max_seconds=args.max_seconds or hb.GP_OPS_MAX_SECONDS,
        baseline=args.baseline,
    )
    emit(report, format_gp_ops, args.json)


def _solve_rate(args) -> None:
    if len(args.interpreter) != 1 or args.interpreter[0] == "all":
        raise UsageError("--solve-rate runs with one --interpreter")
    problems = args.problem or hb.SOLVE_PROBLEMS
    budget = (args.population or hb.SOLVE_BUDGET[0], args.generations or hb.SOLVE_BUDGET[1])
    with usage():  # a budget the config refuses is the user's mistake
        hb.solve_rate_config(problems[0], 0, *budget, args.interpreter[0])
    report = hb.solve_rate(problems, args.runs or hb.SOLVE_RUNS, *budget, args.interpreter[0])
    emit(report, format_solve_rate, args.json)


def format_gp_ops(report: dict) -> str:
    """One line per interpreter and size, then the DEAP + numpy lines."""
    lines = []
    for c in (*report["cells"], *report.get("deap_numpy", [])):
        name = c.get("interpreter", "deap")
        size = f"{name:>9} P={c['population']:<7} N={c['points']:<6}"
        if "gp_ops_per_second" not in c:
            lines.append(f"{size} {c.get('skipped') or c.get('error')}")
            continue
        agreement = c.get("mse_agreement", float("nan"))
        agreement = f"; MSE agreement {agreement:.3f}" if name == "deap" else ""
        lines.append(
            f"{size} {c['gp_ops_per_second']:9.3g} GP ops/s ({c['seconds']:.3f} s, "
            f"compile {c['compile_seconds']:.1f} s{agreement})"
        )
    return "\n".join(lines)


def format_solve_rate(report: dict) -> str:
    """One line per problem."""
    lines = [
        f"{report['runs']} runs of {report['population']} x {report['generations']} per "
        f"problem; solved: R² > {report['threshold']} on the fitness cases (and on a test sample)"
    ]
    for r in report["problems"]:
        lines.append(
            f"{r['problem']:>10}: {r['solved']}/{len(r['r2'])} solved "
            f"(test {r['solve_rate_test']:.0%}), {r['seconds']:.0f} s"
        )
    return "\n".join(lines)
