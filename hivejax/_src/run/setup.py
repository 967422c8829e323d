"""Setting a run up: the mesh, the task and its data, the initial (or restored) states, and
one compiled generation.

Keys derive from the run's seed alone (``run_keys``): the strategy's initialisation, the
evaluation key fixed for the run (so a program's fitness does not depend on when it was
evaluated, and a cached fitness stays valid) and one key per generation. A resumed run
therefore continues exactly as if it had never stopped.
"""

import dataclasses
import functools
import pathlib
import time

import jax

from hivejax._src.evaluation.equivalence_cache import EquivalenceCache
from hivejax._src.evaluation.mesh import POP, check_population, make_mesh, replicated
from hivejax._src.interpret.chunks import auto_chunk_size
from hivejax._src.io.program_io import load_program, respec
from hivejax._src.program.formats import DecodeError
from hivejax._src.program.program import Program
from hivejax._src.run.config import EvolveConfig, config_from_dict
from hivejax._src.run.run_dir import RunDir
from hivejax._src.search.generation import Generation
from hivejax._src.search.islands import island_params
from hivejax._src.search.strategy import STRATEGIES, State
from hivejax._src.tasks.base import Task
from hivejax._src.tasks.data import Dataset


@dataclasses.dataclass
class Run:
    """What ``setup`` prepares for the generation loop and the finish."""

    config: EvolveConfig
    run_dir: RunDir
    mesh: jax.sharding.Mesh
    task: Task
    data: Dataset | None
    states: State  # stacked over the islands
    generation: Generation
    keys: jax.Array  # one per generation
    eval_key: jax.Array
    start: int = 0  # generations already done (resume)
    eval_seconds: float = 0.0
    compile_seconds: float = 0.0


def run_keys(seed: int) -> tuple[jax.Array, jax.Array, jax.Array]:
    """The run's keys from its seed: strategy init, evaluation (fixed for the run), generations."""
    return tuple(jax.random.split(jax.random.key(seed), 3))


def make_run_task(config: EvolveConfig) -> Task:
    """The task ``config`` searches: its class for the run's training or problem, its
    programs' layout (derived inputs for a loss) and the interpreter."""
    cls = config.task_class()
    spec = cls.derived_spec if config.derived_inputs else None
    return cls.for_run(
        train=config.train, problem=config.problem, interpreter=config.scale.interpreter, spec=spec
    )


def setup(config: EvolveConfig, run_dir: RunDir, devices, resume: bool, data_dir) -> Run:
    """Check the layout, build the task and the initial (or restored) states, and compile
    one generation."""
    if not resume:
        run_dir.create()
    scale, screening = config.scale, config.screening
    mesh = make_mesh(devices, data=scale.data_parallel)
    check_population(config.population, mesh)
    check_population(screening.places(config.population), mesh, "survivors")
    task = make_run_task(config)
    if task.trains and screening.hurdle(config.population, config.train.steps):
        check_population(screening.promoted, mesh, "promoted")
    migration = scale.migration
    if config.population % migration.islands:
        raise ValueError(
            f"population {config.population} does not split into {migration.islands} islands"
        )
    island_size = config.population // migration.islands
    migration.check(island_size)
    seeds = [_seed_program(source, task) for source in config.search.seed_programs]
    if len(seeds) > config.population:
        raise ValueError(f"{len(seeds)} seed programs do not fit population {config.population}")
    data = task.load_data(config.dataset, data_dir)
    chunk = scale.chunk_size
    if chunk == "auto":
        chunk = auto_chunk_size(task, data, screening.places(config.population) // mesh.shape[POP])
    task = dataclasses.replace(task, chunk_size=chunk)
    strategy = STRATEGIES[config.search.strategy](spec=task.spec, population_size=island_size)
    params = island_params(strategy.default_params, island_size, config.population)
    k_init, k_eval, k_run = run_keys(config.seed)

    @functools.partial(jax.jit, out_shardings=replicated(mesh))
    def initial_states(k):
        states = jax.vmap(strategy.init, in_axes=(0, None))(
            jax.random.split(k, migration.islands), params
        )
        return _seed_population(states, seeds)

    generation = Generation(
        strategy,
        params,
        task,
        data,
        mesh,
        migration,
        k_eval,
        screening,
        restart_every=config.search.restart_every,
    )
    keys = jax.random.split(k_run, config.generations)
    run = Run(config, run_dir, mesh, task, data, initial_states(k_init), generation, keys, k_eval)
    if resume:
        _restore(run)
    t0 = time.perf_counter()
    generation.compile(run.states, run.keys[0])
    run.compile_seconds = time.perf_counter() - t0
    return run


def _restore(run: Run) -> None:
    """Continue from the latest checkpoint: its states, counters, cache and metrics lines."""
    step, record = run.run_dir.latest_checkpoint()
    try:
        same = config_from_dict(record["config"]) == run.config
    except (KeyError, TypeError, ValueError):
        same = False
    if not same:
        raise ValueError(f"{run.run_dir.path}: the checkpoint belongs to a run with another config")
    host = run.run_dir.restore(step, jax.device_get(run.states))
    run.states = jax.device_put(host, replicated(run.mesh))
    run.start, run.eval_seconds = int(record["generation"]), float(record["eval_seconds"])
    if run.generation.cache is not None:
        screening = run.config.screening
        entries = screening.cache, screening.cache_max_hits, record.get("cache", [])
        run.generation.cache = EquivalenceCache.from_state(*entries)
    run.run_dir.truncate_metrics(int(record["metrics_lines"]))


def _seed_population(states, programs: list[Program]):
    """Put the given programs first in the initial islands: program ``j`` goes to island
    ``j mod islands``, so seeds spread over the islands."""
    islands = states.fitness.shape[0]
    pop = states.population
    for j, p in enumerate(programs):
        i, slot = j % islands, j // islands
        pop = jax.tree.map(lambda all_, one, i=i, s=slot: all_.at[i, s].set(one), pop, p)
    return states.replace(population=pop)


def _seed_program(source: str | pathlib.Path, task: Task) -> Program:
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
