"""``hivejax bench device``: everything a new GPU or TPU host should report, as one JSON
document (``hb.device_check``; ``bench/device.sh`` runs it on a lent card). Every size is
a flag, so the same check runs on a CPU at toy sizes."""

import json

import hivejax.bench as hb
from hivejax.cli.bench.common import add_repeats, interpreters
from hivejax.cli.flags import add_data_flags, add_interpreter_flag, positive, positive_float


def add(workloads) -> None:
    """Add the ``device`` workload to the subcommands ``workloads``."""
    p = workloads.add_parser(
        "device", help="the one-call check of a GPU or TPU host (bench/device.sh)"
    )
    for option, default, what in (
        ("--populations", hb.DEVICE_POPULATIONS, "throughput populations"),
        ("--regression-populations", hb.GP_OPS_POPULATIONS, "regression populations"),
        ("--points", hb.GP_OPS_POINTS, "regression data points per program"),
    ):
        p.add_argument(
            option, type=positive, nargs="+", default=default, help=f"{what} (default: %(default)s)"
        )
    p.add_argument(
        "--max-seconds",
        type=positive_float,
        default=hb.GP_OPS_MAX_SECONDS,
        help="skip a regression size predicted to take longer (default: %(default)s)",
    )
    add_repeats(p)
    add_interpreter_flag(p, several=True)
    add_data_flags(p)
    p.add_argument(
        "--steps", type=positive, help="training steps (default: the protocol's), for quick checks"
    )
    p.set_defaults(run=run)


def run(args) -> None:
    """Run the check and print its JSON document."""
    report = hb.device_check(
        args.populations,
        interpreters(args.interpreter) if args.interpreter != ["auto"] else None,
        args.repeats,
        args.regression_populations,
        args.points,
        args.max_seconds,
        args.dataset,
        args.steps,
        args.data_dir,
    )
    print(json.dumps(report, indent=2))
