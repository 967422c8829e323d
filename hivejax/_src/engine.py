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
  task's baseline (cross-entropy, ReLU, Adam) on ``final_seeds`` fresh keys, paired.
- The population is held as ``islands`` stacked strategy states (one island by
  default). ``ask``/``tell`` run replicated on every device; the fitness evaluation is
  sharded over the mesh's ``pop`` axis (``parallel/mesh.py``), so results do not depend on
  the number of devices; islands exchange programs in a ring and select with a
  tournament scaled to their size (``parallel/islands.py``, ``island_params``).
- Checkpoints (``parallel/checkpoint.py``) hold the states and the metrics position;
  keys are derived from the seed, so ``resume`` continues exactly.
- A run never overwrites an earlier run: an ``--out`` that already holds ``metrics.jsonl``
  is refused. ``best.json`` and ``summary.json`` are written atomically.
"""

import contextlib
import dataclasses
import functools
import json
import os
import pathlib
import signal
import tempfile
import threading
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
from hivejax._src.parallel.checkpoint import Checkpointer, read_record, restore_state
from hivejax._src.parallel.islands import Migration, exchange, island_params
from hivejax._src.parallel.mesh import (
    check_population,
    make_mesh,
    replicated,
    sharded_accuracy,
)
from hivejax._src.program import Program
from hivejax._src.strategy import RegularizedEvolution
from hivejax._src.tasks.registry import TASKS, make_task
from hivejax._src.tasks.training import TrainConfig


@dataclasses.dataclass(frozen=True)
class EvolveConfig:
    """Everything that defines a run; written into ``summary.json`` and every checkpoint.

    Scale settings: ``migration`` (islands, ring interval and count; one island by
    default), ``data_parallel`` (devices on the mesh's ``data`` axis, splitting each
    training batch; must divide the batch size), ``checkpoint_every`` (generations between
    checkpoints, 0 for none besides SIGINT/SIGTERM) and ``keep_checkpoints``. The number of
    devices is not part of a run: the results do not depend on it.
    """

    task: str = "loss"
    dataset: str = "mnist1d"
    population: int = 256
    generations: int = 30
    seed: int = 0
    seed_programs: tuple[str, ...] = ()
    train: TrainConfig = TrainConfig()
    final_seeds: int = 3
    migration: Migration = Migration()
    data_parallel: int = 1
    checkpoint_every: int = 0
    keep_checkpoints: int = 3
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
        if self.data_parallel < 1 or self.train.batch_size % self.data_parallel:
            raise ValueError(
                f"data_parallel ({self.data_parallel}) must divide the batch size "
                f"({self.train.batch_size})"
            )
        if self.checkpoint_every < 0 or self.keep_checkpoints < 1:
            raise ValueError(
                f"need checkpoint_every >= 0 (got {self.checkpoint_every}) and "
                f"keep_checkpoints >= 1 (got {self.keep_checkpoints})"
            )
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


def _seed_population(states, programs: list[Program]):
    """Put the given programs first in the initial islands: program ``j`` goes to island
    ``j mod islands``, so seeds spread over the islands."""
    islands = states.fitness.shape[0]
    pop = states.population
    for j, p in enumerate(programs):
        i, slot = j % islands, j // islands
        pop = jax.tree.map(lambda all_, one, i=i, s=slot: all_.at[i, s].set(one), pop, p)
    return states.replace(population=pop)


@functools.partial(jax.jit, static_argnums=0)
def _paired(task, program: Program, data, key):
    return task.paired_accuracy(program, data, key)


def paired_scores(task, program: Program, data, seeds) -> dict:
    """Accuracy of ``program`` and of the task's baseline under the same keys."""
    prog, base = [], []
    for seed in seeds:
        p, b = _paired(task, program, data, jax.random.key(seed))
        prog.append(float(p))
        base.append(float(b))

    def stats(xs):
        xs = np.asarray(xs, np.float64)
        return {"mean": float(np.mean(xs)), "std": float(np.std(xs)), "per_seed": xs.tolist()}

    return {"seeds": list(seeds), "program": stats(prog), "baseline": stats(base)}


def build_generation(strategy, params, task, data, mesh, migration: Migration, k_eval):
    """One generation of the stacked islands as a jitted ``(states, key, g) -> (states, summary)``.

    ``ask`` and ``tell`` run vmapped over the islands, replicated on every device; the
    fitness evaluation of the whole population (all islands) is sharded over the mesh's
    ``pop`` axis. After ``tell``, generation ``g`` migrates if ``g + 1`` is a multiple of
    the interval: by a collective permute between devices when there is one island per
    device, by the same permute over the vmapped island axis otherwise.
    """
    islands = migration.islands
    evaluate = sharded_accuracy(task, mesh)
    migrate_all = exchange(migration, mesh)

    def generation(states, key, g):
        k_ask, k_tell = jax.random.split(key)
        ask = jax.vmap(strategy.ask, in_axes=(0, 0, None))
        population, states = ask(jax.random.split(k_ask, islands), states, params)
        flat = jax.tree.map(lambda x: x.reshape(-1, *x.shape[2:]), population)
        accuracy = evaluate(flat, data, k_eval)
        fitness = fitness_from_accuracy(accuracy).reshape(islands, -1)
        tell = jax.vmap(strategy.tell, in_axes=(0, 0, 0, 0, None))
        states, _ = tell(jax.random.split(k_tell, islands), population, fitness, states, params)
        if islands > 1:
            due = (g + 1) % migration.interval == 0
            moved = migrate_all(states)
            states = jax.tree.map(lambda a, b: jnp.where(due, a, b), moved, states)
        valid = ~jnp.isnan(accuracy)
        summary = {
            "best_accuracy": jnp.nanmax(jnp.where(valid, accuracy, -jnp.inf)),
            "mean_accuracy": jnp.sum(jnp.where(valid, accuracy, 0.0)) / jnp.maximum(valid.sum(), 1),
            "broken": (~valid).sum(),
            "best_so_far": -jnp.min(states.best_fitness),
        }
        return states, summary

    rep = replicated(mesh)
    return jax.jit(generation, in_shardings=(rep, rep, rep), out_shardings=rep)


def best_of(states) -> tuple[Program, jax.Array]:
    """The best program over all islands and its fitness (minimised)."""
    i = jnp.argmin(states.best_fitness)
    return jax.tree.map(lambda x: x[i], states.best_program), states.best_fitness[i]


def config_from_dict(d: dict) -> EvolveConfig:
    """The inverse of the ``config`` entry of ``summary.json`` and of a checkpoint."""
    d = dict(d)
    d["train"] = TrainConfig(**d["train"])
    d["migration"] = Migration(**d["migration"])
    d["seed_programs"] = tuple(d["seed_programs"])
    return EvolveConfig(**d)


def resume_config(out: pathlib.Path) -> EvolveConfig:
    """The config of the run whose checkpoints are in ``out`` (``ValueError`` if none)."""
    _, record = read_record(out)
    try:
        return config_from_dict(record["config"])
    except (KeyError, TypeError) as e:
        raise ValueError(f"{out}: checkpoint holds no valid run config ({e})") from None


@contextlib.contextmanager
def _stop_requests():
    """Turn SIGINT and SIGTERM into a flag the loop checks between generations."""
    requested = []
    if threading.current_thread() is not threading.main_thread():
        yield requested
        return
    handler = lambda signum, frame: requested.append(signum)
    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield requested
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def _agree_to_stop(requested: bool) -> bool:
    """Whether any process was asked to stop; every process gets the same answer.

    A signal may reach only some processes of a multi-process run, or reach them during
    different generations. Each generation ends with this tiny all-gather, so all
    processes stop after the same generation: none is left waiting in a collective for
    one that has gone. One process needs no agreement.
    """
    if jax.process_count() == 1:
        return requested
    from jax.experimental import multihost_utils

    flags = multihost_utils.process_allgather(np.asarray(requested, np.int32))
    return bool(np.any(flags))


def evolve(
    config: EvolveConfig,
    out: pathlib.Path,
    on_generation: Callable[[dict], None] | None = None,
    *,
    devices=None,
    resume: bool = False,
) -> dict:
    """Run an evolution and write ``metrics.jsonl``, ``best.json`` and ``summary.json`` in ``out``.

    Returns the summary. ``on_generation`` receives each metrics line as it is written.
    ``devices`` (default: all devices of all processes) form the mesh; the results do not
    depend on how many there are. With ``resume``, the run continues from the latest
    checkpoint in ``out`` (whose config must be ``config``, see ``resume_config``). On
    SIGINT or SIGTERM the run saves a checkpoint after the current generation and raises
    ``KeyboardInterrupt``; in a multi-process run a signal to any one process stops every
    process after the same generation (``_agree_to_stop``). Only process 0 writes files;
    every process returns the summary.
    """
    t_start = time.perf_counter()
    out = pathlib.Path(out)
    writer = jax.process_index() == 0
    if not resume and (out / "metrics.jsonl").exists():
        raise FileExistsError(f"{out} already holds a run (metrics.jsonl); choose another --out")
    mesh = make_mesh(devices, data=config.data_parallel)
    migration = config.migration
    check_population(config.population, mesh)
    if config.population % migration.islands:
        raise ValueError(
            f"population {config.population} does not split into {migration.islands} islands"
        )
    island_size = config.population // migration.islands
    migration.check(island_size)
    task = make_task(config.task, config.train)
    spec = task.spec
    seeds = [formats.load_program(source, spec) for source in config.seed_programs]
    for source, (seed_spec, _) in zip(config.seed_programs, seeds, strict=True):
        if seed_spec != spec:
            raise ValueError(
                f"{source}: program shape {seed_spec} does not match the task's {spec}"
            )
    if len(seeds) > config.population:
        raise ValueError(f"{len(seeds)} seed programs do not fit population {config.population}")
    data = load_dataset(config.dataset)

    strategy = RegularizedEvolution(spec=spec, population_size=island_size)
    params = island_params(strategy.default_params, island_size, config.population)
    k_init, k_eval, k_run = run_keys(config.seed)
    rep = replicated(mesh)

    @functools.partial(jax.jit, out_shardings=rep)
    def initial_states(k):
        states = jax.vmap(strategy.init, in_axes=(0, None))(
            jax.random.split(k, migration.islands), params
        )
        return _seed_population(states, [p for _, p in seeds])

    states = initial_states(k_init)
    start, eval_seconds = 0, 0.0
    if resume:
        step, record = read_record(out)
        if record.get("config") != _config_dict(config):
            raise ValueError(f"{out}: the checkpoint belongs to a run with another config")
        host = restore_state(out, step, jax.device_get(states))
        states = jax.device_put(host, rep)
        start, eval_seconds = int(record["generation"]), float(record["eval_seconds"])
        if writer:
            _truncate_lines(out / "metrics.jsonl", int(record["metrics_lines"]))
    elif writer:
        out.mkdir(parents=True, exist_ok=True)

    generation = build_generation(strategy, params, task, data, mesh, migration, k_eval)
    keys = jax.random.split(k_run, config.generations)
    t0 = time.perf_counter()
    compiled = generation.lower(states, keys[0], jnp.int32(0)).compile()
    compile_seconds = time.perf_counter() - t0

    checkpointer = Checkpointer(out, config.keep_checkpoints)

    def checkpoint(done: int, lines: int):
        record = {
            "config": _config_dict(config),
            "generation": done,
            "metrics_lines": lines,
            "eval_seconds": eval_seconds,
        }
        checkpointer.save(done, jax.device_get(states), record)

    log = open(out / "metrics.jsonl", "a") if writer else None  # noqa: SIM115
    try:
        with _stop_requests() as stop:
            for g in range(start, config.generations):
                t0 = time.perf_counter()
                states, m = compiled(states, keys[g], jnp.int32(g))
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
                if log is not None:
                    log.write(json.dumps(line) + "\n")
                    log.flush()
                if on_generation is not None:
                    on_generation(line)
                done = g + 1
                every = config.checkpoint_every
                stopping = _agree_to_stop(bool(stop))
                if stopping or (every and done % every == 0 and done < config.generations):
                    checkpoint(done, done)
                if stopping:
                    raise KeyboardInterrupt(
                        f"checkpoint saved after generation {g}; continue with --resume {out}"
                    )
    finally:
        if log is not None:
            log.close()
        checkpointer.close()

    best, best_fitness = best_of(states)
    tuning = None
    if config.tune_constants:
        best, best_fitness, tuning = _tune_elites(config, task, data, k_eval, states)
    best, best_fitness = jax.device_get((best, best_fitness))
    best = canonicalize(spec, best)
    final = paired_scores(task, best, data, range(1000, 1000 + config.final_seeds))
    best_doc = {
        **formats.to_json(spec, best),
        "hash": canonical_hash(spec, best),
        "formula": formula(spec, best),
        "fitness": float(-best_fitness),
    }
    evaluations = config.population * config.generations  # eval_seconds spans resumes too
    summary = {
        "config": _config_dict(config),
        "best_fitness": float(-best_fitness),
        "best_hash": best_doc["hash"],
        "constant_tuning": tuning,
        "best_formula": best_doc["formula"],
        "final": final,
        "baseline": task.baseline,
        "baseline_accuracy": final["baseline"]["mean"],
        "evaluations": evaluations,
        "evals_per_second": evaluations / eval_seconds if eval_seconds else 0.0,
        "compile_seconds": compile_seconds,
        "wall_seconds": time.perf_counter() - t_start,
        "resumed_from": start if resume else None,
        "mesh": dict(mesh.shape),
        "processes": jax.process_count(),
        "devices": [str(d) for d in mesh.devices.flat],
    }
    if writer:
        write_json_atomic(out / "best.json", best_doc)
        write_json_atomic(out / "summary.json", summary)
    return summary


def _truncate_lines(path: pathlib.Path, lines: int) -> None:
    """Keep the first ``lines`` lines of ``path``: drop what a stopped run wrote after its
    last checkpoint, so the resumed run's lines follow on with no gap and no duplicate."""
    kept = path.read_text().splitlines(keepends=True)[:lines] if path.exists() else []
    if len(kept) < lines:
        raise ValueError(f"{path} has fewer lines than the checkpoint records ({lines})")
    with open(path, "w") as f:
        f.writelines(kept)


def _tune_elites(config, task, data, eval_key, states):
    """Tune the float constants of the best ``tune_elites`` programs with an evosax ES.

    Elites are taken over all islands. Uses the run's evaluation key, so tuned and untuned
    fitness compare like with like; the best program changes only if a tuned elite beats it.
    """
    best_program, best_fitness = best_of(states)
    population = jax.tree.map(lambda x: x.reshape(-1, *x.shape[2:]), states.population)
    order = jnp.argsort(states.fitness.reshape(-1))[: config.tune_elites]
    elites = jax.tree.map(lambda a: a[order], population)

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
    improved = bool(fitness[i] < best_fitness)
    report = {
        "strategy": config.tune_constants,
        "elites": config.tune_elites,
        "generations": config.tune_generations,
        "before": float(-best_fitness),
        "after": float(-min(fitness[i], best_fitness)),
        "improved": improved,
    }
    if not improved:
        return best_program, best_fitness, report
    return jax.tree.map(lambda a: a[i], tuned), fitness[i], report


def _config_dict(config: EvolveConfig) -> dict:
    d = dataclasses.asdict(config)
    d["seed_programs"] = list(config.seed_programs)
    return json.loads(json.dumps(d))  # as it reads back from JSON
