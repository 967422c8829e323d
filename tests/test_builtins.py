"""Builtin losses compute what their names say, in value and gradient."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from hivejax._src import builtins, interpreter
from hivejax._src.canonical import canonicalize
from hivejax._src.program import ProgramSpec


def _focal(x, y):
    logp = jax.nn.log_softmax(x)
    return -(y * (1.0 - jnp.exp(logp)) ** 2 * logp).sum(-1).mean()


REFERENCES = {
    "cross_entropy": lambda x, y: optax.softmax_cross_entropy(x, y).mean(),
    "mse": lambda x, y: jnp.mean((x - y) ** 2),
    "hinge": lambda x, y: jnp.mean(jax.nn.relu(1.0 - x * (2.0 * y - 1.0))),
    "focal": _focal,
    "label_smoothing": lambda x, y: optax.softmax_cross_entropy(
        x, optax.smooth_labels(y, 0.1)
    ).mean(),
}


# One compilation each for every builtin: the programs are arguments, the spec is static.
@functools.partial(jax.jit, static_argnums=0)
def _loss(spec, program, x, y):
    return interpreter.run(spec, program, (x, y)).mean()


_grad = jax.jit(jax.grad(_loss, argnums=2), static_argnums=0)


@pytest.fixture(scope="module")
def data():
    x = 3.0 * jax.random.normal(jax.random.key(0), (8, 10))
    y = jax.nn.one_hot(jnp.arange(8) % 10, 10)
    return x, y


def test_every_builtin_has_a_reference():
    assert set(REFERENCES) == set(builtins.BUILTINS)
    assert {"cross_entropy", "mse", "hinge", "focal"} <= set(builtins.BUILTINS)


@pytest.mark.parametrize("name", builtins.BUILTINS)
def test_builtin_matches_reference(spec, data, name):
    x, y = data
    program = builtins.builtin(name, spec)
    reference = REFERENCES[name]
    # float32: a handful of ulps from different summation orders.
    np.testing.assert_allclose(_loss(spec, program, x, y), reference(x, y), rtol=1e-5)
    np.testing.assert_allclose(
        _grad(spec, program, x, y), jax.grad(reference)(x, y), rtol=1e-4, atol=1e-7
    )


@pytest.mark.parametrize("name", builtins.BUILTINS)
def test_builtins_are_canonical(spec, name):
    program = builtins.builtin(name, spec)
    canonical = canonicalize(spec, program)
    for field in ("op", "dst", "src1", "src2", "consts", "length"):
        np.testing.assert_array_equal(getattr(canonical, field), getattr(program, field))


def test_builtins_fit_a_small_spec():
    small = ProgramSpec(max_length=9, num_consts=1, num_registers=3)
    for name in builtins.BUILTINS:
        assert int(builtins.builtin(name, small).length) <= 9


def test_unknown_builtin_lists_the_names():
    with pytest.raises(ValueError, match="unknown builtin 'nope'; valid names: cross_entropy, mse"):
        builtins.builtin("nope")


def test_builtin_needs_x_and_y():
    with pytest.raises(ValueError, match="inputs 'x' and 'y'"):
        builtins.builtin("mse", ProgramSpec(inputs=("g", "p")))
