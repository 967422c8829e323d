"""The evolution run: generations of ask, evaluate, tell, and what a run writes.

One generation (``generation.Generation``) breeds a population, screens it with the
rejection cascade, looks every program up in the functional-equivalence cache, trains
what is left (a static number of places, past a hurdle) in one vmapped run, and gives
the fitness back to the strategy. The host writes a metrics line per generation.

Decisions a user should know:

- A run selects under its search protocol (``protocols.SEARCH_TRAIN`` by default, the
  ``search-<task>`` protocol, written into ``summary.json``): fitness is the accuracy on
  a validation part of the training set, never the test set, and the strategy minimises
  ``-accuracy``. A program whose training went non-finite gets ``+inf``, the worst, and so
  does one the rejection cascade turns away (each reason is counted in ``metrics.jsonl``).
- Every generation is evaluated under one evaluation key fixed for the run (derived from
  the seed), so a program's fitness does not depend on when it was evaluated, elitism
  compares like with like and an equivalent program may reuse a cached fitness.
- One key overfits: the best of thousands of programs under one key is partly luck. At
  the end a funnel re-scores the ``funnel`` best distinct programs on ``final_seeds``
  fresh keys (still on validation) and the best of those becomes the run's best;
  ``summary.json`` keeps both its search score and its fresh-key score. Only then is it
  scored on the test set, trained on the whole training set and paired with the task's
  baseline (cross-entropy, ReLU, Adam) on other fresh keys.
- The population is held as ``islands`` stacked strategy states (one island by
  default). ``ask``/``tell`` run replicated on every device; the fitness evaluation is
  sharded over the mesh's ``pop`` axis (``parallel/mesh.py``), which changes nothing but
  float rounding (XLA compiles each device's share separately); islands exchange programs
  in a ring and select with a tournament scaled to their size (``parallel/islands.py``,
  ``island_params``).
- Checkpoints (``parallel/checkpoint.py``) hold the states, the metrics position and the
  equivalence cache;
  keys are derived from the seed, so ``resume`` continues exactly.
- The run directory (``run_dir.RunDir``) owns the files: a run never overwrites an earlier
  one, and ``best.json`` and ``summary.json`` are written atomically.
"""

import contextlib
import dataclasses
import functools
import json
import pathlib
import signal
import threading
import time
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import multihost_utils

from hivejax._src.evaluation import cascade
from hivejax._src.evaluation.equivalence_cache import EquivalenceCache
from hivejax._src.evaluation.mesh import POP, check_population, make_mesh, replicated
from hivejax._src.evaluation.protocols import SEARCH_TRAIN, get_protocol
from hivejax._src.evaluation.scores import (
    fitness_from_accuracy,
    paired_scores,
    population_accuracies,
)
from hivejax._src.interpret import dispatch
from hivejax._src.interpret.chunks import auto_chunk_size
from hivejax._src.io.program_io import canonical_record, load_program, respec
from hivejax._src.program.canonical import canonical_hash
from hivejax._src.program.formats import DecodeError
from hivejax._src.program.program import Program, stack_programs
from hivejax._src.run import pareto
from hivejax._src.run.run_dir import RunDir
from hivejax._src.search.const_tuning import TUNERS, tune_constants
from hivejax._src.search.generation import Generation, flatten_islands
from hivejax._src.search.islands import Migration, island_params
from hivejax._src.search.meta_gradient import refine_constants
from hivejax._src.search.strategy import RandomSearch, RegularizedEvolution, State
from hivejax._src.tasks.base import ProgramTask
from hivejax._src.tasks.data import Dataset, check_dataset_name, load_dataset
from hivejax._src.tasks.loss import DERIVED_SPEC
from hivejax._src.tasks.registry import make_task, task_type
from hivejax._src.tasks.regression import RegressionTask, get_problem
from hivejax._src.tasks.training import TrainConfig


@dataclasses.dataclass(frozen=True)
class EvolveConfig:
    """Everything that defines a run; written into ``summary.json`` and every checkpoint.

    ``train`` is the search protocol's inner training (default ``SEARCH_TRAIN``, whose
    ``validation`` fraction is what selection sees). What saves training
    (``generation.Generation``): ``cascade`` rejects programs that fail the cheap checks
    of ``cascade.py``; ``cache`` (entries; 0 for none) reuses the fitness of a known
    fingerprint, at most ``cache_max_hits`` times before it is trained again;
    ``survivors`` caps the programs trained per generation (at most the population;
    None: the population), those that passed first; with ``hurdle_steps`` every one of
    them trains that many steps and only the ``promoted`` best go on to the full budget.
    The hurdle applies only where it saves training (``promoted`` below the trained count
    and ``hurdle_steps`` below ``train.steps``), so small populations simply train all.
    ``evals_per_second`` counts programs judged: trained, rejected or cached. ``funnel``:
    how many of the best re-score on fresh keys before one becomes the run's best.
    ``derived_inputs``: loss programs also read the softmax probabilities and log-softmax
    of the logits (``tasks/loss.py``; the other tasks have none, and ignore it).
    ``restart_every``: every that many generations a quarter of each island restarts from
    the best program seen (0: never).
    ``strategy``: ``regularized_evolution``, or ``random_search``, the baseline that asks
    fresh programs every generation (``strategy.RandomSearch``).
    ``interpreter``: which interpreter trains the programs (``dispatch.CHOICES``;
    ``auto`` picks per backend). ``chunk_size``: programs trained at once per device, to
    bound memory (``chunks.py``), or ``auto``: as many as fit half the free memory. Neither
    changes a result.

    ``task="regression"`` with a ``problem`` (``tasks/regression.py``) searches for a
    formula instead: the score is ``1 / (2 - R²)`` on the problem's points, nothing trains,
    and ``dataset`` and ``train`` play no part. It has no rejection cascade, fingerprint
    cache or hurdle, so it needs ``cascade=False``, ``cache=0`` and ``hurdle_steps=None``
    (``survivors=None`` scores every program, as a regression search should).

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
    train: TrainConfig = SEARCH_TRAIN
    final_seeds: int = 3
    migration: Migration = Migration()
    data_parallel: int = 1
    checkpoint_every: int = 0
    keep_checkpoints: int = 3
    tune_constants: str | None = None
    tune_elites: int = 4
    tune_generations: int = 8
    cascade: bool = True
    survivors: int | None = 32
    hurdle_steps: int | None = 100
    promoted: int = 8
    cache: int = 4096
    cache_max_hits: int = 64
    funnel: int = 8
    derived_inputs: bool = True
    restart_every: int = 0
    strategy: str = "regularized_evolution"
    interpreter: str = "auto"
    chunk_size: int | str = "auto"
    problem: str | None = None

    def __post_init__(self):
        if self.task == REGRESSION:
            _check_regression(self)
        else:
            task_type(self.task)  # refuses an unknown task, listing the choices
            if self.problem is not None:
                raise ValueError(f"problem is a setting of task {REGRESSION!r}, not {self.task!r}")
        check_dataset_name(self.dataset)
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
        if self.tune_constants not in (None, *TUNERS, META_GRADIENT):
            raise ValueError(
                f"unknown constant tuner {self.tune_constants!r}; choose one of "
                f"{', '.join((*TUNERS, META_GRADIENT))}"
            )
        if not 1 <= self.tune_elites <= self.population:
            raise ValueError(f"tune_elites must be in [1, population], got {self.tune_elites}")
        for name in ("survivors", "hurdle_steps"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1 (or None), got {getattr(self, name)}")
        for name in ("promoted", "cache_max_hits", "funnel"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.strategy not in SEARCHES:
            raise ValueError(
                f"unknown strategy {self.strategy!r}; choose one of {', '.join(SEARCHES)}"
            )
        if self.restart_every < 0:
            raise ValueError(f"restart_every must be >= 0, got {self.restart_every}")
        if self.cache < 0:
            raise ValueError(f"cache must be >= 0 entries, got {self.cache}")
        if self.tune_generations < 1:
            raise ValueError(f"tune_generations must be at least 1, got {self.tune_generations}")
        dispatch.check(self.interpreter)
        if self.chunk_size != "auto" and not (
            isinstance(self.chunk_size, int) and self.chunk_size >= 1
        ):
            raise ValueError(f"chunk_size must be 'auto' or at least 1, got {self.chunk_size!r}")

    @property
    def trained(self) -> int:
        """Programs trained per generation: ``survivors``, at most the population."""
        return min(self.survivors or self.population, self.population)

    @property
    def hurdle(self) -> bool:
        """Whether the hurdle saves training (see the class docstring)."""
        return (
            self.hurdle_steps is not None
            and self.hurdle_steps < self.train.steps
            and self.promoted < self.trained
        )


SEARCHES = {"regularized_evolution": RegularizedEvolution, "random_search": RandomSearch}
"""What ``EvolveConfig.strategy`` names."""

META_GRADIENT = "meta_gradient"
"""``tune_constants`` name of the meta-gradient refinement (``meta_gradient.py``), beside
evosax's ``TUNERS``; ``tune_generations`` is then its number of meta steps."""

REGRESSION = RegressionTask.name
"""``EvolveConfig.task`` of a symbolic-regression search (``tasks/regression.py``)."""


def _check_regression(config: EvolveConfig) -> None:
    """Refuse a regression config without a known problem or with a setting it lacks."""
    if config.problem is None:
        raise ValueError(f"task {REGRESSION!r} needs a problem (regression.PROBLEMS)")
    get_problem(config.problem)  # refuses an unknown one, listing the choices
    lacking = {
        "cascade=False": config.cascade,
        "cache=0": config.cache,
        "hurdle_steps=None": config.hurdle_steps is not None,
        "tune_constants other than meta_gradient": config.tune_constants == META_GRADIENT,
    }
    wrong = [name for name, bad in lacking.items() if bad]
    if wrong:
        raise ValueError(
            f"task {REGRESSION!r} trains nothing, so it has no rejection cascade, "
            f"fingerprint cache, hurdle or meta-gradient: set {', '.join(wrong)}"
        )


def run_keys(seed: int) -> tuple[jax.Array, jax.Array, jax.Array]:
    """The run's keys from its seed: strategy init, evaluation (fixed for the run), generations."""
    return tuple(jax.random.split(jax.random.key(seed), 3))


def _seed_population(states, programs: list[Program]):
    """Put the given programs first in the initial islands: program ``j`` goes to island
    ``j mod islands``, so seeds spread over the islands."""
    islands = states.fitness.shape[0]
    pop = states.population
    for j, p in enumerate(programs):
        i, slot = j % islands, j // islands
        pop = jax.tree.map(lambda all_, one, i=i, s=slot: all_.at[i, s].set(one), pop, p)
    return states.replace(population=pop)


def _seed_program(source: str, task: ProgramTask) -> Program:
    """A seed program in ``task.spec``: one saved in another layout the task accepts (a
    loss over ``x, y`` in a run with derived inputs, say) is re-expressed in it."""
    spec, program = load_program(source)
    if spec == task.spec:
        return program
    try:
        task.check_spec(spec)  # another task's program: the error names both shapes
        return respec(spec, program, task.spec)
    except ValueError as e:
        raise DecodeError(f"{source}: {e}") from None


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
    _, record = RunDir(out).latest_checkpoint()
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
    flags = multihost_utils.process_allgather(np.asarray(requested, np.int32))
    return bool(np.any(flags))


@dataclasses.dataclass
class _Run:
    """What ``_setup`` prepares for the generation loop and ``_finish``."""

    config: EvolveConfig
    run_dir: RunDir
    mesh: jax.sharding.Mesh
    task: ProgramTask
    data: Dataset
    states: State  # stacked over the islands
    generation: Generation
    keys: jax.Array  # one per generation
    eval_key: jax.Array
    start: int = 0  # generations already done (resume)
    eval_seconds: float = 0.0
    compile_seconds: float = 0.0


def evolve(
    config: EvolveConfig,
    out: pathlib.Path,
    on_generation: Callable[[dict], None] | None = None,
    *,
    devices=None,
    resume: bool = False,
    data_dir: str | pathlib.Path | None = None,
) -> dict:
    """Run an evolution and write ``metrics.jsonl``, ``best.json`` and ``summary.json`` in ``out``.

    Returns the summary. ``on_generation`` receives each metrics line as it is written.
    ``devices`` (default: all devices of all processes) form the mesh; ``data_dir`` is where
    file-based data sets are (``data.load_dataset``). Neither is part of the run's config: a
    run resumed on other devices or with its data elsewhere is the same run. With ``resume``, the
    run continues from the latest checkpoint in ``out`` (whose config must be ``config``,
    see ``resume_config``). On SIGINT or SIGTERM the run saves a checkpoint after the
    current generation and raises ``KeyboardInterrupt``; in a multi-process run a signal to
    any one process stops every process after the same generation (``_agree_to_stop``).
    Only process 0 writes files (``run_dir.RunDir``); every process returns the summary.
    """
    t_start = time.perf_counter()
    run_dir = RunDir(out, config.keep_checkpoints)
    run = _setup(config, run_dir, devices, resume, data_dir)
    _generations(run, on_generation)
    return _finish(run, resume, t_start)


def _setup(config: EvolveConfig, run_dir: RunDir, devices, resume: bool, data_dir) -> _Run:
    """Check the layout, build the task and the initial (or restored) states, and compile
    one generation."""
    if not resume:
        run_dir.create()
    mesh = make_mesh(devices, data=config.data_parallel)
    migration = config.migration
    check_population(config.population, mesh)
    check_population(config.trained, mesh, "survivors")
    if config.hurdle:
        check_population(config.promoted, mesh, "promoted")
    if config.population % migration.islands:
        raise ValueError(
            f"population {config.population} does not split into {migration.islands} islands"
        )
    island_size = config.population // migration.islands
    migration.check(island_size)
    spec = {"spec": DERIVED_SPEC} if config.derived_inputs and config.task == "loss" else {}
    if config.task == REGRESSION:  # its fitness cases come from the keys, not a data set
        task = RegressionTask(problem=config.problem, interpreter=config.interpreter)
    else:
        task = make_task(config.task, config.train, interpreter=config.interpreter, **spec)
    seeds = [_seed_program(source, task) for source in config.seed_programs]
    if len(seeds) > config.population:
        raise ValueError(f"{len(seeds)} seed programs do not fit population {config.population}")
    data = None if config.task == REGRESSION else load_dataset(config.dataset, data_dir)
    chunk = config.chunk_size
    if chunk == "auto":
        chunk = auto_chunk_size(task, data, config.trained // mesh.shape[POP])
    task = dataclasses.replace(task, chunk_size=chunk)
    strategy = SEARCHES[config.strategy](spec=task.spec, population_size=island_size)
    params = island_params(strategy.default_params, island_size, config.population)
    k_init, k_eval, k_run = run_keys(config.seed)
    rep = replicated(mesh)

    @functools.partial(jax.jit, out_shardings=rep)
    def initial_states(k):
        states = jax.vmap(strategy.init, in_axes=(0, None))(
            jax.random.split(k, migration.islands), params
        )
        return _seed_population(states, seeds)

    screen = functools.partial(cascade.reasons, task.name, task.spec) if config.cascade else None
    cache = EquivalenceCache(config.cache, config.cache_max_hits) if config.cache else None
    generation = Generation(
        strategy,
        params,
        task,
        data,
        mesh,
        migration,
        k_eval,
        screen=screen,
        cache=cache,
        trained=config.trained,
        hurdle_steps=config.hurdle_steps if config.hurdle else None,
        promoted=config.promoted,
        restart_every=config.restart_every or None,
    )
    states = initial_states(k_init)
    run = _Run(config, run_dir, mesh, task, data, states, generation, None, k_eval)
    if resume:
        _restore(run)
    run.keys = jax.random.split(k_run, config.generations)
    t0 = time.perf_counter()
    generation.compile(run.states, run.keys[0])
    run.compile_seconds = time.perf_counter() - t0
    return run


def _restore(run: _Run) -> None:
    """Continue from the latest checkpoint: its states, counters and metrics lines."""
    step, record = run.run_dir.latest_checkpoint()
    if record.get("config") != _config_dict(run.config):
        raise ValueError(f"{run.run_dir.path}: the checkpoint belongs to a run with another config")
    host = run.run_dir.restore(step, jax.device_get(run.states))
    run.states = jax.device_put(host, replicated(run.mesh))
    run.start, run.eval_seconds = int(record["generation"]), float(record["eval_seconds"])
    if run.generation.cache is not None:
        cache = run.config.cache, run.config.cache_max_hits, record.get("cache", [])
        run.generation.cache = EquivalenceCache.from_state(*cache)
    run.run_dir.truncate_metrics(int(record["metrics_lines"]))


def _generations(run: _Run, on_generation: Callable[[dict], None] | None) -> None:
    """The generation loop: one compiled step per generation, a metrics line each, periodic
    checkpoints, and a checkpoint then ``KeyboardInterrupt`` when asked to stop."""
    config, run_dir = run.config, run.run_dir
    with run_dir.recording(), _stop_requests() as stop:
        for g in range(run.start, config.generations):
            t0 = time.perf_counter()
            run.states, m = run.generation(run.states, run.keys[g], jnp.int32(g))
            m = jax.device_get(m)
            dt = time.perf_counter() - t0
            run.eval_seconds += dt
            line = {
                "generation": g,
                "best_accuracy": _finite_or_none(m["best_accuracy"]),
                "mean_accuracy": float(m["mean_accuracy"]),
                "best_so_far": _finite_or_none(m["best_so_far"]),
                "broken": int(m["broken"]),
                **_rejections(m),
                "trained": m["trained"],
                "cache_hits": m["cache_hits"],
                "untrained": m["untrained"],
                "seconds": round(dt, 4),
                "evals_per_second": round(config.population / dt, 2),
            }
            run_dir.append_metrics(line)
            if on_generation is not None:
                on_generation(line)
            done = g + 1
            every = config.checkpoint_every
            stopping = _agree_to_stop(bool(stop))
            if stopping or (every and done % every == 0 and done < config.generations):
                record = {
                    "config": _config_dict(config),
                    "generation": done,
                    "metrics_lines": done,
                    "eval_seconds": run.eval_seconds,
                }
                if run.generation.cache is not None:
                    record["cache"] = run.generation.cache.state()
                run_dir.save_checkpoint(done, run.states, record)
            if stopping:
                raise KeyboardInterrupt(
                    f"checkpoint saved after generation {g}; continue with --resume {run_dir.path}"
                )


def _front(task: ProgramTask, states) -> list[dict]:
    """The final population's Pareto front of accuracy against live length, all islands."""
    programs, fitness = jax.device_get((states.population, states.fitness))
    flat = flatten_islands(programs)
    fitness = np.where(fitness <= 0, fitness, np.inf)  # full-budget programs only
    return pareto.front(task.spec, flat, fitness.reshape(-1))


def _finite_or_none(x) -> float | None:
    """A metric as JSON: ``None`` before any program counted (every one rejected or broken)."""
    x = float(x)
    return x if np.isfinite(x) else None


def _rejections(summary: dict) -> dict:
    """The metrics line's ``rejected`` (total) and ``rejections`` (count per reason)."""
    if "rejected" not in summary:
        return {}
    counts = {
        reason: int(n)
        for reason, n in zip(cascade.REASONS, summary["rejected"], strict=True)
        if reason != "passed" and n
    }
    return {"rejected": sum(counts.values()), "rejections": counts}


def _finish(run: _Run, resumed: bool, t_start: float) -> dict:
    """Tune constants if asked, pass the best through the fresh-key funnel, score the
    winner on test, write ``best.json`` and ``summary.json``."""
    config, task = run.config, run.task
    best, best_fitness = best_of(run.states)
    tuning = None
    if config.tune_constants:
        best, best_fitness, tuning = _tune_elites(config, task, run.data, run.eval_key, run.states)
    best, search, funnel = _funnel(run, *jax.device_get((best, best_fitness)))
    best, best_doc = canonical_record(task.spec, best, fitness=search)
    on_test = dataclasses.replace(task, train=dataclasses.replace(task.train, validation=0.0))
    final = paired_scores(on_test, best, run.data, range(1000, 1000 + config.final_seeds))
    evaluations = config.population * config.generations  # eval_seconds spans resumes too
    summary = {
        "config": _config_dict(config),
        "protocol": _protocol_of(config),
        "best_fitness": search,
        "fresh_fitness": funnel["chosen"]["fresh"] if funnel else None,
        "best_hash": best_doc["hash"],
        "constant_tuning": tuning,
        "best_formula": best_doc["formula"],
        "funnel": funnel,
        "front": _front(task, run.states),
        "final": final,
        "baseline": task.baseline,
        "baseline_accuracy": final["baseline"]["mean"],
        "evaluations": evaluations,
        "evals_per_second": evaluations / run.eval_seconds if run.eval_seconds else 0.0,
        "compile_seconds": run.compile_seconds,
        "wall_seconds": time.perf_counter() - t_start,
        "resumed_from": run.start if resumed else None,
        "mesh": dict(run.mesh.shape),
        "interpreter": dispatch.resolve(task.interpreter),
        "chunk_size": task.chunk_size,
        "processes": jax.process_count(),
        "devices": [str(d) for d in run.mesh.devices.flat],
    }
    if isinstance(task, RegressionTask):  # the MSE and R² that the scores stand for
        summary["regression"] = task.summary(best, run.eval_key, final["seeds"])
    run.run_dir.write_json("best.json", best_doc)
    run.run_dir.write_json("summary.json", summary)
    return summary


FUNNEL_SEEDS = 2000
"""The fresh keys of the funnel are ``FUNNEL_SEEDS + i``; the test score uses ``1000 + i``."""


def _funnel(run: _Run, best: Program, best_fitness) -> tuple[Program, float | None, dict | None]:
    """The run's best after re-scoring on fresh keys: ``(program, search accuracy, report)``.

    The candidates are ``best`` (the best ever seen, or the tuned one) and the fittest
    full-budget programs of the final population, distinct by canonical hash, at most
    ``funnel`` of them. Each trains under ``final_seeds`` fresh keys, on the same
    validation split, beside the baseline; the highest mean wins (a broken run counts 0).
    With no full-budget candidate the report is None and ``best`` stays.
    """
    config, task = run.config, run.task
    programs, fitness = jax.device_get((run.states.population, run.states.fitness))
    flat = flatten_islands(programs)
    fitness = fitness.reshape(-1)
    pool = [(best, float(best_fitness))]
    pool += [
        (jax.tree.map(lambda a, i=i: a[i], flat), float(fitness[i])) for i in np.argsort(fitness)
    ]
    chosen, hashes = [], set()
    for program, f in pool:
        if len(chosen) == config.funnel:
            break
        h = canonical_hash(task.spec, program)
        if f <= 0 and h not in hashes:
            chosen.append((program, -f, h))
            hashes.add(h)
    if not chosen:
        return best, None, None
    seeds = range(FUNNEL_SEEDS, FUNNEL_SEEDS + config.final_seeds)
    keys = jnp.stack([jax.random.key(s) for s in seeds])
    stacked = stack_programs([program for program, _, _ in chosen])
    accuracy, baseline = jax.device_get(population_accuracies(task, stacked, run.data, keys))
    fresh = np.nan_to_num(np.asarray(accuracy, np.float64), nan=0.0).mean(axis=0)
    rows = [
        {"hash": h, "search": search, "fresh": float(f)}
        for (_, search, h), f in zip(chosen, fresh, strict=True)
    ]
    i = int(np.argmax(fresh))
    report = {"seeds": list(seeds), "baseline_fresh": float(np.mean(baseline)), "chosen": rows[i]}
    return chosen[i][0], chosen[i][1], report | {"candidates": rows}


def _protocol_of(config: EvolveConfig) -> dict:
    """The search protocol a run selected under: ``search-<task>`` with its version when the
    run's data set, training and seeds are that protocol's, else ``custom``."""
    if config.task == REGRESSION:
        problem = get_problem(config.problem)
        return {
            "name": f"regression-{problem.name}",
            "version": None,
            "problem": problem.name,
            "formula": problem.formula,
            "sampling": problem.sampling,
        }
    shipped = get_protocol(f"search-{config.task}")
    same = (
        shipped.cells == ((config.dataset, config.train.model),)
        and shipped.train == config.train
        and shipped.seeds == config.final_seeds
    )
    train = dataclasses.asdict(config.train)
    if not same:
        return {"name": "custom", "version": None, "dataset": config.dataset, "train": train}
    return {
        "name": shipped.name,
        "version": shipped.version,
        "dataset": config.dataset,
        "train": train,
    }


def _tune_elites(config, task, data, eval_key, states):
    """Tune the float constants of the best ``tune_elites`` programs with an evosax ES, or
    refine them by meta-gradient (``META_GRADIENT``).

    Elites are taken over all islands. Uses the run's evaluation key, so tuned and untuned
    fitness compare like with like; the best program changes only if a tuned elite beats it.
    """
    best_program, best_fitness = best_of(states)
    population = flatten_islands(states.population)
    order = jnp.argsort(states.fitness.reshape(-1))[: config.tune_elites]
    elites = jax.tree.map(lambda a: a[order], population)

    def fitness_fn(programs):
        fitness = fitness_from_accuracy(task.accuracy(programs, data, eval_key))
        if config.cascade:  # a tuned constant must not take a program past the cascade
            fitness = jnp.where(
                cascade.reasons(task.name, task.spec, programs) > 0, jnp.inf, fitness
            )
        return fitness

    key = jax.random.fold_in(eval_key, 1)
    if config.tune_constants == META_GRADIENT:
        tuned = _refine_each(key, task, data, elites, config.tune_generations)
        fitness = fitness_fn(tuned)
    else:
        tuned, fitness = tune_constants(
            key,
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
        "before": _finite_or_none(-best_fitness),
        "after": _finite_or_none(-min(fitness[i], best_fitness)),
        "improved": improved,
    }
    if not improved:
        return best_program, best_fitness, report
    return jax.tree.map(lambda a: a[i], tuned), fitness[i], report


def _refine_each(key, task, data, elites: Program, meta_steps: int) -> Program:
    """Each elite refined by ``meta_gradient.refine_constants``, through the whole training
    of the search protocol (a shorter horizon favours losses that only start fast)."""
    refined = []
    for i in range(int(elites.length.shape[0])):
        elite = jax.tree.map(lambda a, i=i: a[i], elites)
        program, _ = refine_constants(
            jax.random.fold_in(key, i),
            task,
            elite,
            data,
            inner_steps=task.train.steps,
            meta_steps=meta_steps,
            validation=task.train.validation or 0.25,
        )
        refined.append(program)
    return stack_programs(refined)


def _config_dict(config: EvolveConfig) -> dict:
    d = dataclasses.asdict(config)
    d["seed_programs"] = list(config.seed_programs)
    return json.loads(json.dumps(d))  # as it reads back from JSON
