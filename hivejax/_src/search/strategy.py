"""Regularized evolution of register programs behind evosax's ``init/ask/tell`` contract.

The search is a generational form of regularized (aging) evolution (Real et al., 2019):
parents are picked by tournament on fitness plus a parsimony penalty, bred by crossover
and mutation, and the children replace the oldest members, except for a few elites kept
by fitness. Aging keeps the population turning over, so a lucky evaluation cannot hold a
slot forever, while elitism guarantees that the best program is never lost. A child
without a fitness (rejected or broken) ages out before any scored program does.

Fitness is minimised, as in evosax. A NaN fitness (a program that broke) counts as
``+inf``. The strategy object holds only static configuration and is a frozen, hashable
dataclass, so ``jax.jit`` can key its cache on it; all evolving data lives in ``State``
and all tunable numbers in ``Params``, both PyTrees.
"""

import dataclasses
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from hivejax._src.evaluation.scores import worst_if_nan
from hivejax._src.program.liveness import live_mask
from hivejax._src.program.program import Program, ProgramSpec, random_population
from hivejax._src.search.variation import (
    MUTATIONS,
    MutationParams,
    _check_concrete_range,
    _crossover,
    _mutate,
    _mutate_words,
    _uniform,
    _words,
    check_mutation_params,
)


@struct.dataclass
class Params:
    """Tunable settings of ``RegularizedEvolution``.

    ``tournament_size`` and ``num_elites`` fix array shapes, so they are static fields:
    changing them retraces. The other fields are traced and may be vmapped over.

    Attributes:
      tournament_size: programs drawn (with replacement) per tournament.
      num_elites: best programs of old population and children kept each generation.
      crossover_rate: probability that a child is bred by crossover before mutation. Per
        child bred, crossover improved on its parents least of all operators on every task
        (0.75% on the training tasks against 1.2 to 3.0% for the mutations; 3.3% against
        5.7 to 7.2% on regression; docs/search.md), so it is drawn a quarter of the time,
        down from half.
      parsimony: fitness penalty per live instruction, used only to pick parents.
      immigrant_rate: share of children that are fresh programs from the initialiser
        rather than bred: random immigrants keep exploring once the population converges.
      mutation: operator weights and constant noise for ``variation.mutate``.

    Example:
      >>> strategy = RegularizedEvolution(ProgramSpec(), population_size=8)
      >>> params = strategy.default_params.replace(crossover_rate=0.0)
      >>> params.tournament_size, params.num_elites
      (4, 1)
    """

    tournament_size: int = struct.field(pytree_node=False, default=4)
    num_elites: int = struct.field(pytree_node=False, default=1)
    crossover_rate: float = 0.25
    parsimony: float = 1e-3
    immigrant_rate: float = 0.25
    mutation: MutationParams = dataclasses.field(default_factory=MutationParams)


@struct.dataclass
class State:
    """Everything that evolves between generations.

    Attributes:
      population: the current ``population_size`` programs (a batched ``Program``).
      fitness: ``float32[N]`` their fitness (``+inf`` until evaluated, NaN mapped to inf).
      birth: ``int32[N]`` generation each member was born in (``-1`` for the initial ones).
      best_program: the best program evaluated so far.
      best_fitness: its fitness (``+inf`` before the first ``tell``).
      generation_counter: number of ``tell`` calls so far.
    """

    population: Program
    fitness: jax.Array
    birth: jax.Array
    best_program: Program
    best_fitness: jax.Array
    generation_counter: jax.Array


OPERATORS = ("initial", "immigrant", "crossover", *MUTATIONS)
"""What made a child (``Lineage.operator`` indexes this): the initialiser (the initial
population, and retries in the first generation), a random immigrant, crossover (followed
by one mutation, as every bred child is), or one mutation alone."""


_FIRST_MUTATION = OPERATORS.index(next(iter(MUTATIONS)))


@struct.dataclass
class Lineage:
    """Where each child of ``offspring`` comes from, so a run can measure its operators.

    Attributes:
      operator: ``int32[N]`` index into ``OPERATORS``.
      parent_fitness: ``float32[N]`` the fitness the child must beat to improve on its
        parents: the first parent's, the better of both for crossover; ``-inf`` for a
        fresh program, which has no parent to improve on.
    """

    operator: jax.Array
    parent_fitness: jax.Array


def _fresh_lineage(n: int) -> Lineage:
    return Lineage(
        operator=jnp.zeros(n, jnp.int32),
        parent_fitness=jnp.full((n,), -jnp.inf, jnp.float32),
    )


def _take(population: Program, index: jax.Array) -> Program:
    return jax.tree.map(lambda x: x[index], population)


def restart_from_best(state: State, count: int) -> State:
    """Replace the ``count`` worst members by copies of the best program seen (a restart).

    The copies carry the best fitness and are born now, so aging keeps them a while and
    tournaments draw the best's line more often; mutation then spreads them out again.
    ``count`` is static. Before any fitness is known the state is returned unchanged.
    """
    worst = jnp.argsort(-state.fitness, stable=True)[:count]
    known = jnp.isfinite(state.best_fitness)
    copies = jax.tree.map(
        lambda all_, best: all_.at[worst].set(jnp.where(known, best, all_[worst])),
        state.population,
        state.best_program,
    )
    return state.replace(
        population=copies,
        fitness=state.fitness.at[worst].set(
            jnp.where(known, state.best_fitness, state.fitness[worst])
        ),
        birth=state.birth.at[worst].set(
            jnp.where(known, state.generation_counter, state.birth[worst])
        ),
    )


def _fingerprint(spec: ProgramSpec, population: Program) -> jax.Array:
    """A cheap ``uint32`` hash of each program's active instructions (constants ignored)."""
    weights = np.random.default_rng(0).integers(1, 2**32, (4, spec.max_length), np.uint32) | 1
    fields = jnp.stack([population.op, population.dst, population.src1, population.src2], 1)
    fields = fields.astype(jnp.uint32) + 1
    active = jnp.arange(spec.max_length)[None, :] < population.length[:, None]
    mixed = jnp.where(active, jnp.sum(fields * jnp.asarray(weights)[None], axis=1), 0)
    return jnp.sum(mixed, axis=1) ^ (population.length.astype(jnp.uint32) * np.uint32(2654435761))


def _num_distinct(values: jax.Array) -> jax.Array:
    ordered = jnp.sort(values)
    return (1 + jnp.sum(ordered[1:] != ordered[:-1])).astype(jnp.int32)


@dataclasses.dataclass(frozen=True)
class RegularizedEvolution:
    """Regularized evolution with tournament selection, elitism and parsimony pressure.

    Follows evosax's contract with the same method signatures (``init``, ``ask``, ``tell``
    over explicit state, fitness minimised), but does not subclass evosax's
    ``EvolutionaryAlgorithm``: that base ravels every population to a flat float matrix
    in ``tell`` (and unravels it in ``ask``), which would turn a program's ``int32`` op
    codes and operand indices into floats, and its best-solution bookkeeping and metrics
    assume such vectors. It is also a mutable object hashed by identity; this frozen
    dataclass is hashable by value, so equal strategies share jit caches.

    Each generation ``ask`` returns ``population_size`` children; the first ``ask`` after
    ``init`` returns the random initial population so that it gets evaluated. ``tell``
    keeps the ``num_elites`` best of old population and children (by fitness, ties broken
    by fewer live instructions) and fills the other slots with the youngest programs, i.e.
    the children: the oldest non-elite members die.

    Args:
      spec: the shape of the programs.
      population_size: programs per generation, at least 2.
      init_min_length: shortest initial program.
      init_max_length: longest initial program (default: half the capacity).

    Example:
      >>> spec = ProgramSpec(max_length=8)
      >>> strategy = RegularizedEvolution(spec, population_size=8)
      >>> params = strategy.default_params
      >>> state = strategy.init(jax.random.key(0), params)
      >>> population, state = strategy.ask(jax.random.key(1), state, params)
      >>> fitness = jnp.sum(population.op == 0, axis=-1).astype(jnp.float32)
      >>> state, metrics = strategy.tell(jax.random.key(2), population, fitness, state, params)
      >>> int(state.generation_counter), population.op.shape
      (1, (8, 8))
    """

    spec: ProgramSpec
    population_size: int
    init_min_length: int = 2
    init_max_length: int | None = None

    def __post_init__(self):
        if not isinstance(self.spec, ProgramSpec):
            raise TypeError(f"spec must be a ProgramSpec, got {type(self.spec).__name__}")
        if not isinstance(self.population_size, int) or self.population_size < 2:
            raise ValueError(
                f"population_size must be an integer >= 2, got {self.population_size!r}"
            )
        high = self.init_max_length or max(self.init_min_length, self.spec.max_length // 2)
        if not 1 <= self.init_min_length <= high <= self.spec.max_length:
            raise ValueError(
                f"need 1 <= init_min_length ({self.init_min_length}) <= init_max_length "
                f"({high}) <= max_length ({self.spec.max_length})"
            )

    @property
    def default_params(self) -> Params:
        """Default ``Params``: tournaments of 4, one elite per 16 members (at least one),
        crossover a quarter of the time, parsimony 1e-3 per live instruction, ``MutationParams()``.

        Every generation replaces the whole population but its elites, so with a single
        elite a good program's good relatives all die one generation after they are found,
        and the search restarts from the children of one program. Keeping the best
        sixteenth lets selection build on several good lines at once: at a budget of 128
        programs x 16 generations on MNIST-1D, the best activation went from 0.261 to
        0.283 and the best update rule from 0.256 to 0.306 (one elite against eight).
        """
        return Params(num_elites=max(1, self.population_size // 16))

    def validate_params(self, params: Params) -> None:
        """Raise ``ValueError`` for settings that cannot work with this strategy.

        Static fields are always checked (also when ``init``/``ask``/``tell`` trace);
        traced fields only when called eagerly on concrete values.
        """
        if not isinstance(params.tournament_size, int) or params.tournament_size < 1:
            raise ValueError(
                f"tournament_size must be an integer >= 1, got {params.tournament_size!r}"
            )
        if not isinstance(params.num_elites, int) or not (
            0 <= params.num_elites < self.population_size
        ):
            raise ValueError(
                f"num_elites must be an integer in [0, population_size={self.population_size}),"
                f" got {params.num_elites!r}"
            )
        _check_concrete_range("crossover_rate", params.crossover_rate, 0.0, 1.0)
        _check_concrete_range("parsimony", params.parsimony, 0.0)
        check_mutation_params(params.mutation)

    def _fresh(self, key: jax.Array) -> Program:
        """``population_size`` programs from the initialiser."""
        return random_population(
            key,
            self.spec,
            self.population_size,
            min_length=self.init_min_length,
            max_length=self.init_max_length,
        )

    @partial(jax.jit, static_argnames=("self",))
    def init(self, key: jax.Array, params: Params) -> State:
        """A random initial population, not yet evaluated (fitness ``+inf``)."""
        self.validate_params(params)
        population = self._fresh(key)
        return State(
            population=population,
            fitness=jnp.full((self.population_size,), jnp.inf, jnp.float32),
            birth=jnp.full((self.population_size,), -1, jnp.int32),
            best_program=_take(population, 0),
            best_fitness=jnp.asarray(jnp.inf, jnp.float32),
            generation_counter=jnp.asarray(0, jnp.int32),
        )

    @partial(jax.jit, static_argnames=("self",))
    def ask(self, key: jax.Array, state: State, params: Params) -> tuple[Program, State]:
        """Programs to evaluate: the initial population first, then bred children."""
        return self.offspring(key, state, params)[0], state

    def offspring(
        self, key: jax.Array, state: State, params: Params, attempt=0
    ) -> tuple[Program, Lineage]:
        """The children of every place and their ``Lineage``; ``ask`` is attempt 0.

        A later ``attempt`` (traced or not) draws other children for the same places, for a
        generation that screens its children and breeds again where they fail
        (``generation.Generation``): in the first generation attempt 0 is the initial
        population and later attempts are fresh programs from the initialiser; after it,
        every attempt breeds from the population.
        """
        self.validate_params(params)
        first = state.generation_counter == 0
        # Breeding with every child an immigrant draws fresh programs: one initialiser in the
        # compiled step rather than two.
        fresh = params.replace(immigrant_rate=jnp.where(first, 1.0, params.immigrant_rate))
        children, lineage = self._breed(key, state, fresh)
        initial = first & (attempt == 0)
        children = jax.tree.map(
            lambda old, new: jnp.where(initial, old, new), state.population, children
        )
        operator = jnp.where(first, OPERATORS.index("initial"), lineage.operator)
        return children, lineage.replace(operator=operator)

    @partial(jax.jit, static_argnames=("self",))
    def tell(
        self,
        key: jax.Array,
        population: Program,
        fitness: jax.Array,
        state: State,
        params: Params,
    ) -> tuple[State, dict[str, jax.Array]]:
        """Let the evaluated children in: elites survive, the oldest others die."""
        del key  # survival is deterministic
        self.validate_params(params)
        n = self.population_size
        fitness = jnp.asarray(fitness)
        if fitness.shape != (n,):
            raise ValueError(f"fitness must have shape ({n},), got {fitness.shape}")
        fitness = worst_if_nan(fitness)

        # Children first, so that ties between a child and an old copy favour the child.
        union = jax.tree.map(lambda c, o: jnp.concatenate([c, o]), population, state.population)
        union_fitness = jnp.concatenate([fitness, state.fitness])
        union_birth = jnp.concatenate(
            [jnp.full((n,), state.generation_counter, jnp.int32), state.birth]
        )
        union_live = jax.vmap(lambda p: jnp.sum(live_mask(self.spec, p)))(union)

        by_fitness = jnp.lexsort((union_live, union_fitness))
        elite = jnp.zeros(2 * n, bool).at[by_fitness[: params.num_elites]].set(True)
        # Elites first, then programs with a fitness (a rejected or broken child never
        # displaces a scored program: when most children fail, aging alone would fill the
        # population with failures and starve selection), then youngest, then fittest.
        scored = jnp.isfinite(union_fitness)
        keys = (union_fitness, -union_birth, (~scored).astype(jnp.int32))
        order = jnp.lexsort((*keys, (~elite).astype(jnp.int32)))[:n]

        best = jnp.argmin(fitness)
        improved = fitness[best] < state.best_fitness
        best_program = jax.tree.map(
            lambda new, old: jnp.where(improved, new, old),
            _take(population, best),
            state.best_program,
        )
        new_state = state.replace(
            population=_take(union, order),
            fitness=union_fitness[order],
            birth=union_birth[order],
            best_program=best_program,
            best_fitness=jnp.where(improved, fitness[best], state.best_fitness),
            generation_counter=state.generation_counter + 1,
        )

        finite = jnp.isfinite(fitness)
        num_finite = jnp.sum(finite)
        mean = jnp.sum(jnp.where(finite, fitness, 0.0)) / jnp.maximum(num_finite, 1)
        metrics = {
            "generation_counter": state.generation_counter,
            "best_fitness": new_state.best_fitness,
            "best_fitness_in_generation": fitness[best],
            "mean_fitness_in_generation": jnp.where(num_finite > 0, mean, jnp.inf),
            "num_finite": num_finite.astype(jnp.int32),
            "mean_length": jnp.mean(population.length.astype(jnp.float32)),
            "num_distinct": _num_distinct(_fingerprint(self.spec, population)),
        }
        return new_state, metrics

    def _breed(self, key: jax.Array, state: State, params: Params) -> tuple[Program, Lineage]:
        """One child per slot: two tournaments, optional crossover, one mutation; a share
        of random immigrants instead."""
        population = state.population
        live = jax.vmap(lambda p: jnp.sum(live_mask(self.spec, p)))(population)
        score = state.fitness + params.parsimony * live.astype(jnp.float32)

        t = params.tournament_size
        n_cross = _words(self.spec)["crossover"]
        n_words = 1 + 2 * t + n_cross + _mutate_words(self.spec)

        def tournament(bits):
            entrants = (bits % np.uint32(self.population_size)).astype(jnp.int32)
            return entrants[jnp.argmin(score[entrants])]

        def breed_one(k):
            # One flat draw per child: it compiles much faster than several small ones.
            bits = jax.random.bits(k, (n_words,), jnp.uint32)
            m, f = tournament(bits[1 : 1 + t]), tournament(bits[1 + t : 1 + 2 * t])
            mother, father = _take(population, m), _take(population, f)
            do_cross = _uniform(bits[0]) < params.crossover_rate
            rest = bits[1 + 2 * t :]
            child = jax.tree.map(
                lambda x, m: jnp.where(do_cross, x, m),
                _crossover(rest[:n_cross], self.spec, mother, father),
                mother,
            )
            child, mutation = _mutate(rest[n_cross:], self.spec, child, params.mutation)
            fitness = worst_if_nan(state.fitness)
            lineage = Lineage(
                operator=jnp.where(
                    do_cross, OPERATORS.index("crossover"), _FIRST_MUTATION + mutation
                ),
                parent_fitness=jnp.where(do_cross, jnp.minimum(fitness[m], fitness[f]), fitness[m]),
            )
            return child, lineage

        k_breed, k_fresh, k_pick = jax.random.split(key, 3)
        children, lineage = jax.vmap(breed_one)(jax.random.split(k_breed, self.population_size))
        fresh = self._fresh(k_fresh)
        immigrant = jax.random.uniform(k_pick, (self.population_size,)) < params.immigrant_rate
        children = jax.tree.map(
            lambda f, c: jnp.where(immigrant.reshape((-1,) + (1,) * (c.ndim - 1)), f, c),
            fresh,
            children,
        )
        lineage = lineage.replace(
            operator=jnp.where(immigrant, OPERATORS.index("immigrant"), lineage.operator),
            parent_fitness=jnp.where(immigrant, -jnp.inf, lineage.parent_fitness),
        )
        return children, lineage


@dataclasses.dataclass(frozen=True)
class RandomSearch(RegularizedEvolution):
    """The baseline a search must beat: every generation asks fresh programs from the
    initialiser, and ``tell`` only keeps the best seen (``best_program``).

    It runs through the same generation as evolution (cascade, cache, hurdle, funnel), so
    ``hivejax bench search`` compares the two at the same budget and with the
    same savings.
    """

    def _breed(self, key: jax.Array, state: State, params: Params) -> tuple[Program, Lineage]:
        """Fresh programs from the initialiser, whatever the population holds."""
        return self._fresh(key), _fresh_lineage(self.population_size)


# Every strategy here passes tests/search/test_strategy.py; add new ones to this registry.
STRATEGIES: dict[str, type[RegularizedEvolution]] = {
    "regularized_evolution": RegularizedEvolution,
    "random_search": RandomSearch,
}
"""What ``SearchConfig.strategy`` names."""


@dataclasses.dataclass(frozen=True)
class SearchConfig:
    """How a run's population evolves.

    Attributes:
      strategy: what breeds each generation (``STRATEGIES``): ``regularized_evolution``, or
        ``random_search``, the baseline that asks fresh programs every generation.
      seed_programs: programs to start from as well as random ones: paths (best_gene.json
        genomes included) or builtin:NAME.
      restart_every: every N generations a quarter of each island restarts from the best
        (0: never).
    """

    strategy: str = "regularized_evolution"
    seed_programs: tuple[str, ...] = ()
    restart_every: int = 0

    def __post_init__(self):
        if self.strategy not in STRATEGIES:
            raise ValueError(
                f"unknown strategy {self.strategy!r}; choose one of {', '.join(STRATEGIES)}"
            )
        if self.restart_every < 0:
            raise ValueError(f"restart_every must be >= 0, got {self.restart_every}")
        object.__setattr__(self, "seed_programs", tuple(self.seed_programs))
