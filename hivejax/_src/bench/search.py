"""Evolution against random search at the same budget: a measurement, not a test.

For each seed, ``evolve`` runs ``population x generations`` programs, and random search
(``strategy.RandomSearch``: fresh programs from the same initialiser every generation)
judges as many through the very same generation: the same rejection cascade, equivalence
cache, places, hurdle and evaluation key. Both report the best search score (validation
accuracy under the run's key; 0 when every program was rejected). Which one wins on a
given seed depends on a float trajectory, and XLA's CPU code differs between processors,
so one seed proves nothing anywhere else: the report gives every seed, and over the seeds
the mean lead of evolution with a one-sided Student-t lower bound
(``evaluation.scores.summarize``).
"""

import dataclasses
import pathlib
import tempfile

import numpy as np

from hivejax._src.evaluation.scores import summarize
from hivejax._src.interpret.compilation_cache import release_executables
from hivejax._src.run.config import EvolveConfig, FinishConfig
from hivejax._src.run.loop import evolve
from hivejax._src.search.strategy import SearchConfig
from hivejax._src.tasks.training import TrainConfig

BUDGETS = {"loss": (256, 30), "activation": (128, 30), "optimizer": (128, 30)}
"""(population, generations) per task: the budgets the figures in docs/search.md use."""


def best_score(config: EvolveConfig, data_dir=None) -> float:
    """The best search score of a run of ``config`` (0 when it counted no program)."""
    with tempfile.TemporaryDirectory() as out:
        summary = evolve(config, pathlib.Path(out) / "run", data_dir=data_dir)
    release_executables()  # one run after another: see its docstring
    return summary["best_fitness"] or 0.0


def against_random(
    task: str,
    seeds,
    population: int,
    generations: int,
    train: TrainConfig,
    dataset: str = "mnist1d",
    data_dir=None,
) -> dict:
    """Evolution's and random search's best search score per seed, and the lead's summary."""
    evolved, random = [], []
    for seed in seeds:
        config = EvolveConfig(
            task=task,
            dataset=dataset,
            population=population,
            generations=generations,
            seed=seed,
            train=train,
            finish=FinishConfig(final_seeds=1),
        )
        evolved.append(best_score(config, data_dir))
        baseline = dataclasses.replace(config, search=SearchConfig(strategy="random_search"))
        random.append(best_score(baseline, data_dir))
    lead = np.asarray(evolved) - np.asarray(random)
    return {
        "task": task,
        "population": population,
        "generations": generations,
        "steps": train.steps,
        "seeds": list(seeds),
        "evolution": evolved,
        "random_search": random,
        "lead": summarize(lead),
        "evolution_ahead": int(np.sum(lead > 0)),
    }
