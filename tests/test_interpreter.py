"""The reference and fused interpreters agree, in value and gradient."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hivejax._src import fused, interpreter, ops
from hivejax._src.program import ProgramSpec, make_program, random_population


def _inputs(batch=8, classes=10):
    x = 3.0 * jax.random.normal(jax.random.key(1), (batch, classes))
    y = jax.nn.one_hot(jnp.arange(batch) % classes, classes)
    return x, y


def test_run_simple_program(spec):
    p = make_program(spec, [("r1", "sub", "x", "y"), ("r0", "square", "r1", "r1")])
    x, y = _inputs()
    out = interpreter.run(spec, p, (x, y))
    np.testing.assert_allclose(out, (x - y) ** 2, rtol=1e-6)


def test_constants_are_differentiable(spec):
    p = make_program(spec, [("r0", "mul", "x", "c0")], consts=(2.0,))
    x, y = _inputs()
    grad = jax.grad(lambda c: interpreter.run(spec, p.replace(consts=c), (x, y)).sum())(p.consts)
    np.testing.assert_allclose(grad[0], x.sum(), rtol=1e-5)
    np.testing.assert_allclose(grad[1:], 0.0)


@pytest.mark.parametrize("seed", [0, 1])
def test_fused_matches_reference(spec, seed):
    pop = random_population(jax.random.key(seed), spec, 64, max_length=spec.max_length)
    x, y = _inputs()

    def reference(p, x):
        return interpreter.run(spec, p, (x, y)).mean()

    def fast(p, x):
        c, _ = fused.compact(spec, p)
        return fused.run(spec, c, (x, y)).mean()

    def value_and_grads(f):
        g = jax.value_and_grad(lambda c, p, x: f(p.replace(consts=c), x), argnums=(0, 2))
        return jax.jit(jax.vmap(lambda p, x: g(p.consts, p, x), in_axes=(0, None)))(pop, x)

    v_ref, (gc_ref, gx_ref) = value_and_grads(reference)
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
        interpreter.run(spec, c, (x, y)), interpreter.run(spec, p, (x, y)), rtol=1e-6
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
