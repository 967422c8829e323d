"""Solve rates of symbolic regression: how often a search finds each benchmark's formula.

``evolve`` runs on each problem with ``runs`` seeds at a fixed budget (population x
generations), and the share of runs whose best program reaches R² > ``THRESHOLD`` on the
run's fitness cases (and, reported beside it, on a fresh test sample from the same
ranges). A measurement, not a test: its runtime is minutes per problem on a CPU.
"""

import pathlib
import tempfile
import time

import numpy as np

from hivejax._src.bench.timing import machine
from hivejax._src.interpret.compilation_cache import release_executables
from hivejax._src.interpret.dispatch import resolve
from hivejax._src.run.config import EvolveConfig, FinishConfig, ScaleConfig
from hivejax._src.run.loop import evolve
from hivejax._src.search.generation import ScreeningConfig
from hivejax._src.tasks import regression

THRESHOLD = 0.999
"""A run solves its problem when its best program's R² is above this."""
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


def solve_rate(
    problems=tuple(regression.PROBLEMS),
    runs: int = RUNS,
    population: int = BUDGET[0],
    generations: int = BUDGET[1],
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
                summary = evolve(config, pathlib.Path(out) / "run")
            release_executables()  # 150 runs would exhaust the process's memory maps
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
        "interpreter": resolve(interpreter),
        "threshold": threshold,
        "problems": rows,
        "machine": machine(),
    }
