"""One conformance suite for every strategy in ``strategy.STRATEGIES``.

The fitness is cheap, jittable and integer valued, so runs are bit-reproducible: it is
the distance between the number of active ``add`` instructions and 5, and NaN for the
programs whose first instruction is ``log`` (a stand-in for programs that break).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hivejax._src.program import ops
from hivejax._src.program.program import ProgramSpec, is_valid, make_program
from hivejax._src.search.strategy import (
    OPERATORS,
    STRATEGIES,
    Params,
    RandomSearch,
    RegularizedEvolution,
    restart_from_best,
)

SPEC = ProgramSpec(max_length=8, num_consts=2, num_registers=4)
POP = 16
GENERATIONS = 6
TARGET_ADDS = 5


def synthetic_fitness(population):
    active = jnp.arange(SPEC.max_length)[None, :] < population.length[:, None]
    adds = jnp.sum((population.op == ops.OP_INDEX["add"]) & active, axis=-1)
    fitness = jnp.abs(adds - TARGET_ADDS).astype(jnp.float32)
    return jnp.where(population.op[:, 0] == ops.OP_INDEX["log"], jnp.nan, fitness)


def generation(strategy, key, state, params):
    """One ask-evaluate-tell round, the same in the Python loop and under ``lax.scan``."""
    k_ask, k_tell = jax.random.split(key)
    population, state = strategy.ask(k_ask, state, params)
    state, metrics = strategy.tell(k_tell, population, synthetic_fitness(population), state, params)
    return state, (population, metrics)


def run_loop(strategy, key, params, generations=GENERATIONS):
    k_init, k_run = jax.random.split(key)
    state = strategy.init(k_init, params)
    history = []
    for k in jax.random.split(k_run, generations):
        state, out = generation(strategy, k, state, params)
        history.append(out)
    return state, history


def scan_generations(strategy, state, keys, params):
    """``run_loop``'s generations under ``lax.scan`` (``init`` outside: vmapped, it is slow
    to compile and adds nothing to the test)."""
    return jax.lax.scan(lambda s, k: generation(strategy, k, s, params), state, keys)


def assert_trees_equal(a, b):
    assert jax.tree.structure(a) == jax.tree.structure(b)
    jax.tree.map(np.testing.assert_array_equal, a, b)


def trees_equal(a, b):
    leaves = jax.tree.leaves(jax.tree.map(lambda x, y: np.array_equal(x, y, equal_nan=True), a, b))
    return all(leaves)


@pytest.fixture(scope="module", params=sorted(STRATEGIES))
def strategy(request):
    return STRATEGIES[request.param](SPEC, population_size=POP)


@pytest.fixture(scope="module")
def params(strategy):
    return strategy.default_params


@pytest.fixture(scope="module")
def loop_run(strategy, params):
    return run_loop(strategy, jax.random.key(0), params)


def test_first_ask_returns_the_initial_population(strategy, params):
    state = strategy.init(jax.random.key(1), params)
    population, state_after = strategy.ask(jax.random.key(2), state, params)
    assert_trees_equal(population, state.population)
    assert_trees_equal(state_after, state)
    assert np.isinf(state.fitness).all() and np.isinf(state.best_fitness)


def test_shapes_are_preserved_and_populations_valid(strategy, params, loop_run):
    state0 = strategy.init(jax.random.key(0), params)
    state, history = loop_run
    shapes = lambda tree: jax.tree.map(lambda x: (x.shape, x.dtype), tree)  # noqa: E731
    assert shapes(state) == shapes(state0)
    for population, metrics in history:
        assert population.op.shape == (POP, SPEC.max_length)
        assert np.asarray(is_valid(SPEC, population)).all()
        for value in metrics.values():
            assert not np.isnan(value).any()
    assert np.asarray(is_valid(SPEC, state.population)).all()
    assert bool(is_valid(SPEC, state.best_program))
    assert not np.isnan(state.fitness).any()


def test_elitism_best_never_gets_worse(strategy, params, loop_run):
    _, history = loop_run
    best = np.asarray([m["best_fitness"] for _, m in history])
    assert (np.diff(best) <= 0).all()
    # The best program seen so far stays in the population.
    state = strategy.init(jax.random.key(0), params)
    previous = np.inf
    for k in jax.random.split(jax.random.key(5), GENERATIONS):
        state, _ = generation(strategy, k, state, params)
        assert state.fitness.min() <= previous
        previous = state.fitness.min()
        assert state.fitness.min() == state.best_fitness


def test_best_program_has_the_best_fitness(loop_run):
    state, history = loop_run
    best = synthetic_fitness(jax.tree.map(lambda x: x[None], state.best_program))[0]
    assert best == state.best_fitness
    assert state.best_fitness == min(m["best_fitness_in_generation"] for _, m in history)


def test_evolution_improves_on_the_initial_population(loop_run):
    _, history = loop_run
    first, last = history[0][1], history[-1][1]
    # Fixed key; a loose threshold: any improvement over the random population.
    assert last["best_fitness"] < first["best_fitness_in_generation"]


def test_loop_scan_and_vmap_over_seeds_agree(strategy, params, loop_run):
    states, keys = [], []
    for seed in (0, 1):
        k_init, k_run = jax.random.split(jax.random.key(seed))
        states.append(strategy.init(k_init, params))
        keys.append(jax.random.split(k_run, GENERATIONS))
    stack = lambda *xs: jnp.stack(xs)  # noqa: E731
    scanned, (populations, _) = jax.jit(
        jax.vmap(lambda s, k: scan_generations(strategy, s, k, params))
    )(jax.tree.map(stack, *states), stack(*keys))
    state0, history0 = loop_run
    assert_trees_equal(jax.tree.map(lambda x: x[0], scanned), state0)
    assert_trees_equal(jax.tree.map(lambda x: x[0, -1], populations), history0[-1][0])
    state1, _ = run_loop(strategy, jax.random.key(1), params)
    assert_trees_equal(jax.tree.map(lambda x: x[1], scanned), state1)


def test_reproducible_for_a_key(strategy, params, loop_run):
    again, _ = run_loop(strategy, jax.random.key(0), params)
    assert_trees_equal(again, loop_run[0])
    other, _ = run_loop(strategy, jax.random.key(1), params)
    assert not trees_equal(other.population, loop_run[0].population)


def test_second_generation_compiles_nothing(strategy, params):
    compiles = []

    def listener(event, duration, **kwargs):
        if event == "/jax/core/compile/backend_compile_duration":
            compiles.append(event)

    fitness_fn = jax.jit(synthetic_fitness)
    state = strategy.init(jax.random.key(0), params)

    def one(state, g):
        k_ask, k_tell = jax.random.split(jax.random.fold_in(jax.random.key(3), g))
        population, state = strategy.ask(k_ask, state, params)
        state, _ = strategy.tell(k_tell, population, fitness_fn(population), state, params)
        return jax.block_until_ready(state)

    state = one(state, 0)
    sizes = [f._cache_size() for f in (type(strategy).ask, type(strategy).tell)]
    jax.monitoring.register_event_duration_secs_listener(listener)
    try:
        state = one(state, 1)
        state = one(state, 2)
    finally:
        jax.monitoring.unregister_event_duration_listener(listener)
    assert compiles == []
    assert [f._cache_size() for f in (type(strategy).ask, type(strategy).tell)] == sizes


def test_tell_treats_nan_as_inf(strategy, params):
    state = strategy.init(jax.random.key(0), params)
    population, state = strategy.ask(jax.random.key(1), state, params)
    fitness = jnp.full((POP,), jnp.nan).at[3].set(2.0)
    state, metrics = strategy.tell(jax.random.key(2), population, fitness, state, params)
    assert metrics["best_fitness_in_generation"] == 2.0
    assert metrics["mean_fitness_in_generation"] == 2.0
    assert metrics["num_finite"] == 1
    assert np.isinf(state.fitness).sum() == POP - 1
    assert_trees_equal(state.best_program, jax.tree.map(lambda x: x[3], population))


def test_aging_replaces_old_members_but_keeps_elites(strategy, params):
    state = strategy.init(jax.random.key(0), params)
    population, state = strategy.ask(jax.random.key(1), state, params)
    state, _ = strategy.tell(
        jax.random.key(2), population, jnp.arange(POP, dtype=jnp.float32), state, params
    )
    children, _ = strategy.ask(jax.random.key(3), state, params)
    state, _ = strategy.tell(jax.random.key(4), children, jnp.full((POP,), 100.0), state, params)
    # The elites (fitness 0, 1, ...) survive; every other slot holds a child.
    elites = params.num_elites
    np.testing.assert_array_equal(np.sort(state.fitness), [*range(elites)] + [100] * (POP - elites))
    np.testing.assert_array_equal(np.sort(state.birth), [0] * elites + [1] * (POP - elites))


def test_immigrants_arrive_at_their_rate():
    # Every member is one program of one instruction: one mutation gives a child of at most
    # two, while immigrants are fresh programs of the initialiser's lengths (2 to 4 here).
    strategy = RegularizedEvolution(SPEC, population_size=POP)
    params = strategy.default_params
    state = strategy.init(jax.random.key(0), params)
    first, state = strategy.ask(jax.random.key(2), state, params)  # the initial population
    state, _ = strategy.tell(jax.random.key(3), first, jnp.zeros(POP), state, params)
    one = make_program(SPEC, [("r0", "sub", "x", "y")])
    state = state.replace(population=jax.tree.map(lambda x: jnp.stack([x] * POP), one))
    longer = {}
    for rate in (0.0, 0.5, 1.0):
        p = params.replace(immigrant_rate=rate, crossover_rate=0.0)
        children, _ = strategy.ask(jax.random.key(1), state, p)
        longer[rate] = int(np.sum(np.asarray(children.length) > 2))
    assert longer[0.0] == 0
    assert 0 < longer[0.5] < longer[1.0]
    assert longer[1.0] >= POP // 2  # lengths 3 and 4 are two of the three drawn


@pytest.mark.parametrize(
    "kwargs, overrides",
    [
        (dict(population_size=1), {}),
        (dict(population_size=4, init_min_length=0), {}),
        (dict(population_size=4, init_max_length=SPEC.max_length + 1), {}),
        (dict(population_size=4), dict(num_elites=4)),
        (dict(population_size=4), dict(num_elites=-1)),
        (dict(population_size=4), dict(tournament_size=0)),
        (dict(population_size=4), dict(crossover_rate=1.5)),
        (dict(population_size=4), dict(parsimony=-1.0)),
    ],
)
def test_bad_configuration_raises(kwargs, overrides):
    with pytest.raises(ValueError):
        strategy = RegularizedEvolution(SPEC, **kwargs)
        params = strategy.default_params.replace(**overrides)
        strategy.validate_params(params)


def test_static_params_are_checked_when_tracing():
    strategy = RegularizedEvolution(SPEC, population_size=4)
    with pytest.raises(ValueError, match="num_elites"):
        strategy.init(jax.random.key(0), strategy.default_params.replace(num_elites=4))


def test_default_elites_are_a_sixteenth_of_the_population():
    elites = {
        n: RegularizedEvolution(SPEC, population_size=n).default_params.num_elites
        for n in (2, 31, 32, 128, 256)
    }
    assert elites == {2: 1, 31: 1, 32: 2, 128: 8, 256: 16}


def test_strategies_are_hashable_by_value():
    a = RegularizedEvolution(SPEC, population_size=4)
    assert a == RegularizedEvolution(SPEC, population_size=4) and hash(a) == hash(
        RegularizedEvolution(SPEC, population_size=4)
    )
    assert isinstance(a.default_params, Params)


def test_a_restart_copies_the_best_over_the_worst_members():
    strategy = RegularizedEvolution(SPEC, population_size=4)
    state = strategy.init(jax.random.key(0), strategy.default_params)
    jax.tree.map(np.testing.assert_array_equal, restart_from_best(state, 2), state)
    best = make_program(SPEC, [("r0", "add", "x", "y")])
    state = state.replace(
        fitness=jnp.array([0.1, jnp.inf, -0.5, 0.3]),
        best_program=best,
        best_fitness=jnp.asarray(-0.6),
        generation_counter=jnp.asarray(7),
    )
    after = restart_from_best(state, 2)
    assert after.fitness.tolist() == pytest.approx([0.1, -0.6, -0.5, -0.6])
    assert after.birth.tolist() == [-1, 7, -1, 7]
    for i, kept in ((0, True), (1, False), (2, True), (3, False)):
        member = jax.tree.map(lambda a, i=i: a[i], after.population)
        source = jax.tree.map(lambda a, i=i: a[i], state.population) if kept else best
        jax.tree.map(np.testing.assert_array_equal, member, source)


def test_random_search_asks_fresh_programs_and_keeps_the_best():
    strategy = RandomSearch(SPEC, population_size=8)
    params = strategy.default_params
    state = strategy.init(jax.random.key(0), params)
    first, state = strategy.ask(jax.random.key(1), state, params)
    jax.tree.map(np.testing.assert_array_equal, first, state.population)  # the initial ones
    fitness = jnp.arange(8, dtype=jnp.float32)
    state, _ = strategy.tell(jax.random.key(2), first, fitness, state, params)
    fresh, _ = strategy.ask(jax.random.key(3), state, params)
    assert not np.array_equal(fresh.op, first.op) and bool(jnp.all(is_valid(SPEC, fresh)))
    assert float(state.best_fitness) == 0.0


@pytest.mark.parametrize("name", STRATEGIES)
def test_offspring_names_what_made_each_child(name):
    strategy = STRATEGIES[name](SPEC, population_size=POP)
    mutation = strategy.default_params.mutation.replace(argument=0.0, insert=0.0, delete=0.0)
    params = strategy.default_params.replace(
        crossover_rate=0.5, immigrant_rate=0.25, mutation=mutation
    )
    state = strategy.init(jax.random.key(0), params)
    offspring = jax.jit(strategy.offspring)  # one compile serves every call below
    initial, lineage = offspring(jax.random.key(1), state, params, 0)
    jax.tree.map(np.testing.assert_array_equal, initial, state.population)  # attempt 0
    again, _ = offspring(jax.random.key(1), state, params, 1)
    assert not np.array_equal(again.op, initial.op)  # a retry draws other programs
    assert set(np.asarray(lineage.operator).tolist()) == {OPERATORS.index("initial")}
    fitness = jnp.arange(POP, dtype=jnp.float32)
    state, _ = strategy.tell(jax.random.key(2), initial, fitness, state, params)
    children, lineage = offspring(jax.random.key(3), state, params, 0)
    ops_made = {OPERATORS[i] for i in np.asarray(lineage.operator).tolist()}
    parent = np.asarray(lineage.parent_fitness)
    if name == "random_search":
        assert ops_made == {"initial"} and np.all(parent == -np.inf)
    else:
        # Mutation alone is point or constant (the others weigh 0); a crossover child's
        # parents' fitness is a member's, as is a mutant's; an immigrant has none to beat.
        assert ops_made <= {"immigrant", "crossover", "point", "constant"}
        assert {"immigrant", "crossover", "point"} <= ops_made
        bred = np.asarray(lineage.operator) != OPERATORS.index("immigrant")
        assert np.isin(parent[bred], np.asarray(state.fitness)).all()
        assert np.all(parent[~bred] == -np.inf)
    assert bool(jnp.all(is_valid(SPEC, children)))
