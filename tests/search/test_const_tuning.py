"""Constant tuning with evosax strategies finds constants and never makes things worse."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hivejax._src.program.program import ProgramSpec, make_program
from hivejax._src.search.const_tuning import TUNERS, tune_constants

SPEC = ProgramSpec(num_consts=2)
TARGET = np.asarray([1.5, -0.5], np.float32)


def quadratic(batch):
    """Distance of the constants to TARGET; the program structure is irrelevant."""
    return jnp.sum(jnp.square(batch.consts - TARGET[None]), axis=-1)


def _program(consts):
    return make_program(SPEC, [("r0", "mul", "x", "c0"), ("r0", "add", "r0", "c1")], consts)


# Open-ES moves its mean by Adam steps, so it needs more generations than CMA-ES.
SETTINGS = {
    "cma_es": dict(generations=30, sigma=0.5),
    "open_es": dict(generations=40, sigma=0.3, learning_rate=0.1),
}


@pytest.mark.parametrize("name", TUNERS)
def test_recovers_constants(name):
    program = _program((0.0, 0.0))
    tuned, fitness = tune_constants(
        jax.random.key(0), program, quadratic, strategy=name, **SETTINGS[name]
    )
    # Fixed key, loose tolerance: the optimum is exact, the search is stochastic.
    np.testing.assert_allclose(tuned.consts, TARGET, atol=0.1)
    np.testing.assert_allclose(fitness, quadratic(tuned.replace(consts=tuned.consts[None]))[0])
    for field in ("op", "dst", "src1", "src2", "length"):
        np.testing.assert_array_equal(getattr(tuned, field), getattr(program, field))


@pytest.mark.parametrize("name", TUNERS)
def test_never_worse_than_the_input(name):
    # Already optimal: the only way to stay optimal is to keep the input constants.
    program = _program(tuple(TARGET))
    tuned, fitness = tune_constants(
        jax.random.key(1), program, quadratic, strategy=name, **SETTINGS[name]
    )
    np.testing.assert_array_equal(tuned.consts, program.consts)
    assert fitness == 0.0


def test_nan_fitness_keeps_the_input():
    program = _program((0.3, 0.7))

    def broken(batch):  # every candidate but the original breaks
        same = jnp.all(batch.consts == program.consts[None], axis=-1)
        return jnp.where(same, 1.0, jnp.nan)

    tuned, fitness = tune_constants(jax.random.key(2), program, broken, **SETTINGS["cma_es"])
    np.testing.assert_array_equal(tuned.consts, program.consts)
    assert fitness == 1.0


def test_batch_of_programs_is_tuned_one_by_one():
    programs = jax.tree.map(
        lambda *xs: jnp.stack(xs), _program((0.0, 0.0)), _program(tuple(TARGET))
    )
    tuned, fitness = tune_constants(jax.random.key(3), programs, quadratic, **SETTINGS["cma_es"])
    assert tuned.consts.shape == (2, 2) and fitness.shape == (2,)
    np.testing.assert_allclose(tuned.consts[0], TARGET, atol=0.1)
    np.testing.assert_array_equal(tuned.consts[1], TARGET)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(strategy="nelder_mead"),
        dict(population_size=1),
        dict(strategy="open_es", population_size=7),
        dict(generations=0),
        dict(sigma=0.0),
    ],
)
def test_bad_configuration_raises(kwargs):
    with pytest.raises(ValueError):
        tune_constants(jax.random.key(0), _program((0.0, 0.0)), quadratic, **kwargs)


def test_no_constants_raises():
    spec = ProgramSpec(num_consts=0)
    program = make_program(spec, [("r0", "sub", "x", "y")])
    with pytest.raises(ValueError, match="num_consts"):
        tune_constants(jax.random.key(0), program, quadratic)
