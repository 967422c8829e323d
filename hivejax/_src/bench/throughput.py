"""The throughput benchmark (``bench/PROTOCOL.md``): fitness evaluations per second.

One fitness evaluation trains a fresh MLP for the protocol's steps with a program as its
loss and measures test accuracy. In one process it times:

- each interpreter asked for (``dispatch.CHOICES``; ``all`` for every one) on a
  population of random programs (the engine's initialiser); ``reference`` (plain jnp
  autodiff through every op) is the naive design the others replace;
- the ceiling: the same engine with the loss hard-coded as optax softmax cross-entropy;
- optionally the sequential DEAP + PyTorch baseline (``deap_torch.py`` of
  ``hivejax.baselines``), run as a subprocess.

Throughput is steady state (``timing.steady_rate``). Ratios are what to compare: a
machine shared with other work is noisy.
"""

import statistics
import time

import jax

from hivejax._src.bench import baselines
from hivejax._src.bench.timing import machine, steady_rate
from hivejax._src.evaluation.mesh import check_population, make_mesh, sharded_score
from hivejax._src.interpret.dispatch import resolve
from hivejax._src.program.program import random_population
from hivejax._src.search.generation import Generation
from hivejax._src.search.islands import Migration
from hivejax._src.search.strategy import RegularizedEvolution
from hivejax._src.tasks.data import load_dataset
from hivejax._src.tasks.loss import LossTask
from hivejax._src.tasks.training import TrainConfig

DEAP_TORCH = "deap_torch.py"


def require_baseline() -> None:
    """A ``ValueError`` saying what to install unless the DEAP + PyTorch baseline can run."""
    baselines.require(DEAP_TORCH)


def _train(steps: int | None) -> TrainConfig:
    """The protocol's training, or ``steps`` of it (for quick checks only)."""
    return TrainConfig() if steps is None else TrainConfig(steps=steps)


def throughput(
    population: int = 256,
    dataset: str = "mnist1d",
    repeats: int = 3,
    interpreters: tuple[str, ...] = ("auto",),
    baseline_genomes: int | None = None,
    seed: int = 0,
    data_dir=None,
    steps: int | None = None,
) -> dict:
    """Evaluations per second; see the module docstring.

    ``baseline_genomes``: also run the DEAP + PyTorch baseline on that many genomes
    (``ValueError`` first if its dependencies are missing). ``steps`` (default: the
    protocol's) shortens training, for quick checks only.

    The report has one entry per interpreter (``auto`` resolved to its name, under
    ``auto``) and ``<name>_over_ceiling`` for each, ``<name>_over_deap_torch`` with the
    baseline.
    """
    if population < 1 or repeats < 1:
        raise ValueError("population and repeats must be positive")
    if baseline_genomes is not None:
        require_baseline()
    names = dict.fromkeys(resolve(name) for name in interpreters)
    data = load_dataset(dataset, data_dir)
    train = _train(steps)
    k_pop, k_eval = jax.random.split(jax.random.key(seed))
    programs = random_population(k_pop, LossTask().spec, population)
    report = {
        "protocol": {"dataset": dataset, "population": population, **train.__dict__},
        "machine": machine(),
    }
    if "auto" in interpreters:
        report["auto"] = resolve("auto")
    for name in names:
        task = LossTask(train=train, interpreter=name)
        report[name] = steady_rate(task.score, (programs, data), population, repeats, k_eval)
    ceiling = lambda d, k: LossTask(train=train).baseline_score(d, k, population)
    report["ceiling"] = steady_rate(ceiling, (data,), population, repeats, k_eval)
    if baseline_genomes is not None:
        args = ("--json", "--genomes", str(baseline_genomes), "--dataset", dataset)
        report["deap_torch"] = baselines.run(DEAP_TORCH, *args)
    for name in names:
        rate = report[name]["evals_per_second"]
        report[f"{name}_over_ceiling"] = rate / report["ceiling"]["evals_per_second"]
        if "deap_torch" in report:
            report[f"{name}_over_deap_torch"] = rate / report["deap_torch"]["evals_per_s"]
    return report


def sharded(
    population: int,
    dataset: str,
    repeats: int,
    devices=None,
    seed: int = 0,
    steps: int | None = None,
    data_dir=None,
) -> dict:
    """Evaluations per second of the population sharded over ``devices`` (default: all),
    in total and per device, and the time of one whole sharded engine generation.

    ``steps`` (default: the protocol's) shortens training, for quick checks only.
    The total rate is measured; the per-device rate is the total over the number of
    devices, so ``evals_per_second == evals_per_second_per_device * devices``.
    """
    mesh = make_mesh(devices)
    check_population(population, mesh)
    n = mesh.devices.size
    data = load_dataset(dataset, data_dir)
    task = LossTask(train=_train(steps))
    k_pop, k_eval, k_gen = jax.random.split(jax.random.key(seed), 3)
    programs = random_population(k_pop, task.spec, population)
    result = steady_rate(sharded_score(task, mesh), (programs, data), population, repeats, k_eval)
    strategy = RegularizedEvolution(task.spec, population_size=population)
    params = strategy.default_params
    states = jax.vmap(strategy.init, in_axes=(0, None))(k_gen[None], params)
    step = Generation(strategy, params, task, data, mesh, Migration(), k_eval)
    step.compile(states, k_gen)
    times = []
    for g, k in enumerate(jax.random.split(k_gen, repeats)):
        t0 = time.perf_counter()
        states, _ = jax.block_until_ready(step(states, k, g))
        times.append(time.perf_counter() - t0)
    return {
        "devices": n,
        "population": population,
        "steps": task.train.steps,
        "seconds_per_population": result["seconds_per_population"],
        "evals_per_second": result["evals_per_second"],
        "evals_per_second_per_device": result["evals_per_second"] / n,
        "compile_seconds": result["compile_seconds"],
        "generation_seconds": statistics.median(times),
    }
