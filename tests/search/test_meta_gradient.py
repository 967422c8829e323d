"""Meta-gradient refinement lowers its objective and never breaks a program's constants.

End to end on MNIST-1D's MLP at toy sizes: a few meta steps through a short unrolled
training. Outcomes are tested with a fixed key (the selection keeps the original constants
unless a refined vector is strictly better, so "after < before" is an outcome, not an
invariant), and invariants everywhere else.
"""

import functools
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hivejax._src.interpret import reference
from hivejax._src.program.program import ProgramSpec, make_program, random_program
from hivejax._src.search import meta_gradient
from hivejax._src.search.meta_gradient import refine_constants
from hivejax._src.tasks.data import load_dataset
from hivejax._src.tasks.registry import builtin, builtin_spec, make_task
from hivejax._src.tasks.training import TrainConfig

# The search protocol's batch size and learning rate; refinement replaces the step count.
TRAIN = TrainConfig(batch_size=100, learning_rate=3e-3)
SIZES = dict(inner_steps=30, meta_steps=8, eval_trajectories=2)
FIELDS = ("op", "dst", "src1", "src2", "length")


def focal_gamma(spec: ProgramSpec, gamma: float = 2.0):
    """Focal loss with its exponent free: ``(1 - p)^c0`` as ``exp(c0 * log(1 - p))``.

    The builtin ``focal`` squares ``1 - p`` (gamma fixed at 2), so it has no constant.
    """
    return make_program(
        spec,
        [
            ("r1", "lse_c", "x", "x"),
            ("r1", "sub", "x", "r1"),  # log p
            ("r2", "exp", "r1", "r1"),
            ("r2", "sub", "one", "r2"),
            ("r2", "log", "r2", "r2"),  # log(1 - p)
            ("r2", "mul", "c0", "r2"),
            ("r2", "exp", "r2", "r2"),  # (1 - p)^gamma
            ("r2", "mul", "r1", "r2"),
            ("r2", "mul", "y", "r2"),
            ("r2", "sum_c", "r2", "r2"),
            ("r0", "neg", "r2", "r2"),
        ],
        consts=(gamma,),
    )


@pytest.fixture(scope="module")
def data():
    return load_dataset("mnist1d")


def _same_structure(a, b):
    for field in FIELDS:
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))


def test_refinement_lowers_the_meta_objective(data):
    task = make_task("loss", TRAIN)
    program = builtin("label_smoothing", task.spec)  # its c0 is the smoothing epsilon
    refined, report = refine_constants(jax.random.key(0), task, program, data, **SIZES)
    json.dumps(report, allow_nan=False)  # JSON-able, every number finite here
    assert report["after"] < report["before"] and report["improved"]
    assert report["live_consts"] == [0]
    assert refined.consts[0] != program.consts[0]
    assert report["consts_after"] == np.asarray(refined.consts).tolist()
    # Unused constant slots get zero gradient, and Adam moves them by exactly zero.
    np.testing.assert_array_equal(refined.consts[1:], program.consts[1:])
    assert np.isfinite(refined.consts).all()
    _same_structure(refined, program)
    by_step = report["objective_by_step"]
    assert len(by_step) == SIZES["meta_steps"] + 1 and report["skipped_steps"] == 0
    assert by_step[0] == report["before"] and by_step[report["best_step"]] == report["after"]
    assert min(by_step) == report["after"]


def test_refining_again_is_reproducible_and_compiles_nothing(data):
    task = make_task("loss", TRAIN)
    program = builtin("label_smoothing", task.spec)
    first, report = refine_constants(jax.random.key(0), task, program, data, **SIZES)
    compiled = (meta_gradient._descend._cache_size(), meta_gradient._evaluate._cache_size())
    again, same = refine_constants(jax.random.key(0), task, program, data, **SIZES)
    np.testing.assert_array_equal(again.consts, first.consts)
    assert same == report
    # Other constants, key and meta learning rate: the same compiled functions.
    refine_constants(jax.random.key(1), task, first, data, **SIZES, meta_learning_rate=0.02)
    assert (meta_gradient._descend._cache_size(), meta_gradient._evaluate._cache_size()) == (
        compiled
    )


@pytest.mark.parametrize("num_consts", [0, 4])
def test_a_program_without_live_constants_comes_back_unchanged(data, num_consts):
    spec = ProgramSpec(num_consts=num_consts)
    task = make_task("loss", TRAIN, spec=spec)
    program = builtin("cross_entropy", spec)  # reads no constant
    program = program.replace(consts=jnp.linspace(-1.0, 5.0, num_consts, dtype=jnp.float32))
    refined, report = refine_constants(jax.random.key(2), task, program, data, **SIZES)
    np.testing.assert_array_equal(refined.consts, program.consts)
    _same_structure(refined, program)
    assert report["live_consts"] == [] and not report["improved"] and report["best_step"] == 0
    assert report["before"] == report["after"] and np.isfinite(report["before"])
    assert report["objective_by_step"] == [report["before"]]


def test_a_broken_training_keeps_the_constants(data):
    # An update rule of 1e30 times the gradient overflows the MLP within two steps, so
    # every meta-objective is non-finite and every meta step is skipped.
    task = make_task("optimizer", TRAIN)
    program = make_program(task.spec, [("r0", "mul", "c0", "g")], consts=(1e30,))
    refined, report = refine_constants(
        jax.random.key(3), task, program, data, inner_steps=5, meta_steps=3, eval_trajectories=1
    )
    np.testing.assert_array_equal(refined.consts, program.consts)
    assert report["skipped_steps"] == 3 and not report["improved"]
    assert report["before"] is None and report["after"] is None
    json.dumps(report, allow_nan=False)


def _inputs(spec: ProgramSpec):
    """Inputs ``[8, 10]`` for each of ``spec``'s input names."""
    x = 3.0 * jax.random.normal(jax.random.key(1), (8, 10))
    g, p = jax.random.normal(jax.random.key(2), (2, 8, 10))
    values = {
        "x": x,
        "y": jax.nn.one_hot(jnp.arange(8) % 10, 10),
        "g": g,
        "p": p,
        "s1": 0.1 * g,
        "s2": g * g,
        "t": jnp.full((8, 10), 3.0),
    }
    return tuple(values[name] for name in spec.inputs)


@functools.partial(jax.jit, static_argnums=0)
def _reference(spec, program, inputs, cotangent):
    """The reference interpreter's outputs and their VJP in the constants."""
    run = lambda c: reference.outputs(spec, program.replace(consts=c), inputs)
    out, vjp = jax.vjp(run, program.consts)
    return out, vjp(cotangent)[0]


def _check_unrolled(spec, program, want, want_grad, inputs, cotangent):
    code = meta_gradient._unroll(spec, program)
    run = lambda c: meta_gradient._run_unrolled(spec, code, c, inputs)
    got, vjp = jax.vjp(run, program.consts)
    # Same ops, same order; values and gradients differ by rounding alone.
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(vjp(cotangent)[0], want_grad, rtol=1e-4, atol=1e-5)


# Builtins with one, several and no constants, one and several outputs, and the focal loss
# with a free exponent.
BUILTINS = ["label_smoothing", "cross_entropy", "adam"]


@pytest.mark.parametrize("name", [*BUILTINS, "focal_gamma"])
def test_the_unrolled_program_matches_the_reference_interpreter(name):
    spec = builtin_spec("focal" if name == "focal_gamma" else name)
    program = focal_gamma(spec) if name == "focal_gamma" else builtin(name, spec)
    inputs = _inputs(spec)
    cotangent = jax.random.normal(jax.random.key(4), (spec.outputs, 8, 10))
    want, want_grad = _reference(spec, program, inputs, cotangent)
    _check_unrolled(spec, program, want, want_grad, inputs, cotangent)


def test_unrolled_random_programs_match_the_reference_interpreter(spec):
    inputs = _inputs(spec)
    cotangent = jax.random.normal(jax.random.key(4), (spec.outputs, 8, 10))
    for key in jax.random.split(jax.random.key(0), 8):
        program = random_program(key, spec, max_length=spec.max_length)
        want, want_grad = _reference(spec, program, inputs, cotangent)  # one compilation
        _check_unrolled(spec, program, want, want_grad, inputs, cotangent)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(validation=0.0), "validation"),
        (dict(validation=1e-5), "validation"),  # rounds to no held-out example
        (dict(validation=1.0), "validation"),
        (dict(meta_steps=0), "meta_steps"),
        (dict(inner_steps=2.5), "inner_steps"),
        (dict(eval_trajectories=0), "eval_trajectories"),
        (dict(meta_learning_rate=0.0), "meta_learning_rate"),
    ],
)
def test_bad_settings_are_refused(data, kwargs, match):
    task = make_task("loss", TRAIN)
    with pytest.raises(ValueError, match=match):
        refine_constants(jax.random.key(0), task, builtin("label_smoothing"), data, **kwargs)


def test_a_batch_of_programs_is_refused(data):
    task = make_task("loss", TRAIN)
    batch = jax.tree.map(lambda a: jnp.stack([a, a]), builtin("label_smoothing"))
    with pytest.raises(ValueError, match="one program"):
        refine_constants(jax.random.key(0), task, batch, data)
