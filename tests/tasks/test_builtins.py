"""Builtin losses compute what their names say, in value and gradient."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from hivejax._src.interpret import reference
from hivejax._src.program.canonical import canonicalize
from hivejax._src.program.program import ProgramSpec
from hivejax._src.tasks import builtins, registry


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
    return reference.run(spec, program, (x, y)).mean()


_grad = jax.jit(jax.grad(_loss, argnums=2), static_argnums=0)


@pytest.fixture(scope="module")
def data():
    x = 3.0 * jax.random.normal(jax.random.key(0), (8, 10))
    y = jax.nn.one_hot(jnp.arange(8) % 10, 10)
    return x, y


def test_every_builtin_has_a_reference():
    assert set(REFERENCES) == set(builtins.LOSSES)
    assert {"cross_entropy", "mse", "hinge", "focal"} <= set(builtins.LOSSES)


@pytest.mark.parametrize("name", builtins.LOSSES)
def test_builtin_matches_reference(spec, data, name):
    x, y = data
    program = registry.builtin(name, spec)
    reference = REFERENCES[name]
    # float32: a handful of ulps from different summation orders.
    np.testing.assert_allclose(_loss(spec, program, x, y), reference(x, y), rtol=1e-5)
    np.testing.assert_allclose(
        _grad(spec, program, x, y), jax.grad(reference)(x, y), rtol=1e-4, atol=1e-7
    )


@pytest.mark.parametrize("name", builtins.LOSSES)
def test_builtins_are_canonical(spec, name):
    program = registry.builtin(name, spec)
    canonical = canonicalize(spec, program)
    for field in ("op", "dst", "src1", "src2", "consts", "length"):
        np.testing.assert_array_equal(getattr(canonical, field), getattr(program, field))


def test_builtins_fit_a_small_spec():
    small = ProgramSpec(max_length=9, num_consts=1, num_registers=3)
    for name in builtins.LOSSES:
        assert int(registry.builtin(name, small).length) <= 9


def test_unknown_builtin_lists_the_names():
    with pytest.raises(ValueError, match="unknown builtin 'nope'; valid names: cross_entropy, mse"):
        registry.builtin("nope")


def test_builtin_needs_x_and_y():
    with pytest.raises(
        ValueError, match=r"builtin 'mse': the loss task takes programs with inputs \('x', 'y'\)"
    ):
        registry.builtin("mse", ProgramSpec(inputs=("g", "p")))


# --- activations and optimizers ---

from hivejax._src.interpret import fused  # noqa: E402
from hivejax._src.tasks.optimizer import program_optimizer  # noqa: E402

JAX_NN = {
    "relu": jax.nn.relu,
    "gelu": jax.nn.gelu,
    "tanh": jnp.tanh,
    "swish": jax.nn.swish,
    "silu": jax.nn.silu,
    "leaky_relu": jax.nn.leaky_relu,
}


def test_every_activation_has_a_jax_nn_counterpart():
    assert set(JAX_NN) == set(builtins.ACTIVATIONS)


@pytest.mark.parametrize("name", builtins.ACTIVATIONS)
@pytest.mark.parametrize("run", ["reference", "fused"])
def test_activation_matches_jax_nn(name, run):
    spec = registry.builtin_spec(name)
    program = registry.builtin(name, spec)
    if run == "fused":
        program, _ = fused.compact(spec, program)
    interp = reference if run == "reference" else fused
    act = lambda x: interp.run(spec, program, (x,))
    x = jnp.concatenate([jnp.linspace(-6.0, 6.0, 241), jnp.asarray([-1e4, -0.3, 1e-3, 1e4])])
    np.testing.assert_allclose(act(x), JAX_NN[name](x), rtol=1e-5, atol=1e-6)
    grad = jax.vmap(jax.grad(lambda v: act(v[None])[0]))(x)
    np.testing.assert_allclose(grad, jax.vmap(jax.grad(JAX_NN[name]))(x), rtol=1e-4, atol=1e-5)


OPTAX = {
    "sgd_momentum": lambda lr: optax.sgd(lr, momentum=0.9),
    "adam": optax.adam,
    "lion": optax.lion,
}


def test_every_optimizer_has_an_optax_counterpart():
    assert set(OPTAX) == set(builtins.OPTIMIZERS)


@pytest.mark.parametrize("name", builtins.OPTIMIZERS)
def test_optimizer_trains_like_optax(data, name):
    """100 steps of a small regression, from the same start, with the same batches."""
    spec = registry.builtin_spec(name)
    program, _ = fused.compact(spec, registry.builtin(name, spec))
    lr = 1e-2
    outputs = lambda p, *inputs: fused.outputs(spec, p, inputs)
    mine, theirs = program_optimizer(outputs, program, lr), OPTAX[name](lr)
    k_w, k_x = jax.random.split(jax.random.key(0))
    params = {"w": 0.1 * jax.random.normal(k_w, (8, 3)), "b": jnp.zeros((1, 3))}
    xs = jax.random.normal(k_x, (100, 16, 8))
    loss = lambda p, x: jnp.mean((jnp.tanh(x @ p["w"] + p["b"]) - jnp.sin(x[:, :3])) ** 2)

    def train(opt):
        def step(carry, x):
            p, s = carry
            u, s = opt.update(jax.grad(loss)(p, x), s, p)
            return (optax.apply_updates(p, u), s), None

        (p, _), _ = jax.lax.scan(step, (params, opt.init(params)), xs)
        return p

    a, b = jax.jit(lambda: train(mine))(), jax.jit(lambda: train(theirs))()
    moved = jax.tree.map(lambda p, q: float(jnp.abs(p - q).max()), b, params)
    assert max(jax.tree.leaves(moved)) > 5 * lr  # the comparison is not vacuous
    jax.tree.map(lambda p, q: np.testing.assert_allclose(p, q, rtol=1e-4, atol=1e-5), a, b)
