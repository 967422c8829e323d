"""The Pallas interpreter kernel agrees with the reference, in value and gradient.

On CPU the kernel runs in Pallas interpret mode; the compiled kernel is exercised only by
the GPU test at the end, which skips here. Sizes are tiny: interpret mode runs the grid as
a loop.
"""

import doctest
import functools
import pathlib
import subprocess
import sys
import tomllib

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import hivejax
from hivejax._src.interpret import fused, reference
from hivejax._src.program import ops
from hivejax._src.program.liveness import live_mask
from hivejax._src.program.program import make_program, random_population, stack_programs
from hivejax._src.tasks import activation, loss, optimizer
from hivejax.kernels import interpreter as kernel

# Per input dtype, (rtol, atol) of values and of gradients. In interpret mode the kernel
# runs the fused interpreter's ops in the same order, so float32 values differ only by
# summation order in reductions; gradients compound a few such roundings. Every
# interpreter computes in float32; a bfloat16 input's gradient is rounded to bfloat16
# (8 bits), so results one rounding step apart differ by 2**-8.
TOLERANCE = {
    jnp.float32: {"value": (1e-5, 1e-6), "grad": (1e-4, 1e-5)},
    jnp.bfloat16: {"value": (1e-5, 1e-6), "grad": (1e-2, 1e-5)},
}

# Two populations of task-shaped programs, each with a layout and an input dtype, so that
# few compilations cover them all (interpret mode compiles a kernel in seconds):
# - a loss over [batch, classes], the op-code layout for TPU (scalar prefetch), float32,
#   compared with the reference (and with the fused interpreter, see below);
# - an optimizer update rule over a rank-3 parameter (5 inputs, 3 outputs), the layout for
#   GPU (op codes in SMEM blocks), rows split over blocks of 8 (12 rows, padded to 16: an
#   elementwise op set), bfloat16, compared with the fused interpreter, whose passes the
#   kernel runs (tests/interpret/test_interpreter.py ties it to the reference).
# Activations ([batch, hidden], one input) run in test_nested_vmap_runs_one_kernel_per_pass.
CASES = {
    "loss": (loss.SPEC, (4, 10), jnp.float32, (), ("reference", "fused")),
    "optimizer-gpu-rows-bf16": (
        optimizer.SPEC,
        (3, 4, 5),
        jnp.bfloat16,
        (("target", "gpu"), ("block_rows", 8)),
        ("fused",),
    ),
}

# Ops whose value jumps: a rounding upstream of one can move its output anywhere.
JUMPS = [ops.OP_INDEX[name] for name in ("floor", "ceil", "round", "sign", "mod")]
RANDOM = 16  # random programs per population, after one program per op


@functools.cache
def _every_op(spec):
    """One program per op of the spec's set: ``r0 = op(first input, last input)``."""
    a, b = spec.inputs[0], spec.inputs[-1]
    names = [ops.OPS[i].name for i in spec.allowed_ops]
    return stack_programs([make_program(spec, [("r0", name, a, b)]) for name in names])


@functools.partial(jax.jit, static_argnums=0)
def _runs_a_jump(spec, pop):
    live = jax.vmap(lambda p: live_mask(spec, p))(pop)
    return (live & jnp.isin(pop.op, jnp.asarray(JUMPS))).any(axis=1)


def _population(spec, seed):
    """``_every_op``, then ``RANDOM`` random programs; and which of them to compare: all
    one-op programs, and the random ones that run no op that jumps."""
    every_op = _every_op(spec)
    random = random_population(jax.random.key(seed), spec, RANDOM, max_length=spec.max_length)
    pop = jax.tree.map(lambda *a: jnp.concatenate(a), every_op, random)
    compared = np.ones(pop.length.shape[0], bool)
    compared[-RANDOM:] = ~np.asarray(_runs_a_jump(spec, random))
    return pop, compared


def _inputs(key, spec, shape, dtype=jnp.float32):
    keys = jax.random.split(key, spec.num_inputs + 1)
    inputs = tuple(3.0 * jax.random.normal(k, shape, dtype) for k in keys[:-1])
    # A cotangent per output, so every output's gradient is checked.
    weights = jax.random.normal(keys[-1], (spec.outputs, *shape))
    return inputs, weights


@functools.partial(jax.jit, static_argnums=(0, 1, 2))
def _value_and_grad(name, spec, options, pop, inputs, weights):
    """Per program: outputs, and the gradients of ``sum(outputs * weights)`` in the inputs
    and the constants, through interpreter ``name``."""

    def one(p):
        def f(inputs, consts):
            q = p.replace(consts=consts)
            if name == "reference":
                out = reference.outputs(spec, q, inputs)
            elif name == "fused":
                out = fused.outputs(spec, fused.compact(spec, q)[0], inputs)
            else:
                out = kernel.outputs(spec, fused.compact(spec, q)[0], inputs, **dict(options))
            return jnp.sum(out * weights), out

        (_, out), grads = jax.value_and_grad(f, argnums=(0, 1), has_aux=True)(inputs, p.consts)
        return out, grads

    return jax.vmap(one)(pop)


def _close(actual, desired, kind, dtype=jnp.float32, where=...):
    rtol, atol = TOLERANCE[dtype][kind]
    for a, d in zip(jax.tree.leaves(actual), jax.tree.leaves(desired), strict=True):
        a, d = np.asarray(a, np.float32)[where], np.asarray(d, np.float32)[where]
        np.testing.assert_allclose(a, d, rtol=rtol, atol=atol)


def _agree(actual, desired, kind, dtype):
    """Per program, whether every leaf of ``actual`` is within tolerance of ``desired``."""
    rtol, atol = TOLERANCE[dtype][kind]
    out = True
    for a, d in zip(jax.tree.leaves(actual), jax.tree.leaves(desired), strict=True):
        a = np.asarray(a, np.float32).reshape(len(a), -1)
        d = np.asarray(d, np.float32).reshape(len(d), -1)
        out = out & np.all(np.abs(a - d) <= atol + rtol * np.abs(d), axis=1)
    return out


@pytest.mark.parametrize("case", CASES)
@settings(max_examples=4, deadline=None)
@given(seed=st.integers(0, 2**31 - 1))
def test_matches_reference_on_every_op_and_random_programs(case, seed):
    # Values are compared with each oracle. So are gradients, but with the reference only
    # where the fused interpreter's agree with it: on ill-conditioned random programs JAX's
    # autodiff and the fused adjoints, which the kernel runs, round differently
    # (tests/interpret/test_interpreter.py compares those two). Every seed of a case shares one
    # compilation per interpreter.
    spec, shape, dtype, options, oracles = CASES[case]
    pop, compared = _population(spec, seed % 1000)
    inputs, weights = _inputs(jax.random.key(seed), spec, shape, dtype)
    got = _value_and_grad("pallas", spec, options, pop, inputs, weights)
    assert got[1][0][0].dtype == dtype  # an input's gradient has the input's dtype
    want = {name: _value_and_grad(name, spec, (), pop, inputs, weights) for name in oracles}
    for name in oracles:
        _close(got[0], want[name][0], "value", dtype, compared)
    _close(got[1], want["fused"][1], "grad", dtype, compared)
    if "reference" in oracles:
        fused_agrees = compared & _agree(want["fused"][1], want["reference"][1], "grad", dtype)
        _close(got[1], want["reference"][1], "grad", dtype, fused_agrees)


def test_nested_vmap_runs_one_kernel_per_pass():
    # Activations in a population: members (outer vmap) each apply every program (inner
    # vmap) to their own hidden values [batch, hidden], which the programs share.
    spec, members, per_member, shape = activation.SPEC, 2, 4, (6, 16)
    swish = [("r1", "sigmoid", "x", "x"), ("r0", "mul", "x", "r1")]
    names = ["swish", "div", "exp", "tanh", "square", "sin", "leaky_relu", "hypot"]
    rest = [[("r0", name, "x", "c0"), ("r0", "mul", "r0", "c1")] for name in names[1:]]
    pop = stack_programs([make_program(spec, p) for p in [swish, *rest]])
    pop = pop.replace(consts=jax.random.normal(jax.random.key(3), pop.consts.shape))
    pop = jax.tree.map(lambda a: a.reshape(members, per_member, *a.shape[1:]), pop)
    hidden = 3.0 * jax.random.normal(jax.random.key(4), (members, *shape))

    def per_program(run):
        def f(p, x):
            def g(x, consts):
                return run(p.replace(consts=consts), (x,)).sum()

            return jax.value_and_grad(g, argnums=(0, 1))(x, p.consts)

        return jax.jit(jax.vmap(jax.vmap(f, in_axes=(0, None)), in_axes=(0, 0)))

    def pallas(p, inputs):
        return kernel.outputs(spec, fused.compact(spec, p)[0], inputs)

    def by_reference(p, inputs):
        return reference.outputs(spec, p, inputs)

    want = per_program(by_reference)(pop, hidden)
    got = per_program(pallas)(pop, hidden)
    _close(got[0], want[0], "value")
    _close(got[1], want[1], "grad")
    silu = jax.value_and_grad(lambda x: jax.nn.silu(x).sum())(hidden[0])
    _close((got[0][0, 0], got[1][0][0, 0]), silu, "grad")  # member 0's first: swish
    jaxpr = str(jax.make_jaxpr(per_program(pallas))(pop, hidden))
    assert jaxpr.count("pallas_call[") == 2  # one forward, one backward, for all 8 programs


@pytest.mark.parametrize("name", ["arcsin", "arccos", "arctan", "relu"])
def test_lowerable_forms_match_the_op_table(name):
    # What a compiled kernel runs for ops whose jnp form it cannot lower.
    x = jnp.concatenate(
        [jnp.linspace(-3.0, 3.0, 2001), 1.0 - jnp.logspace(-6, -1, 50), jnp.zeros(1)]
    )
    x = jnp.concatenate([x, -x])
    op = ops.OPS[ops.OP_INDEX[name]]
    want = jax.vmap(jax.value_and_grad(lambda a: op.fn(a, a)))(x)
    got = jax.vmap(jax.value_and_grad(lambda a: kernel._LOWERABLE[name](a, a)))(x)
    # A few ulp; the derivative of arcsin near its clip at 1 - 1e-6 is about 700.
    np.testing.assert_allclose(got[0], want[0], rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(got[1], want[1], rtol=1e-6, atol=1e-6)


def test_user_errors_are_value_errors():
    spec = loss.SPEC
    p = fused.compact(spec, make_program(spec, [("r0", "mean", "x", "x")]))[0]
    x = jnp.ones((16, 3))
    with pytest.raises(ValueError, match="expected 2 inputs"):
        kernel.outputs(spec, p, (x,))
    with pytest.raises(ValueError, match="share one shape"):
        kernel.outputs(spec, p, (x, x[:8]))
    with pytest.raises(ValueError, match="REDUCE_ALL"):  # mean needs the whole register
        kernel.outputs(spec, p, (x, x), block_rows=8)
    with pytest.raises(ValueError, match="target"):
        kernel.outputs(spec, p, (x, x), target="cpu")


def test_examples_run():
    # tests/test_doctests.py walks hivejax's own folder, which holds no kernels/.
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    for test in finder.find(kernel, kernel.__name__, globs=vars(kernel).copy()):
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.attempted > 0 and result.failed == 0


def test_tpu_layout_lowers_to_mosaic(monkeypatch):
    # jax.export lowers for a platform this machine lacks; Mosaic's lowering asks for the
    # chip's parameters, so name this machine's device kind a TPU v5e. This checks that
    # every op has a Mosaic lowering rule, not that libtpu compiles the kernel.
    from jax._src.pallas.mosaic import tpu_info  # private: the test skips if it moves

    chip = getattr(getattr(tpu_info, "ChipVersion", None), "TPU_V5E", None)
    if not hasattr(tpu_info, "registry") or chip is None:
        pytest.skip("jax's private tpu_info registry moved")
    kind = tpu_info.get_device_kind()
    monkeypatch.setitem(tpu_info.registry, kind, lambda: tpu_info._get_tpu_info_impl(chip, 1))
    spec, shape = loss.SPEC, (8, 128)
    pop = jax.vmap(lambda p: fused.compact(spec, p)[0])(_population(spec, 0)[0])
    inputs, weights = _inputs(jax.random.key(7), spec, shape)

    def f(pop, inputs):
        def one(p):
            def g(inputs, consts):
                q = p.replace(consts=consts)
                out = kernel.outputs(spec, q, inputs, interpret=False, target="tpu")
                return jnp.sum(out * weights)

            return jax.grad(g, argnums=(0, 1))(inputs, p.consts)

        return jax.vmap(one)(pop)

    exported = jax.export.export(jax.jit(f), platforms=["tpu"])(pop, inputs)
    assert exported.mlir_module().count("tpu_custom_call") == 2


@pytest.mark.skipif(jax.default_backend() != "gpu", reason="needs a GPU")
@pytest.mark.filterwarnings("ignore:Using ``pl.pallas_call`` for Mosaic GPU:DeprecationWarning")
@pytest.mark.xfail(
    raises=(NotImplementedError, ValueError),
    strict=False,
    reason="lowering to Mosaic GPU, run with jax.export on CPU, fails: no rule for "
    "integer_pow with a negative exponent (the derivatives of div, mod, tan, reciprocal), "
    "copies into SMEM only of multiples of 128 bytes, and blocks of a [2, L, rows, "
    "classes] partials array outgrow shared memory",
)
def test_compiled_kernel_on_gpu():
    spec, shape = loss.SPEC, (8, 128)
    pop, compared = _population(spec, 0)
    inputs, weights = _inputs(jax.random.key(8), spec, shape)
    want = _value_and_grad("fused", spec, (), pop, inputs, weights)
    got = _value_and_grad("pallas", spec, (("interpret", False),), pop, inputs, weights)
    # Compiled, arcsin, arccos and arctan run their _LOWERABLE forms: a few ulp apart.
    _close(got[0], want[0], "value", where=compared)
    _close(got[1], want[1], "grad", where=compared)


ROOT = pathlib.Path(hivejax.__file__).parent.parent


def test_every_package_folder_is_in_the_build():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    renamed = {"hivejax.kernels": "kernels", "hivejax.baselines": "bench"}
    assert config["package-dir"] == renamed
    on_disk = {
        ".".join(path.parent.relative_to(ROOT).parts)
        for path in (ROOT / "hivejax").rglob("__init__.py")
    }
    assert set(config["packages"]) == on_disk | set(renamed)
    # The baselines' scripts that are not Python install as package data.
    data = {p.name for p in (ROOT / "bench").iterdir() if p.is_file() and p.suffix != ".py"}
    assert set(config["package-data"]["hivejax.baselines"]) == data


def test_kernels_install_only_under_hivejax(tmp_path):
    # This module imported hivejax.kernels; no top-level `kernels` is installed beside it
    # (-I: the working directory, PYTHONPATH and the user's site stay off sys.path).
    code = "import importlib.util as u; print(u.find_spec('kernels'))"
    out = subprocess.run(
        [sys.executable, "-I", "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "None"
