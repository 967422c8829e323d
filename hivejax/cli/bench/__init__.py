"""``hivejax bench WORKLOAD``: the benchmarks, one subcommand per workload.

Each workload's module adds its subparser with its own flags only, so argparse itself
refuses a flag of another workload; it calls ``hivejax.bench`` and prints the report as
text or JSON. ``normalise`` keeps the spellings from before the workloads were
subcommands working.
"""

from hivejax.cli.bench import (
    device,
    interval,
    judged,
    memory,
    nguyen,
    ranking,
    regression,
    search,
    throughput,
)

WORKLOADS = {
    "throughput": throughput,
    "search": search,
    "ranking": ranking,
    "judged": judged,
    "memory": memory,
    "regression": regression,
    "nguyen": nguyen,
    "interval": interval,
    "device": device,
}
DEFAULT = "throughput"


def add(sub) -> None:
    """Add ``bench`` and its workloads to the subcommands ``sub``."""
    p = sub.add_parser(
        "bench",
        help="measure: evaluations per second (bench/PROTOCOL.md), evolution against random "
        "search, and more; `hivejax bench WORKLOAD --help` lists a workload's flags",
    )
    workloads = p.add_subparsers(
        dest="workload", required=True, parser_class=type(p), metavar="WORKLOAD"
    )
    for module in WORKLOADS.values():
        module.add(workloads)


def normalise(argv: list[str]) -> list[str]:
    """``argv`` in today's spelling, ``bench WORKLOAD [flags]``.

    The README and users' scripts also spell a workload ``bench --workload WORKLOAD
    [flags]`` (anywhere among the flags), and plain ``bench [flags]`` means ``bench
    throughput [flags]``: both are rewritten here, before argparse sees them.
    """
    if not argv or argv[0] != "bench":
        return argv
    rest = argv[1:]
    for i, arg in enumerate(rest):
        if arg == "--workload" and i + 1 < len(rest):
            return ["bench", rest[i + 1], *rest[:i], *rest[i + 2 :]]
        if arg.startswith("--workload="):
            return ["bench", arg.partition("=")[2], *rest[:i], *rest[i + 1 :]]
    if rest and rest[0] in (*WORKLOADS, "-h", "--help"):
        return argv
    return ["bench", DEFAULT, *rest]
