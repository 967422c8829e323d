"""The reference, fused and select interpreters agree, in value and gradient."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from hivejax._src.interpret import fused, reference
from hivejax._src.program import ops
from hivejax._src.program.liveness import live_mask
from hivejax._src.program.program import (
    ProgramSpec,
    make_program,
    random_population,
    stack_programs,
)


def _inputs(batch=8, classes=10):
    x = 3.0 * jax.random.normal(jax.random.key(1), (batch, classes))
    y = jax.nn.one_hot(jnp.arange(batch) % classes, classes)
    return x, y


def test_run_simple_program(spec):
    p = make_program(spec, [("r1", "sub", "x", "y"), ("r0", "square", "r1", "r1")])
    x, y = _inputs()
    out = reference.run(spec, p, (x, y))
    np.testing.assert_allclose(out, (x - y) ** 2, rtol=1e-6)


def test_constants_are_differentiable(spec):
    p = make_program(spec, [("r0", "mul", "x", "c0")], consts=(2.0,))
    x, y = _inputs()
    grad = jax.grad(lambda c: reference.run(spec, p.replace(consts=c), (x, y)).sum())(p.consts)
    np.testing.assert_allclose(grad[0], x.sum(), rtol=1e-5)
    np.testing.assert_allclose(grad[1:], 0.0)


@pytest.mark.parametrize("vectorised", [False, True], ids=["fused", "select"])
@pytest.mark.parametrize("seed", [0, 1])
def test_fused_matches_reference(spec, seed, vectorised):
    pop = random_population(jax.random.key(seed), spec, 64, max_length=spec.max_length)
    x, y = _inputs()

    def by_reference(p, x):
        return reference.run(spec, p, (x, y)).mean()

    def fast(p, x):
        c, _ = fused.compact(spec, p)
        return fused.run(spec, c, (x, y), vectorised).mean()

    def value_and_grads(f):
        g = jax.value_and_grad(lambda c, p, x: f(p.replace(consts=c), x), argnums=(0, 2))
        return jax.jit(jax.vmap(lambda p, x: g(p.consts, p, x), in_axes=(0, None)))(pop, x)

    v_ref, (gc_ref, gx_ref) = value_and_grads(by_reference)
    v_fast, (gc_fast, gx_fast) = value_and_grads(fast)
    assert np.isfinite(v_ref).all() and np.isfinite(gx_ref).all()
    # Same ops, same order: differences come only from summation order in reductions.
    np.testing.assert_allclose(v_fast, v_ref, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(gx_fast, gx_ref, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(gc_fast, gc_ref, rtol=1e-4, atol=1e-5)


def test_compact_keeps_output_and_counts_live(spec):
    # r2 is dead: it never reaches r0.
    p = make_program(
        spec,
        [("r1", "sub", "x", "y"), ("r2", "exp", "x", "x"), ("r0", "square", "r1", "r1")],
    )
    c, count = fused.compact(spec, p)
    assert int(count) == 2
    x, y = _inputs()
    np.testing.assert_allclose(
        reference.run(spec, c, (x, y)), reference.run(spec, p, (x, y)), rtol=1e-6
    )


EXTREMES = jnp.asarray([0.0, 1e-30, -1e-8, 1.0, -1.0, 1e30, -1e30, 3e38, -3e38, 7.0])


@pytest.mark.parametrize("name", [op.name for op in ops.OPS])
def test_fused_gradient_finite_at_extremes(spec, name):
    # One instruction r0 = op(x, y) over every pair of extreme values.
    p = make_program(spec, [("r0", name, "x", "y")])
    x, y = jnp.meshgrid(EXTREMES, EXTREMES)
    c, _ = fused.compact(spec, p)
    value, grads = _fused_value_and_grad(c, x, y)
    assert np.isfinite(value).all() and all(np.isfinite(g).all() for g in grads)


@jax.jit
def _fused_value_and_grad(c, x, y):
    out, pull = jax.vjp(lambda x, y: fused.run(ProgramSpec(), c, (x, y)), x, y)
    return out, pull(jnp.ones_like(out))


SHAPES = [(8, 10), (3, 4, 5), (1, 2)]


# Ops whose value jumps: a float rounding before one of them (XLA fuses a vectorised
# population differently) can move its output anywhere, e.g. round(sigmoid(x % 1e-8)).
JUMPS = [ops.OP_INDEX[name] for name in ("floor", "ceil", "round", "sign", "mod")]


# Derandomised: the same examples on every run, so a machine that passes it once always
# does (see _unsettled for what the noise cannot reveal).
@settings(max_examples=12, deadline=None, derandomize=True)
@given(seed=st.integers(0, 2**31 - 1), shape=st.sampled_from(SHAPES))
@example(seed=5485, shape=(8, 10))  # program 63 is cos(exp(sum_c(x))), with a sum near 20
def test_select_matches_reference_on_random_programs_and_shapes(seed, shape):
    # 64 programs of up to 16 instructions. Programs that run an op that jumps are left to
    # the one-op test below, and so are those float32 rounding decides (``_unsettled``).
    # Gradients are compared with the fused interpreter, which shares select's backward
    # pass (for how it departs from the reference on one degenerate program, see the xfail
    # below).
    spec = ProgramSpec()
    k_pop, k_x, k_y = jax.random.split(jax.random.key(seed), 3)
    pop = random_population(k_pop, spec, 64, max_length=spec.max_length)
    live = np.asarray(jax.vmap(lambda p: live_mask(spec, p))(pop))
    jumps = (live & np.isin(np.asarray(pop.op), JUMPS)).any(axis=1)
    x = 3.0 * jax.random.normal(k_x, shape)
    y = jax.random.normal(k_y, shape)
    v_ref, g_ref = _population_value_and_grad(pop, x, y, None)
    compared = ~jumps & ~_unsettled(pop, x, y, (v_ref, g_ref))
    assert compared.sum() >= 24  # enough programs left to test
    v_fused, g_fused = _population_value_and_grad(pop, x, y, False)
    v_sel, g_sel = _population_value_and_grad(pop, x, y, True)
    np.testing.assert_allclose(v_sel[compared], v_ref[compared], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(v_sel[compared], v_fused[compared], rtol=1e-5, atol=1e-6)
    for a, b in zip(g_sel, g_fused, strict=True):
        np.testing.assert_allclose(a[compared], b[compared], rtol=1e-4, atol=1e-5)


NOISE = 2.0**-19  # 16 float32 ulps: more than two implementations of an op differ by


def _unsettled(pop, x, y, expected):
    """Per program: whether its reference value and gradients, ``expected``, move past the
    test's tolerances when x, y, the constants and every instruction's operands and result
    move by up to ``NOISE`` of themselves (and by 1e-37, for signs next to zero), all up or
    all down.

    There an interpreter's rounding decides the result, and the interpreters round
    differently (select reduces in another order than fused), as do processors (XLA's CPU
    code differs by chip): ``std`` of a constant is rounding noise, ``cos(exp(sum_c(x)))``
    is anything once the sum passes 20, ``sin(arccos(z))``'s slope is steep where ``|z|``
    nears 1.

    What the noise cannot reveal: a reduction over values that a clip has made exactly
    equal again. ``std(cube(1 / zero))`` clips 1e24 to 1e17 in every element, and the
    mean's rounding alone decides whether the deviations are 0 or 1e10 (found over 900
    random examples: this and two more, with 4 ulps of noise; 16 caught those two)."""

    def apart(a, b, rtol, atol):
        return ~np.isclose(a, b, rtol=rtol, atol=atol).reshape(len(a), -1).all(axis=1)

    (v_ref, g_ref), unsettled = expected, np.zeros(len(expected[0]), bool)
    for sign in (1, -1):
        v, g = _noisy_value_and_grad(pop, x, y, sign)
        unsettled |= apart(v, v_ref, 1e-5, 1e-6)
        for a, b in zip(g, g_ref, strict=True):
            unsettled |= apart(a, b, 1e-4, 1e-5)
    return unsettled


def _moved(a, key, sign):
    u = jax.random.uniform(key, a.shape)
    return a * (1 + sign * NOISE * u) + sign * 1e-37 * u


@functools.partial(jax.jit, static_argnums=3)
def _noisy_value_and_grad(pop, x, y, sign):
    """``_population_value_and_grad`` of the reference, everything moved (``_unsettled``)."""
    k_x, k_y, k_c = jax.random.split(jax.random.key(sign + 2), 3)

    def apply_op(i, a, b):  # moves its operands too: named constants are never written
        k_a, k_b, k_out = jax.random.split(jax.random.key(i), 3)
        a, b = _moved(a, k_a, sign), _moved(b, k_b, sign)
        return _moved(ops.apply_op(i, a, b), k_out, sign)

    pop = pop.replace(consts=_moved(pop.consts, k_c, sign))
    x, y = _moved(x, k_x, sign), _moved(y, k_y, sign)
    return _population_value_and_grad(pop, x, y, None, apply_op)


@pytest.mark.parametrize("shape", SHAPES)
def test_select_matches_reference_on_every_op(shape):
    spec = ProgramSpec()
    pop = stack_programs([make_program(spec, [("r0", op.name, "x", "y")]) for op in ops.OPS])
    x = 3.0 * jax.random.normal(jax.random.key(7), shape)
    y = jax.random.normal(jax.random.key(8), shape)
    v_ref, g_ref = _population_value_and_grad(pop, x, y, None)
    v_sel, g_sel = _population_value_and_grad(pop, x, y, True)
    np.testing.assert_allclose(v_sel, v_ref, rtol=1e-5, atol=1e-6)
    for a, b in zip(g_sel, g_ref, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.xfail(
    strict=True,
    reason="found by the random-program test: on mean_c(hypot(sign(arccos(zero)), "
    "sqrt(c0 % zero))) over unwritten registers, the fused backward pass gives the constant "
    "a gradient of -0.5 where JAX's autodiff of the reference gives 0; the values agree",
)
def test_fused_gradient_matches_reference_on_a_degenerate_program():
    spec = ProgramSpec()
    k_pop, k_x, k_y = jax.random.split(jax.random.key(0), 3)
    pop = random_population(k_pop, spec, 64, max_length=spec.max_length)
    pop = jax.tree.map(lambda t: t[61:62], pop)
    x, y = 3.0 * jax.random.normal(k_x, (1, 2)), jax.random.normal(k_y, (1, 2))
    _, g_ref = _population_value_and_grad(pop, x, y, None)
    _, g_fused = _population_value_and_grad(pop, x, y, False)
    np.testing.assert_allclose(g_fused[2], g_ref[2], atol=1e-5)


@functools.partial(jax.jit, static_argnums=(3, 4))
def _population_value_and_grad(pop, x, y, vectorised, apply_op=ops.apply_op):
    """Per program: the mean output and its gradient in x, y and the constants, from the
    reference (``vectorised`` None, running ``apply_op``) or the fused interpreter."""

    def one(p):
        def f(x, y, consts):
            q = p.replace(consts=consts)
            if vectorised is None:
                return reference.outputs(ProgramSpec(), q, (x, y), apply_op)[0].mean()
            return fused.run(ProgramSpec(), q, (x, y), vectorised).mean()

        return jax.value_and_grad(f, argnums=(0, 1, 2))(x, y, p.consts)

    return jax.vmap(one)(pop)
