"""Tune a program's free constants with an evosax distribution strategy.

Structural search (``strategy.RegularizedEvolution``) moves constants only by small
random kicks. Once a good structure is found, a continuous optimiser does better: here
CMA-ES (or OpenAI-ES) from evosax searches the ``num_consts``-dimensional constant vector
of a fixed program. It needs only fitness values, so it works for fitness functions that
are not differentiable in the constants (test accuracy after training, say).

The search starts at the program's own constants; the result keeps them unless a
tuned vector was strictly better. Unused constants are tuned too, which is harmless.
"""

import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp
import optax

from hivejax._src.evaluation.scores import worst_if_nan
from hivejax._src.program.program import Program

# Names accepted by ``tune_constants(strategy=...)``, lower-cased.
TUNERS = ("cma_es", "open_es")


@functools.lru_cache(maxsize=64)
def _make_es(name: str, population_size: int, num_dims: int, sigma: float, learning_rate: float):
    # Cached so that equal settings give the same (identity-hashed) evosax object and
    # its jitted init/ask/tell do not recompile. The constructor computes jnp values that
    # it keeps; evaluating them eagerly keeps tracers out of the cache when this is
    # first called inside a trace. evosax is imported here, not at module level, because
    # importing it initialises JAX's backends, and `hivejax evolve --distributed` must
    # call jax.distributed.initialize before that happens.
    from evosax.algorithms import CMA_ES, Open_ES

    with jax.ensure_compile_time_eval():
        solution = jnp.zeros((num_dims,), jnp.float32)
        if name == "cma_es":
            return CMA_ES(population_size=population_size, solution=solution)
        return Open_ES(
            population_size=population_size,
            solution=solution,
            optimizer=optax.adam(learning_rate),
            std_schedule=optax.constant_schedule(sigma),
        )


def _with_consts(program: Program, consts: jax.Array) -> Program:
    """A batch of copies of ``program`` with constants ``consts[n, K]``."""
    n = consts.shape[0]
    return jax.tree.map(
        lambda x: jnp.broadcast_to(x, (n, *x.shape)), program.replace(consts=program.consts)
    ).replace(consts=consts.astype(program.consts.dtype))


@functools.partial(
    jax.jit,
    static_argnames=(
        "fitness_fn",
        "strategy",
        "population_size",
        "generations",
        "sigma",
        "learning_rate",
    ),
)
def _tune_one(
    key, program, fitness_fn, strategy, population_size, generations, sigma, learning_rate
):
    es = _make_es(strategy, population_size, program.consts.shape[-1], sigma, learning_rate)
    params = es.default_params
    if strategy == "cma_es":
        params = params.replace(std_init=jnp.asarray(sigma, jnp.float32))
    k_init, k_gens = jax.random.split(key)

    def evaluate(consts):
        fitness = worst_if_nan(fitness_fn(_with_consts(program, consts)))
        if fitness.shape != (consts.shape[0],):
            raise ValueError(
                f"fitness_fn must return shape ({consts.shape[0]},), got {fitness.shape}"
            )
        return fitness

    def step(state, k):
        k_ask, k_tell = jax.random.split(k)
        # evosax broadcasts the mean against the population by rank promotion.
        with jax.numpy_rank_promotion("allow"):
            x, state = es.ask(k_ask, state, params)
        fitness = evaluate(x)
        with jax.numpy_rank_promotion("allow"):
            state, _ = es.tell(k_tell, x, fitness, state, params)
        return state, None

    with jax.numpy_rank_promotion("allow"):
        state = es.init(k_init, program.consts.astype(jnp.float32), params)
    state, _ = jax.lax.scan(step, state, jax.random.split(k_gens, generations))

    # Candidates: the original constants (first, so ties keep them), the final mean of the
    # search distribution and the best sample seen.
    mean = es.get_mean(state)
    start = jnp.stack([program.consts.astype(jnp.float32), mean])
    candidates = jnp.concatenate([start, state.best_solution[None]])
    fitness = jnp.concatenate([evaluate(start), worst_if_nan(state.best_fitness)[None]])
    best = jnp.argmin(fitness)
    consts = candidates[best].astype(program.consts.dtype)
    return program.replace(consts=consts), fitness[best]


def tune_constants(
    key: jax.Array,
    program: Program,
    fitness_fn: Callable[[Program], jax.Array],
    *,
    strategy: str = "cma_es",
    population_size: int = 16,
    generations: int = 10,
    sigma: float = 0.5,
    learning_rate: float = 0.1,
) -> tuple[Program, jax.Array]:
    """Search the constants of ``program`` to minimise ``fitness_fn``.

    Args:
      key: PRNG key.
      program: one program, or a batch of programs (leading axis), each tuned on its own
        with its own key from ``jax.random.split(key, n)``.
      fitness_fn: ``fitness_fn(programs) -> float[n]``, minimised; called with batches of
        copies of one program that differ only in ``consts``. NaN counts as ``+inf``. It
        is traced (so must be jittable) and is a static argument of the compiled search:
        pass the same function object to reuse the compilation. With a batch of
        programs it is also vmapped over the batch.
      strategy: ``"cma_es"`` (evosax ``CMA_ES``) or ``"open_es"`` (evosax ``Open_ES``
        with Adam), case-insensitive.
      population_size: candidate constant vectors per generation (even for Open-ES).
      generations: ask/tell rounds.
      sigma: initial (CMA-ES) or constant (Open-ES) search standard deviation.
      learning_rate: Adam step size of Open-ES (unused by CMA-ES).

    Returns:
      ``(program, fitness)``: the program with the best constants found (its original
      constants unless a candidate was strictly better) and that fitness. ``fitness`` is
      the tuned vector's fitness, or the original's (evaluated once) if none was better.

    Example:
      >>> from hivejax._src.program.program import ProgramSpec, make_program
      >>> spec = ProgramSpec(num_consts=2)
      >>> p = make_program(spec, [("r0", "mul", "x", "c0")], consts=(0.0, 0.0))
      >>> def fitness_fn(batch):
      ...     return (batch.consts[:, 0] - 1.5) ** 2 + (batch.consts[:, 1] + 0.5) ** 2
      >>> tuned, f = tune_constants(jax.random.key(0), p, fitness_fn, generations=30)
      >>> bool(f < 1e-3)
      True
    """
    name = strategy.lower() if isinstance(strategy, str) else strategy
    if name not in TUNERS:
        raise ValueError(f"strategy must be one of {TUNERS}, got {strategy!r}")
    if not isinstance(population_size, int) or population_size < 2:
        raise ValueError(f"population_size must be an integer >= 2, got {population_size!r}")
    if name == "open_es" and population_size % 2:
        raise ValueError(f"open_es needs an even population_size, got {population_size}")
    if not isinstance(generations, int) or generations < 1:
        raise ValueError(f"generations must be an integer >= 1, got {generations!r}")
    if not sigma > 0:
        raise ValueError(f"sigma must be > 0, got {sigma!r}")
    if not learning_rate > 0:
        raise ValueError(f"learning_rate must be > 0, got {learning_rate!r}")
    num_consts = program.consts.shape[-1]
    if num_consts < 1:
        raise ValueError("the program has no free constants to tune (num_consts=0)")
    if program.consts.ndim not in (1, 2):
        raise ValueError(
            f"program must be one program or a 1-D batch, got consts of shape "
            f"{program.consts.shape}"
        )

    run = functools.partial(
        _tune_one,
        fitness_fn=fitness_fn,
        strategy=name,
        population_size=population_size,
        generations=generations,
        sigma=float(sigma),
        learning_rate=float(learning_rate),
    )
    if program.consts.ndim == 1:
        return run(key, program)
    keys = jax.random.split(key, program.consts.shape[0])
    return jax.vmap(run)(keys, program)
