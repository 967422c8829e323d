"""``hivejax``: evolve, evaluate, show and benchmark programs.

A thin layer over the public API (``hivejax``, ``hivejax.subnet``, ``hivejax.bench``):
each command's module parses its flags, calls the library and prints. This module only
assembles the parser tree, dispatches, and maps errors to exit statuses.

Exit status: 0 on success; 2 for a usage error (bad or conflicting flags, unknown names,
values a config refuses), found before anything runs; 1 for a failure while running (a
missing or malformed file, a data set that does not load, a run directory that cannot be
used); 130 when interrupted. Every error is one line, ``hivejax: error: ...``, never a
traceback.
"""

import argparse
import sys

import hivejax as hj
from hivejax.cli import bench, evaluate, evolve, export, plot, subnet
from hivejax.cli.flags import EXIT_RUNTIME, EXIT_USAGE, Parser, UsageError

EXIT_INTERRUPTED = 130


def build_parser() -> argparse.ArgumentParser:
    """The whole command line: one subcommand per command module."""
    parser = Parser(prog="hivejax", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    evolve.add(sub)
    evaluate.add(sub)  # with show and protocols
    export.add(sub)
    bench.add(sub)
    subnet.add(sub)
    plot.add(sub)
    return parser


def main(argv=None) -> int:
    """Run the command ``argv`` (default: the process's arguments); the exit status."""
    argv = bench.normalise(sys.argv[1:] if argv is None else list(argv))
    try:
        args = build_parser().parse_args(argv)
        hj.enable_compilation_cache()
        args.run(args)
    except UsageError as e:
        print(f"hivejax: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except (ValueError, OSError, RuntimeError) as e:  # DecodeError, DatasetError included
        print(f"hivejax: error: {e}", file=sys.stderr)
        return EXIT_RUNTIME
    except KeyboardInterrupt as e:  # evolve says where it stopped and how to resume
        print(f"hivejax: interrupted{': ' + str(e) if str(e) else ''}", file=sys.stderr)
        return EXIT_INTERRUPTED
    return 0


if __name__ == "__main__":
    sys.exit(main())
