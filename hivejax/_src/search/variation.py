"""Variation operators: mutation and crossover of fixed-capacity register programs.

Each operator is a pure function of one program (or two parents) and a key, so it reads
as the textbook operator and is batched with ``vmap`` (``vmap_with_keys``). Because a
program is a padded array, operators never change shapes: they move instructions with
gathers, keep ``length`` in ``[1, max_length]``, and turn an impossible move (insert into
a full program, delete the last instruction) into a no-op with ``jnp.where`` instead of a
Python branch on traced data.

Every child is a valid program (``is_valid``): ops index the op table, destinations are
work registers, sources index the operand space, the length is in range and the constants
are finite. Inactive slots stay valid too, because vmapped interpreters read them.

Operators act on effective code, as in Brameier and Banzhaf's *effective mutation*
(Linear Genetic Programming, 2007): point, argument and delete mutations pick a *live*
instruction (one that reaches an output; any active one when none is live), insertion
writes a register that later code reads, and a single-constant mutation picks a constant
that live code reads. A change to dead code would leave the child computing exactly what
its parent computes and spend a training run to learn nothing: with operators free to
pick any active instruction, more than half of all children of random programs were such
copies. Each operator also changes something: point mutation draws a different op,
argument mutation a different operand.
"""

from collections.abc import Callable
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from hivejax._src.program import ops
from hivejax._src.program.liveness import live_mask, liveness
from hivejax._src.program.program import INSTRUCTION_FIELDS, Program, ProgramSpec, source_weights

# Constants are clipped here so that repeated perturbation never overflows float32.
CONST_LIMIT = 1e30


def _check_concrete_range(name: str, value, low: float, high: float = np.inf) -> None:
    """Raise ``ValueError`` if a concrete ``value`` leaves ``[low, high]``; skip tracers."""
    if isinstance(value, jax.core.Tracer):
        return
    v = np.asarray(value)
    if not (np.all(v >= low) and np.all(v <= high)):
        raise ValueError(f"{name} must lie in [{low}, {high}], got {value!r}")


@struct.dataclass
class MutationParams:
    """How ``mutate`` picks and scales its operator. A PyTree: values may be traced.

    Attributes:
      point: relative weight of ``point_mutation`` (new op).
      argument: relative weight of ``argument_mutation`` (new destination or source).
      constant: relative weight of ``constant_mutation``.
      insert: relative weight of ``insert_instruction``.
      delete: relative weight of ``delete_instruction``.
      const_sigma: standard deviation of the Gaussian added to constants.
      const_all_prob: probability that a constant mutation perturbs every constant rather
        than one.

    Example:
      >>> p = MutationParams().replace(insert=0.0, delete=0.0)
      >>> check_mutation_params(p)
    """

    point: float = 0.3
    argument: float = 0.3
    constant: float = 0.2
    insert: float = 0.1
    delete: float = 0.1
    const_sigma: float = 0.1
    const_all_prob: float = 0.5

    def weights(self) -> jax.Array:
        """The operator weights in the order of ``MUTATIONS``."""
        return jnp.stack([jnp.asarray(getattr(self, name), jnp.float32) for name in MUTATIONS])


def check_mutation_params(params: MutationParams) -> None:
    """Eagerly reject bad mutation settings with ``ValueError`` (traced values are skipped).

    Example:
      >>> check_mutation_params(MutationParams(point=-1.0))
      Traceback (most recent call last):
      ...
      ValueError: MutationParams.point must lie in [0.0, inf], got -1.0
    """
    for name in MUTATIONS:
        _check_concrete_range(f"MutationParams.{name}", getattr(params, name), 0.0)
    weights = [getattr(params, name) for name in MUTATIONS]
    if not any(isinstance(w, jax.core.Tracer) for w in weights):
        if not np.all(sum(np.asarray(w, np.float64) for w in weights) > 0):
            raise ValueError(f"MutationParams weights must not all be zero, got {weights}")
    _check_concrete_range("MutationParams.const_sigma", params.const_sigma, 0.0)
    _check_concrete_range("MutationParams.const_all_prob", params.const_all_prob, 0.0, 1.0)


def _bits(key: jax.Array, n: int) -> jax.Array:
    """``n`` uniform ``uint32`` words: one flat draw per operator call compiles fastest."""
    return jax.random.bits(key, (n,), jnp.uint32)


def _below(bits: jax.Array, n) -> jax.Array:
    """Map uniform ``uint32`` bits to an ``int32`` in ``[0, n)``; ``n`` may be traced.

    Plain modulo: the bias is below ``n / 2**32``, negligible for program sizes, and it
    compiles much faster than ``jax.random.randint`` with a traced bound.
    """
    n = jnp.maximum(jnp.asarray(n, jnp.int32), 1).astype(jnp.uint32)
    return (bits % n).astype(jnp.int32)


def _uniform(bits: jax.Array) -> jax.Array:
    """Map uniform ``uint32`` bits to a ``float32`` in ``[0, 1)``."""
    return (bits >> 8).astype(jnp.float32) * (1.0 / (1 << 24))


def _normal(bits: jax.Array) -> jax.Array:
    """Map uniform ``uint32`` bits to standard normal ``float32`` (finite, ``|z| < 5.3``)."""
    # 23 bits plus one half is exact in float32, so u lies strictly inside (0, 1).
    u = ((bits >> 9).astype(jnp.float32) + 0.5) * (1.0 / (1 << 23))
    return np.sqrt(2.0).astype(np.float32) * jax.scipy.special.erfinv(2.0 * u - 1.0)


def _pick(bits: jax.Array, mask: jax.Array, n) -> jax.Array:
    """A uniformly random index where ``mask`` holds; uniform in ``[0, n)`` if it holds nowhere."""
    count = jnp.sum(mask)
    chosen = jnp.argmax(jnp.cumsum(mask) > _below(bits, count)).astype(jnp.int32)
    return jnp.where(count > 0, chosen, _below(bits, n))


def _weighted(bits: jax.Array, weights: np.ndarray) -> jax.Array:
    """An index drawn with probability proportional to the fixed ``weights``."""
    cdf = np.cumsum(weights, dtype=np.float64)
    return jnp.sum(_uniform(bits) * np.float32(cdf[-1]) >= jnp.asarray(cdf[:-1], jnp.float32))


def _different(bits: jax.Array, value: jax.Array, n: int) -> jax.Array:
    """A uniformly random value in ``[0, n)`` other than ``value`` (``value`` if ``n == 1``)."""
    return ((value + 1 + _below(bits, max(n - 1, 1))) % n).astype(jnp.int32)


# Random words each operator consumes.
def _words(spec: ProgramSpec) -> dict[str, int]:
    return {
        "point": 2,
        "argument": 4,
        "constant": 1 + spec.num_consts,
        "insert": 6,
        "delete": 1,
        "crossover": 4 + spec.num_consts,
    }


def _op_position(spec: ProgramSpec, op: jax.Array) -> jax.Array:
    """Where ``op`` stands in the spec's op set (0 for an op outside it)."""
    position = np.zeros(ops.NUM_OPS, np.int32)
    position[list(spec.allowed_ops)] = np.arange(len(spec.allowed_ops))
    return jnp.asarray(position)[op]


def _live_consts(spec: ProgramSpec, program: Program) -> jax.Array:
    """``bool[K]``: which free constants a live instruction reads."""
    live = live_mask(spec, program)
    binary = live & (jnp.asarray(ops.ARITY)[program.op] == 2)
    slots = spec.const_base + jnp.arange(spec.num_consts)[None, :]
    reads = (program.src1[:, None] == slots) & live[:, None]
    reads |= (program.src2[:, None] == slots) & binary[:, None]
    return jnp.any(reads, axis=0)


def _point(bits, spec, program):
    i = _pick(bits[0], live_mask(spec, program), program.length)
    allowed = jnp.asarray(spec.allowed_ops, jnp.int32)
    new = _different(bits[1], _op_position(spec, program.op[i]), len(spec.allowed_ops))
    return program.replace(op=program.op.at[i].set(allowed[new]))


def point_mutation(key: jax.Array, spec: ProgramSpec, program: Program) -> Program:
    """Replace the op of one live instruction with a different random op.

    Example:
      >>> from hivejax._src.program.program import make_program
      >>> spec = ProgramSpec()
      >>> p = make_program(spec, [("r0", "sub", "x", "y")])
      >>> child = point_mutation(jax.random.key(0), spec, p)
      >>> bool(child.op[0] != p.op[0]), bool((child.dst == p.dst).all())
      (True, True)
    """
    return _point(_bits(key, _words(spec)["point"]), spec, program)


def _argument(bits, spec, program):
    i = _pick(bits[0], live_mask(spec, program), program.length)
    arity = jnp.asarray(ops.ARITY)[program.op[i]]
    field = _below(bits[1], 1 + arity)  # 0 dst, 1 src1, 2 src2
    new_dst = _different(bits[2], program.dst[i], spec.num_registers)
    new_src1 = _different(bits[3], program.src1[i], spec.num_operands)
    new_src2 = _different(bits[3], program.src2[i], spec.num_operands)
    return program.replace(
        dst=program.dst.at[i].set(jnp.where(field == 0, new_dst, program.dst[i])),
        src1=program.src1.at[i].set(jnp.where(field == 1, new_src1, program.src1[i])),
        src2=program.src2.at[i].set(jnp.where(field == 2, new_src2, program.src2[i])),
    )


def argument_mutation(key: jax.Array, spec: ProgramSpec, program: Program) -> Program:
    """Replace the destination or a read source of one live instruction.

    The field is uniform over the destination and the sources the op reads (a unary op's
    ignored second source is never chosen); the new value differs from the old one.

    Example:
      >>> from hivejax._src.program.program import make_program
      >>> spec = ProgramSpec()
      >>> p = make_program(spec, [("r0", "sub", "x", "y")])
      >>> child = argument_mutation(jax.random.key(0), spec, p)
      >>> int((child.dst != p.dst).sum() + (child.src1 != p.src1).sum()
      ...     + (child.src2 != p.src2).sum())
      1
    """
    return _argument(_bits(key, _words(spec)["argument"]), spec, program)


def _constant(bits, spec, program, sigma, all_consts):
    if spec.num_consts == 0:
        return program
    picked = _pick(bits[0], _live_consts(spec, program), spec.num_consts)
    one = jnp.arange(spec.num_consts) == picked
    mask = jnp.logical_or(one, jnp.asarray(all_consts, bool))
    noise = jnp.asarray(sigma, jnp.float32) * _normal(bits[1 : 1 + spec.num_consts])
    consts = jnp.where(mask, program.consts + noise, program.consts)
    consts = jnp.clip(consts, -CONST_LIMIT, CONST_LIMIT).astype(program.consts.dtype)
    return program.replace(consts=consts)


def constant_mutation(
    key: jax.Array,
    spec: ProgramSpec,
    program: Program,
    sigma: float | jax.Array = 0.1,
    all_consts: bool | jax.Array = False,
) -> Program:
    """Add ``sigma``-scaled Gaussian noise to one constant that live code reads (any one if
    none is read), or to all of them.

    ``sigma`` and ``all_consts`` may be traced. A no-op when the spec has no constants.
    Results are clipped to ``+-CONST_LIMIT`` so they stay finite.

    Example:
      >>> spec = ProgramSpec(num_consts=3)
      >>> from hivejax._src.program.program import make_program
      >>> p = make_program(spec, [("r0", "mul", "x", "c0")], consts=(1.0, 2.0, 3.0))
      >>> child = constant_mutation(jax.random.key(0), spec, p, sigma=0.5)
      >>> int((child.consts != p.consts).sum())
      1
    """
    return _constant(_bits(key, _words(spec)["constant"]), spec, program, sigma, all_consts)


def _insert(bits, spec, program):
    _, needed = liveness(spec, program)
    # Where some register is needed (always at the end: the outputs), and write one of them.
    idx = jnp.arange(spec.max_length)
    pos = _pick(bits[0], (idx <= program.length) & jnp.any(needed, 1), program.length + 1)
    new = {
        "op": jnp.asarray(spec.allowed_ops, jnp.int32)[_below(bits[1], len(spec.allowed_ops))],
        "dst": _pick(bits[2], needed[jnp.minimum(pos, spec.max_length - 1)], spec.num_registers),
        "src1": _weighted(bits[3], source_weights(spec)),
        "src2": _weighted(bits[4], source_weights(spec)),
    }
    # As in the initialiser's chains, half the time the new instruction transforms the value
    # it overwrites (``r <- f(r, .)``), so the code that computed it stays live.
    chain = _uniform(bits[5]) < 0.5
    new["src1"] = jnp.where(chain, spec.register_base + new["dst"], new["src1"])
    full = program.length >= spec.max_length
    source = jnp.where(idx > pos, idx - 1, idx)
    fields = {}
    for name in INSTRUCTION_FIELDS:
        old = getattr(program, name)
        shifted = jnp.where(idx == pos, new[name], old[source])
        fields[name] = jnp.where(full, old, shifted)
    length = jnp.where(full, program.length, program.length + 1).astype(jnp.int32)
    return program.replace(length=length, **fields)


def insert_instruction(key: jax.Array, spec: ProgramSpec, program: Program) -> Program:
    """Insert a random instruction at a position ``<= length``, shifting the rest.

    The position is one where later code or an output reads some register, and the
    instruction writes one of those registers, so that it takes effect. Half the time it
    also reads that register (``r <- f(r, .)``); its other sources follow the initialiser's
    ``source_weights``. A no-op when the program is full (``length == max_length``).

    Example:
      >>> from hivejax._src.program.program import make_program
      >>> spec = ProgramSpec()
      >>> p = make_program(spec, [("r0", "sub", "x", "y")])
      >>> int(insert_instruction(jax.random.key(0), spec, p).length)
      2
    """
    return _insert(_bits(key, _words(spec)["insert"]), spec, program)


def _delete(bits, spec, program):
    pos = _pick(bits[0], live_mask(spec, program), program.length)
    keep = program.length <= 1
    idx = jnp.arange(spec.max_length)
    source = jnp.where(idx >= pos, jnp.minimum(idx + 1, spec.max_length - 1), idx)
    fields = {
        name: jnp.where(keep, getattr(program, name), getattr(program, name)[source])
        for name in INSTRUCTION_FIELDS
    }
    length = jnp.where(keep, program.length, program.length - 1).astype(jnp.int32)
    return program.replace(length=length, **fields)


def delete_instruction(key: jax.Array, spec: ProgramSpec, program: Program) -> Program:
    """Remove one random live instruction (any active one if none is live), shifting later
    ones down.

    A no-op on a one-instruction program, so ``length`` stays ``>= 1``.

    Example:
      >>> from hivejax._src.program.program import make_program
      >>> spec = ProgramSpec()
      >>> p = make_program(spec, [("r1", "sub", "x", "y"), ("r0", "exp", "r1", "r1")])
      >>> int(delete_instruction(jax.random.key(0), spec, p).length)
      1
    """
    return _delete(_bits(key, _words(spec)["delete"]), spec, program)


def _crossover(bits, spec, parent_a, parent_b):
    la, lb, cap = parent_a.length, parent_b.length, spec.max_length
    cut1, cut2 = _below(bits[0], la + 1), _below(bits[1], la + 1)
    i1, i2 = jnp.minimum(cut1, cut2), jnp.maximum(cut1, cut2)
    j1 = _below(bits[2], lb)
    kept = la - (i2 - i1)
    room = cap - kept  # >= 1 whenever nothing of a is kept
    seg = 1 + _below(bits[3], jnp.minimum(lb - j1, room))
    seg = jnp.where(room > 0, seg, 0)

    k = jnp.arange(cap)
    from_b = (k >= i1) & (k < i1 + seg)
    a_idx = jnp.clip(jnp.where(k < i1, k, k - seg + i2 - i1), 0, cap - 1)
    b_idx = jnp.clip(j1 + k - i1, 0, cap - 1)
    fields = {
        name: jnp.where(from_b, getattr(parent_b, name)[b_idx], getattr(parent_a, name)[a_idx])
        for name in INSTRUCTION_FIELDS
    }
    take_a = (bits[4 : 4 + spec.num_consts] >> 31) == 0
    consts = jnp.where(take_a, parent_a.consts, parent_b.consts)
    length = jnp.clip(kept + seg, 1, cap).astype(jnp.int32)
    return Program(consts=consts, length=length, **fields)


def crossover(key: jax.Array, spec: ProgramSpec, parent_a: Program, parent_b: Program) -> Program:
    """Linear two-point crossover: a segment of ``parent_a`` is replaced by one of ``b``.

    The child is ``a[:i1] + b[j1:j2] + a[i2:len_a]`` with ``0 <= i1 <= i2 <= len_a`` and a
    non-empty segment of ``b``'s active instructions, shortened so the child fits the
    capacity; its length is therefore in ``[1, max_length]`` and every active child
    instruction is an active instruction of a parent. ``a``'s tail, which usually writes
    the output, is kept. Each constant slot comes from either parent with probability 1/2.

    Example:
      >>> from hivejax._src.program.program import make_program
      >>> spec = ProgramSpec()
      >>> a = make_program(spec, [("r0", "sub", "x", "y")] * 3)
      >>> b = make_program(spec, [("r0", "add", "x", "y")] * 2)
      >>> child = crossover(jax.random.key(0), spec, a, b)
      >>> 1 <= int(child.length) <= spec.max_length
      True
    """
    return _crossover(_bits(key, _words(spec)["crossover"]), spec, parent_a, parent_b)


# The single-parent operators, in the order of ``MutationParams.weights``.
MUTATIONS: dict[str, Callable[..., Program]] = {
    "point": point_mutation,
    "argument": argument_mutation,
    "constant": constant_mutation,
    "insert": insert_instruction,
    "delete": delete_instruction,
}


def _mutate_words(spec: ProgramSpec) -> int:
    # Two words pick the operator; the chosen operator reads the words after them (only
    # one branch's result is kept, so the branches may share words).
    words = _words(spec)
    return 2 + max(words[name] for name in MUTATIONS)


def _mutate(bits, spec, program, params):
    """The mutated program and which operator (an index into ``MUTATIONS``) made it."""
    u = _uniform(bits[:2])
    # Inverse CDF over the weights: the first operator whose CDF exceeds the target has a
    # positive weight; the clip guards against the target rounding up to the total.
    weights = params.weights()
    # A program that reads no constant would not change under a constant mutation.
    reads_const = jnp.any(_live_consts(spec, program))
    effective = weights.at[list(MUTATIONS).index("constant")].multiply(
        reads_const.astype(weights.dtype)
    )
    weights = jnp.where(jnp.sum(effective) > 0, effective, weights)
    cdf = jnp.cumsum(weights)
    last_positive = len(MUTATIONS) - 1 - jnp.argmax((weights > 0)[::-1])
    choice = jnp.minimum(jnp.sum(u[0] * cdf[-1] >= cdf[:-1]), last_positive).astype(jnp.int32)
    all_consts = u[1] < params.const_all_prob
    branches = [
        lambda b, p: _point(b, spec, p),
        lambda b, p: _argument(b, spec, p),
        lambda b, p: _constant(b, spec, p, params.const_sigma, all_consts),
        lambda b, p: _insert(b, spec, p),
        lambda b, p: _delete(b, spec, p),
    ]
    return jax.lax.switch(choice, branches, bits[2:], program), choice


def mutate(key: jax.Array, spec: ProgramSpec, program: Program, params: MutationParams) -> Program:
    """Apply one operator of ``MUTATIONS``, drawn with probability proportional to its weight.

    Example:
      >>> from hivejax._src.program.program import is_valid, random_program
      >>> spec = ProgramSpec()
      >>> p = random_program(jax.random.key(0), spec)
      >>> child = mutate(jax.random.key(1), spec, p, MutationParams())
      >>> bool(is_valid(spec, child))
      True
    """
    return _mutate(_bits(key, _mutate_words(spec)), spec, program, params)[0]


@partial(jax.jit, static_argnames=("operator", "spec"))
def vmap_with_keys(operator: Callable, key: jax.Array, spec: ProgramSpec, *populations, **kwargs):
    """Apply a one-program ``operator(key, spec, *programs, **kwargs)`` to a population.

    Individual ``i`` gets key ``jax.random.split(key, n)[i]``; ``kwargs`` are shared and
    traced (arrays or PyTrees such as ``MutationParams``). Jitted, with ``operator`` and
    ``spec`` static.

    Example:
      >>> from hivejax._src.program.program import random_population
      >>> spec = ProgramSpec()
      >>> pop = random_population(jax.random.key(0), spec, 8)
      >>> children = vmap_with_keys(mutate, jax.random.key(1), spec, pop,
      ...                           params=MutationParams())
      >>> children.op.shape
      (8, 16)
    """
    n = populations[0].length.shape[0]
    keys = jax.random.split(key, n)
    return jax.vmap(lambda k, *ps: operator(k, spec, *ps, **kwargs))(keys, *populations)
