"""``hivejax evolve``: search for programs, and print what the run found.

Every flag of a run's settings is a field of ``hj.EvolveConfig`` or of one of its parts,
made by ``config_flags``; the flags declared here are the command's own (where the run
goes, resuming, joining a multi-process run, the progress bar).

A formula search (``--task regression``) trains nothing, so the flags of the inner
training and of screening (the rejection cascade, the cache, the survivors and the
hurdle), the data set and ``--seed-builtins`` mean nothing to it: given with it, they are
a usage error rather than silently ignored, and the run scores every program
(``ScreeningConfig.off()``).
"""

import functools
import pathlib

import jax

import hivejax as hj
from hivejax.cli.config_flags import ConfigFlags, add_config_flags
from hivejax.cli.flags import CHOICES, METAVARS, UsageError, add_data_dir_flag, positive, usage
from hivejax.cli.progress import progress_printer

NAMES = {"interval": "--migration-interval", "count": "--migration-count"}
"""Flags that are not spelled as their field: ``Migration``'s, which would be too vague."""
NOT_FOR_REGRESSION = ("train", "screening", "dataset")
"""The parts and fields of ``EvolveConfig`` whose flags a formula search refuses."""


def add(sub) -> ConfigFlags:
    """Add ``evolve`` to the subcommands ``sub``; its config flags, to read them back."""
    p = sub.add_parser("evolve", help="search for programs")
    flags = add_config_flags(
        p,
        hj.EvolveConfig(),
        names=NAMES,
        choices=CHOICES | {"task": tuple(hj.SEARCHABLE)},
        metavars=METAVARS,
    )
    p.add_argument("--out", type=pathlib.Path, help="run directory (required unless --resume)")
    p.add_argument(
        "--seed-builtins",
        action="store_true",
        help="start from every hand-designed program of the task too (the builtins)",
    )
    add_data_dir_flag(p)
    p.add_argument("--no-progress", action="store_true", help="print no progress bar")
    g = p.add_argument_group("run")
    g.add_argument(
        "--resume",
        type=pathlib.Path,
        metavar="DIR",
        help="continue the run in DIR from its latest checkpoint (its own flags apply)",
    )
    g.add_argument("--distributed", action="store_true", help="join a multi-process run")
    g.add_argument("--coordinator-address", help="host:port of process 0")
    g.add_argument("--num-processes", type=positive)
    g.add_argument("--process-id", type=int)
    p.set_defaults(run=functools.partial(run, flags=flags))
    return flags


def config(args, flags: ConfigFlags) -> hj.EvolveConfig:
    """The run's config from its flags (``UsageError`` for what it cannot take)."""
    if args.task != hj.REGRESSION:
        names = hj.builtin_names(args.task) if args.seed_builtins else ()
        seeds = (*args.seed_programs, *(f"builtin:{name}" for name in names))
        return flags.read(args, seed_programs=seeds)
    refused = flags.given(args, *NOT_FOR_REGRESSION) + ["--seed-builtins"] * args.seed_builtins
    if refused:
        raise UsageError(
            f"{', '.join(refused)}: not flags of --task {hj.REGRESSION} (it trains nothing)"
        )
    return flags.read(args, screening=hj.ScreeningConfig.off())


def run(args, flags: ConfigFlags) -> None:
    """Run (or resume) the search and print its result."""
    if args.distributed:
        with usage():
            hj.initialize_distributed(args.coordinator_address, args.num_processes, args.process_id)
    elif args.coordinator_address or args.num_processes or args.process_id is not None:
        raise UsageError("--coordinator-address etc. need --distributed")
    if args.resume is not None:
        out, settings = args.resume, hj.resume_config(args.resume)
    elif args.out is None:
        raise UsageError("evolve needs --out DIR (or --resume DIR)")
    else:
        out, settings = args.out, config(args, flags)
    show = not args.no_progress and jax.process_index() == 0
    with progress_printer(settings.generations, enabled=show) as on_generation:
        summary = hj.evolve(
            settings,
            out,
            on_generation=on_generation,
            resume=args.resume is not None,
            data_dir=args.data_dir,
        )
    print(_regression_line(summary) if "regression" in summary else _line(summary))
    print(f"best hash {summary['best_hash']} (process {jax.process_index()})")
    if jax.process_index() == 0:
        print(f"wrote {out}/metrics.jsonl, best.json, summary.json")


def _line(summary: dict) -> str:
    """What a training task's run found: its accuracies against the baseline's."""
    return (
        f"best validation accuracy {_accuracy(summary['best_fitness'])} (fresh keys "
        f"{_accuracy(summary['fresh_fitness'])}) | test "
        f"{summary['final']['program']['mean']:.4f} vs {summary['baseline']} "
        f"{summary['baseline_accuracy']:.4f} | {summary['evals_per_second']:.1f} evals/s | "
        f"{summary['best_formula']}"
    )


def _accuracy(value) -> str:
    """An accuracy for the terminal; ``None`` when every program was rejected."""
    return "none (every program rejected)" if value is None else f"{value:.4f}"


def _regression_line(summary: dict) -> str:
    """What a formula search found: its MSE and R², not accuracies."""
    r = summary["regression"]
    test = r["test"]["r2"]
    return (
        f"{r['problem']} ({r['formula']}, {r['sampling']}): best R² {r['search']['r2']:.6f} "
        f"(MSE {r['search']['mse']:.3g}) on the run's points, "
        f"{sum(test) / len(test):.6f} on {len(test)} test sample(s) | "
        f"{summary['evals_per_second']:.1f} evals/s | {summary['best_formula']}"
    )
