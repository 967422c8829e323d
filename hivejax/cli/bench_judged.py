"""Programs judged per second by a search against programs trained per second.

A search judges a program by training it, by rejecting it before training (the cascade),
by recognising an equivalent one (the cache) or by stopping it at the hurdle. This
measurement runs a search at the given settings (by default the README's main job) and,
in the same process, trains one population of as many random programs on the full search
protocol with the fused interpreter, every one of them: the rate a search would have
without any of those savings. Both rates exclude compilation; the ratio is the figure.
"""

import pathlib
import statistics
import tempfile
import time

import jax

import hivejax as hj


def judged_against_trained(config: hj.EvolveConfig, repeats: int = 2, data_dir=None) -> dict:
    """``evals_per_second`` of a search run of ``config`` and the training rate beside it."""
    with tempfile.TemporaryDirectory() as out:
        summary = hj.evolve(config, pathlib.Path(out) / "run", data_dir=data_dir)
    task = hj.make_task(config.task, config.train)
    data = hj.load_dataset(config.dataset, data_dir)
    mesh = hj.make_mesh()
    programs = hj.random_population(jax.random.key(config.seed), task.spec, config.population)
    train = jax.jit(hj.sharded_accuracy(task, mesh))
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


def format_judged(report: dict) -> str:
    return (
        f"search {report['population']} x {report['generations']} at {report['steps']} steps: "
        f"{report['judged_per_second']:.1f} programs judged per second; training every "
        f"program: {report['trained_per_second']:.1f} per second; ratio "
        f"{report['ratio']:.1f}x"
    )
