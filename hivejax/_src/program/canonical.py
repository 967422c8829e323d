"""Program identity: dead-code elimination, canonical form and hash.

Two programs are the same program when they compute the same output by the same live
instructions up to the names of their work registers and free constants. The canonical
form keeps only live instructions, in order, and then:

- a read of a work register that nothing has written yet reads the named constant
  ``zero`` (registers start at zero); in a spec without named constants, the lowest
  register that nothing has written yet at that point, which also reads zero;
- work registers are renamed in order of first write, the outputs ``r0 .. r{outputs-1}``
  keeping their names;
- free constants are renumbered in order of first use, unused ones set to 0;
- a unary op's ignored second source is set equal to its first;
- the sources of commutative ops are sorted (two constants first used together by one are
  numbered in order of their bits, so swapping them does not change the form).

It runs eagerly on host numpy arrays; liveness itself is ``hivejax._src.program.liveness``.
"""

import hashlib

import jax
import numpy as np

from hivejax._src.program import ops
from hivejax._src.program.formats import to_bytes
from hivejax._src.program.liveness import live_mask
from hivejax._src.program.program import Program, ProgramSpec

# Eagerly, live_mask would retrace its scan on every call; jitted, it compiles once per spec.
_live_mask_jit = jax.jit(live_mask, static_argnums=0)


def _to_numpy(program: Program) -> Program:
    return jax.tree.map(np.asarray, program)


def canonicalize(spec: ProgramSpec, program: Program) -> Program:
    """The canonical form of one program (host arrays in, host arrays out).

    Example:
      >>> from hivejax._src.program.program import make_program
      >>> spec = ProgramSpec()
      >>> a = make_program(spec, [("r3", "sub", "x", "y"), ("r5", "exp", "x", "x"),
      ...                         ("r0", "square", "r3", "r3")])
      >>> b = make_program(spec, [("r1", "sub", "x", "y"), ("r0", "square", "r1", "r1")])
      >>> canonical_hash(spec, a) == canonical_hash(spec, b)
      True
    """
    p = _to_numpy(program)
    live = np.asarray(_live_mask_jit(spec, program))
    rb, cb = spec.register_base, spec.const_base
    register_names = {r: r for r in range(spec.outputs)}
    const_names: dict[int, int] = {}
    written = set()
    rows = []

    def zero() -> int:
        if spec.named_constants:
            return spec.num_inputs + 1  # the named constant zero
        unwritten = set(range(spec.num_registers)) - {register_names[r] for r in written}
        return rb + min(unwritten)  # the register being read is one, so one exists

    def source(operand):
        if operand >= rb:
            reg = operand - rb
            return rb + register_names[reg] if reg in written else zero()
        if cb <= operand < rb:
            slot = const_names.setdefault(operand - cb, len(const_names))
            return cb + slot
        return operand

    def unnamed_const(operand):
        return cb <= operand < rb and operand - cb not in const_names

    bits = p.consts.astype(np.float32).view(np.uint32)
    for i in np.flatnonzero(live):
        op = int(p.op[i])
        a, b = int(p.src1[i]), int(p.src2[i])
        if op in ops.COMMUTATIVE and unnamed_const(a) and unnamed_const(b):
            # Both constants are new: name them by value, not by operand order.
            a, b = sorted((a, b), key=lambda s: bits[s - cb])
        s1 = source(a)
        s2 = source(b) if ops.ARITY[op] == 2 else s1
        if op in ops.COMMUTATIVE:
            s1, s2 = min(s1, s2), max(s1, s2)
        dst = int(p.dst[i])
        written.add(dst)
        register_names.setdefault(dst, len(register_names))
        rows.append((register_names[dst], op, s1, s2))

    consts = np.zeros(spec.num_consts, np.float32)
    for old, new in const_names.items():
        consts[new] = p.consts[old]
    n = len(rows)
    pad = [(0, ops.COPY, rb, rb)] * (spec.max_length - n)
    dst, op, src1, src2 = (np.asarray(c, np.int32) for c in zip(*(rows + pad), strict=True))
    return Program(op, dst, src1, src2, consts, np.asarray(n, np.int32))


def canonical_hash(spec: ProgramSpec, program: Program) -> str:
    """Hex SHA-256 of the canonical form's binary encoding; equal for equivalent programs."""
    return hash_of_canonical(spec, canonicalize(spec, program))


def hash_of_canonical(spec: ProgramSpec, canonical: Program) -> str:
    """``canonical_hash`` of a program already in canonical form."""
    return hashlib.sha256(to_bytes(spec, canonical)).hexdigest()
