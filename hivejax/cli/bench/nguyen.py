"""``hivejax bench nguyen``: symbolic regression on the published protocol (``hb.nguyen``).

Nguyen-1..12 and Koza-1..3 as DSO defines them (the ``dso-`` problems), one ``evolve`` per
seed at a fixed budget; per problem, the share of seeds whose best program is symbolically
equal to the truth (sympy), the share with R² > 0.999 on a fresh sample and its median,
evaluations per run and seconds, beside DSR's published recovery (ICLR 2021).
"""

import hivejax as hj
import hivejax.bench as hb
from hivejax.cli.bench.common import add_json, emit
from hivejax.cli.flags import add_interpreter_flag, positive, usage


def add(workloads) -> None:
    """Add the ``nguyen`` workload to the subcommands ``workloads``."""
    p = workloads.add_parser(
        "nguyen",
        help="symbolic regression on the published protocol: recovery of Nguyen-1..12 and "
        "Koza-1..3 (DSO's definitions), beside DSR's published rates",
    )
    population, generations = hb.NGUYEN_BUDGET
    p.add_argument(
        "--seeds",
        type=positive,
        help=f"runs per problem, seeds 0 .. N-1 (default {hb.NGUYEN_SEEDS})",
    )
    p.add_argument(
        "--problem",
        nargs="+",
        choices=tuple(hj.REGRESSION_PROBLEMS),
        metavar="PROBLEM",
        help="the problems: dso-nguyen-1 .. dso-nguyen-12, dso-koza-1 .. dso-koza-3 (the "
        "default), or another of evolve's --problem",
    )
    p.add_argument(
        "--population",
        type=positive,
        help=f"programs per generation (default {population}; with the generations, "
        f"{population * generations:,} programs scored a run: under a minute on 2 CPU cores, "
        "so minutes per problem)",
    )
    p.add_argument("--generations", type=positive, help=f"generations (default {generations})")
    p.add_argument(
        "--quick",
        action="store_true",
        help=f"a smoke test: {' and '.join(hb.NGUYEN_QUICK['problems'])}, "
        f"{hb.NGUYEN_QUICK['seeds']} seed, {' x '.join(map(str, hb.NGUYEN_QUICK['budget']))} "
        "(flags given as well still count)",
    )
    add_interpreter_flag(p)
    add_json(p)
    p.set_defaults(run=run)


def run(args) -> None:
    """Measure and print."""
    quick = hb.NGUYEN_QUICK if args.quick else None
    problems = args.problem or (quick["problems"] if quick else hb.NGUYEN_PROBLEMS)
    seeds = args.seeds or (quick["seeds"] if quick else hb.NGUYEN_SEEDS)
    budget = quick["budget"] if quick else hb.NGUYEN_BUDGET
    population, generations = args.population or budget[0], args.generations or budget[1]
    with usage():  # a budget the config refuses is the user's mistake
        hb.solve_rate_config(problems[0], 0, population, generations, args.interpreter)
    report = hb.nguyen(problems, seeds, population, generations, args.interpreter)
    emit(report, format_nguyen, args.json)


def _share(value) -> str:
    return "—" if value is None else f"{value:.0%}"


def format_nguyen(report: dict) -> str:
    """The budget, then one line per problem and the averages."""
    population, generations = report["population"], report["generations"]
    lines = [
        f"{report['seeds']} seed(s) per problem; budget {population} programs x {generations} "
        f"generations = {population * generations:,} a run; interpreter {report['interpreter']}",
        "recovered: best program symbolically equal to the truth (sympy); R²: share of seeds "
        f"with R² > {report['threshold']} on a fresh sample, and the median; DSR: Petersen et "
        "al. 2021, 100 runs of up to 2M expressions",
        f"{'problem':<14} {'formula':<32} {'recovered':>12} {'R²':>5} {'median R²':>10} "
        f"{'evals/run':>10} {'seconds':>8} {'DSR':>5}",
    ]
    for r in report["problems"]:
        found = f"{r['recovered']}/{len(r['runs'])} {r['recovery']:.0%}"
        lines.append(
            f"{r['problem']:<14} {r['formula']:<32} {found:>12} {r['r2_share']:>5.0%} "
            f"{r['r2_median']:>10.4f} {r['evaluations']:>10,} {r['seconds']:>8.0f} "
            f"{_share(r['dsr_recovery']):>5}"
        )
    lines.append(
        f"average recovery: {_share(report['nguyen_recovery'])} on the Nguyen problems run "
        f"(DSR {report['dsr_nguyen_recovery']:.1%} on Nguyen-1..12), "
        f"{_share(report['recovery'])} on all {len(report['problems'])}"
    )
    return "\n".join(lines)
