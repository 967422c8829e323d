"""``hivejax plot DIR``: PNG figures of a run directory or a local subnet directory."""

import pathlib

import hivejax as hj


def add(sub) -> None:
    """Add ``plot`` to the subcommands ``sub``."""
    p = sub.add_parser(
        "plot",
        help="draw PNG figures of a run (progress, Pareto front, the best program's function) "
        "or of a local subnet (weights, emissions); needs the [plots] extra",
    )
    p.add_argument("directory", type=pathlib.Path, help="a run directory or a local subnet's")
    p.add_argument("--out", type=pathlib.Path, help="where to write (default: DIRECTORY/plots)")
    p.set_defaults(run=plot)


def plot(args) -> None:
    """Draw the figures and say where they went."""
    paths = hj.plot_run(args.directory, args.out)
    folder = paths[0].parent
    print(f"wrote {folder}/{', '.join(p.name for p in paths)}")
