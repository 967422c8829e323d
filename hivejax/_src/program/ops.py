"""The op table of the genetic language.

Every op is NaN-safe: its value and its gradient are finite for every finite input,
0 and +-3e38 included. Guards clamp inputs rather than branch with ``where``, because
under ``vmap`` every op of the table is computed and the gradient of an untaken branch
still flows. Ops saturate instead of overflowing: outputs are clipped to +-``BIG``.

The meanings follow Hivetrain's validator vocabulary (div ``a/(b+1e-8)``,
log ``log(|a|+1e-8)``, sqrt ``sqrt(|a|)``, exp of a clamped input, mean and std over all
elements with std using N-1, leaky_relu slope 0.01), with these documented departures
that keep every gradient finite:

- exp clamps its input to [-80, 80] (``exp(100)`` overflows float32);
- sqrt and std are floored at a tiny positive value so their gradient at 0 is finite;
- arcsin and arccos clamp their input to [-1+1e-6, 1-1e-6];
- div, mod, reciprocal and tan keep their denominator at least 1e-8 away from zero;
- square, cube, hypot, div, mod and std clamp huge inputs so the derivative stays finite.

Reductions come in two kinds: over all elements (``mean``, ``std``) and over the class
(last) axis (``sum_c``, ``mean_c``, ``max_c``, ``lse_c``). Both broadcast back to the
register shape.
"""

import dataclasses
import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

EPS = 1e-8
BIG = 1e30

# How an op's output depends on its inputs, for the fused backward pass.
ELEMENTWISE = 0
REDUCE_ALL = 1
REDUCE_CLASS = 2


@dataclasses.dataclass(frozen=True)
class Op:
    """One primitive of the language.

    Attributes:
      name: the op's name in formulas, JSON and the binary format.
      arity: 1 or 2; a unary op ignores its second source.
      fn: for elementwise ops ``fn(a, b) -> value``; for reductions ``fn(a)`` returns the
        reduced value with kept dimensions, broadcast back by the interpreter.
      kind: ``ELEMENTWISE``, ``REDUCE_ALL`` or ``REDUCE_CLASS``.
      infix: the operator symbol for binary ops printed infix (``+``), else ``None``.
    """

    name: str
    arity: int
    fn: Callable
    kind: int = ELEMENTWISE
    infix: str | None = None


def saturate(v):
    return jnp.clip(v, -BIG, BIG)


def _away_from_zero(d):
    # Both branches are finite and have finite gradients, so `where` is safe here.
    return jnp.where(d >= 0, jnp.maximum(d, EPS), jnp.minimum(d, -EPS))


def _div(a, b):
    return saturate(jnp.clip(a, -1e20, 1e20) / _away_from_zero(b + EPS))


def _mod(a, b):
    a = jnp.clip(a, -1e15, 1e15)
    d = _away_from_zero(jnp.clip(b, -1e15, 1e15))
    return a - d * jnp.floor(a / d)


def _hypot(a, b):
    a, b = jnp.clip(a, -1e18, 1e18), jnp.clip(b, -1e18, 1e18)
    return jnp.sqrt(a * a + b * b + 1e-30)


def _tan(a):
    return jnp.sin(a) / _away_from_zero(jnp.cos(a))


_ASIN_LIM = 1.0 - 1e-6


def _std(a):
    a = jnp.clip(a, -1e17, 1e17)
    n = a.size
    mu = jnp.mean(a, keepdims=True)
    var = jnp.sum(jnp.square(a - mu), keepdims=True) / max(n - 1, 1)
    return jnp.sqrt(jnp.maximum(var, 1e-30))


def _unary(name, f, **kw):
    return Op(name, 1, lambda a, b: f(a), **kw)


OPS: tuple[Op, ...] = (
    # Binary ops of the Hivetrain vocabulary.
    Op("add", 2, lambda a, b: saturate(a + b), infix="+"),
    Op("sub", 2, lambda a, b: saturate(a - b), infix="-"),
    Op("mul", 2, lambda a, b: saturate(a * b), infix="*"),
    Op("div", 2, _div, infix="/"),
    Op("max", 2, jnp.maximum),
    Op("min", 2, jnp.minimum),
    Op("mod", 2, _mod, infix="%"),
    Op("hypot", 2, _hypot),
    # Unary ops of the Hivetrain vocabulary.
    _unary("log", lambda a: jnp.log(jnp.abs(a) + EPS)),
    _unary("sqrt", lambda a: jnp.sqrt(jnp.maximum(jnp.abs(a), 1e-16))),
    _unary("exp", lambda a: jnp.exp(jnp.clip(a, -80.0, 80.0))),
    _unary("sin", jnp.sin),
    _unary("cos", jnp.cos),
    _unary("tan", _tan),
    _unary("arcsin", lambda a: jnp.arcsin(jnp.clip(a, -_ASIN_LIM, _ASIN_LIM))),
    _unary("arccos", lambda a: jnp.arccos(jnp.clip(a, -_ASIN_LIM, _ASIN_LIM))),
    _unary("arctan", jnp.arctan),
    _unary("sigmoid", jax.nn.sigmoid),
    _unary("relu", jax.nn.relu),
    _unary("tanh", jnp.tanh),
    _unary("leaky_relu", lambda a: jnp.where(a >= 0, a, 0.01 * a)),
    Op("mean", 1, lambda a: saturate(jnp.mean(a, keepdims=True)), kind=REDUCE_ALL),
    Op("std", 1, _std, kind=REDUCE_ALL),
    _unary("abs", jnp.abs),
    _unary("reciprocal", lambda a: 1.0 / _away_from_zero(a + EPS)),
    _unary("square", lambda a: jnp.square(jnp.clip(a, -1e18, 1e18))),
    _unary("cube", lambda a: jnp.clip(a, -1e12, 1e12) ** 3),
    _unary("sign", jnp.sign),
    _unary("floor", jnp.floor),
    _unary("ceil", jnp.ceil),
    _unary("round", jnp.round),
    # Extras: negation, copy and reductions over the class axis.
    _unary("neg", jnp.negative),
    _unary("copy", lambda a: a),
    Op("sum_c", 1, lambda a: saturate(jnp.sum(a, axis=-1, keepdims=True)), kind=REDUCE_CLASS),
    Op("mean_c", 1, lambda a: saturate(jnp.mean(a, axis=-1, keepdims=True)), kind=REDUCE_CLASS),
    Op("max_c", 1, lambda a: jnp.max(a, axis=-1, keepdims=True), kind=REDUCE_CLASS),
    Op("lse_c", 1, lambda a: jax.nn.logsumexp(a, axis=-1, keepdims=True), kind=REDUCE_CLASS),
)

OP_INDEX: dict[str, int] = {op.name: i for i, op in enumerate(OPS)}
NUM_OPS = len(OPS)
COPY = OP_INDEX["copy"]
COMMUTATIVE = frozenset(OP_INDEX[n] for n in ("add", "mul", "max", "min", "hypot"))

# Per-op tables for jitted code, indexed by op code. numpy, not jnp: a jnp array at import
# would initialise the backends too early for jax.distributed.initialize.
ARITY = np.asarray([op.arity for op in OPS], np.int32)
KINDS = np.asarray([op.kind for op in OPS], np.int32)

# The read-only constants every program can use, by name.
NAMED_CONSTANTS: tuple[tuple[str, float], ...] = (
    ("one", 1.0),
    ("zero", 0.0),
    ("half", 0.5),
    ("pi", math.pi),
    ("e", math.e),
)


def apply_op(index: int, a, b):
    """The value of op ``index`` on register values ``a`` and ``b`` (same shape)."""
    op = OPS[index]
    if op.kind == ELEMENTWISE:
        return op.fn(a, b)
    return jnp.broadcast_to(op.fn(a), a.shape)
