"""The evolution run: generations of ask, evaluate, tell, and what a run writes.

One generation is one jitted call: the strategy breeds a population, the task trains one
model per program in a single vmapped run, and the strategy takes the fitness back. The
host only writes a metrics line per generation.

Decisions a user should know:

- Fitness is test accuracy, and the strategy minimises ``-accuracy``; a program whose
  training went non-finite gets ``+inf``, the worst.
- Every generation is evaluated under one evaluation key fixed for the run (derived from
  the seed), so a program's fitness does not depend on when it was evaluated and
  elitism compares like with like. The summary then re-scores the best program and the
  cross-entropy baseline on ``final_seeds`` fresh keys, paired.
- A run never overwrites an earlier run: an ``--out`` that already holds ``metrics.jsonl``
  is refused. ``best.json`` and ``summary.json`` are written atomically.
"""

import dataclasses
import functools
import json
import os
import pathlib
import tempfile
import time
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from hivejax._src import formats
from hivejax._src.canonical import canonical_hash, canonicalize
from hivejax._src.const_tuning import TUNERS, tune_constants
from hivejax._src.data import load_dataset
from hivejax._src.formula import formula
from hivejax._src.program import Program
from hivejax._src.strategy import RegularizedEvolution
from hivejax._src.tasks.loss import LossTask
from hivejax._src.tasks.training import TrainConfig

TASKS = ("loss",)


@dataclasses.dataclass(frozen=True)
class EvolveConfig:
    """Everything that defines a run; written into ``summary.json``."""

    task: str = "loss"
    dataset: str = "mnist1d"
    population: int = 256
    generations: int = 30
    seed: int = 0
    seed_programs: tuple[str, ...] = ()
    train: TrainConfig = TrainConfig()
    final_seeds: int = 3
    tune_constants: str | None = None
    tune_elites: int = 4
    tune_generations: int = 8

    def __post_init__(self):
        if self.task not in TASKS:
            raise ValueError(f"unknown task {self.task!r}; choose one of {', '.join(TASKS)}")
        if self.population < 2:
            raise ValueError(f"population must be at least 2, got {self.population}")
        if self.generations < 1:
            raise ValueError(f"generations must be at least 1, got {self.generations}")
        if self.final_seeds < 1:
            raise ValueError(f"final_seeds must be at least 1, got {self.final_seeds}")
        if self.tune_constants not in (None, *TUNERS):
            raise ValueError(
                f"unknown constant tuner {self.tune_constants!r}; choose one of {', '.join(TUNERS)}"
            )
        if not 1 <= self.tune_elites <= self.population:
            raise ValueError(f"tune_elites must be in [1, population], got {self.tune_elites}")
        if self.tune_generations < 1:
            raise ValueError(f"tune_generations must be at least 1, got {self.tune_generations}")


def run_keys(seed: int) -> tuple[jax.Array, jax.Array, jax.Array]:
    """The run's keys from its seed: strategy init, evaluation (fixed for the run), generations."""
    return tuple(jax.random.split(jax.random.key(seed), 3))


def fitness_from_accuracy(accuracy: jax.Array) -> jax.Array:
    """Minimised fitness: ``-accuracy``, ``+inf`` where training broke (NaN accuracy)."""
    return jnp.where(jnp.isnan(accuracy), jnp.inf, -accuracy)


def write_json_atomic(path: pathlib.Path, obj) -> None:
    """Write JSON so a crash leaves either the old file or the new one, never half of one."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(obj, f, indent=2)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        pathlib.Path(tmp).unlink(missing_ok=True)
        raise


def _seed_population(state, programs: list[Program]):
    """Put the given programs at the front of the strategy's initial population."""
    if not programs:
        return state
    pop = state.population
    for i, p in enumerate(programs):
        pop = jax.tree.map(lambda all_, one, i=i: all_.at[i].set(one), pop, p)
    return state.replace(population=pop)


@functools.partial(jax.jit, static_argnums=0)
def _paired(task, program: Program, data, key):
    batch = jax.tree.map(lambda a: jnp.asarray(a)[None], program)
    return task.accuracy(batch, data, key)[0], task.baseline_accuracy(data, key)[0]


def paired_scores(task, program: Program, data, seeds) -> dict:
    """Accuracy of ``program`` and of the cross-entropy baseline under the same keys."""
    prog, base = [], []
    for seed in seeds:
        p, b = _paired(task, program, data, jax.random.key(seed))
        prog.append(float(p))
        base.append(float(b))

    def stats(xs):
        xs = np.asarray(xs, np.float64)
        return {"mean": float(np.mean(xs)), "std": float(np.std(xs)), "per_seed": xs.tolist()}

    return {"seeds": list(seeds), "program": stats(prog), "baseline": stats(base)}


def evolve(
    config: EvolveConfig,
    out: pathlib.Path,
    on_generation: Callable[[dict], None] | None = None,
) -> dict:
    """Run an evolution and write ``metrics.jsonl``, ``best.json`` and ``summary.json`` in ``out``.

    Returns the summary. ``on_generation`` receives each metrics line as it is written.
    """
    t_start = time.perf_counter()
    out = pathlib.Path(out)
    if (out / "metrics.jsonl").exists():
        raise FileExistsError(f"{out} already holds a run (metrics.jsonl); choose another --out")
    task = LossTask(train=config.train)
    spec = task.spec
    seeds = [formats.load_program(source) for source in config.seed_programs]
    for source, (seed_spec, _) in zip(config.seed_programs, seeds, strict=True):
        if seed_spec != spec:
            raise ValueError(
                f"{source}: program shape {seed_spec} does not match the task's {spec}"
            )
    if len(seeds) > config.population:
        raise ValueError(f"{len(seeds)} seed programs do not fit population {config.population}")
    data = load_dataset(config.dataset)
    out.mkdir(parents=True, exist_ok=True)

    strategy = RegularizedEvolution(spec=spec, population_size=config.population)
    params = strategy.default_params
    k_init, k_eval, k_run = run_keys(config.seed)
    state = _seed_population(strategy.init(k_init, params), [p for _, p in seeds])

    @jax.jit
    def generation(state, key):
        k_ask, k_tell = jax.random.split(key)
        population, state = strategy.ask(k_ask, state, params)
        accuracy = task.accuracy(population, data, k_eval)
        state, metrics = strategy.tell(
            k_tell, population, fitness_from_accuracy(accuracy), state, params
        )
        valid = ~jnp.isnan(accuracy)
        summary = {
            "best_accuracy": jnp.nanmax(jnp.where(valid, accuracy, -jnp.inf)),
            "mean_accuracy": jnp.sum(jnp.where(valid, accuracy, 0.0)) / jnp.maximum(valid.sum(), 1),
            "broken": (~valid).sum(),
            "best_so_far": -state.best_fitness,
        }
        return state, summary

    keys = jax.random.split(k_run, config.generations)
    t0 = time.perf_counter()
    compiled = generation.lower(state, keys[0]).compile()
    compile_seconds = time.perf_counter() - t0

    eval_seconds = 0.0
    with open(out / "metrics.jsonl", "w") as log:
        for g in range(config.generations):
            t0 = time.perf_counter()
            state, m = compiled(state, keys[g])
            m = jax.device_get(m)
            dt = time.perf_counter() - t0
            eval_seconds += dt
            line = {
                "generation": g,
                "best_accuracy": float(m["best_accuracy"]),
                "mean_accuracy": float(m["mean_accuracy"]),
                "best_so_far": float(m["best_so_far"]),
                "broken": int(m["broken"]),
                "seconds": round(dt, 4),
                "evals_per_second": round(config.population / dt, 2),
            }
            log.write(json.dumps(line) + "\n")
            log.flush()
            if on_generation is not None:
                on_generation(line)

    best, best_fitness = state.best_program, state.best_fitness
    tuning = None
    if config.tune_constants:
        best, best_fitness, tuning = _tune_elites(config, task, data, k_eval, state)
    best = canonicalize(spec, jax.device_get(best))
    final = paired_scores(task, best, data, range(1000, 1000 + config.final_seeds))
    best_doc = {
        **formats.to_json(spec, best),
        "hash": canonical_hash(spec, best),
        "formula": formula(spec, best),
        "fitness": float(-best_fitness),
    }
    write_json_atomic(out / "best.json", best_doc)
    evaluations = config.population * config.generations
    summary = {
        "config": _config_dict(config),
        "best_fitness": float(-best_fitness),
        "best_hash": best_doc["hash"],
        "constant_tuning": tuning,
        "best_formula": best_doc["formula"],
        "final": final,
        "baseline_accuracy": final["baseline"]["mean"],
        "evaluations": evaluations,
        "evals_per_second": evaluations / eval_seconds,
        "compile_seconds": compile_seconds,
        "wall_seconds": time.perf_counter() - t_start,
        "devices": [str(d) for d in jax.devices()],
    }
    write_json_atomic(out / "summary.json", summary)
    return summary


def _tune_elites(config, task, data, eval_key, state):
    """Tune the float constants of the best ``tune_elites`` programs with an evosax ES.

    Uses the run's evaluation key, so tuned and untuned fitness compare like with like;
    the best program changes only if a tuned elite beats it.
    """
    order = jnp.argsort(state.fitness)[: config.tune_elites]
    elites = jax.tree.map(lambda a: a[order], state.population)

    def fitness_fn(programs):
        return fitness_from_accuracy(task.accuracy(programs, data, eval_key))

    tuned, fitness = tune_constants(
        jax.random.fold_in(eval_key, 1),
        elites,
        fitness_fn,
        strategy=config.tune_constants,
        generations=config.tune_generations,
    )
    i = int(jnp.argmin(fitness))
    improved = bool(fitness[i] < state.best_fitness)
    report = {
        "strategy": config.tune_constants,
        "elites": config.tune_elites,
        "generations": config.tune_generations,
        "before": float(-state.best_fitness),
        "after": float(-min(fitness[i], state.best_fitness)),
        "improved": improved,
    }
    if not improved:
        return state.best_program, state.best_fitness, report
    return jax.tree.map(lambda a: a[i], tuned), fitness[i], report


def _config_dict(config: EvolveConfig) -> dict:
    d = dataclasses.asdict(config)
    d["seed_programs"] = list(config.seed_programs)
    return d
