"""One generation: its children screened and bred again until they pass, and its hurdle
(everyone trains the short budget, the best go on to the full one)."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hivejax._src.evaluation.mesh import make_mesh
from hivejax._src.program.program import ProgramSpec
from hivejax._src.search.generation import HURDLE_TIER, Generation, ScreeningConfig
from hivejax._src.search.islands import Migration
from hivejax._src.search.strategy import RegularizedEvolution
from hivejax._src.tasks.training import TrainConfig

SPEC = ProgramSpec(max_length=8, num_consts=2, num_registers=4)


@dataclasses.dataclass(frozen=True)
class _Length:
    """An exact stand-in task: accuracy is the program's length over the capacity, scaled
    by the budget (``steps / 100``), so the hurdle's budget is visible in the fitness."""

    spec: ProgramSpec
    train: TrainConfig
    trains = True
    name = "length"

    def score(self, programs, data, key, data_axis=None):
        share = programs.length.astype(jnp.float32) / self.spec.max_length
        return share * (self.train.steps / 100)

    def with_steps(self, steps):
        return dataclasses.replace(self, train=TrainConfig(steps=steps))


def test_only_the_promoted_train_the_full_budget_and_rank_above_the_rest():
    strategy = RegularizedEvolution(SPEC, population_size=8)
    params = strategy.default_params  # scored children displace the unscored initial ones
    task = _Length(SPEC, TrainConfig(steps=100))
    mesh = make_mesh(jax.devices()[:1])
    step = Generation(
        strategy,
        params,
        task,
        None,
        mesh,
        Migration(),
        jax.random.key(0),
        dataclasses.replace(ScreeningConfig.off(), hurdle_steps=50, promoted=2),
    )
    states = jax.vmap(strategy.init, in_axes=(0, None))(jax.random.key(1)[None], params)
    lengths = np.asarray(states.population.length[0])
    states, metrics = step(states, jax.random.key(2), 0)
    fitness = np.asarray(states.fitness[0])
    share = np.sort(lengths / SPEC.max_length)[::-1]
    # The two longest programs won the hurdle and carry their full-budget fitness; the
    # others keep their half-budget accuracy in the hurdle's tier, ranked below.
    assert np.sort(fitness)[:2] == pytest.approx(-share[:2])
    assert np.sort(fitness)[2:] == pytest.approx(np.sort(HURDLE_TIER - share[2:] * 0.5))
    assert metrics["best_accuracy"] == pytest.approx(share[0])
    assert metrics["trained"] == 8 and metrics["untrained"] == 0


def _screened(screen, tries=4):
    """A generation of 8 whose screen is ``screen`` (codes, 0 passes) instead of the
    cascade, at most ``tries`` rounds of breeding."""
    strategy = RegularizedEvolution(SPEC, population_size=8)
    screening = dataclasses.replace(
        ScreeningConfig.off(), cascade=True, tries=tries, initial_tries=tries
    )
    step = Generation(
        strategy,
        strategy.default_params,
        _Length(SPEC, TrainConfig(steps=100)),
        None,
        make_mesh(jax.devices()[:1]),
        Migration(),
        jax.random.key(0),
        screening,
    )
    step.screen = screen
    states = jax.vmap(strategy.init, in_axes=(0, None))(
        jax.random.key(1)[None], strategy.default_params
    )
    return step, states


def test_rejected_children_are_bred_again_and_never_enter_the_population():
    step, states = _screened(lambda p: jnp.where(p.length % 2 == 1, 2, 0).astype(jnp.int32))
    for g in range(2):  # the initial population, then bred children
        states, m = step(states, jax.random.key(10 + g), g)
        assert np.all(np.asarray(states.population.length) % 2 == 0)
        assert np.all(np.isfinite(np.asarray(states.fitness)))
        bred, passed = m["operators"][:, 0], m["operators"][:, 1]
        # Every round breeds a child per place; each passing child fills at most one open
        # place, and a place no passing child filled takes a copy instead.
        assert bred.sum() == m["rounds"] * 8
        assert 8 - m["copied"] <= passed.sum()
        assert m["copied"] == 0 or m["rounds"] == 4  # copies only at the bound
        assert m["rejected"][0] == 8  # every place accounted for as passed
        if g:
            assert bred[0] == 0  # after the first generation every child is bred


def test_an_island_with_no_passing_child_keeps_its_rejected_ones_at_the_bound():
    step, states = _screened(lambda p: jnp.full(p.length.shape, 3, jnp.int32), tries=3)
    states, m = step(states, jax.random.key(2), 0)
    assert m["rounds"] == 3 and m["copied"] == 0 and m["trained"] == 0
    assert m["rejected"][3] == 8 and m["operators"][:, 0].sum() == 24
    assert np.all(np.isinf(np.asarray(states.fitness)))


def test_tries_must_be_at_least_one():
    with pytest.raises(ValueError, match="tries must be at least 1"):
        ScreeningConfig(tries=0)


@dataclasses.dataclass(frozen=True)
class _Lucky(_Length):
    """``_Length`` plus up to 0.1 of luck that depends on the key and the program's length,
    as a training key's luck depends on the key and the program."""

    def score(self, programs, data, key, data_axis=None):
        luck = jax.vmap(lambda n: jax.random.uniform(jax.random.fold_in(key, n)))(programs.length)
        return super().score(programs, data, key) + 0.1 * luck


def _confirming(devices, confirm):
    """The first generation of 8 under ``_Lucky``, confirming the ``confirm`` best on
    ``devices``: the fitness it gives each program, its metrics, and the initial programs."""
    strategy = RegularizedEvolution(SPEC, population_size=8)
    task = _Lucky(SPEC, TrainConfig(steps=100))
    step = Generation(
        strategy,
        strategy.default_params,
        task,
        None,
        make_mesh(devices),
        Migration(),
        jax.random.key(0),
        dataclasses.replace(ScreeningConfig.off(), confirm=confirm),
    )
    states = jax.vmap(strategy.init, in_axes=(0, None))(
        jax.random.key(1)[None], strategy.default_params
    )
    initial = jax.tree.map(lambda a: a[0], states.population)
    states, metrics = step(states, jax.random.key(2), 0)
    return np.sort(np.asarray(states.fitness[0])), metrics, task, initial


def _expected(task, programs, confirm):
    """The fitness of each program with the ``confirm`` best confirmed, and their drops."""
    first = np.asarray(task.score(programs, None, jax.random.key(0)))
    second = np.asarray(task.score(programs, None, jax.random.fold_in(jax.random.key(0), 1)))
    top = np.argsort(-first, kind="stable")[:confirm]
    accuracy = first.copy()
    accuracy[top] = (first[top] + second[top]) / 2
    return np.sort(-accuracy), first[top] - accuracy[top]


@pytest.mark.parametrize(
    "devices, confirm",
    [(1, 2), (4, 1)],  # on four devices, four train and the best one's mean is kept
)
def test_the_best_programs_take_the_mean_of_a_second_key_on_any_devices(devices, confirm):
    fitness, metrics, task, programs = _confirming(jax.devices()[:devices], confirm)
    expected, drops = _expected(task, programs, confirm)
    assert fitness == pytest.approx(expected)
    assert np.all(drops != 0)  # the second key changes the confirmed ones' fitness
    assert metrics["confirmation"] == pytest.approx([confirm, drops.sum()])
