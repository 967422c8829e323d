"""Every op's value and gradient are finite for every finite input, under vmap and grad."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hivejax._src.program import ops

HIVETRAIN_VOCABULARY = (
    "add sub mul div max min mod hypot log sqrt exp sin cos tan arcsin arccos arctan sigmoid "
    "relu tanh leaky_relu mean std abs reciprocal square cube sign floor ceil round"
).split()

EXTREMES = [0.0, -0.0, 1e-30, -1e-30, 1e-8, -1e-8, 1.0, -1.0, 1e30, -1e30, 3.4e38, -3.4e38]

finite = st.floats(allow_nan=False, allow_infinity=False, width=32)


def test_table_covers_hivetrain_vocabulary():
    assert len(HIVETRAIN_VOCABULARY) == 31
    assert set(HIVETRAIN_VOCABULARY) <= set(ops.OP_INDEX)
    assert {name for name, _ in ops.NAMED_CONSTANTS} == {"one", "zero", "half", "pi", "e"}


def _value_and_grads(index, a, b):
    """Values and gradients of sum(op(a, b)) w.r.t. both inputs, vmapped over rows."""

    def total(a, b):
        return ops.apply_op(index, a, b).sum()

    value = jax.vmap(lambda a, b: ops.apply_op(index, a, b))(a, b)
    ga, gb = jax.vmap(jax.grad(total, argnums=(0, 1)))(a, b)
    return value, ga, gb


_CHECK = jax.jit(_value_and_grads, static_argnums=0)


@pytest.mark.parametrize("name", [op.name for op in ops.OPS])
def test_op_finite_at_extremes(name):
    index = ops.OP_INDEX[name]
    grid = np.asarray(EXTREMES, np.float32)
    a, b = np.meshgrid(grid, grid)  # every pair of extremes, rows of length len(EXTREMES)
    for out in _CHECK(index, jnp.asarray(a), jnp.asarray(b)):
        assert np.isfinite(out).all(), name


@pytest.mark.parametrize("name", [op.name for op in ops.OPS])
@settings(max_examples=25, deadline=None)
@given(data=st.lists(st.tuples(finite, finite), min_size=6, max_size=6))
def test_op_finite_for_any_finite_input(name, data):
    a = jnp.asarray([[p[0] for p in data]] * 2, jnp.float32)
    b = jnp.asarray([[p[1] for p in data]] * 2, jnp.float32)
    for out in _CHECK(ops.OP_INDEX[name], a, b):
        assert np.isfinite(out).all(), name


@pytest.mark.parametrize(
    ("name", "reference"),
    [
        ("add", lambda a, b: a + b),
        ("div", lambda a, b: a / (b + 1e-8)),
        ("log", lambda a, b: np.log(np.abs(a) + 1e-8)),
        ("sqrt", lambda a, b: np.sqrt(np.abs(a))),
        ("exp", lambda a, b: np.exp(a)),
        ("sigmoid", lambda a, b: 1 / (1 + np.exp(-a))),
        ("leaky_relu", lambda a, b: np.where(a >= 0, a, 0.01 * a)),
        ("mean", lambda a, b: np.full_like(a, a.mean())),
        ("std", lambda a, b: np.full_like(a, a.std(ddof=1))),
        ("hypot", np.hypot),
        ("mod", np.mod),
        ("lse_c", lambda a, b: np.broadcast_to(np.log(np.exp(a).sum(-1, keepdims=True)), a.shape)),
        ("max_c", lambda a, b: np.broadcast_to(a.max(-1, keepdims=True), a.shape)),
    ],
)
def test_op_meaning_on_ordinary_inputs(name, reference):
    rng = np.random.default_rng(0)
    a = rng.normal(size=(4, 5)).astype(np.float32) * 2
    b = rng.normal(size=(4, 5)).astype(np.float32) + 3.0  # away from 0 for div and mod
    got = ops.apply_op(ops.OP_INDEX[name], jnp.asarray(a), jnp.asarray(b))
    np.testing.assert_allclose(got, reference(a, b), rtol=2e-5, atol=1e-6)
