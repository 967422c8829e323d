"""Evolution against random search at the same budget: a measurement, not a test.

For each task and seed, ``evolve`` runs ``population x generations`` programs, and random
search (``strategy.RandomSearch``: fresh programs from the same initialiser every
generation) judges as many through the very same generation: the same rejection cascade,
equivalence cache, places, hurdle and evaluation key. Both report the best search score
(validation accuracy under the run's key; 0 when every program was rejected). Which one
wins on a given seed depends on a float trajectory, and XLA's CPU code differs between
processors, so one seed proves nothing anywhere else: the report gives every seed, and
over the seeds the mean lead of evolution with a one-sided Student-t lower bound
(``evaluation.summarize``).
"""

import dataclasses
import pathlib
import tempfile

import numpy as np

import hivejax as hj

# (population, generations) per task: the budgets the figures in docs/search.md use.
BUDGETS = {"loss": (256, 30), "activation": (128, 30), "optimizer": (128, 30)}


def best_score(config: hj.EvolveConfig, data_dir=None) -> float:
    """The best search score of a run of ``config`` (0 when it counted no program)."""
    with tempfile.TemporaryDirectory() as out:
        summary = hj.evolve(config, pathlib.Path(out) / "run", data_dir=data_dir)
    hj.release_executables()  # one run after another: see its docstring
    return summary["best_fitness"] or 0.0


def compare(
    task: str,
    seeds,
    population: int,
    generations: int,
    train: hj.TrainConfig,
    dataset: str = "mnist1d",
    data_dir=None,
) -> dict:
    """Evolution's and random search's best search score per seed, and the lead's summary."""
    evolved, random = [], []
    for seed in seeds:
        config = hj.EvolveConfig(
            task=task,
            dataset=dataset,
            population=population,
            generations=generations,
            seed=seed,
            train=train,
            final_seeds=1,
        )
        evolved.append(best_score(config, data_dir))
        baseline = dataclasses.replace(config, strategy="random_search")
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
        "lead": hj.summarize(lead),
        "evolution_ahead": int(np.sum(lead > 0)),
    }


def format_comparison(report: dict) -> str:
    """One line per seed and one for the lead."""
    lines = [
        f"{report['task']}: {report['population']} x {report['generations']}, "
        f"{report['steps']} steps"
    ]
    for seed, e, r in zip(
        report["seeds"], report["evolution"], report["random_search"], strict=True
    ):
        lines.append(f"  seed {seed}: evolution {e:.3f}, random search {r:.3f}, lead {e - r:+.3f}")
    lead = report["lead"]
    bound = "n/a" if lead["lower_bound"] is None else f"{lead['lower_bound']:+.3f}"
    lines.append(
        f"  lead: mean {lead['mean']:+.3f}, {lead['confidence']:.0%} lower bound {bound}; "
        f"evolution ahead on {report['evolution_ahead']} of {len(report['seeds'])} seeds"
    )
    return "\n".join(lines)
