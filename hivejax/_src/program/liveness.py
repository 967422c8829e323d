"""Liveness: which instructions and registers of a program matter to its outputs.

Jittable and written for one program (vmap it for a population). The fused interpreter
uses it to skip dead code, variation to change only live code, and ``canonical`` to drop
dead code from a program's identity.
"""

import jax
import jax.numpy as jnp

from hivejax._src.program import ops
from hivejax._src.program.program import Program, ProgramSpec


def liveness(spec: ProgramSpec, program: Program) -> tuple[jax.Array, jax.Array]:
    """Which instructions and registers matter to the outputs. Jittable, one program.

    Returns ``live``, ``bool[L]``: whether each instruction can reach an output, and
    ``needed``, ``bool[L, W]``: which work registers hold a value that a later live
    instruction or an output reads, just before instruction ``i`` runs (for ``i >= length``:
    the outputs). An instruction inserted at ``i`` changes what the program computes exactly
    when it writes a needed register.

    Example:
      >>> from hivejax._src.program.program import make_program
      >>> spec = ProgramSpec()
      >>> p = make_program(spec, [("r1", "exp", "x", "x"), ("r0", "sub", "x", "y")])
      >>> live, needed = liveness(spec, p)
      >>> live[:2].tolist(), needed[0, :2].tolist()
      ([False, True], [False, False])
    """
    arity = jnp.asarray(ops.ARITY)
    outputs = slice(spec.register_base, spec.register_base + spec.outputs)
    needed = jnp.zeros(spec.num_operands, bool).at[outputs].set(True)

    def step(needed, inst):
        i, op, dst, src1, src2 = inst
        target = spec.register_base + dst
        live = needed[target] & (i < program.length)
        needed = needed.at[target].set(needed[target] & ~live)
        needed = needed.at[src1].set(needed[src1] | live)
        needed = needed.at[src2].set(needed[src2] | (live & (arity[op] == 2)))
        return needed, (live, needed[spec.register_base :])

    insts = (jnp.arange(program.max_length), program.op, program.dst, program.src1, program.src2)
    _, (live, needed) = jax.lax.scan(step, needed, insts, reverse=True)
    return live, needed


def live_mask(spec: ProgramSpec, program: Program) -> jax.Array:
    """``bool[L]``: which instructions can reach an output. Jittable, one program."""
    return liveness(spec, program)[0]
