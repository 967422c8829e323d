"""``hivejax bench ranking``: do search protocols rank programs as the validators' protocol
does, and at what cost (``hb.ranking``)?"""

import hivejax as hj
import hivejax.bench as hb
from hivejax.cli.bench.common import add_json, emit
from hivejax.cli.flags import add_data_dir_flag, non_negative


def add(workloads) -> None:
    """Add the ``ranking`` workload to the subcommands ``workloads``."""
    p = workloads.add_parser(
        "ranking", help="search protocols' ranking of programs against the validator's"
    )
    p.add_argument("--task", choices=hj.TASKS, nargs="+", default=list(hj.TASKS), help="the tasks")
    p.add_argument(
        "--programs",
        nargs="+",
        default=[],
        metavar="PROGRAM",
        help="programs to rank besides the builtins (paths or builtin:NAME)",
    )
    p.add_argument(
        "--mutants", type=non_negative, default=24, help="mutants of the builtins that pass"
    )
    p.add_argument(
        "--random", type=non_negative, default=16, help="random programs that pass the cascade"
    )
    p.add_argument("--seed", type=non_negative, default=0, help="draws the mutants and randoms")
    p.add_argument(
        "--search",
        nargs="+",
        default=["search"],
        metavar="NAME",
        help="search protocols to compare: 'search' (search-<task>), 'all' (every candidate "
        "of hb.search_candidates) or shipped protocol names",
    )
    add_data_dir_flag(p)
    add_json(p)
    p.set_defaults(run=run)


def _searches(task: str, names: list[str]) -> list:
    candidates = {p.name: p for p in hb.search_candidates(task)}
    if "all" in names:
        return list(candidates.values())
    return [
        candidates.get(f"{n}-{task}") or hj.get_protocol(f"search-{task}" if n == "search" else n)
        for n in names
    ]


def run(args) -> None:
    """Rank, task after task."""
    for task in args.task:
        report = hb.ranking(
            task,
            args.programs,
            args.random,
            args.seed,
            mutants=args.mutants,
            search=_searches(task, args.search),
            data_dir=args.data_dir,
        )
        emit(report, format_ranking, args.json)


def format_ranking(report: dict) -> str:
    """One line per program (sorted by the validator's score), then one per search protocol:
    its correlations with the validator's ranking and its cost."""
    v, searches = report["validator"], report["searches"]
    names = "  ".join(s["name"] for s in searches)
    lines = [f"{report['task']}: mean improvement under {v['name']} ({v['version']}), then {names}"]
    for row in sorted(report["programs"], key=lambda r: -r["validator"]):
        scores = "  ".join(f"{row['search'][s['name']]:+.3f}" for s in searches)
        lines.append(f"  {row['validator']:+.3f}  {scores}  {row['program']}: {row['formula']}")
    lines.append(
        f"  {len(report['programs'])} programs; {v['name']}: {v['seconds']:.1f} s "
        f"({v['seconds_per_program']:.2f} s per program)"
    )
    for s in searches:
        lines.append(
            f"  {s['name']} ({s['version']}): Spearman {s['spearman']:.3f}, Kendall "
            f"{s['kendall']:.3f}, {s['seconds']:.1f} s ({s['seconds_per_program']:.2f} s per "
            f"program, {s['cost']:.3f} of the validator's)"
        )
    return "\n".join(lines)
