"""``hivejax bench ranking``: does the search protocol rank programs as the validators'
protocol does (``hb.ranking``)?"""

import hivejax as hj
import hivejax.bench as hb
from hivejax.cli.bench.common import add_json, emit
from hivejax.cli.flags import add_data_dir_flag, non_negative


def add(workloads) -> None:
    """Add the ``ranking`` workload to the subcommands ``workloads``."""
    p = workloads.add_parser(
        "ranking", help="the search protocol's ranking of programs against the validator's"
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
        "--random", type=non_negative, default=16, help="random programs that pass the cascade"
    )
    add_data_dir_flag(p)
    add_json(p)
    p.set_defaults(run=run)


def run(args) -> None:
    """Rank, task after task."""
    for task in args.task:
        report = hb.ranking(task, args.programs, args.random, data_dir=args.data_dir)
        emit(report, format_ranking, args.json)


def format_ranking(report: dict) -> str:
    """One line per program (sorted by the validator's score) and one for the correlations."""
    s, v = report["search"], report["validator"]
    lines = [
        f"{report['task']}: improvement under {s['name']} ({s['version']}) and "
        f"{v['name']} ({v['version']})"
    ]
    for row in sorted(report["programs"], key=lambda r: -r["validator"]):
        lines.append(
            f"  {row['search']:+.3f}  {row['validator']:+.3f}  {row['program']}: {row['formula']}"
        )
    lines.append(
        f"  {len(report['programs'])} programs: Spearman {report['spearman']:.3f}, "
        f"Kendall {report['kendall']:.3f}"
    )
    return "\n".join(lines)
