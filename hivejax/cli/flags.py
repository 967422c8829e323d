"""Flag parsing shared by every ``hivejax`` command: one-line errors and checked types.

A ``UsageError`` is an error in what the user asked for (exit status 2); ``usage()`` turns
a ``ValueError`` from building configs out of flags into one. The flags of config fields
are made from the configs (``config_flags.py``); the few declared here by hand are the
commands' own, and ``CHOICES`` and ``METAVARS`` are what the configs' flags take from the
library's registries and how their help writes values.
"""

import argparse
import contextlib

import hivejax as hj

EXIT_RUNTIME = 1
EXIT_USAGE = 2
_EVOLVE = hj.EvolveConfig()

CHOICES = {
    "problem": tuple(hj.REGRESSION_PROBLEMS),
    "model": hj.MODELS,
    "strategy": tuple(hj.STRATEGIES),
    "tune_constants": (*hj.TUNERS, hj.META_GRADIENT),
    "interpreter": hj.INTERPRETER_CHOICES,
}
"""The values of config fields that name an entry of a library registry, by field name."""
METAVARS = {
    "seed_programs": "PROGRAM",
    "miner_programs": "PROGRAM",
    "protocol": "NAME",
    "data_dir": "DIR",
}


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors are ``UsageError`` s, printed as one line."""

    def error(self, message):  # one line instead of usage + message
        raise UsageError(f"{self.prog}: {message}")

    def parse_known_args(self, args=None, namespace=None):
        # Every (sub)command refuses what it does not take itself, so that the error names
        # it (`hivejax bench search: unrecognized arguments: --devices all`) rather than
        # the top-level parser, which would otherwise report its subcommands' leftovers.
        namespace, extras = super().parse_known_args(args, namespace)
        if extras:
            self.error(f"unrecognized arguments: {' '.join(extras)}")
        return namespace, extras


class UsageError(Exception):
    """An error in what the user asked for; printed as one line."""


@contextlib.contextmanager
def usage():
    """Treat a ``ValueError`` raised while building configs from flags as a usage error."""
    try:
        yield
    except ValueError as e:
        raise UsageError(str(e)) from None


def int_at_least(low: int):
    """An argparse type: an integer of at least ``low``."""
    what = "a positive integer" if low == 1 else f"an integer >= {low}"

    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"expected {what}, got {value}")
        return value

    return parse


positive = int_at_least(1)
non_negative = int_at_least(0)


def positive_float(text):
    """An argparse type: a number > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {value}")
    return value


def dataset_name(text):
    """An argparse type: a data set name ``load_dataset`` knows."""
    try:
        hj.check_dataset_name(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return text


def add_data_flags(p):
    p.add_argument(
        "--dataset",
        type=dataset_name,
        default=_EVOLVE.dataset,
        help="mnist1d and digits are built in; mnist, fashion_mnist, cifar10 and npz:PATH "
        "load from --data-dir",
    )
    add_data_dir_flag(p)


def add_data_dir_flag(p):
    p.add_argument(
        "--data-dir", metavar="DIR", help="where dataset files are (default: $HIVEJAX_DATA)"
    )


def chunk_size(text):
    """An argparse type: ``auto`` or a positive integer (programs trained at once)."""
    return text if text == "auto" else positive(text)


def add_interpreter_flag(p, several: bool = False):
    """``--interpreter``: one of ``hj.INTERPRETER_CHOICES``, or with ``several`` a list
    where ``all`` stands for every interpreter."""
    help = "which interpreter trains the programs (auto: the measured best for the backend)"
    if several:
        p.add_argument(
            "--interpreter",
            nargs="+",
            choices=(*hj.INTERPRETER_CHOICES, "all"),
            default=["auto"],
            help=help + "; several, or all, are timed side by side",
        )
    else:
        p.add_argument("--interpreter", choices=hj.INTERPRETER_CHOICES, default="auto", help=help)
