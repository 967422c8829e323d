"""Programs judged per second by a search against programs trained per second.

A search judges a program by training it, by rejecting it before training (the cascade),
by recognising an equivalent one (the cache) or by stopping it at the hurdle. This
measurement runs a search at the given settings (by default the README's main job) and,
in the same process, trains one population of as many random programs on the full search
protocol, every one of them: the rate a search would have without any of those savings.
Both rates exclude compilation; the ratio is the figure.
"""

import pathlib
import statistics
import tempfile
import time

import jax

from hivejax._src.evaluation.mesh import make_mesh, sharded_score
from hivejax._src.program.program import random_population
from hivejax._src.run.config import EvolveConfig
from hivejax._src.run.loop import evolve
from hivejax._src.tasks.registry import make_task


def judged_against_trained(config: EvolveConfig, repeats: int = 2, data_dir=None) -> dict:
    """``evals_per_second`` of a search run of ``config`` and the training rate beside it."""
    with tempfile.TemporaryDirectory() as out:
        summary = evolve(config, pathlib.Path(out) / "run", data_dir=data_dir)
    task = make_task(config.task, config.train)
    data = task.load_data(config.dataset, data_dir)
    programs = random_population(jax.random.key(config.seed), task.spec, config.population)
    train = jax.jit(sharded_score(task, make_mesh()))
    key = jax.random.key(0)
    jax.block_until_ready(train(programs, data, key))  # compile
    seconds = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(train(programs, data, key))
        seconds.append(time.perf_counter() - t0)
    trained = config.population / statistics.median(seconds)
    judged = summary["evals_per_second"]
    return {
        "population": config.population,
        "generations": config.generations,
        "steps": config.train.steps,
        "judged_per_second": judged,
        "trained_per_second": trained,
        "ratio": judged / trained,
        "best_formula": summary["best_formula"],
    }
