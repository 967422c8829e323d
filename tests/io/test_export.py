"""Exported programs compute what the reference interpreter computes, as their task uses it.

The exported source is our own, made from a program's numbers, so the tests ``exec`` it in
a fresh namespace. jax code must match the interpreter in value and gradient, numpy code in
value, torch code (when torch is installed) in value and autograd gradient. The backends
share one code generator and differ only in ``OP_TEMPLATES`` and ``HELPERS``: random
programs check the generator, every op alone checks each backend's table, and every
builtin checks the task wrappers (the loss's mean and labels, the optimizers' state).
Random programs are compared only where float32 rounding does not decide their result
(``_settled``): there no two float32 implementations agree.
"""

import functools
import inspect
import re
import types

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from programs import loss_variants

from hivejax._src.interpret import reference
from hivejax._src.io.export import (
    BACKENDS,
    HELPERS,
    OP_TEMPLATES,
    TARGETS,
    export_program,
    op_template,
)
from hivejax._src.program import ops
from hivejax._src.program.program import ProgramSpec, make_program, random_population
from hivejax._src.tasks import activation, loss, optimizer
from hivejax._src.tasks.builtins import BUILTINS
from hivejax._src.tasks.registry import builtin, builtin_names, builtin_spec, make_task
from hivejax.cli.main import main

EXTREMES = np.asarray([0.0, 1e-30, -1e-8, 1.0, -1.0, 1e30, -1e30, 3e38, -3e38, 7.0], np.float32)
ELEMENTWISE = ProgramSpec(inputs=("x", "y"), op_set="elementwise")  # a regression program
LOSS_SHAPE, CLASSES = (2, 5, 10), 10  # [..., classes]: a leading axis beyond the batch
LABELS = jnp.arange(10).reshape(2, 5) % CLASSES
# float32 maths through the same jnp functions (jax), or through other kernels.
VALUE = {"jax": dict(rtol=1e-5, atol=1e-6), "numpy": dict(rtol=1e-4, atol=1e-5)}
VALUE["torch"] = VALUE["numpy"]
GRAD = dict(rtol=1e-4, atol=1e-6)
TORCH_GRAD = dict(rtol=1e-4, atol=1e-5)


def _load(spec, program, target, name):
    namespace = {}
    exec(compile(export_program(spec, program, target), f"<export {target}>", "exec"), namespace)
    return namespace[name]


def _outputs(spec):
    return lambda program, *inputs: reference.outputs(spec, program, inputs)


def _grad_of_sum(f, *args):
    """The gradients of ``sum(f(*args))`` in every argument: per element, for elementwise f."""
    grads = jax.grad(lambda *a: f(*a).sum(), tuple(range(len(args))))(*args)
    return grads if len(args) > 1 else grads[0]


def _torch():
    return pytest.importorskip("torch")


# The references, jitted once per spec and shape: the program is an argument.


@functools.partial(jax.jit, static_argnums=0)
def _reference_and_grads(spec, program, *inputs):
    """The output ``r0`` of an elementwise program and the gradients of its sum."""
    f = lambda *inputs: reference.run(spec, program, inputs)
    return f(*inputs), _grad_of_sum(f, *inputs)


@functools.partial(jax.jit, static_argnums=0)
def _task_loss_and_grads(spec, program, logits, targets):
    """The loss task's loss, and its gradients in the logits and the targets."""
    task_loss = make_task("loss", spec=spec).components(_outputs(spec))["loss"]
    return jax.value_and_grad(task_loss, (1, 2))(program, logits, targets)


@jax.jit
def _rule_outputs(program, *inputs):
    return reference.outputs(optimizer.SPEC, program, inputs)


@jax.jit
def _task_update(program, grads, state, params):
    """One update of the optimizer task's own optimizer for ``program``."""
    tx = make_task("optimizer").components(_outputs(optimizer.SPEC))["optimizer"](program)
    return tx.update(grads, state, params)


def test_op_table_covers_every_op_on_every_backend():
    assert set(OP_TEMPLATES) == {op.name for op in ops.OPS}
    for op in ops.OPS:
        for backend in BACKENDS:
            template = op_template(op.name, backend)
            assert "{a}" in template and ("{b}" in template) == (op.arity == 2), op.name
    for name, entry in HELPERS.items():  # a per-backend helper is there for its callers
        if isinstance(entry, dict):
            callers = [b for b in BACKENDS if any(name in op_template(o.name, b) for o in ops.OPS)]
            assert set(callers) <= set(entry), name


# --- every op alone, every backend ----------------------------------------------------

SOURCES = [("x", "y"), ("x", "c0"), ("c0", "x"), ("c1", "c0")]  # constants read as literals


def _defined(name, x, y):
    """Where op ``name``'s value does not hang on float details. ``mod`` computes
    ``a - d * floor(a / d)``: once ``|a / d|`` passes 2**22, float32 keeps no fraction of
    it and the result is rounding (jitted XLA code contracts it into an FMA, eager code
    does not); where ``a / d`` is subnormal, XLA flushes it to zero and numpy does not,
    so ``floor`` of a tiny negative quotient is 0 or -1."""
    if name != "mod":
        return np.ones(np.shape(x), bool)
    a, d = np.clip(x, -1e15, 1e15), np.maximum(np.abs(np.clip(y, -1e15, 1e15)), ops.EPS)
    q = np.abs(a) / d
    return (q < 2**22) & ((q == 0) | (q >= np.finfo(np.float32).tiny))


@pytest.mark.parametrize("name", [o.name for o in ops.OPS if o.kind == ops.ELEMENTWISE])
def test_each_elementwise_op_matches_reference_at_extremes(name):
    x, y = (jnp.asarray(a) for a in np.meshgrid(EXTREMES, EXTREMES))
    consts = (-1.5, 1e30)
    for a, b in SOURCES:
        p = make_program(ELEMENTWISE, [("r0", name, a, b)], consts=consts)
        values = {"x": x, "y": y, "c0": consts[0], "c1": consts[1]}
        defined = _defined(name, *np.broadcast_arrays(values[a], values[b], np.asarray(x))[:2])
        want, want_grads = _reference_and_grads(ELEMENTWISE, p, x, y)
        jax_fn = _load(ELEMENTWISE, p, "jax", "program")
        got, grads = jax_fn(x, y), _grad_of_sum(jax_fn, x, y)
        assert got.dtype == jnp.float32 and got.shape == want.shape
        np.testing.assert_allclose(got[defined], want[defined], **VALUE["jax"], err_msg=a + b)
        for g, w in zip(grads, want_grads, strict=True):
            np.testing.assert_allclose(g, w, **GRAD, err_msg=a + b)
        got = _load(ELEMENTWISE, p, "numpy", "program")(np.asarray(x), np.asarray(y))
        assert got.dtype == np.float32 and got.shape == want.shape
        np.testing.assert_allclose(got[defined], want[defined], **VALUE["numpy"], err_msg=a + b)


@pytest.mark.parametrize("name", [o.name for o in ops.OPS if o.kind != ops.ELEMENTWISE])
def test_each_reduction_matches_reference(name):
    # loss = mean(op(x) * w): d/dw is op(x) per element, so gradients show every value.
    k1, k2, k3, k4 = jax.random.split(jax.random.key(0), 4)
    x = 3.0 * jax.random.normal(k1, LOSS_SHAPE)
    extremes = jax.random.choice(k2, jnp.asarray([0.0, 1e30, -1e30]), LOSS_SHAPE)
    x = jnp.where(jax.random.uniform(k3, LOSS_SHAPE) < 0.3, extremes, x)
    w = jax.random.normal(k4, LOSS_SHAPE)
    scale = 1e30  # sums of terms up to 1e30 are exact to float32 rounding of 1e30
    for a in ("x", "c0"):
        p = make_program(loss.SPEC, [("r1", name, a, a), ("r0", "mul", "r1", "y")], [0.7])
        want, (want_gx, want_gw) = _task_loss_and_grads(loss.SPEC, p, x, w)
        fn = _load(loss.SPEC, p, "jax", "loss")
        got, (gx, gw) = jax.value_and_grad(fn, (0, 1))(x, w)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6 * scale)
        np.testing.assert_allclose(gx, want_gx, **GRAD)
        np.testing.assert_allclose(gw, want_gw, rtol=1e-4, atol=1e-6 * scale / x.size)
        got = _load(loss.SPEC, p, "numpy", "loss")(np.asarray(x), np.asarray(w))
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6 * scale)


@pytest.mark.parametrize("name", [o.name for o in ops.OPS])
def test_each_op_in_torch_matches_reference(name):
    torch = _torch()
    # Gradients on random inputs, away from the kinks where torch and JAX pick different
    # subgradients (abs at 0, clip at its bounds); values at the extremes too.
    x = 3.0 * jax.random.normal(jax.random.key(1), LOSS_SHAPE)
    w = jax.random.normal(jax.random.key(2), LOSS_SHAPE)
    for a, b in SOURCES:
        p = make_program(loss.SPEC, [("r1", name, a, b), ("r0", "mul", "r1", "y")], (-1.5, 0.3))
        want, want_grads = _task_loss_and_grads(loss.SPEC, p, x, w)
        tx, tw = (torch.tensor(np.asarray(v), requires_grad=True) for v in (x, w))
        got = _load(loss.SPEC, p, "torch", "loss")(tx, tw)
        got.backward()
        np.testing.assert_allclose(got.detach().numpy(), want, **VALUE["torch"])
        for t, wg in zip((tx, tw), want_grads, strict=True):
            g = np.zeros(t.shape, np.float32) if t.grad is None else t.grad.numpy()  # unused
            np.testing.assert_allclose(g, wg, **TORCH_GRAD)
    if ops.OPS[ops.OP_INDEX[name]].kind == ops.ELEMENTWISE:
        x, y = np.meshgrid(EXTREMES, EXTREMES)
        p = make_program(ELEMENTWISE, [("r0", name, "x", "y")])
        want, _ = _reference_and_grads(ELEMENTWISE, p, jnp.asarray(x), jnp.asarray(y))
        got = _load(ELEMENTWISE, p, "torch", "program")(torch.tensor(x), torch.tensor(y))
        defined = _defined(name, x, y)
        np.testing.assert_allclose(got.numpy()[defined], want[defined], **VALUE["torch"])


# --- random programs: the generator's wiring ------------------------------------------

NOISE = 2.0**-21  # 4 float32 ulps: more than XLA's kernels and numpy's differ by


class _Rounding:
    """A stand-in for a module (``jnp``, ``jax``) whose functions round otherwise: each
    floating result moves by up to ``NOISE`` of itself and by up to 1e-37 (so that the
    sign of a value next to zero shows), all up (``sign`` 1) or all down (-1)."""

    def __init__(self, module, rng, sign):
        self._module, self._rng, self._sign = module, rng, sign

    def __getattr__(self, name):
        attr = getattr(self._module, name)
        if isinstance(attr, types.ModuleType):
            return _Rounding(attr, self._rng, self._sign)
        if not callable(attr) or isinstance(attr, type):
            return attr
        return lambda *args, **kwargs: self._move(attr(*args, **kwargs))

    def _move(self, out):
        if not jnp.issubdtype(getattr(out, "dtype", np.int32), jnp.floating):
            return out
        u = self._sign * self._rng.uniform(0.0, 1.0, np.shape(out)).astype(np.float32)
        return out * (1 + NOISE * u) + np.float32(1e-37) * u


def _close(got, want):
    """``(values, gradients)`` agree: values elementwise within the jax tolerance,
    gradients within the gradient tolerance of their largest element too (a small one can
    be the difference of large terms, rounded apart)."""
    (v, g), (w, h) = got, want
    ok = np.allclose(v, w, **VALUE["jax"]) and np.isfinite(w).all()
    if h is not None:
        atol = GRAD["atol"] + GRAD["rtol"] * float(np.abs(h).max())
        ok = ok and np.allclose(g, h, rtol=GRAD["rtol"], atol=atol) and np.isfinite(h).all()
    return ok


def _settled(spec, program, name, evaluate, inputs):
    """Whether float32 rounding leaves the program's result alone: ``evaluate(fn,
    *inputs)``, the values and gradients of the exported jax function ``name``, stays
    ``_close`` when the inputs move and every jnp function rounds otherwise
    (``_Rounding``).

    A random program can amplify an ulp without bound: ``std`` of a constant is pure
    rounding noise, ``floor`` jumps one ulp below an integer, ``x * mean_c(p)`` multiplies
    the rounding of a sum that is exactly 1 by 1e30, ``tan(exp(exp(pi)))`` is anything.
    There no two float32 implementations agree (XLA's jitted and eager code, numpy), so
    the tests compare the rest."""
    namespace = {}
    exec(export_program(spec, program, "jax"), namespace)
    clean = evaluate(namespace[name], *inputs)
    for sign in (1, -1):
        rng = np.random.default_rng(0)
        namespace["jnp"], namespace["jax"] = (_Rounding(m, rng, sign) for m in (jnp, jax))
        moved = [namespace["jnp"].asarray(v) for v in inputs]  # jnp.asarray moves them too
        if not _close(evaluate(namespace[name], *moved), clean):
            return False
    return True


def _in_float64(fn, want, *inputs) -> bool:
    """Whether the exported numpy ``fn`` run in float64 agrees with the reference's values
    ``want``: else subnormal floats decide the result (XLA flushes them to zero, numpy and
    float64 keep them: ``sign(cube(1e-15))``), and numpy is not compared."""
    wide = lambda v: np.asarray(v, np.float64) if jnp.issubdtype(v.dtype, jnp.floating) else v
    got = fn(*map(wide, inputs))
    return np.allclose(np.stack(got) if isinstance(got, tuple) else got, want, **VALUE["numpy"])


def _inputs(key, shape, n, extreme):
    keys = jax.random.split(key, 3 * n)
    values = [3.0 * jax.random.normal(k, shape) for k in keys[:n]]
    if extreme:  # a fifth of the entries from EXTREMES (at most 1e30: no overflowing sums)
        picks = [jax.random.choice(k, jnp.asarray(EXTREMES[:7]), shape) for k in keys[n : 2 * n]]
        masks = [jax.random.uniform(k, shape) < 0.2 for k in keys[2 * n :]]
        values = [jnp.where(m, e, v) for m, e, v in zip(masks, picks, values, strict=True)]
    return values


def _population(seed, spec, size):
    """``size`` random programs (at most 32: one compiled initialiser per spec)."""
    pop = random_population(jax.random.key(seed), spec, 32, max_length=spec.max_length)
    return [jax.tree.map(lambda a, i=i: a[i], pop) for i in range(size)]


def _check_compared(compared):
    assert sum(compared) >= 4, compared  # enough programs left to test


@pytest.mark.parametrize("spec", [loss.SPEC, loss.DERIVED_SPEC], ids=["x_y", "derived"])
@settings(max_examples=6, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), extreme=st.booleans())
def test_random_losses_match_reference(spec, seed, extreme):
    (x,) = _inputs(jax.random.key(seed), LOSS_SHAPE, 1, extreme)
    evaluate = lambda fn, x: jax.value_and_grad(fn)(x, LABELS)  # integer labels
    compared = []
    for p in _population(seed, spec, 16):
        compared.append(_settled(spec, p, "loss", evaluate, (x,)))
        if not compared[-1]:
            continue
        want, (want_grad, _) = _task_loss_and_grads(spec, p, x, jax.nn.one_hot(LABELS, CLASSES))
        assert _close(evaluate(_load(spec, p, "jax", "loss"), x), (want, want_grad))
        numpy_fn = _load(spec, p, "numpy", "loss")
        if _in_float64(numpy_fn, want, x, np.asarray(LABELS)):
            got = numpy_fn(np.asarray(x), np.asarray(LABELS))
            assert got.dtype == np.float32
            np.testing.assert_allclose(got, want, **VALUE["numpy"])
    _check_compared(compared)


@settings(max_examples=6, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), extreme=st.booleans())
def test_random_activations_match_reference(seed, extreme):
    spec = activation.SPEC
    (x,) = _inputs(jax.random.key(seed), (40,), 1, extreme)
    evaluate = lambda fn, x: (fn(x), _grad_of_sum(fn, x))
    compared = []
    for p in _population(seed, spec, 16):
        compared.append(_settled(spec, p, "activation", evaluate, (x,)))
        if not compared[-1]:
            continue
        want = _reference_and_grads(spec, p, x)
        assert _close(evaluate(_load(spec, p, "jax", "activation"), x), want)
        numpy_fn = _load(spec, p, "numpy", "activation")
        if _in_float64(numpy_fn, want[0], x):
            got = numpy_fn(np.asarray(x))
            assert got.dtype == np.float32
            np.testing.assert_allclose(got, want[0], **VALUE["numpy"])
    _check_compared(compared)


def _call_rule(fn, arrays: dict):
    """Call an exported ``update_rule`` with the inputs its signature names."""
    return fn(*(arrays[name] for name in inspect.signature(fn).parameters))


def _kept(fn) -> list[int]:
    """The slots ``k`` an exported ``update_rule`` carries (it reads ``s{k}``)."""
    return [int(n[1:]) for n in inspect.signature(fn).parameters if n.startswith("s")]


@settings(max_examples=6, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), extreme=st.booleans())
def test_random_update_rules_match_reference(seed, extreme):
    spec = optimizer.SPEC
    g, p, s1, s2 = _inputs(jax.random.key(seed), (3, 4), 4, extreme)
    arrays = dict(g=g, p=p, s1=s1, s2=s2, t=3)

    def evaluate(fn, g, p, s1, s2):
        return np.stack(_call_rule(fn, dict(g=g, p=p, s1=s1, s2=s2, t=3))), None

    compared = []
    for q in _population(seed, spec, 32):  # long programs: fewer settle
        compared.append(_settled(spec, q, "update_rule", evaluate, (g, p, s1, s2)))
        if not compared[-1]:
            continue
        want = _rule_outputs(q, g, p, s1, s2, jnp.full((3, 4), 3.0))
        numpy_fn = _load(spec, q, "numpy", "update_rule")
        wanted = np.asarray(want)[np.asarray([0, *_kept(numpy_fn)])]
        exact = _in_float64(lambda *a, f=numpy_fn: evaluate(f, *a)[0], wanted, g, p, s1, s2)
        for backend in ("jax", "numpy") if exact else ("jax",):
            fn = _load(spec, q, backend, "update_rule")
            got = _call_rule(fn, arrays if backend == "jax" else jax.tree.map(np.asarray, arrays))
            kept = _kept(fn)
            np.testing.assert_allclose(got[0], want[0], **VALUE[backend])
            for k in range(1, optimizer.SLOTS + 1):
                if k in kept:
                    np.testing.assert_allclose(got[kept.index(k) + 1], want[k], **VALUE[backend])
                else:  # a slot left out is one the program never writes: always zero
                    assert not np.asarray(want[k]).any()
    _check_compared(compared)


# --- every builtin, as its task uses it ------------------------------------------------


def _extreme_logits():
    x = 3.0 * jax.random.normal(jax.random.key(3), LOSS_SHAPE)
    return (
        x.at[0, 0, :3].set(jnp.asarray([0.0, 1e30, -1e30])).at[0, 1].set(0.0).at[1, 2, 4].set(-1e30)
    )


@pytest.mark.parametrize("name", builtin_names("loss"))
def test_builtin_losses_match_task(name):
    spec, p = builtin_spec(name), builtin(name)
    x, y = _extreme_logits(), jax.nn.one_hot(LABELS, CLASSES)
    want, (want_grad, _) = _task_loss_and_grads(spec, p, x, y)
    assert np.isfinite(want) and np.isfinite(want_grad).all()
    fn = _load(spec, p, "jax", "loss")
    for targets in (LABELS, y):  # integer labels, or one-hot targets
        got, grad = jax.value_and_grad(fn)(x, targets)
        np.testing.assert_allclose(got, want, **VALUE["jax"])
        np.testing.assert_allclose(grad, want_grad, **GRAD)
        got = _load(spec, p, "numpy", "loss")(np.asarray(x), np.asarray(targets))
        np.testing.assert_allclose(got, want, **VALUE["numpy"])


@pytest.mark.parametrize("name", builtin_names("loss"))
def test_builtin_losses_match_task_in_torch(name):
    torch = _torch()
    spec, p = builtin_spec(name), builtin(name)
    y = jax.nn.one_hot(LABELS, CLASSES)
    labels = torch.tensor(np.asarray(LABELS), dtype=torch.int64)
    fn = _load(spec, p, "torch", "loss")
    # Gradients away from the kinks where torch and JAX pick different subgradients (an
    # entry of exactly -1e30 sits on the saturation bound); values at the extremes too.
    for x, grads in (
        (3.0 * jax.random.normal(jax.random.key(5), LOSS_SHAPE), True),
        (_extreme_logits(), False),
    ):
        want, (want_grad, _) = _task_loss_and_grads(spec, p, x, y)
        tx = torch.tensor(np.asarray(x), requires_grad=True)
        got = fn(tx, labels)
        np.testing.assert_allclose(got.detach().numpy(), want, **VALUE["torch"])
        if grads:
            got.backward()
            np.testing.assert_allclose(tx.grad.numpy(), want_grad, **TORCH_GRAD)


def _activation_inputs():
    return jnp.concatenate(
        [jnp.asarray(EXTREMES), 3.0 * jax.random.normal(jax.random.key(4), (30,))]
    )


@pytest.mark.parametrize("name", builtin_names("activation"))
def test_builtin_activations_match_task(name):
    spec, p = builtin_spec(name), builtin(name)
    x = _activation_inputs()
    want, want_grad = _reference_and_grads(spec, p, x)  # the task's activation is r0
    fn = _load(spec, p, "jax", "activation")
    np.testing.assert_allclose(fn(x), want, **VALUE["jax"])
    np.testing.assert_allclose(_grad_of_sum(fn, x), want_grad, **GRAD)
    got = _load(spec, p, "numpy", "activation")(np.asarray(x))
    np.testing.assert_allclose(got, want, **VALUE["numpy"])


@pytest.mark.parametrize("name", builtin_names("activation"))
def test_builtin_activations_match_task_in_torch(name):
    torch = _torch()
    spec, p = builtin_spec(name), builtin(name)
    x = 3.0 * jax.random.normal(jax.random.key(4), (40,))  # no kinks hit exactly
    want, want_grad = _reference_and_grads(spec, p, x)
    tx = torch.tensor(np.asarray(x), requires_grad=True)
    got = _load(spec, p, "torch", "activation")(tx)
    got.sum().backward()
    np.testing.assert_allclose(got.detach().numpy(), want, **VALUE["torch"])
    np.testing.assert_allclose(tx.grad.numpy(), want_grad, **TORCH_GRAD)


def _optimizer_programs():
    randoms = _population(5, optimizer.SPEC, 4)
    return [(name, builtin(name)) for name in builtin_names("optimizer")] + [
        (f"random{i}", q) for i, q in enumerate(randoms)
    ]


OPTIMIZERS = _optimizer_programs()
OPTIMIZER_IDS = [name for name, _ in OPTIMIZERS]
STEPS = 4
# Multi-step numerics: each step's rounding feeds the next one's state.
MULTI_STEP = dict(rtol=1e-4, atol=1e-5)


def _params():
    return {"w": jnp.linspace(-1.0, 1.0, 12).reshape(3, 4), "b": jnp.asarray([0.0, 1e30, -2.0])}


def _task_steps(program):
    """The optimizer task's own grads, updates and states over ``STEPS`` steps."""
    task, params = make_task("optimizer"), _params()
    state = task.components(_outputs(optimizer.SPEC))["optimizer"](program).init(params)
    history = []
    for k in range(STEPS):
        key = jax.random.key(k)
        grads = jax.tree.map(lambda a, key=key: jax.random.normal(key, a.shape), params)
        updates, state = _task_update(program, grads, state, params)
        history.append((grads, updates, state))
        params = optax.apply_updates(params, updates)
    return task.train.learning_rate, history


def _assert_trees_close(a, b):
    jax.tree.map(lambda u, v: np.testing.assert_allclose(u, v, **MULTI_STEP), a, b)


@pytest.mark.parametrize("name, program", OPTIMIZERS, ids=OPTIMIZER_IDS)
@pytest.mark.parametrize("target", ["optax", "jax"])
def test_exported_optax_optimizer_matches_task(name, program, target):
    lr, history = _task_steps(program)
    namespace = {}
    exec(export_program(optimizer.SPEC, program, target), namespace)
    tx, kept = namespace["optimizer"](lr), _kept(namespace["update_rule"])
    params = _params()
    state = tx.init(params)
    for grads, want_updates, want_state in history:
        updates, state = tx.update(grads, state, params)
        params = optax.apply_updates(params, updates)
        _assert_trees_close(updates, want_updates)
        assert int(state.count) == int(want_state.count)
        for k in range(1, optimizer.SLOTS + 1):
            want = want_state.slots[k - 1]
            if k in kept:
                _assert_trees_close(state.slots[kept.index(k)], want)
            else:  # left out: always zero in the task's state
                assert not any(np.asarray(a).any() for a in jax.tree.leaves(want))


@pytest.mark.parametrize("name, program", OPTIMIZERS, ids=OPTIMIZER_IDS)
def test_exported_numpy_step_matches_task(name, program):
    lr, history = _task_steps(program)
    namespace = {}
    exec(export_program(optimizer.SPEC, program, "numpy"), namespace)
    init, step = namespace["init"], namespace["step"]
    params = jax.tree.map(np.asarray, _params())
    states = {k: init(v) for k, v in params.items()}
    for grads, want_updates, _ in history:
        for k, param in params.items():  # one array at a time
            params[k], states[k] = step(param, np.asarray(grads[k]), states[k], lr)
            want = optax.apply_updates(param, want_updates[k])  # float32, as the task
            np.testing.assert_allclose(params[k], want, **MULTI_STEP)


@pytest.mark.parametrize("name, program", OPTIMIZERS, ids=OPTIMIZER_IDS)
def test_exported_torch_optimizer_matches_task(name, program):
    torch = _torch()
    lr, history = _task_steps(program)
    namespace = {}
    exec(export_program(optimizer.SPEC, program, "torch"), namespace)
    params = {k: torch.nn.Parameter(torch.tensor(np.asarray(v))) for k, v in _params().items()}
    opt = namespace["ProgramOptimizer"](list(params.values()), lr=lr)
    for grads, want_updates, _ in history:
        before = {k: v.detach().numpy().copy() for k, v in params.items()}
        for k, v in params.items():
            v.grad = torch.tensor(np.asarray(grads[k]))
        opt.step()
        for k, v in params.items():
            want = optax.apply_updates(before[k], want_updates[k])
            np.testing.assert_allclose(v.detach().numpy(), want, **MULTI_STEP)


# --- the exporter itself and the command line -------------------------------------------


@pytest.mark.parametrize("target", TARGETS)
def test_every_export_is_valid_python(target):
    # Where torch is missing its code cannot run here, but it must at least compile.
    programs = [(builtin_spec(n), builtin(n)) for n in BUILTINS]
    for spec in (loss.SPEC, loss.DERIVED_SPEC, activation.SPEC, optimizer.SPEC, ELEMENTWISE):
        programs += [(spec, p) for p in _population(0, spec, 4)]
    for spec, p in programs:
        code = export_program(spec, p, target)
        compile(code, f"<export {target}>", "exec")
        assert not re.search(r"\bxp\.|{[ab]}", code), code  # all templates filled in


def test_export_has_live_code_only():
    spec = builtin_spec("cross_entropy")
    variants = loss_variants()
    want = export_program(spec, variants["builtin"], "jax")
    assert export_program(spec, variants["dead_code"], "jax") == want
    assert "jnp.sin(" not in want and "jnp.exp(" not in want


def test_constants_are_float32_exact_literals():
    spec = builtin_spec("mse")
    consts = [1 / 3, 1e-38, -3.4e38, 0.1]
    q = make_program(
        spec, [("r0", "mul", "x" if i == 0 else "r0", f"c{i}") for i in range(4)], consts
    )
    code = export_program(spec, q, "numpy")
    products = [
        line.split("_sat(")[1][:-1].split(" * ")
        for line in code.splitlines()
        if "r0 = _sat(" in line
    ]
    literals = [a if b in ("x", "r0") else b for a, b in products]
    assert len(literals) == 4, code
    assert literals[-1] == "0.1"  # the shortest decimal that reads back as float32(0.1)
    for c in consts:
        assert any(np.float32(float(t)) == np.float32(c) for t in literals), (c, literals)


def test_export_refuses_bad_requests():
    spec, p = builtin_spec("mse"), builtin("mse")
    with pytest.raises(ValueError, match="choose one of"):
        export_program(spec, p, "tensorflow")
    with pytest.raises(ValueError, match="one program"):
        export_program(spec, random_population(jax.random.key(0), spec, 32), "jax")
    assert set(TARGETS) == {"jax", "numpy", "torch", "optax", "sympy"}


def test_cli_export_prints_code_that_runs(capsys):
    code = main(["export", "builtin:cross_entropy", "--to", "jax"])
    out, _ = capsys.readouterr()
    assert code == 0 and "import hivejax" not in out and "from hivejax" not in out
    namespace = {}
    exec(out, namespace)
    x = _extreme_logits()
    want = optax.softmax_cross_entropy_with_integer_labels(x, LABELS).mean()
    np.testing.assert_allclose(namespace["loss"](x, LABELS), want, rtol=1e-6)


@pytest.mark.parametrize(
    "argv, status",
    [
        (["export", "builtin:mse", "--to", "tensorflow"], 2),
        (["export", "builtin:nope", "--to", "jax"], 1),
        (["export", "/no/such/program.json"], 1),
    ],
)
def test_cli_export_errors_are_one_line(capsys, argv, status):
    code = main(argv)
    _, err = capsys.readouterr()
    assert code == status, err
    assert err.startswith("hivejax: error:") and err.count("\n") == 1 and "Traceback" not in err
