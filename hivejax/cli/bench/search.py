"""``hivejax bench search``: evolution against random search at the same budget, per task
and seed (``hb.search_against_random``)."""

import dataclasses
import json

import hivejax as hj
import hivejax.bench as hb
from hivejax.cli.bench.common import add_json
from hivejax.cli.flags import add_data_flags, non_negative, positive, usage

_TRAIN = hj.EvolveConfig().train


def add(workloads) -> None:
    """Add the ``search`` workload to the subcommands ``workloads``."""
    p = workloads.add_parser(
        "search", help="evolution against random search at the same budget, per task and seed"
    )
    p.add_argument("--task", choices=hj.TASKS, nargs="+", default=list(hj.TASKS), help="the tasks")
    p.add_argument("--seeds", type=non_negative, nargs="+", default=[0, 1, 2], help="run seeds")
    budgets = ", ".join(f"{t} {p} x {g}" for t, (p, g) in hb.SEARCH_BUDGETS.items())
    p.add_argument(
        "--population", type=positive, help=f"programs per generation (default: {budgets})"
    )
    p.add_argument("--generations", type=positive, help="generations (default: above)")
    p.add_argument(
        "--steps",
        type=positive,
        help=f"training steps (default: the search protocol's {_TRAIN.steps})",
    )
    add_data_flags(p)
    add_json(p)
    p.set_defaults(run=run)


def run(args) -> None:
    """Compare, task after task, printing each as it finishes."""
    with usage():
        train = dataclasses.replace(_TRAIN, steps=args.steps or _TRAIN.steps)
    reports = []
    for task in args.task:
        population, generations = hb.SEARCH_BUDGETS[task]
        report = hb.search_against_random(
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
            print(format_comparison(report), flush=True)
    if args.json:
        print(json.dumps({"search": reports, "machine": hb.machine()}, indent=2))


def format_comparison(report: dict) -> str:
    """One line per seed and one for the lead."""
    lines = [
        f"{report['task']}: {report['population']} x {report['generations']}, "
        f"{report['steps']} steps"
    ]
    for seed, e, r in zip(
        report["seeds"], report["evolution"], report["random_search"], strict=True
    ):
        lines.append(f"  seed {seed}: evolution {e:.3f}, random search {r:.3f}, lead {e - r:+.3f}")
    lead = report["lead"]
    bound = "n/a" if lead["lower_bound"] is None else f"{lead['lower_bound']:+.3f}"
    lines.append(
        f"  lead: mean {lead['mean']:+.3f}, {lead['confidence']:.0%} lower bound {bound}; "
        f"evolution ahead on {report['evolution_ahead']} of {len(report['seeds'])} seeds"
    )
    return "\n".join(lines)
