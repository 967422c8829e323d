#!/usr/bin/env python3
"""DEAP + PyTorch baseline for ``hivejax bench throughput --baseline``: evaluations per second.

What a user would build to search for a loss without hivejax: random DEAP expression trees
over the logits ``x`` and the one-hot targets ``y``, in the 15-primitive vocabulary of the
original Hivetrain miner, each compiled to a Python function and used as the loss of a
freshly initialised PyTorch MLP trained with Adam, one genome after another. Every number
of the training is the throughput protocol's (``PROTOCOL.md`` beside this file), so the
bench runs it in the same process tree on the same machine, and the ratio of the two
rates is the figure to quote.

The genomes: ``genHalfAndHalf`` trees of depth 1 to 3, kept only when they read ``x`` (a
loss blind to the logits trains nothing, and the protocol counts only full training runs),
and genome 0 replaced by cross-entropy in the same vocabulary, so the run reports the
baseline's accuracy too. A genome whose loss is not differentiable in the logits, goes
non-finite or raises scores 0 and stops early; ``full_budget_genomes`` counts the others.
One training run before the clock starts warms PyTorch up; compiling each tree is timed,
as a search pays for it.

Usage (the bench runs it, as ``hivejax.baselines``' ``deap_torch.py``)::

    python bench/deap_torch.py [--genomes 48] [--dataset mnist1d|digits] [--seed 0] [--json]

The last line of output is the report (one JSON object with ``--json``). Needs torch,
deap, numpy, mnist1d and scikit-learn: ``pip install 'hivejax[bench]'``.
"""

import argparse
import json
import random
import time
import warnings

import numpy as np
import torch
from deap import gp

HIDDEN = 128
STEPS = 100
BATCH = 32
LEARNING_RATE = 1e-3
CLASSES = 10
CROSS_ENTROPY = "safe_mul(safe_log(sigmoid(x)), safe_sub(zero, y))"
"""Genome 0: cross-entropy (of independent sigmoids) in the miner's vocabulary."""

BINARY = {
    "safe_add": torch.add,
    "safe_sub": torch.sub,
    "safe_mul": torch.mul,
    "safe_div": lambda a, b: a / (b + 1e-8),
}
UNARY = {
    "safe_log": lambda a: torch.log(torch.abs(a) + 1e-8),
    "safe_sqrt": lambda a: torch.sqrt(torch.abs(a)),
    "safe_exp": lambda a: torch.exp(torch.clamp(a, -100, 100)),
    "sin": torch.sin,
    "cos": torch.cos,
    "tan": torch.tan,
    "sigmoid": torch.sigmoid,
    "relu": torch.relu,
    "tanh": torch.tanh,
    "mean": torch.mean,
    "std": torch.std,
}
TERMINALS = {"one": 1.0, "zero": 0.0, "half": 0.5}


def load(name: str) -> tuple[torch.Tensor, ...]:
    """Train inputs and labels, test inputs and labels, split as hivejax splits them."""
    if name == "mnist1d":
        # Late, like scikit-learn below: only this data set needs it.
        from mnist1d.data import get_dataset_args, make_dataset

        d = make_dataset(get_dataset_args())  # the canonical set
        arrays = d["x"], d["y"], d["x_test"], d["y_test"]
    elif name == "digits":
        from sklearn.datasets import load_digits

        x, y = load_digits(return_X_y=True)
        x = x / 16.0
        arrays = x[:1400], y[:1400], x[1400:], y[1400:]
    else:
        raise SystemExit(f"unknown dataset {name!r}: the baseline knows mnist1d and digits")
    x_train, y_train, x_test, y_test = (np.asarray(a) for a in arrays)
    return (
        torch.tensor(x_train.reshape(len(x_train), -1), dtype=torch.float32),
        torch.tensor(y_train, dtype=torch.long),
        torch.tensor(x_test.reshape(len(x_test), -1), dtype=torch.float32),
        torch.tensor(y_test, dtype=torch.long),
    )


def primitive_set() -> gp.PrimitiveSet:
    """The miner's vocabulary: 4 binary and 11 unary primitives, a random constant in
    ``[-1, 1]``, three named constants, and the arguments ``x`` and ``y``."""
    ps = gp.PrimitiveSet("LOSS", 2)
    for arity, primitives in ((2, BINARY), (1, UNARY)):
        for name, fn in primitives.items():
            ps.addPrimitive(fn, arity, name=name)
    ps.addEphemeralConstant("rand_const", lambda: torch.tensor(random.uniform(-1, 1)))
    for name, value in TERMINALS.items():
        ps.addTerminal(torch.tensor(value), name=name)
    ps.renameArguments(ARG0="x", ARG1="y")
    return ps


def genomes(ps: gp.PrimitiveSet, count: int, seed: int) -> list[gp.PrimitiveTree]:
    """``count`` random trees that read ``x``, the first replaced by cross-entropy."""
    random.seed(seed)
    trees = []
    while len(trees) < count:
        tree = gp.PrimitiveTree(gp.genHalfAndHalf(ps, 1, 3))
        if any(getattr(node, "value", None) == "x" for node in tree):
            trees.append(tree)
    trees[0] = gp.PrimitiveTree.from_string(CROSS_ENTROPY, ps)
    return trees


def train(loss, data, seed: int) -> tuple[float, int]:
    """Test accuracy of an MLP trained with ``loss``, and the steps it ran (``STEPS``
    unless the loss broke, which scores 0)."""
    x_train, y_train, x_test, y_test = data
    torch.manual_seed(seed)
    model = torch.nn.Sequential(
        torch.nn.Linear(x_train.shape[1], HIDDEN),
        torch.nn.ReLU(),
        torch.nn.Linear(HIDDEN, CLASSES),
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
    for step in range(STEPS):
        batch = torch.randint(0, x_train.shape[0], (BATCH,))
        targets = torch.nn.functional.one_hot(y_train[batch], CLASSES).float()
        value = loss(model(x_train[batch]), targets)
        if not torch.is_tensor(value) or not value.requires_grad:  # blind to the logits
            return 0.0, step
        value = value.mean()
        if not torch.isfinite(value):
            return 0.0, step
        optimizer.zero_grad()
        value.backward()
        optimizer.step()
    with torch.no_grad():
        return (model(x_test).argmax(-1) == y_test).float().mean().item(), STEPS


def measure(trees, ps: gp.PrimitiveSet, data, seed: int) -> tuple[float, list[float], int]:
    """Seconds to compile and train every tree, their accuracies, and how many trained
    the full budget."""
    train(gp.compile(trees[0], ps), data, seed)  # warm-up, not counted
    accuracies, full = [], 0
    t0 = time.perf_counter()
    for i, tree in enumerate(trees):
        try:
            accuracy, steps = train(gp.compile(tree, ps), data, seed + i)
        except Exception:  # noqa: BLE001 (a broken genome scores zero, as a crashed one would)
            accuracy, steps = 0.0, 0
        accuracies.append(accuracy)
        full += steps == STEPS
    return time.perf_counter() - t0, accuracies, full


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--genomes", type=int, default=48, help="genomes trained (at least 1)")
    parser.add_argument("--dataset", default="mnist1d", help="mnist1d or digits")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args()
    if args.genomes < 1:
        parser.error("--genomes must be at least 1")
    warnings.filterwarnings("ignore")  # PyTorch's, on the odd shapes random genomes make
    data = load(args.dataset)
    ps = primitive_set()
    seconds, accuracies, full = measure(genomes(ps, args.genomes, args.seed), ps, data, args.seed)
    report = {
        "impl": "deap+torch sequential",
        "dataset": args.dataset,
        "genomes": args.genomes,
        "seconds": round(seconds, 3),
        "evals_per_s": round(args.genomes / seconds, 3),
        "full_budget_genomes": full,
        "genome0_accuracy": round(accuracies[0], 4),
        "best_accuracy": round(max(accuracies), 4),
        "threads": torch.get_num_threads(),
    }
    if args.json:
        print(json.dumps(report))
    else:
        print(f"{report['evals_per_s']} evals/s ({args.genomes} genomes in {seconds:.2f} s)")


if __name__ == "__main__":
    main()
