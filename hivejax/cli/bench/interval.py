"""``hivejax bench interval``: what one validator interval costs with many miners
(``hb.validator_interval``)."""

import hivejax as hj
import hivejax.bench as hb
from hivejax.cli.bench.common import add_json, emit
from hivejax.cli.flags import add_data_dir_flag, positive, usage


def add(workloads) -> None:
    """Add the ``interval`` workload to the subcommands ``workloads``."""
    p = workloads.add_parser(
        "interval",
        help="seconds of a validator's intervals with N miners publishing distinct programs",
    )
    p.add_argument("--task", default="optimizer", choices=hj.TASKS, help="the subnet's task")
    p.add_argument(
        "--miners", type=positive, default=16, help="miners, one program each (default: 16)"
    )
    p.add_argument("--protocol", help="the validator's protocol (default: local-<task>)")
    add_data_dir_flag(p)
    add_json(p)
    p.set_defaults(run=run)


def run(args) -> None:
    """Run the three intervals and print their seconds and trainings."""
    with usage():
        if args.protocol is not None:
            hj.get_protocol(args.protocol)
    emit(
        hb.validator_interval(args.task, args.miners, args.protocol, data_dir=args.data_dir),
        format_interval,
        args.json,
    )


def format_interval(report: dict) -> str:
    """The lines of an interval report."""
    lines = [f"{report['miners']} miners, {report['task']} under {report['protocol']}:"]
    for name in ("first", "repeat", "new_epoch"):
        r = report[name]
        lines.append(f"  {name:9s} interval: {r['seconds']:7.1f} s, {r['trained']} trained")
    lines.append(f"  ranking: {', '.join(report['ranking']) or '(nobody earns)'}")
    return "\n".join(lines)
