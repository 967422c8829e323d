"""Solve rates of symbolic regression: how often a search finds each benchmark's formula.

``evolve`` runs on each problem with ``runs`` seeds at a fixed budget (population x
generations), and the share of runs whose best program reaches R² > ``THRESHOLD`` on the
run's fitness cases (and, reported beside it, on a fresh test sample from the same
ranges). A measurement, not a test: its runtime is minutes per problem on a CPU.

``seeded_runs`` is the loop both this workload and ``hivejax bench nguyen``
(``bench/nguyen.py``) run: one ``evolve`` per seed, and what each run found.
"""

import pathlib
import tempfile
import time

import numpy as np

from hivejax._src.bench.timing import machine
from hivejax._src.interpret.compilation_cache import release_executables
from hivejax._src.interpret.dispatch import resolve
from hivejax._src.io.program_io import load_program
from hivejax._src.run.config import EvolveConfig, FinishConfig, ScaleConfig
from hivejax._src.run.loop import evolve
from hivejax._src.search.generation import ScreeningConfig
from hivejax._src.tasks import regression

THRESHOLD = 0.999
"""A run solves its problem when its best program's R² is above this."""
PROBLEMS = regression.TABLE
"""The problems by default: the first table's fifteen (``tasks/regression.py``)."""
RUNS = 10
BUDGET = (500, 50)
"""(population, generations) of each run."""


def run_config(
    problem: str, seed: int, population: int, generations: int, interpreter: str = "auto"
) -> EvolveConfig:
    """One solve-rate run: a regression search of ``problem`` at the given budget."""
    return EvolveConfig(
        task=regression.RegressionTask.name,
        problem=problem,
        population=population,
        generations=generations,
        seed=seed,
        screening=ScreeningConfig.off(),
        finish=FinishConfig(final_seeds=1),
        # a formula is small: no memory probe
        scale=ScaleConfig(interpreter=interpreter, chunk_size=population),
    )


def seeded_runs(
    problem: str, seeds, population: int, generations: int, interpreter: str = "auto"
) -> list[dict]:
    """One ``run_config`` search of ``problem`` per seed in ``seeds``. Per run: its
    ``seed``, the best program's R² on the run's fitness cases (``r2``) and on a fresh
    sample (``r2_test``), its ``formula``, its ``spec`` and ``program`` (from ``best.json``),
    the run's ``evaluations`` and its wall ``seconds``."""
    regression.get_problem(problem)  # a ValueError lists the problems
    runs = []
    for seed in seeds:
        config = run_config(problem, seed, population, generations, interpreter)
        t0 = time.perf_counter()
        with tempfile.TemporaryDirectory() as out:
            run_dir = pathlib.Path(out) / "run"
            summary = evolve(config, run_dir)
            spec, program = load_program(str(run_dir / "best.json"))
        seconds = time.perf_counter() - t0
        release_executables()  # 150 runs would exhaust the process's memory maps
        fit = summary["regression"]
        runs.append(
            {
                "seed": seed,
                "r2": fit["search"]["r2"],
                "r2_test": fit["test"]["r2"][0],
                "formula": summary["best_formula"],
                "spec": spec,
                "program": program,
                "evaluations": summary["evaluations"],
                "seconds": seconds,
            }
        )
    return runs


def solve_rate(
    problems=PROBLEMS,
    runs: int = RUNS,
    population: int = BUDGET[0],
    generations: int = BUDGET[1],
    interpreter: str = "auto",
    threshold: float = THRESHOLD,
) -> dict:
    """Per problem, the share of ``runs`` seeded runs that reach R² > ``threshold``."""
    rows = []
    for name in problems:
        t0 = time.perf_counter()
        done = seeded_runs(name, range(runs), population, generations, interpreter)
        r2, r2_test = [r["r2"] for r in done], [r["r2_test"] for r in done]
        formulas = [r["formula"] for r in done]
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
        "interpreter": resolve(interpreter),
        "threshold": threshold,
        "problems": rows,
        "machine": machine(),
    }
