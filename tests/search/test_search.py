"""Search mechanics that hold on every processor, and the search benchmark command.

Whether evolution beats random search on MNIST-1D is a float trajectory: XLA's CPU code
differs between processors, so a single seed's outcome is a measurement
(``hivejax bench search``, figures in docs/search.md), not a test. Here the
landscape is exact: fitness counts live instructions, integers computed the same way
everywhere, so selection itself is what is tested.
"""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import hivejax as hj
from hivejax.cli.main import main

SPEC = hj.ProgramSpec(max_length=12, num_consts=2, num_registers=4)
POPULATION, GENERATIONS = 32, 24
TARGET = {"add": 3, "mul": 2}  # live instructions of each op in an optimal program


def exact_fitness(programs):
    """Distance of each program's live op counts from ``TARGET`` (0 is best)."""
    live = jax.vmap(lambda p: hj.live_mask(SPEC, p))(programs)
    distance = jnp.zeros(programs.length.shape, jnp.int32)
    for name, count in TARGET.items():
        have = jnp.sum(live & (programs.op == hj.OP_INDEX[name]), axis=-1)
        distance += jnp.abs(have - count)
    return distance.astype(jnp.float32)


@jax.jit
def evolution_best(key):
    strategy = hj.RegularizedEvolution(SPEC, population_size=POPULATION)
    params = strategy.default_params
    k_init, k_run = jax.random.split(key)

    def generation(state, k):
        k_ask, k_tell = jax.random.split(k)
        population, state = strategy.ask(k_ask, state, params)
        state, _ = strategy.tell(k_tell, population, exact_fitness(population), state, params)
        return state, None

    state, _ = jax.lax.scan(
        generation, strategy.init(k_init, params), jax.random.split(k_run, GENERATIONS)
    )
    return state.best_fitness


@jax.jit
def random_search_best(key):
    # As many programs from the strategy's own initialiser (its default lengths).
    strategy = hj.RegularizedEvolution(SPEC, population_size=POPULATION)
    programs = hj.random_population(
        key,
        SPEC,
        POPULATION * GENERATIONS,
        min_length=strategy.init_min_length,
        max_length=strategy.init_max_length,
    )
    return jnp.min(exact_fitness(programs))


def test_evolution_beats_random_search_on_an_exact_landscape():
    seeds = range(4)
    evolved = [float(evolution_best(jax.random.key(s))) for s in seeds]
    random = [float(random_search_best(jax.random.key(100 + s))) for s in seeds]
    # Lower is better. Integer fitness: the outcome is the same on every processor.
    assert all(e < r for e, r in zip(evolved, random, strict=True)), (evolved, random)


@pytest.mark.slow  # 95 s: a search per strategy and seed
def test_bench_search_reports_every_seed_and_the_lead(capsys):
    argv = ["bench", "--workload", "search", "--task", "loss", "--seeds", "0", "1"]
    toy = ["--population", "8", "--generations", "2", "--steps", "5", "--dataset", "digits"]
    code = main([*argv, *toy, "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    [report] = json.loads(captured.out)["search"]
    assert (report["task"], report["population"], report["generations"]) == ("loss", 8, 2)
    assert report["seeds"] == [0, 1] and report["steps"] == 5
    evolved, random = np.asarray(report["evolution"]), np.asarray(report["random_search"])
    assert evolved.shape == random.shape == (2,)
    assert np.all((0 <= evolved) & (evolved <= 1) & (0 <= random) & (random <= 1))
    lead = report["lead"]
    assert lead["n"] == 2 and lead["mean"] == pytest.approx(np.mean(evolved - random))
    assert lead["lower_bound"] <= lead["mean"]
    assert report["evolution_ahead"] == int(np.sum(evolved > random))


def test_bench_search_refuses_throughput_flags(capsys):
    assert main(["bench", "--workload", "search", "--interpreter", "select"]) == 2
    assert "unrecognized arguments: --interpreter" in capsys.readouterr().err
    assert main(["bench", "--generations", "3"]) == 2  # a flag of search, not throughput
    assert "unrecognized arguments: --generations" in capsys.readouterr().err
