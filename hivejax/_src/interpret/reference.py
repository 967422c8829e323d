"""The reference interpreter, in plain jnp: the source of truth for what a program means.

It runs one program on its input registers with a ``lax.scan`` over instructions and a
``lax.switch`` over the op table; ``vmap`` it for a population. Differentiation is JAX's
own, through every op, which is why each op must be NaN-safe on its own. The fused
interpreter (``hivejax._src.interpret.fused``) is the fast path and is tested against this one.
"""

import jax
import jax.numpy as jnp

from hivejax._src.program import ops
from hivejax._src.program.program import Program, ProgramSpec, operand_values


def _branches(apply_op):
    return [lambda a, b, i=i: apply_op(i, a, b) for i in range(ops.NUM_OPS)]


def run(spec: ProgramSpec, program: Program, inputs) -> jax.Array:
    """The first output ``r0`` after running ``program`` on ``inputs`` (see ``outputs``).

    Args:
      spec: the program's static shape.
      program: one (unbatched) program.
      inputs: one array per ``spec.inputs``, all the same shape.

    Example:
      >>> from hivejax._src.program.program import make_program
      >>> spec = ProgramSpec()
      >>> p = make_program(spec, [("r0", "sub", "x", "y"), ("r0", "square", "r0", "r0")])
      >>> x, y = jnp.ones((2, 3)), jnp.zeros((2, 3))
      >>> float(run(spec, p, (x, y)).sum())
      6.0
    """
    return outputs(spec, program, inputs)[0]


def outputs(spec: ProgramSpec, program: Program, inputs, apply_op=ops.apply_op) -> jax.Array:
    """The outputs ``[spec.outputs, *shape]`` after running ``program`` on ``inputs``.

    Args:
      spec: the program's static shape.
      program: one (unbatched) program.
      inputs: one array per ``spec.inputs``, all the same shape.
      apply_op: ``ops.apply_op``, or a stand-in of its signature (the tests pass one that
        adds rounding noise, to tell which programs float rounding decides).
    """
    regs = operand_values(spec, tuple(inputs), program.consts)
    branches = _branches(apply_op)

    def step(regs, inst):
        i, op, dst, src1, src2 = inst
        value = jax.lax.switch(op, branches, regs[src1], regs[src2])
        target = spec.register_base + dst
        value = jnp.where(i < program.length, value, regs[target])
        return regs.at[target].set(value), None

    steps = jnp.arange(program.max_length)
    regs, _ = jax.lax.scan(step, regs, (steps, program.op, program.dst, program.src1, program.src2))
    return regs[spec.register_base : spec.register_base + spec.outputs]
