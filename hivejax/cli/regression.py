"""``hivejax evolve --task regression``: which flags apply, and what a run prints.

A regression search (``tasks/regression.py``) trains nothing, so the flags of the
training protocol, of the rejection cascade, the cache and the hurdle mean nothing to it:
given with it, they are a usage error rather than silently ignored. It scores every
program of every generation (no survivors cap), with no cascade, cache or hurdle.
"""

import argparse

import hivejax as hj
from hivejax.cli.flags import UsageError

NOT_FOR_REGRESSION = (
    "dataset",
    "model",
    "steps",
    "batch_size",
    "learning_rate",
    "validation",
    "survivors",
    "hurdle_steps",
    "promoted",
    "cache",
    "seed_builtins",
)
"""``evolve`` flags (as argparse names them) that a regression search refuses."""


def evolve_flags(args: argparse.Namespace, defaults: argparse.Namespace) -> argparse.Namespace:
    """``args`` as a regression search takes them, checked against the parser's
    ``defaults``; other tasks' ``args`` come back unchanged. ``UsageError`` when
    ``--problem`` and ``--task regression`` do not come together, or when a flag of
    ``NOT_FOR_REGRESSION`` was given."""
    if args.task != hj.REGRESSION:
        if args.problem is not None:
            raise UsageError(f"--problem needs --task {hj.REGRESSION}")
        return args
    if args.problem is None:
        raise UsageError(
            f"--task {hj.REGRESSION} needs --problem (one of {', '.join(hj.REGRESSION_PROBLEMS)})"
        )
    changed = [k for k in NOT_FOR_REGRESSION if getattr(args, k) != getattr(defaults, k)]
    if changed:
        flags = ", ".join("--" + k.replace("_", "-") for k in changed)
        raise UsageError(f"{flags}: not flags of --task {hj.REGRESSION} (it trains nothing)")
    settings = {"no_cascade": True, "cache": 0, "survivors": None, "hurdle_steps": None}
    return argparse.Namespace(**{**vars(args), **settings})


def format_run(summary: dict) -> str:
    """The line ``evolve`` prints at the end of a regression run."""
    r = summary["regression"]
    test = r["test"]["r2"]
    return (
        f"{r['problem']} ({r['formula']}, {r['sampling']}): best R² {r['search']['r2']:.6f} "
        f"(MSE {r['search']['mse']:.3g}) on the run's points, "
        f"{sum(test) / len(test):.6f} on {len(test)} test sample(s) | "
        f"{summary['evals_per_second']:.1f} evals/s | {summary['best_formula']}"
    )
