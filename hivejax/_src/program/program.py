"""Programs: fixed-capacity linear register programs stored as PyTrees of arrays.

A program is ``max_length`` instructions ``dst <- op(src1, src2)`` of which the first
``length`` run. Sources address one operand space, in this order:

- the task's read-only inputs (for a loss: ``x`` logits, ``y`` one-hot targets);
- the named constants ``one zero half pi e`` (none where the spec says
  ``named_constants=False``: a benchmark whose terminals are its inputs alone);
- the program's free, differentiable constants ``c0 .. c{K-1}``;
- the work registers ``r0 .. r{W-1}``, all zero at start.

Instructions write only work registers. The program's outputs are ``r0 .. r{outputs-1}``
(one output, ``r0``, for a loss or an activation; an optimizer update rule also returns its
new state slots). A population
is the same PyTree with a leading axis, so every operator is written for one program
and vmapped.
"""

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from hivejax._src.program import ops

# The binary format codes an op set by its position here: a new set goes last.
OP_SETS: dict[str, tuple[int, ...]] = {
    "all": tuple(range(ops.NUM_OPS)),
    "elementwise": tuple(i for i, op in enumerate(ops.OPS) if op.kind == ops.ELEMENTWISE),
    # Koza's symbolic-regression function set, which Uy et al. (2011) kept for the Nguyen
    # problems: + - * / sin cos exp log, with hivejax's protected div, log and exp. ``copy``
    # is in every set: it pads programs and marks no-ops.
    "koza": tuple(
        ops.OP_INDEX[n] for n in ("add", "sub", "mul", "div", "sin", "cos", "exp", "log", "copy")
    ),
}


@dataclasses.dataclass(frozen=True)
class ProgramSpec:
    """The static shape of a program: its capacities and the names of its inputs.

    Hashable, so it can be a static argument of ``jax.jit``.

    Attributes:
      inputs: names of the read-only input registers, bound by the task.
      max_length: instruction capacity L.
      num_consts: free constant slots K.
      num_registers: work registers W; the first ``outputs`` of them are the outputs.
      outputs: how many outputs the program returns, ``r0 .. r{outputs-1}``.
      op_set: ``"all"`` ops, or only the ``"elementwise"`` ones, for programs applied
        elementwise to tensors of any shape (activations, optimizer update rules), where a
        reduction would mix unrelated elements, or ``"koza"``, the symbolic-regression
        function set (``tasks/regression.py``).
      named_constants: whether programs read the named constants ``one zero half pi e``.
        False leaves them out of the operand space, so that neither the initialiser nor a
        mutation can draw one: a benchmark without constants (``tasks/regression.py``).
    """

    inputs: tuple[str, ...] = ("x", "y")
    max_length: int = 16
    num_consts: int = 4
    num_registers: int = 8
    outputs: int = 1
    op_set: str = "all"
    named_constants: bool = True

    def __post_init__(self):
        if not self.inputs:
            raise ValueError("a program needs at least one input register")
        for name, value, low in (
            ("max_length", self.max_length, 1),
            ("num_consts", self.num_consts, 0),
            ("num_registers", self.num_registers, 1),
        ):
            if not isinstance(value, int) or value < low:
                raise ValueError(f"ProgramSpec.{name} must be an integer >= {low}, got {value!r}")
        if not isinstance(self.outputs, int) or not 1 <= self.outputs <= self.num_registers:
            raise ValueError(
                f"ProgramSpec.outputs must be in [1, num_registers={self.num_registers}], "
                f"got {self.outputs!r}"
            )
        if self.op_set not in OP_SETS:
            raise ValueError(
                f"ProgramSpec.op_set must be one of {', '.join(OP_SETS)}, got {self.op_set!r}"
            )
        if not isinstance(self.named_constants, bool):
            raise ValueError(
                f"ProgramSpec.named_constants must be True or False, got {self.named_constants!r}"
            )

    @property
    def allowed_ops(self) -> tuple[int, ...]:
        """Indices into ``ops.OPS`` of the ops this spec's programs may use."""
        return OP_SETS[self.op_set]

    @property
    def num_inputs(self) -> int:
        return len(self.inputs)

    @property
    def named(self) -> tuple[tuple[str, float], ...]:
        """The named constants this spec's programs read, ``(name, value)`` in operand
        order: ``ops.NAMED_CONSTANTS``, or none."""
        return ops.NAMED_CONSTANTS if self.named_constants else ()

    @property
    def const_base(self) -> int:
        """Operand index of the first free constant ``c0``."""
        return self.num_inputs + len(self.named)

    @property
    def register_base(self) -> int:
        """Operand index of the first work register ``r0`` (the output)."""
        return self.const_base + self.num_consts

    @property
    def num_operands(self) -> int:
        return self.register_base + self.num_registers

    def operand_names(self) -> tuple[str, ...]:
        named = tuple(name for name, _ in self.named)
        consts = tuple(f"c{i}" for i in range(self.num_consts))
        registers = tuple(f"r{i}" for i in range(self.num_registers))
        return self.inputs + named + consts + registers


# The per-instruction arrays of a Program, each ``int32[L]``.
INSTRUCTION_FIELDS = ("op", "dst", "src1", "src2")


@struct.dataclass
class Program:
    """One program, or a population when every leaf has a leading batch axis.

    Attributes:
      op: ``int32[L]`` op codes, indices into ``ops.OPS``.
      dst: ``int32[L]`` destination work register, ``0 <= dst < W``.
      src1: ``int32[L]`` first source operand, ``0 <= src1 < num_operands``.
      src2: ``int32[L]`` second source operand (ignored by unary ops).
      consts: ``float32[K]`` free constants.
      length: ``int32[]`` number of instructions that run.
    """

    op: jax.Array
    dst: jax.Array
    src1: jax.Array
    src2: jax.Array
    consts: jax.Array
    length: jax.Array

    @property
    def max_length(self) -> int:
        return self.op.shape[-1]


def is_valid(spec: ProgramSpec, program: Program) -> jax.Array:
    """Whether a program (or each of a population) is well formed. Jittable.

    Checks every slot, active or not, because interpreters read them all: op codes,
    destinations and sources in range, ``1 <= length <= max_length``, finite constants,
    ``int32``/``float32`` dtypes and the spec's shapes. Returns a bool array with the
    population's batch shape (a scalar for one program).

    Example:
      >>> spec = ProgramSpec()
      >>> p = random_program(jax.random.key(0), spec)
      >>> bool(is_valid(spec, p)), bool(is_valid(spec, p.replace(length=p.length * 0)))
      (True, False)
    """
    batch = program.length.shape
    shapes_ok = all(
        getattr(program, name).shape == (*batch, spec.max_length) for name in INSTRUCTION_FIELDS
    ) and program.consts.shape == (*batch, spec.num_consts)
    dtypes_ok = all(
        getattr(program, name).dtype == jnp.int32 for name in (*INSTRUCTION_FIELDS, "length")
    )
    dtypes_ok = dtypes_ok and program.consts.dtype == jnp.float32
    if not (shapes_ok and dtypes_ok):
        return jnp.zeros(batch, bool)

    def in_range(x, high):
        return jnp.all((x >= 0) & (x < high), axis=-1)

    return (
        in_range(program.op, ops.NUM_OPS)
        & jnp.all(jnp.isin(program.op, jnp.asarray(spec.allowed_ops)), axis=-1)
        & in_range(program.dst, spec.num_registers)
        & in_range(program.src1, spec.num_operands)
        & in_range(program.src2, spec.num_operands)
        & (program.length >= 1)
        & (program.length <= spec.max_length)
        & jnp.all(jnp.isfinite(program.consts), axis=-1)
    )


def make_program(spec: ProgramSpec, instructions, consts=()) -> Program:
    """Build one program from ``(dst, op_name, src1, src2)`` tuples of operand names.

    Example:
      >>> spec = ProgramSpec()
      >>> p = make_program(spec, [("r0", "sub", "x", "y"), ("r0", "square", "r0", "r0")])
      >>> int(p.length)
      2
    """
    names = {name: i for i, name in enumerate(spec.operand_names())}
    if len(instructions) > spec.max_length:
        raise ValueError(
            f"{len(instructions)} instructions do not fit max_length={spec.max_length}"
        )
    if len(consts) > spec.num_consts:
        raise ValueError(f"{len(consts)} constants do not fit num_consts={spec.num_consts}")
    rows = []
    for dst, op_name, a, b in instructions:
        if op_name not in ops.OP_INDEX:
            raise ValueError(f"unknown op {op_name!r}")
        if ops.OP_INDEX[op_name] not in spec.allowed_ops:
            raise ValueError(f"op {op_name!r} is not in the {spec.op_set!r} op set")
        for operand in (dst, a, b):
            if operand not in names:
                raise ValueError(f"unknown operand {operand!r}")
        if names[dst] < spec.register_base:
            raise ValueError(f"destination {dst!r} is not a work register")
        rows.append((names[dst] - spec.register_base, ops.OP_INDEX[op_name], names[a], names[b]))
    pad = spec.max_length - len(rows)
    rows += [(0, ops.COPY, spec.register_base, spec.register_base)] * pad
    dst, op, src1, src2 = (jnp.asarray(col, jnp.int32) for col in zip(*rows, strict=True))
    const_arr = (
        jnp.zeros(spec.num_consts, jnp.float32)
        .at[: len(consts)]
        .set(jnp.asarray(consts, jnp.float32))
    )
    return Program(op, dst, src1, src2, const_arr, jnp.asarray(len(instructions), jnp.int32))


def source_weights(spec: ProgramSpec) -> np.ndarray:
    """Relative odds of each operand as a new instruction's source (initialiser, insertion).

    Inputs are what a program must read to compute anything useful, so they are drawn most
    often: input 4, work register 2, named or free constant 1.
    """
    return np.asarray(
        [4.0] * spec.num_inputs
        + [1.0] * len(spec.named)
        + [1.0] * spec.num_consts
        + [2.0] * spec.num_registers,
        np.float32,
    )


def random_program(
    key: jax.Array, spec: ProgramSpec, min_length: int = 2, max_length: int | None = None
) -> Program:
    """A random program of random length, the default initialiser.

    Uniform random register programs almost never read their inputs through live code,
    and then they cannot train anything. So the initialiser builds chains: each
    instruction's first source is, with probability 1/2, the register the previous
    instruction wrote; other sources follow ``source_weights``; the last instruction
    writes the output ``r0``. Ops are uniform over the spec's op set and constants standard
    normal. ``max_length`` defaults to half the capacity so that mutation has room to grow
    programs.
    """
    max_length = max_length or max(min_length, spec.max_length // 2)
    if not 1 <= min_length <= max_length <= spec.max_length:
        raise ValueError(
            f"need 1 <= min_length ({min_length}) <= max_length ({max_length}) "
            f"<= capacity ({spec.max_length})"
        )
    k_op, k_dst, k_s1, k_s2, k_chain, k_c, k_len = jax.random.split(key, 7)
    shape = (spec.max_length,)
    length = jax.random.randint(k_len, (), min_length, max_length + 1, jnp.int32)
    dst = jax.random.randint(k_dst, shape, 0, spec.num_registers, jnp.int32)
    dst = dst.at[length - 1].set(0)
    logits = jnp.log(jnp.asarray(source_weights(spec)))
    src1 = jax.random.categorical(k_s1, logits, shape=shape).astype(jnp.int32)
    previous = spec.register_base + jnp.roll(dst, 1)
    chain = (jax.random.uniform(k_chain, shape) < 0.5) & (jnp.arange(spec.max_length) > 0)
    return Program(
        op=random_ops(k_op, spec, shape),
        dst=dst,
        src1=jnp.where(chain, previous, src1),
        src2=jax.random.categorical(k_s2, logits, shape=shape).astype(jnp.int32),
        consts=jax.random.normal(k_c, (spec.num_consts,), jnp.float32),
        length=length,
    )


def random_ops(key: jax.Array, spec: ProgramSpec, shape=()) -> jax.Array:
    """Op codes drawn uniformly from the spec's op set."""
    allowed = jnp.asarray(spec.allowed_ops, jnp.int32)
    return allowed[jax.random.randint(key, shape, 0, allowed.shape[0])]


@functools.partial(jax.jit, static_argnames=("spec", "size", "min_length", "max_length"))
def random_population(
    key: jax.Array, spec: ProgramSpec, size: int, min_length: int = 2, max_length: int | None = None
) -> Program:
    """``size`` independent random programs as one batched PyTree."""
    keys = jax.random.split(key, size)
    return jax.vmap(lambda k: random_program(k, spec, min_length, max_length))(keys)


def stack_programs(programs) -> Program:
    """One population (leaves with a leading axis) from a non-empty sequence of programs."""
    return jax.tree.map(lambda *leaves: jnp.stack([jnp.asarray(a) for a in leaves]), *programs)


def pad_population(programs: Program, minimum: int = 8) -> tuple[Program, int]:
    """``programs`` padded with copies of its first to the next power of two (at least
    ``minimum``), and its own size: callers whose population size changes every call
    then compile once per size bucket, and drop the padding's results."""
    size = int(np.shape(programs.length)[0])
    bucket = max(minimum, 1 << max(size - 1, 0).bit_length())
    padded = jax.tree.map(
        lambda a: jnp.concatenate([a, jnp.repeat(a[:1], bucket - size, 0)]), programs
    )
    return padded, size


def operand_values(spec: ProgramSpec, inputs, consts):
    """The initial operand file ``[num_operands, *shape]``: inputs, constants, zeroed registers.

    ``inputs`` is a sequence of equally shaped arrays, one per ``spec.inputs``.
    """
    shape = inputs[0].shape
    if len(inputs) != spec.num_inputs:
        raise ValueError(f"expected {spec.num_inputs} inputs {spec.inputs}, got {len(inputs)}")
    named = jnp.asarray([v for _, v in spec.named], jnp.float32)
    scalars = jnp.concatenate([named, consts.astype(jnp.float32)])
    const_block = jnp.broadcast_to(
        scalars.reshape((-1,) + (1,) * len(shape)), (scalars.shape[0], *shape)
    )
    registers = jnp.zeros((spec.num_registers, *shape), jnp.float32)
    return jnp.concatenate([jnp.stack(inputs).astype(jnp.float32), const_block, registers])
