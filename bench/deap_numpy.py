#!/usr/bin/env python3
"""DEAP + numpy baseline for ``hivejax bench regression``: GP operations per second.

What a user would build without hivejax: DEAP expression trees compiled to Python
functions (``gp.compile``), each evaluated by numpy on every data point at once
(vectorised, float32), one program after another, and reduced to its mean squared error
against the target.

The trees are hivejax's programs: the bench writes each program of its population as the
DEAP prefix expression of its output (``hj.to_deap``, the original Hivetrain subnet's
vocabulary: ``safe_add(x, 0.5)``; a register read twice is written out twice, as a tree
cannot share), with the data points, to an ``.npz`` file (``--programs``). This script
parses them with DEAP's own ``PrimitiveTree.from_string`` and compiles them with
``gp.compile``. Both evaluate text with Python's ``eval`` (a number token, a whole tree):
acceptable here only because the text is the bench's own output, written from hivejax
programs a moment before, never text supplied by anyone else.

The primitives reproduce hivejax's meanings of the ``koza`` op set
(``hivejax/_src/program/ops.py``: saturating arithmetic, protected division, log and
exp) in float32 numpy; the bench checks that the MSEs agree with hivejax's.

GP operations per second counts hivejax's live instructions times the data points, so the
two figures compare per program. The work differs: ``tree_primitives`` counts the
primitive calls the trees make (at least as many: shared registers are written out), and
only ``point_primitives`` of them read an input; the others compute on scalars, once per
call, where hivejax's registers compute every instruction at every point. Compilation is
timed apart: DEAP compiles every new tree every generation, so
``gp_ops_per_second_with_compile`` is the rate a DEAP search actually sees.

Usage (the bench runs it, as ``hivejax.baselines``' ``deap_numpy.py``)::

    python bench/deap_numpy.py --programs IN.npz [--mse-out OUT.npy] [--json]

Needs numpy and deap (the ``[bench]`` extra). Without deap it prints
``{"skipped": ...}`` and exits 0, so the bench goes on without it.
"""

import argparse
import json
import math
import sys
import time

import numpy as np

BIG = np.float32(1e30)
EPS = 1e-8


def _f32(a):
    return np.asarray(a, np.float32)


def _saturate(v):
    return np.clip(v, -BIG, BIG)


def _away_from_zero(d):
    return np.where(d >= 0, np.maximum(d, EPS), np.minimum(d, -EPS)).astype(d.dtype)


def _div(a, b):
    a, b = _f32(a), _f32(b)
    return _saturate(np.clip(a, -1e20, 1e20) / _away_from_zero(b + np.float32(EPS)))


# hivejax's koza op set by its DEAP names (``deap_format``): name -> (arity, function).
PRIMITIVES = {
    "safe_add": (2, lambda a, b: _saturate(np.add(a, b, dtype=np.float32))),
    "safe_sub": (2, lambda a, b: _saturate(np.subtract(a, b, dtype=np.float32))),
    "safe_mul": (2, lambda a, b: _saturate(np.multiply(a, b, dtype=np.float32))),
    "safe_div": (2, _div),
    "sin": (1, lambda a: np.sin(a, dtype=np.float32)),
    "cos": (1, lambda a: np.cos(a, dtype=np.float32)),
    "safe_exp": (1, lambda a: np.exp(np.clip(_f32(a), -80.0, 80.0), dtype=np.float32)),
    "safe_log": (1, lambda a: np.log(np.abs(_f32(a)) + np.float32(EPS), dtype=np.float32)),
}
NAMED_CONSTANTS = {"one": 1.0, "zero": 0.0, "half": 0.5, "pi": math.pi, "e": math.e}


def primitive_set(gp, inputs):
    """The DEAP primitive set: the ops, the inputs as arguments, the named constants."""
    ps = gp.PrimitiveSet("REGRESSION", len(inputs))
    for name, (arity, fn) in PRIMITIVES.items():
        ps.addPrimitive(fn, arity, name=name)
    for name, value in NAMED_CONSTANTS.items():
        ps.addTerminal(np.float32(value), name=name)
    ps.renameArguments(**{f"ARG{i}": name for i, name in enumerate(inputs)})
    return ps


def point_primitives(ps, tree) -> int:
    """How many primitives of ``tree`` have an input below them."""
    count, stack = 0, []  # whether each pending subtree reads an input
    for node in reversed(tree):
        if node.arity == 0:
            stack.append(isinstance(node.value, str) and node.value in ps.arguments)
            continue
        reads = any([stack.pop() for _ in range(node.arity)])
        count += reads
        stack.append(reads)
    return count


def _load(path):
    with np.load(path, allow_pickle=False) as f:
        d = {k: f[k] for k in f.files}
    inputs = tuple(str(s) for s in d["inputs"])
    points = tuple(np.asarray(d[name], np.float32) for name in inputs)
    expressions = [str(e) for e in d["expressions"]]
    return inputs, expressions, points, np.asarray(d["target"], np.float32), int(d["live"])


def measure(gp, path):
    """Compile and evaluate every program of ``path``; the report and the MSEs."""
    inputs, expressions, points, target, live = _load(path)
    ps = primitive_set(gp, inputs)
    t0 = time.perf_counter()
    trees = [gp.PrimitiveTree.from_string(e, ps) for e in expressions]
    functions = [gp.compile(tree, ps) for tree in trees]
    compile_seconds = time.perf_counter() - t0
    mse = np.empty(len(functions), np.float32)
    with np.errstate(all="ignore"):
        t0 = time.perf_counter()
        for i, fn in enumerate(functions):
            prediction = np.broadcast_to(np.asarray(fn(*points), np.float32), target.shape)
            error = np.mean(np.square(prediction - target), dtype=np.float32)
            mse[i] = error if np.all(np.isfinite(prediction)) else np.nan
        seconds = time.perf_counter() - t0
    primitives = sum(sum(node.arity > 0 for node in tree) for tree in trees)
    n = target.shape[0]
    report = {
        "impl": "deap+numpy sequential",
        "population": len(trees),
        "points": n,
        "live_instructions": live,
        "tree_primitives": int(primitives),
        "compile_seconds": compile_seconds,
        "seconds": seconds,
        "gp_ops_per_second": live * n / seconds,
        "gp_ops_per_second_with_compile": live * n / (seconds + compile_seconds),
        "tree_ops_per_second": primitives * n / seconds,
        "point_primitives": sum(point_primitives(ps, tree) for tree in trees),
    }
    return report, mse


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--programs", required=True, help="the .npz file the bench writes")
    ap.add_argument("--mse-out", help="write each program's MSE here (.npy)")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    try:
        from deap import gp
    except ImportError:
        print(json.dumps({"skipped": "deap is not installed (pip install 'hivejax[bench]')"}))
        return
    report, mse = measure(gp, a.programs)
    if a.mse_out:
        np.save(a.mse_out, mse)
    if a.json:
        print(json.dumps(report))
    else:
        print(f"{report['gp_ops_per_second']:.3g} GP ops/s ({report['population']} programs)")


if __name__ == "__main__":
    sys.exit(main())
