"""GP operations per second of the interpreters on symbolic regression.

**GP operations per second** (``gp_ops``), the throughput figure of the genetic-programming
literature (EvoGP reports about 1e11 on one consumer GPU for tree GP): the live
instructions of a population times the data points, divided by the seconds one
evaluation of the population takes. One evaluation is a forward pass only: every program
predicts every point and its error is reduced to an MSE (``tasks.regression.mse``), as a
GP system computes fitness; no gradient is taken. In one process it times, at every
population size and number of points:

- each interpreter of ``dispatch.NAMES`` (or those asked for) on the same random
  programs and the same points (``U[-1, 1]``, nguyen-1's target). The programs are the
  engine's initialiser's (the ``koza`` op set, one input ``x``) at full length, 16
  instructions, keeping those whose live code reads ``x``: about 5 live instructions each
  (fewer than a third of the initialiser's shorter programs read ``x`` at all). The count
  is of *live* instructions, what the programs mean, whatever an interpreter executes:
  ``reference`` runs every slot and every op of the table, ``fused`` and ``select`` only
  the live slots (with the forward pass they train with, which also computes each op's
  local partials);
- optionally the DEAP + numpy baseline (``deap_numpy.py``) on the very same programs and
  points; its MSEs are compared with hivejax's.

Compilation is timed apart and each figure is the median of ``repeats`` runs after a
warm-up. Sizes run smallest first; a size whose predicted time (from the interpreter's
rate at the previous size) is over ``max_seconds`` is skipped and says so, and an
interpreter that fails (``pallas`` where it is not built, or out of memory) is reported
with its error and not tried at larger sizes. The population is evaluated ``chunk_size``
programs at a time (default: as many as make ``CHUNK_VALUES`` register values), so
memory stays bounded at any population. One device; the rate of a sharded population
grows with the devices, as the programs are independent.
"""

import functools
import statistics
import time

import jax
import jax.numpy as jnp

from hivejax._src.bench import deap_numpy
from hivejax._src.bench.timing import machine
from hivejax._src.interpret.dispatch import NAMES, resolve
from hivejax._src.program import ops
from hivejax._src.program.liveness import live_mask
from hivejax._src.program.program import random_population
from hivejax._src.tasks import regression

POPULATIONS = (1_000, 10_000, 100_000)
POINTS = (1_000, 10_000)
MAX_SECONDS = 10.0
"""A size is skipped when its repeats are predicted to take longer than this."""
CHUNK_VALUES = 1 << 22
"""Register values (programs x points) evaluated at once by default."""
PROBLEM = "nguyen-1"
"""Whose target the timed programs are scored against (any would do)."""


def _reads_input(spec, program) -> jax.Array:
    """Whether a live instruction of ``program`` reads an input register."""
    live = live_mask(spec, program)
    binary = jnp.asarray(ops.ARITY)[program.op] == 2
    reads = (program.src1 < spec.num_inputs) | (binary & (program.src2 < spec.num_inputs))
    return jnp.any(live & reads)


@functools.partial(jax.jit, static_argnums=(1, 2))
def _population(key, spec, population: int):
    """``population`` full-length random programs (the initialiser's, all ``max_length``
    instructions) that read ``x`` through live code, drawn from four times as many (fewer
    than half of them do; the shortfall, if any, is made up by the others), and their live
    instruction count."""
    drawn = random_population(key, spec, 4 * population, spec.max_length, spec.max_length)
    order = jnp.argsort(~jax.vmap(lambda p: _reads_input(spec, p))(drawn), stable=True)
    programs = jax.tree.map(lambda a: a[order[:population]], drawn)
    return programs, jax.vmap(lambda p: live_mask(spec, p).sum())(programs).sum()


def _inputs(seed: int, population: int, points: int):
    """Programs, points, targets and the programs' live instruction count."""
    spec = regression.RegressionTask(problem=PROBLEM).spec
    k_pop, k_x = jax.random.split(jax.random.key(seed))
    programs, live = _population(k_pop, spec, population)
    x = jax.random.uniform(k_x, (points,), jnp.float32, -1.0, 1.0)
    target = regression.get_problem(PROBLEM).target(jnp, x).astype(jnp.float32)
    return spec, programs, x, target, int(live)


def _time(name: str, spec, programs, x, target, chunk: int, repeats: int):
    """Compile, warm up and time one interpreter's forward pass; its MSEs too."""
    fn = jax.jit(lambda p, x, t: regression.mse(spec, name, p, (x,), t, chunk))
    t0 = time.perf_counter()
    compiled = fn.lower(programs, x, target).compile()
    compile_seconds = time.perf_counter() - t0
    mse = jax.block_until_ready(compiled(programs, x, target))
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(compiled(programs, x, target))
        times.append(time.perf_counter() - t0)
    return {"seconds": statistics.median(times), "compile_seconds": compile_seconds}, mse


class _Budget:
    """Per contender (an interpreter, or the baseline): its last measured seconds per
    register value, and why it stopped, if it did."""

    def __init__(self, max_seconds: float):
        self.max_seconds = max_seconds
        self.rate: dict[str, float] = {}
        self.stopped: dict[str, str] = {}

    def skip(self, name: str, values: int, runs: int) -> str | None:
        """Why ``name`` skips ``runs`` evaluations of ``values`` values, or None."""
        if name in self.stopped:
            return f"failed at a smaller size ({self.stopped[name]})"
        predicted = self.rate.get(name, 0.0) * values * runs
        if predicted > self.max_seconds:
            return f"predicted {predicted:.0f} s > max_seconds {self.max_seconds:g}"
        return None


def _interpreter_cell(name: str, budget: _Budget, row: dict, inputs, repeats: int):
    """The cell of one interpreter at one size, and its MSEs (None if it did not run)."""
    values = row["population"] * row["points"]
    cell = {"interpreter": name, **row}
    skip = budget.skip(name, values, repeats + 1)
    if skip:
        return cell | {"skipped": skip}, None
    try:
        timing, mse = _time(name, *inputs, row["chunk"], repeats)
    except Exception as e:  # noqa: BLE001 (a missing kernel or an OOM is a result)
        budget.stopped[name] = f"{type(e).__name__}: {e}"[:300]
        return cell | {"error": budget.stopped[name]}, None
    budget.rate[name] = timing["seconds"] / values
    rate = row["live_instructions"] * row["points"] / timing["seconds"]
    return cell | timing | {"gp_ops_per_second": rate}, mse


def _baseline_cell(budget: _Budget, row: dict, inputs, mses: dict) -> dict:
    """The DEAP + numpy baseline's result at one size (``deap_numpy.run``)."""
    values = row["population"] * row["points"]
    skip = budget.skip("deap_numpy", values, 1)
    if skip:
        return {**row, "skipped": skip}
    result = deap_numpy.run(mses, row["live_instructions"], *inputs)
    if "seconds" in result:
        budget.rate["deap_numpy"] = (result["seconds"] + result["compile_seconds"]) / values
    else:
        budget.stopped["deap_numpy"] = result.get("skipped") or result.get("error", "")
    return {**row, **result}


def gp_ops(
    populations=POPULATIONS,
    points=POINTS,
    interpreters=None,
    repeats: int = 3,
    seed: int = 0,
    chunk_size: int | None = None,
    max_seconds: float = MAX_SECONDS,
    baseline: bool = False,
) -> dict:
    """GP operations per second of each interpreter at every size; see the module docstring.

    ``interpreters``: names of ``dispatch.NAMES`` (default all of them); ``baseline``:
    also run the DEAP + numpy baseline at every size (skipped where deap is missing).
    """
    if repeats < 1 or not populations or not points:
        raise ValueError("need repeats >= 1 and at least one population and one point count")
    names = tuple(interpreters or NAMES)
    for name in names:
        resolve(name)  # a ValueError names the choices
    sizes = sorted(((p, n) for p in populations for n in points), key=lambda s: s[0] * s[1])
    budget = _Budget(max_seconds)
    cells, baselines = [], []
    for population, n in sizes:
        spec, programs, x, target, live = _inputs(seed, population, n)
        chunk = chunk_size or max(1, CHUNK_VALUES // n)
        row = {"population": population, "points": n, "live_instructions": live, "chunk": chunk}
        inputs, mses = (spec, programs, x, target), {}
        for name in names:
            cell, mse = _interpreter_cell(name, budget, row, inputs, repeats)
            cells.append(cell)
            if mse is not None:
                mses[name] = mse
        if baseline:
            baselines.append(_baseline_cell(budget, row, inputs, mses))
    report = {
        "workload": "regression",
        "measure": "GP operations per second: live instructions x points / seconds of one "
        "forward evaluation (predictions and MSE, no gradients), compilation excluded",
        "problem": PROBLEM,
        "op_set": regression.OP_SETS[0],
        "repeats": repeats,
        "max_seconds": max_seconds,
        "cells": cells,
        "machine": machine(),
    }
    if baseline:
        report["deap_numpy"] = baselines
    return report
