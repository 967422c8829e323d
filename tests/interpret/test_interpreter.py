"""The reference, fused and select interpreters agree, in value and gradient.

The comparisons run whole populations through each interpreter, and compiling those
(value and gradient of a vmapped switch over every op) is what costs: about ten seconds
per interpreter and input shape. So every population checked at one shape (every op
alone, and random programs from several seeds, each with its own inputs) is one batch
(``_batch``), compiled once per interpreter, and the tests read their part of it.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hivejax._src.interpret import fused, reference
from hivejax._src.program import ops
from hivejax._src.program.liveness import live_mask
from hivejax._src.program.program import (
    ProgramSpec,
    make_program,
    operand_values,
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
# Random populations of 64 programs of up to 16 instructions, each with its own inputs,
# five per shape. 5485 at (8, 10): program 63 is cos(exp(sum_c(x))), with a sum near 20
# (see _unsettled); 0 at (1, 2): program 61 is the xfail's degenerate program.
SEEDS = {
    (8, 10): (5485, 11, 12, 13, 14),
    (3, 4, 5): (21, 22, 23, 24, 25),
    (1, 2): (0, 31, 32, 33, 34),
}
ONE_HOT_SEEDS = (0, 1)  # random populations over _inputs(), at (8, 10), all compared


@functools.cache
def _batch(shape):
    """Every population checked at ``shape`` as one batch, each program with its own
    inputs: ``(programs, x, y, parts)``, where ``parts`` maps a population (``"every op"``,
    a seed of ``SEEDS``, or ``("one-hot", seed)``) to its slice of the batch."""
    spec = ProgramSpec()
    every_op = stack_programs([make_program(spec, [("r0", op.name, "x", "y")]) for op in ops.OPS])
    pops, xs, ys = [every_op], [3.0 * jax.random.normal(jax.random.key(7), shape)], []
    ys.append(jax.random.normal(jax.random.key(8), shape))
    names = ["every op"]
    for seed in SEEDS[shape]:
        k_pop, k_x, k_y = jax.random.split(jax.random.key(seed), 3)
        pops.append(random_population(k_pop, spec, 64, max_length=spec.max_length))
        xs.append(3.0 * jax.random.normal(k_x, shape))
        ys.append(jax.random.normal(k_y, shape))
        names.append(seed)
    for seed in ONE_HOT_SEEDS if shape == (8, 10) else ():
        pops.append(random_population(jax.random.key(seed), spec, 64, max_length=spec.max_length))
        xs.append(_inputs()[0])
        ys.append(_inputs()[1])
        names.append(("one-hot", seed))
    sizes = [len(p.length) for p in pops]
    starts = np.cumsum([0, *sizes])
    parts = {n: slice(a, b) for n, a, b in zip(names, starts[:-1], starts[1:], strict=True)}
    every = lambda arrays: jnp.concatenate(
        [jnp.broadcast_to(a, (n, *shape)) for a, n in zip(arrays, sizes, strict=True)]
    )
    pop = jax.tree.map(lambda *a: jnp.concatenate(a), *pops)
    return pop, every(xs), every(ys), parts


@functools.cache
def _results(shape, interpreter):
    """Per program of ``_batch(shape)``: the value and gradients from ``interpreter``
    (``"ref"``, ``"fused"`` or ``"select"``; each one compilation), or which programs
    are ``"unsettled"`` (``_unsettled``)."""
    pop, x, y, _ = _batch(shape)
    if interpreter == "unsettled":
        return _unsettled(pop, x, y, _results(shape, "ref"))
    vectorised = {"ref": None, "fused": False, "select": True}[interpreter]
    return jax.tree.map(np.asarray, _population_value_and_grad(pop, x, y, vectorised))


def _part(shape, name, *interpreters):
    """The programs of population ``name`` at ``shape``, and their ``_results``."""
    pop, _, _, parts = _batch(shape)
    cut = lambda tree: jax.tree.map(lambda a: a[parts[name]], tree)
    return cut(pop), *(cut(_results(shape, i)) for i in interpreters)


@pytest.mark.parametrize("vectorised", [False, True], ids=["fused", "select"])
@pytest.mark.parametrize("seed", ONE_HOT_SEEDS)
def test_fused_matches_reference(seed, vectorised):
    # Every program of the population, settled or not.
    _, ref, fast = _part((8, 10), ("one-hot", seed), "ref", "select" if vectorised else "fused")
    v_ref, (gx_ref, _, gc_ref) = ref
    v_fast, (gx_fast, _, gc_fast) = fast
    assert np.isfinite(v_ref).all() and np.isfinite(gx_ref).all()
    # Same ops, same order: differences come only from summation order in reductions.
    np.testing.assert_allclose(v_fast, v_ref, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(gx_fast, gx_ref, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(gc_fast, gc_ref, rtol=1e-4, atol=1e-5)


# A batch costs ~40 s of compiling: one shape by default, the others in the full suite. The
# tests share it, each compiling what it adds (this one the reference and select).
BY_SHAPE = [SHAPES[0], *(pytest.param(s, marks=pytest.mark.slow) for s in SHAPES[1:])]


@pytest.mark.parametrize("shape", BY_SHAPE)
def test_select_matches_reference_on_every_op(shape):
    _, (v_ref, g_ref), (v_sel, g_sel) = _part(shape, "every op", "ref", "select")
    np.testing.assert_allclose(v_sel, v_ref, rtol=1e-5, atol=1e-6)
    for a, b in zip(g_sel, g_ref, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("shape", BY_SHAPE)
def test_select_matches_reference_on_random_programs_and_shapes(shape):
    # Programs that run an op that jumps are left to the one-op test above, and so are
    # those float32 rounding decides (``_unsettled``). Gradients are compared with the
    # fused interpreter, which shares select's backward pass (for how it departs from the
    # reference on one degenerate program, see the xfail below).
    for seed in SEEDS[shape]:
        pop, (v_ref, _), (v_fused, g_fused), (v_sel, g_sel), unsettled = _part(
            shape, seed, "ref", "fused", "select", "unsettled"
        )
        live = np.asarray(jax.vmap(lambda p: live_mask(ProgramSpec(), p))(pop))
        jumps = (live & np.isin(np.asarray(pop.op), JUMPS)).any(axis=1)
        compared = ~jumps & ~unsettled
        assert compared.sum() >= 24, seed  # enough programs left to test
        np.testing.assert_allclose(v_sel[compared], v_ref[compared], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(v_sel[compared], v_fused[compared], rtol=1e-5, atol=1e-6)
        for a, b in zip(g_sel, g_fused, strict=True):
            np.testing.assert_allclose(a[compared], b[compared], rtol=1e-4, atol=1e-5)


@pytest.mark.slow  # its batch is the (1, 2) one
@pytest.mark.xfail(
    strict=True,
    reason="found by the random-program test: on mean_c(hypot(sign(arccos(zero)), "
    "sqrt(c0 % zero))) over unwritten registers, the fused backward pass gives the constant "
    "a gradient of -0.5 where JAX's autodiff of the reference gives 0; the values agree",
)
def test_fused_gradient_matches_reference_on_a_degenerate_program():
    _, (_, g_ref), (_, g_fused) = _part((1, 2), 0, "ref", "fused")
    np.testing.assert_allclose(g_fused[2][61], g_ref[2][61], atol=1e-5)


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
        v, g = _noisy_value_and_grad(pop, x, y, *_noise(sign, x.shape[1:], pop.consts.shape[1:]))
        unsettled |= apart(v, v_ref, 1e-5, 1e-6)
        for a, b in zip(g, g_ref, strict=True):
            unsettled |= apart(a, b, 1e-4, 1e-5)
    return unsettled


def _noise(sign, shape, consts_shape):
    """``sign`` and the uniform draws in [0, 1) that ``_noisy_value_and_grad`` moves x, y,
    the constants and each op's operands and result by (an op's depend only on the op).
    Drawn outside it, and the sign an argument, so that one compilation serves both signs
    and the compiled program holds no random number generator per op."""
    k_x, k_y, k_c = jax.random.split(jax.random.key(sign + 2), 3)
    keys = [k for i in range(ops.NUM_OPS) for k in jax.random.split(jax.random.key(i), 3)]
    per_op = jnp.stack([jax.random.uniform(k, shape) for k in keys])  # eager: one compile
    u_x, u_y = (jax.random.uniform(k, shape) for k in (k_x, k_y))
    u_c = jax.random.uniform(k_c, consts_shape)
    return jnp.float32(sign), (u_x, u_y, u_c, per_op.reshape(ops.NUM_OPS, 3, *shape))


def _moved(a, u, sign):
    return a * (1 + sign * NOISE * u) + sign * 1e-37 * u


@jax.jit
def _noisy_value_and_grad(pop, x, y, sign, noise):
    """``_population_value_and_grad`` of the reference, everything moved by ``noise``, up
    or down with ``sign`` (``_unsettled``); every program alike."""
    u_x, u_y, u_c, per_op = noise
    pop = pop.replace(consts=_moved(pop.consts, u_c[None], sign))
    x, y = _moved(x, u_x[None], sign), _moved(y, u_y[None], sign)

    def one(p, x, y):
        def f(x, y, consts):
            return _noisy_outputs(p.replace(consts=consts), (x, y), per_op, sign)[0].mean()

        return jax.value_and_grad(f, argnums=(0, 1, 2))(x, y, p.consts)

    return jax.vmap(one)(pop, x, y)


def _noisy_outputs(program, inputs, per_op, sign):
    """``reference.outputs`` with each instruction's operands and result moved by its op's
    noise ``per_op[op]``. The same as passing ``reference.outputs`` an ``apply_op`` that
    moves them, but compiled in a third of the time: there the moves sit in each of the
    switch's branches, and a vmapped switch keeps every branch's residuals."""
    spec = ProgramSpec()
    regs = operand_values(spec, tuple(inputs), program.consts)
    branches = [lambda a, b, i=i: ops.apply_op(i, a, b) for i in range(ops.NUM_OPS)]

    def step(regs, inst):
        i, op, dst, src1, src2 = inst
        u = per_op[op]  # moves its operands too: named constants are never written
        a, b = _moved(regs[src1], u[0], sign), _moved(regs[src2], u[1], sign)
        value = _moved(jax.lax.switch(op, branches, a, b), u[2], sign)
        target = spec.register_base + dst
        value = jnp.where(i < program.length, value, regs[target])
        return regs.at[target].set(value), None

    code = (jnp.arange(spec.max_length), program.op, program.dst, program.src1, program.src2)
    regs, _ = jax.lax.scan(step, regs, code)
    return regs[spec.register_base : spec.register_base + spec.outputs]


@functools.partial(jax.jit, static_argnums=3)
def _population_value_and_grad(pop, x, y, vectorised):
    """Per program, on its own inputs ``x[i]``, ``y[i]``: the mean output and its gradient
    in x, y and the constants, from the reference (``vectorised`` None) or the fused
    interpreter."""

    def one(p, x, y):
        def f(x, y, consts):
            q = p.replace(consts=consts)
            if vectorised is None:
                return reference.run(ProgramSpec(), q, (x, y)).mean()
            return fused.run(ProgramSpec(), q, (x, y), vectorised).mean()

        return jax.value_and_grad(f, argnums=(0, 1, 2))(x, y, p.consts)

    return jax.vmap(one)(pop, x, y)


def test_a_spec_without_constants_runs_alike():
    # Inputs and registers only (a DSO benchmark's layout): the registers shift down.
    spec = ProgramSpec(inputs=("x", "y"), num_consts=0, op_set="koza", named_constants=False)
    assert spec.operand_names()[:3] == ("x", "y", "r0") and spec.num_operands == 10
    rng = np.random.default_rng(3)
    programs = [
        make_program(
            spec,
            [
                (f"r{rng.integers(8)}", ops.OPS[rng.choice(spec.allowed_ops)].name, a, b)
                for a, b in rng.choice(spec.operand_names(), (6, 2))
            ]
            + [("r0", "add", "r0", "x")],
        )
        for _ in range(8)
    ]
    pop = stack_programs(programs)
    x, y = jnp.linspace(0.1, 0.9, 12), jnp.linspace(-0.9, 0.9, 12)
    want = jax.vmap(lambda p: reference.run(spec, p, (x, y)))(pop)
    got = jax.vmap(lambda p: fused.run(spec, p, (x, y)))(pop)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert operand_values(spec, (x, y), pop.consts[0]).shape == (10, 12)
