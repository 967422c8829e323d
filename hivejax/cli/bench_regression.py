"""``hivejax bench --workload regression``: GP operations per second, and solve rates.

**GP operations per second** (``gp_ops``), the throughput figure of the genetic-programming
literature (DESIGN.md: EvoGP reports about 1e11 on one consumer GPU for tree GP): the
live instructions of a population times the data points, divided by the seconds one
evaluation of the population takes. One evaluation is a forward pass only: every program
predicts every point and its error is reduced to an MSE (``regression.mse``), as a GP
system computes fitness; no gradient is taken. In one process it times, at every
population size and number of points:

- each interpreter of ``interpreters.NAMES`` (or those asked for) on the same random
  programs and the same points (``U[-1, 1]``, nguyen-1's target). The programs are the
  engine's initialiser's (the ``koza`` op set, one input ``x``) at full length, 16
  instructions, keeping those whose live code reads ``x``: about 5 live instructions each
  (fewer than a third of the initialiser's shorter programs read ``x`` at all). The count
  is of *live* instructions, what the programs mean, whatever an interpreter executes:
  ``reference`` runs every slot and every op of the table, ``fused`` and ``select`` only
  the live slots (with the forward pass they train with, which also computes each op's
  local partials);
- optionally ``bench/deap_regression.py``, DEAP trees evaluated by numpy one program after
  another, on the very same programs and points; its MSEs are compared with hivejax's.

Compilation is timed apart and each figure is the median of ``repeats`` runs after a
warm-up. Sizes run smallest first; a size whose predicted time (from the interpreter's
rate at the previous size) is over ``max_seconds`` is skipped and says so, and an
interpreter that fails (``pallas`` where it is not built, or out of memory) is reported
with its error and not tried at larger sizes. The population is evaluated ``chunk_size``
programs at a time (default: as many as make ``CHUNK_VALUES`` register values), so
memory stays bounded at any population. One device; the rate of a sharded population
grows with the devices, as the programs are independent.

**Solve rate** (``solve_rate``): ``evolve`` on each problem with ``runs`` seeds at a fixed
budget (population x generations), and the share of runs whose best program reaches
R² > ``THRESHOLD`` on the run's fitness cases (and, reported beside it, on a fresh test
sample from the same ranges). A measurement, not a test: its runtime is minutes per
problem on a CPU.
"""

import functools
import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

import jax
import jax.numpy as jnp
import numpy as np

import hivejax as hj
from hivejax._src.io import deap_format
from hivejax._src.program import ops
from hivejax._src.program.liveness import live_mask
from hivejax._src.program.program import random_population
from hivejax._src.tasks import regression
from hivejax.cli import bench
from hivejax.cli.flags import UsageError, positive, positive_float, usage

POPULATIONS = (1_000, 10_000, 100_000)
POINTS = (1_000, 10_000)
MAX_SECONDS = 10.0
"""A size is skipped when its repeats are predicted to take longer than this."""
CHUNK_VALUES = 1 << 22
"""Register values (programs x points) evaluated at once by default."""
PROBLEM = "nguyen-1"
"""Whose target the timed programs are scored against (any would do)."""
BASELINE = pathlib.Path(__file__).resolve().parents[2] / "bench" / "deap_regression.py"
"""The DEAP + numpy script in a source checkout."""

THRESHOLD = 0.999
"""A run solves its problem when its best program's R² is above this."""
RUNS = 10
SOLVE_BUDGET = (500, 50)
"""(population, generations) of each solve-rate run."""


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
    spec = hj.RegressionTask(problem=PROBLEM).spec
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


def _baseline_cell(script, budget: _Budget, row: dict, inputs, mses: dict) -> dict:
    """The DEAP + numpy script's result at one size (see ``_run_baseline``)."""
    values = row["population"] * row["points"]
    skip = budget.skip("deap_numpy", values, 1)
    if skip:
        return {**row, "skipped": skip}
    result = _run_baseline(script, mses, row, *inputs)
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
    baseline_script: str | os.PathLike | None = None,
) -> dict:
    """GP operations per second of each interpreter at every size; see the module docstring.

    ``interpreters``: names of ``interpreters.NAMES`` (default all of them);
    ``baseline_script``: also run the DEAP + numpy script at every size.
    """
    if repeats < 1 or not populations or not points:
        raise ValueError("need repeats >= 1 and at least one population and one point count")
    names = tuple(interpreters or hj.INTERPRETERS)
    for name in names:
        hj.resolve_interpreter(name)  # a ValueError names the choices
    sizes = sorted(((p, n) for p in populations for n in points), key=lambda s: s[0] * s[1])
    budget = _Budget(max_seconds)
    cells, baseline = [], []
    for population, n in sizes:
        spec, programs, x, target, live = _inputs(seed, population, n)
        chunk = chunk_size or max(1, CHUNK_VALUES // n)
        row = {"population": population, "points": n, "live_instructions": live, "chunk": chunk}
        mses = {}
        for name in names:
            cell, mse = _interpreter_cell(name, budget, row, (spec, programs, x, target), repeats)
            cells.append(cell)
            if mse is not None:
                mses[name] = mse
        if baseline_script is not None:
            inputs = (spec, programs, x, target)
            baseline.append(_baseline_cell(baseline_script, budget, row, inputs, mses))
    report = _gp_ops_report(cells, repeats, max_seconds)
    if baseline_script is not None:
        report["deap_numpy"] = baseline
    return report


def _gp_ops_report(cells, repeats: int, max_seconds: float) -> dict:
    return {
        "workload": "regression",
        "measure": "GP operations per second: live instructions x points / seconds of one "
        "forward evaluation (predictions and MSE, no gradients), compilation excluded",
        "problem": PROBLEM,
        "op_set": regression.OP_SETS[0],
        "repeats": repeats,
        "max_seconds": max_seconds,
        "cells": cells,
        "machine": bench.machine(),
    }


def _baseline_file(path, spec, programs, x, target, live) -> None:
    """Write what ``bench/deap_regression.py`` reads: each program as a DEAP expression
    (``deap_format.to_deap``; ``ValueError`` if one cannot be written), the points, the
    target and the live instruction count."""
    host = jax.device_get(programs)
    size = int(host.length.shape[0])
    expressions = [
        deap_format.to_deap(spec, jax.tree.map(lambda a, i=i: a[i], host)) for i in range(size)
    ]
    np.savez(
        path,
        expressions=np.asarray(expressions),
        inputs=np.asarray(spec.inputs),
        x=np.asarray(x),
        target=np.asarray(target),
        live=live,
    )


def _agreement(theirs: np.ndarray, ours: np.ndarray) -> float:
    """Share of programs whose MSEs agree: within 1e-3 relative, or both past 1e30 or NaN
    (float32 sin, exp and log differ by ulps between numpy and XLA, and a few programs
    amplify them)."""
    close = np.isclose(theirs, ours, rtol=1e-3, atol=1e-6)
    huge = (np.nan_to_num(theirs, nan=np.inf) > 1e30) & (np.nan_to_num(ours, nan=np.inf) > 1e30)
    return float(np.mean(close | huge | (np.isnan(theirs) & np.isnan(ours))))


def _run_baseline(script, mses: dict, row: dict, spec, programs, x, target) -> dict:
    """Run the DEAP + numpy script on the same programs; its report and the agreement of
    its MSEs with hivejax's (the reference interpreter's where it ran)."""
    script = pathlib.Path(script)
    if not script.is_file():
        return {"skipped": f"baseline script not found: {script}"}
    with tempfile.TemporaryDirectory() as tmp:
        programs_file, mse_file = pathlib.Path(tmp, "programs.npz"), pathlib.Path(tmp, "mse.npy")
        try:
            _baseline_file(programs_file, spec, programs, x, target, row["live_instructions"])
        except ValueError as e:  # a program DEAP's vocabulary cannot write
            return {"error": f"cannot export to DEAP: {e}"[:300]}
        cmd = [sys.executable, str(script), "--json", "--programs", str(programs_file)]
        done = subprocess.run(
            [*cmd, "--mse-out", str(mse_file)], capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            return {"error": f"baseline script failed: {tail[0]}"[:300]}
        result = json.loads(done.stdout.strip().splitlines()[-1])
        if "skipped" in result or not mses:
            return result
        ours = mses.get("reference", next(iter(mses.values())))
        result["mse_agreement"] = _agreement(np.load(mse_file), np.asarray(ours))
        return result


def run_config(
    problem: str, seed: int, population: int, generations: int, interpreter: str = "auto"
) -> hj.EvolveConfig:
    """One solve-rate run: a regression search of ``problem`` at the given budget."""
    return hj.EvolveConfig(
        task=hj.REGRESSION,
        problem=problem,
        population=population,
        generations=generations,
        seed=seed,
        cascade=False,
        cache=0,
        survivors=None,
        hurdle_steps=None,
        final_seeds=1,
        interpreter=interpreter,
        chunk_size=population,  # a formula is small: no memory probe
    )


def solve_rate(
    problems=tuple(regression.PROBLEMS),
    runs: int = RUNS,
    population: int = SOLVE_BUDGET[0],
    generations: int = SOLVE_BUDGET[1],
    interpreter: str = "auto",
    threshold: float = THRESHOLD,
) -> dict:
    """Per problem, the share of ``runs`` seeded runs that reach R² > ``threshold``."""
    rows = []
    for name in problems:
        regression.get_problem(name)  # a ValueError lists the problems
        r2, r2_test, formulas, t0 = [], [], [], time.perf_counter()
        for seed in range(runs):
            config = run_config(name, seed, population, generations, interpreter)
            with tempfile.TemporaryDirectory() as out:
                summary = hj.evolve(config, pathlib.Path(out) / "run")
            hj.release_executables()  # 150 runs would exhaust the process's memory maps
            r2.append(summary["regression"]["search"]["r2"])
            r2_test.append(summary["regression"]["test"]["r2"][0])
            formulas.append(summary["best_formula"])
        rows.append(
            {
                "problem": name,
                "solved": int(np.sum(np.asarray(r2) > threshold)),
                "solve_rate": float(np.mean(np.asarray(r2) > threshold)),
                "solve_rate_test": float(np.mean(np.asarray(r2_test) > threshold)),
                "r2": r2,
                "r2_test": r2_test,
                "formulas": formulas,
                "seconds": time.perf_counter() - t0,
            }
        )
    return {
        "workload": "regression-solve-rate",
        "population": population,
        "generations": generations,
        "runs": runs,
        "interpreter": hj.resolve_interpreter(interpreter),
        "threshold": threshold,
        "problems": rows,
        "machine": bench.machine(),
    }


def format_gp_ops(report: dict) -> str:
    """One line per interpreter and size, then the DEAP + numpy lines."""
    lines = []
    for c in report["cells"]:
        size = f"{c['interpreter']:>9} P={c['population']:<7} N={c['points']:<6}"
        if "gp_ops_per_second" in c:
            lines.append(
                f"{size} {c['gp_ops_per_second']:9.3g} GP ops/s ({c['seconds']:.3f} s, "
                f"compile {c['compile_seconds']:.1f} s)"
            )
        else:
            lines.append(f"{size} {c.get('skipped') or c.get('error')}")
    for c in report.get("deap_numpy", []):
        size = f"{'deap':>9} P={c['population']:<7} N={c['points']:<6}"
        if "gp_ops_per_second" in c:
            lines.append(
                f"{size} {c['gp_ops_per_second']:9.3g} GP ops/s ({c['seconds']:.3f} s, "
                f"compile {c['compile_seconds']:.1f} s; MSE agreement "
                f"{c.get('mse_agreement', float('nan')):.3f})"
            )
        else:
            lines.append(f"{size} {c.get('skipped') or c.get('error')}")
    return "\n".join(lines)


def format_solve_rate(report: dict) -> str:
    """One line per problem."""
    lines = [
        f"{report['runs']} runs of {report['population']} x {report['generations']} per "
        f"problem; solved: R² > {report['threshold']} on the fitness cases (and on a test sample)"
    ]
    for r in report["problems"]:
        lines.append(
            f"{r['problem']:>10}: {r['solved']}/{len(r['r2'])} solved "
            f"(test {r['solve_rate_test']:.0%}), {r['seconds']:.0f} s"
        )
    return "\n".join(lines)


# ---- the command line ----------------------------------------------------------------------

_FLAGS = ("points", "problem", "solve_rate", "runs", "baseline", "max_seconds")


def add_flags(p) -> None:
    """``hivejax bench``'s flags of ``--workload regression``."""
    g = p.add_argument_group("regression")
    g.add_argument(
        "--points",
        type=positive,
        nargs="+",
        help="regression: data points per program (default: 1000 10000); with --population "
        "N, one population size instead of 1000 10000 100000",
    )
    g.add_argument(
        "--max-seconds",
        type=positive_float,
        help=f"regression: skip a size predicted to take longer (default: {MAX_SECONDS:g} s)",
    )
    g.add_argument(
        "--baseline",
        action="store_true",
        help="regression: also run bench/deap_regression.py (DEAP + numpy) on the same "
        "programs and points; skipped if deap is not installed",
    )
    g.add_argument(
        "--solve-rate",
        action="store_true",
        help=f"regression: instead, {RUNS} evolve runs per problem at a fixed budget "
        f"(--population, --generations; default {SOLVE_BUDGET[0]} x {SOLVE_BUDGET[1]}), "
        f"and the share reaching R² > {THRESHOLD}",
    )
    g.add_argument(
        "--problem",
        nargs="+",
        choices=tuple(regression.PROBLEMS),
        help="regression --solve-rate: the problems (default: all)",
    )
    g.add_argument("--runs", type=positive, help=f"regression --solve-rate: seeds (default {RUNS})")


def refuse_flags(args) -> None:
    """A ``UsageError`` naming the regression flags given to another workload."""
    given = [k for k in _FLAGS if getattr(args, k) not in (None, False)]
    if given:
        flags = ", ".join("--" + k.replace("_", "-") for k in given)
        raise UsageError(f"{flags}: flags of bench --workload regression")


def command(args) -> tuple[dict, str]:
    """``hivejax bench --workload regression``: the report and its text."""
    if args.solve_rate:
        if args.points or args.baseline or args.max_seconds:
            raise UsageError(
                "--points, --baseline and --max-seconds measure GP ops, not --solve-rate"
            )
        if len(args.interpreter) != 1 or args.interpreter[0] == "all":
            raise UsageError("--solve-rate runs with one --interpreter")
        problems = args.problem or tuple(regression.PROBLEMS)
        budget = (args.population or SOLVE_BUDGET[0], args.generations or SOLVE_BUDGET[1])
        with usage():  # a budget the config refuses is the user's mistake
            run_config(problems[0], 0, *budget, args.interpreter[0])
        report = solve_rate(problems, args.runs or RUNS, *budget, args.interpreter[0])
        return report, format_solve_rate(report)
    if args.problem or args.runs or args.generations:
        raise UsageError("--problem, --runs and --generations are flags of --solve-rate")
    every = args.interpreter in (["auto"], ["all"]) or "all" in args.interpreter
    names = hj.INTERPRETERS if every else args.interpreter
    report = gp_ops(
        (args.population,) if args.population else POPULATIONS,
        tuple(args.points or POINTS),
        tuple(dict.fromkeys(hj.resolve_interpreter(name) for name in names)),
        args.repeats,
        chunk_size=args.chunk_size if args.chunk_size != "auto" else None,
        max_seconds=args.max_seconds or MAX_SECONDS,
        baseline_script=args.baseline_script or (BASELINE if args.baseline else None),
    )
    return report, format_gp_ops(report)
