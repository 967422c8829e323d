"""What the workloads of ``hivejax bench`` share: their common flags and how they print."""

import json

import hivejax as hj
from hivejax.cli.flags import positive


def add_json(p) -> None:
    """``--json``: print the report as JSON rather than as lines of text."""
    p.add_argument("--json", action="store_true", help="print the report as JSON")


def add_repeats(p, default: int = 3) -> None:
    """``--repeats``: timed runs of each measurement, of which the median counts."""
    p.add_argument(
        "--repeats", type=positive, default=default, help="timed runs; the median counts"
    )


def emit(report: dict, text, as_json: bool) -> None:
    """Print ``report`` as JSON, or as ``text(report)``."""
    print(json.dumps(report, indent=2) if as_json else text(report), flush=True)


def interpreters(names) -> tuple[str, ...]:
    """``--interpreter`` of a workload that times several: ``all`` is every interpreter."""
    return hj.INTERPRETERS if "all" in names else tuple(names)
