"""Evolution against random search at the same budget: a measurement, not a test.

For each task and seed, ``evolve`` runs ``population x generations`` evaluations; random
search then scores as many programs from the same initialiser, in batches of the
population size, under the same evaluation key. Both report the best test accuracy
seen. Which one wins on a given seed depends on a float trajectory, and XLA's CPU code
differs between processors, so one seed proves nothing anywhere else: the report gives
every seed, and over the seeds the mean lead of evolution with a one-sided Student-t
lower bound (``evaluation.summarize``).
"""

import pathlib
import tempfile

import jax
import jax.numpy as jnp
import numpy as np

import hivejax as hj
from hivejax._src.engine import run_keys

# (population, generations) per task: the budgets the README's figures use.
BUDGETS = {"loss": (256, 16), "activation": (128, 16), "optimizer": (128, 16)}


def random_search_best(task, data, eval_key, population: int, batches: int, seed: int) -> float:
    """Best accuracy of ``population * batches`` fresh programs, scored under ``eval_key``
    behind the same rejection cascade as evolution (0 when it rejects them all)."""

    @jax.jit
    def counted(programs):
        accuracy = task.accuracy(programs, data, eval_key)
        passed = hj.cascade_reasons(task.name, task.spec, programs) == 0
        return jnp.where(passed & ~jnp.isnan(accuracy), accuracy, 0.0)

    best = 0.0
    for i in range(batches):
        programs = hj.random_population(
            jax.random.key(10_000 * seed + 100 + i), task.spec, population
        )
        best = max(best, float(np.max(counted(programs))))
    return best


def compare(
    task: str,
    seeds,
    population: int,
    generations: int,
    train: hj.TrainConfig,
    dataset: str = "mnist1d",
    data_dir=None,
) -> dict:
    """Evolution's and random search's best accuracy per seed, and the lead's summary."""
    data = hj.load_dataset(dataset, data_dir)
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
        with tempfile.TemporaryDirectory() as out:
            summary = hj.evolve(config, pathlib.Path(out) / "run", data_dir=data_dir)
        evolved.append(summary["best_fitness"] or 0.0)  # None: every program rejected
        _, eval_key, _ = run_keys(seed)
        pick = hj.make_task(task, train)
        random.append(random_search_best(pick, data, eval_key, population, generations, seed))
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
