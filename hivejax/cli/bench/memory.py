"""``hivejax bench memory``: peak memory of training one population, chunked or not
(``hb.memory``). Peak resident memory only grows within a process, so each configuration
is its own command."""

import hivejax.bench as hb
from hivejax.cli.bench.common import add_json, emit
from hivejax.cli.flags import add_data_flags, add_interpreter_flag, chunk_size, positive


def add(workloads) -> None:
    """Add the ``memory`` workload to the subcommands ``workloads``."""
    p = workloads.add_parser(
        "memory", help="peak memory of training one population, chunked or not"
    )
    p.add_argument("--population", type=positive, default=256, help="programs trained at once")
    p.add_argument(
        "--chunk-size",
        type=chunk_size,
        help="programs trained at once (auto: as many as fit half the free memory; default: all)",
    )
    p.add_argument(
        "--steps",
        type=positive,
        help="training steps (default: the protocol's 100; memory does not grow with them)",
    )
    add_interpreter_flag(p)
    add_data_flags(p)
    add_json(p)
    p.set_defaults(run=run)


def run(args) -> None:
    """Train once and print the peaks."""
    report = hb.memory(
        args.population, args.chunk_size, args.steps, args.interpreter, args.dataset, args.data_dir
    )
    emit(report, format_memory, args.json)


def format_memory(report: dict) -> str:
    """The line of a memory report."""
    device = report["peak_device_bytes"]
    return (
        f"population {report['population']}, chunk {report['chunk_size'] or 'none'}: peak "
        f"resident {report['peak_resident_bytes'] / 2**30:.2f} GiB"
        + (f", device {device / 2**30:.2f} GiB" if device else "")
        + f", {report['seconds_with_compile']:.1f} s with compilation"
    )
