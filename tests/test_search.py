"""End to end: for every task, evolution beats random search of the same evaluation budget
on MNIST-1D, with a fixed seed and a loose margin."""

import json

import jax
import numpy as np
import pytest

from hivejax._src.data import load_dataset
from hivejax._src.engine import EvolveConfig, evolve, run_keys
from hivejax._src.program import random_population
from hivejax._src.tasks.registry import make_task
from hivejax._src.tasks.training import TrainConfig

TRAIN = TrainConfig(steps=60)
# (population, generations) per task; random search scores as many programs in batches of
# the population size. Measured here (evolution against random search, best accuracy, this
# seed): loss 0.201 against 0.180, activation 0.283 against 0.256, optimizer 0.306 against
# 0.241. The README records a second seed.
BUDGETS = {"loss": (256, 16), "activation": (128, 16), "optimizer": (128, 16)}


@pytest.mark.slow
@pytest.mark.parametrize("task_name", list(BUDGETS))
def test_evolution_beats_random_search(tmp_path, task_name):
    population, generations = BUDGETS[task_name]
    config = EvolveConfig(
        task=task_name,
        dataset="mnist1d",
        population=population,
        generations=generations,
        seed=0,
        train=TRAIN,
        final_seeds=1,
    )
    # One device: the trajectory (and the margin measured below) is that of this layout.
    summary = evolve(config, tmp_path, devices=jax.devices()[:1])
    lines = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert len(lines) == generations

    # Random search: as many programs from the same initialiser, scored under the same key.
    task = make_task(task_name, TRAIN)
    data = load_dataset("mnist1d")
    _, eval_key, _ = run_keys(config.seed)
    accuracy = jax.jit(task.accuracy)
    random_best = max(
        float(
            np.nanmax(
                accuracy(
                    random_population(jax.random.key(100 + i), task.spec, population),
                    data,
                    eval_key,
                )
            )
        )
        for i in range(generations)
    )
    print(f"{task_name}: evolution {summary['best_fitness']:.3f}, random {random_best:.3f}")
    # Loose margin: one point of accuracy.
    assert summary["best_fitness"] >= random_best + 0.01, (summary["best_fitness"], random_best)
