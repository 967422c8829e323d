"""``hivejax bench judged``: programs judged per second by a search against training every
program (``hb.judged_against_trained``)."""

import dataclasses

import hivejax as hj
import hivejax.bench as hb
from hivejax.cli.bench.common import add_json, emit
from hivejax.cli.flags import add_data_dir_flag, positive, usage

_EVOLVE = hj.EvolveConfig()
GENERATIONS = 90
"""The main job's generations."""


def add(workloads) -> None:
    """Add the ``judged`` workload to the subcommands ``workloads``."""
    p = workloads.add_parser(
        "judged",
        help="programs judged per second by the main job against training every program",
    )
    p.add_argument(
        "--population",
        type=positive,
        default=_EVOLVE.population,
        help="programs per generation (default: %(default)s)",
    )
    p.add_argument(
        "--generations",
        type=positive,
        default=GENERATIONS,
        help="generations (default: %(default)s)",
    )
    p.add_argument(
        "--steps",
        type=positive,
        default=_EVOLVE.train.steps,
        help="training steps (default: the search protocol's %(default)s)",
    )
    add_data_dir_flag(p)
    add_json(p)
    p.set_defaults(run=run)


def run(args) -> None:
    """Run the search, then train as many programs, and print the two rates."""
    with usage():
        config = hj.EvolveConfig(
            population=args.population,
            generations=args.generations,
            train=dataclasses.replace(_EVOLVE.train, steps=args.steps),
        )
    emit(hb.judged_against_trained(config, data_dir=args.data_dir), format_judged, args.json)


def format_judged(report: dict) -> str:
    """The line of a judged-against-trained report."""
    return (
        f"search {report['population']} x {report['generations']} at {report['steps']} steps: "
        f"{report['judged_per_second']:.1f} programs judged per second; training every "
        f"program: {report['trained_per_second']:.1f} per second; ratio "
        f"{report['ratio']:.1f}x"
    )
