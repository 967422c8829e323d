"""The fused interpreter: the fast path for training with a program, same meaning as the reference.

Two things make the reference slow inside a training loop. Under ``vmap`` every op of the
table is computed for every instruction, and JAX's backward pass then differentiates all
of them. This interpreter instead:

1. runs only live instructions: each program is compacted so its live instructions come
   first, and the loop runs to the population's largest live count (a traced bound, so
   no recompilation);
2. computes, in the same forward sweep, each op's local partial derivatives ``da`` and
   ``db`` (forward-mode, so they fuse with the values), keeps only the selected op's two
   partials, and
3. runs its own backward pass through a custom VJP: per instruction, two multiply-adds
   into the operand adjoints, with a sum for reductions. Nothing about the unselected
   ops is kept.

Both passes are written for one program. How a population runs them is the one choice
between two interpreters that share everything else:

- **fused** (``vectorised=False``): the batching rule (``_per_program``) loops over the
  population, so each program runs only its own live instructions and only the op each
  one selects. Right where each op is cheap next to a dispatch: on a CPU.
- **select** (``vectorised=True``): plain ``vmap``. The op switch becomes a select over
  every op's value and partials for the whole population, slot by slot, up to the
  population's largest live count, with no loop over programs, so XLA fuses each slot
  into a few wide kernels. Right where width is free and sequential steps are not: on a
  GPU or TPU.

For a reduction ``v = broadcast(r(a))`` the adjoint is ``da = pa * R(g)``, where ``R`` sums
``g`` over the reduced axes and ``pa = d sum(r(a)) / da``; this is exact because every
element of ``a`` feeds exactly one reduced value.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np

from hivejax._src.program import ops
from hivejax._src.program.liveness import live_mask
from hivejax._src.program.program import Program, ProgramSpec, operand_values


def compact(spec: ProgramSpec, program: Program) -> tuple[Program, jax.Array]:
    """Move live instructions to the front (order kept) and make the rest no-ops.

    Returns the compacted program and its live count; the output is unchanged for any
    number of executed steps at or above that count. One program; vmap for a population.
    """
    live = live_mask(spec, program)
    order = jnp.argsort(~live, stable=True)
    p = program.replace(
        op=program.op[order],
        dst=program.dst[order],
        src1=program.src1[order],
        src2=program.src2[order],
    )
    live = live[order]
    # A no-op copies its own destination register onto itself.
    nop_src = spec.register_base + p.dst
    p = p.replace(
        op=jnp.where(live, p.op, ops.COPY),
        src1=jnp.where(live, p.src1, nop_src),
        src2=jnp.where(live, p.src2, nop_src),
    )
    count = live.sum().astype(jnp.int32)
    return p.replace(length=count), count


def _branch(op):
    """Value and local partials ``(v, da, db)`` of one op (forward mode, so they fuse)."""

    def local(a, b):
        ones = jnp.ones_like(a)
        zeros = jnp.zeros_like(a)
        if op.kind != ops.ELEMENTWISE:
            r, pull = jax.vjp(op.fn, a)
            (da,) = pull(jnp.ones_like(r))
            return jnp.broadcast_to(r, a.shape), da, zeros
        v, da = jax.jvp(lambda a: op.fn(a, b), (a,), (ones,))
        db = jax.jvp(lambda b: op.fn(a, b), (b,), (ones,))[1] if op.arity == 2 else zeros
        return v, da, db

    return local


_BRANCHES = [_branch(op) for op in ops.OPS]


def _forward_one(spec, code, count, regs):
    """Run ``count`` instructions of one program; return its outputs and each step's partials."""
    op, dst, src1, src2 = code
    partials = jnp.zeros((2, op.shape[0], *regs.shape[1:]), regs.dtype)

    def body(i, carry):
        regs, partials = carry
        v, da, db = jax.lax.switch(op[i], _BRANCHES, regs[src1[i]], regs[src2[i]])
        regs = regs.at[spec.register_base + dst[i]].set(v)
        partials = partials.at[:, i].set(jnp.stack([da, db]))
        return regs, partials

    regs, partials = jax.lax.fori_loop(0, count, body, (regs, partials))
    return regs[spec.register_base : spec.register_base + spec.outputs], partials


def _backward_one(spec, code, count, partials, g_out):
    """Adjoints of the inputs and of the free constants, from the outputs' cotangents."""
    op, dst, src1, src2 = code
    adj = jnp.zeros((spec.num_operands, *g_out.shape[1:]), g_out.dtype)
    adj = adj.at[spec.register_base : spec.register_base + spec.outputs].set(g_out)
    kinds = jnp.asarray(ops.KINDS)[op]

    def body(j, adj):
        i = count - 1 - j
        target = spec.register_base + dst[i]
        g = adj[target]
        adj = adj.at[target].set(jnp.zeros_like(g))
        g_all = jnp.broadcast_to(jnp.sum(g), g.shape)
        g_cls = jnp.broadcast_to(jnp.sum(g, axis=-1, keepdims=True), g.shape)
        kind = kinds[i]
        g = jnp.where(kind == ops.ELEMENTWISE, g, jnp.where(kind == ops.REDUCE_ALL, g_all, g_cls))
        adj = adj.at[src1[i]].add(g * partials[0, i])
        adj = adj.at[src2[i]].add(g * partials[1, i])
        return adj

    adj = jax.lax.fori_loop(0, count, body, adj)
    g_consts = jnp.sum(adj[spec.const_base : spec.register_base], axis=tuple(range(1, adj.ndim)))
    return adj[: spec.num_inputs], g_consts


def _per_program(fn):
    """Wrap a one-program function so that ``vmap`` loops over the programs instead.

    Under ``vmap`` a ``lax.switch`` on a batched op code computes every branch, and a loop
    with a batched trip count runs every program to the longest. Looping over the
    population instead runs each program's own live instructions and only the op each one
    selects. Nested vmaps nest the loops.
    """
    wrapped = jax.custom_batching.custom_vmap(fn)

    @wrapped.def_vmap
    def rule(axis_size, in_batched, *args):
        leaves, tree = jax.tree.flatten(args)
        leaves = [
            x if batched else jnp.broadcast_to(x, (axis_size, *x.shape))
            for x, batched in zip(leaves, jax.tree.leaves(in_batched), strict=True)
        ]
        out = jax.lax.map(lambda a: wrapped(*a), jax.tree.unflatten(tree, leaves))
        return out, jax.tree.map(lambda _: True, out)

    return wrapped


@functools.cache
def _passes(spec: ProgramSpec, vectorised: bool):
    forward = functools.partial(_forward_one, spec)
    backward = functools.partial(_backward_one, spec)
    if vectorised:
        return forward, backward
    return _per_program(forward), _per_program(backward)


@functools.partial(jax.custom_vjp, nondiff_argnums=(0, 1))
def _run(spec, vectorised, code, inputs, consts, count):
    return _run_fwd(spec, vectorised, code, inputs, consts, count)[0]


def _run_fwd(spec, vectorised, code, inputs, consts, count):
    forward, _ = _passes(spec, vectorised)
    out, partials = forward(code, count, operand_values(spec, inputs, consts))
    return out, (code, count, partials)


def _run_bwd(spec, vectorised, residuals, g_out):
    code, count, partials = residuals
    _, backward = _passes(spec, vectorised)
    g_inputs, g_consts = backward(code, count, partials, g_out)
    no_grad = lambda a: np.zeros(np.shape(a), jax.dtypes.float0)
    return jax.tree.map(no_grad, code), tuple(g_inputs), g_consts, no_grad(count)


_run.defvjp(_run_fwd, _run_bwd)


def run(spec: ProgramSpec, program: Program, inputs, vectorised: bool = False) -> jax.Array:
    """The first output ``r0`` of ``program`` on ``inputs``: the fast interpreter.

    Compacts the program (``compact``) and runs its live instructions. Same meaning as
    ``interpreter.run`` (the reference); differentiable with respect to ``inputs`` and
    ``program.consts`` through the fused backward pass. One program; vmap for a population.
    ``vectorised``: see ``outputs``.

    Example:
      >>> from hivejax._src.program.program import make_program
      >>> spec = ProgramSpec()
      >>> p = make_program(spec, [("r0", "sub", "x", "y"), ("r0", "square", "r0", "r0")])
      >>> x, y = jnp.ones((2, 3)), jnp.zeros((2, 3))
      >>> float(run(spec, p, (x, y)).sum())
      6.0
    """
    return outputs(spec, compact(spec, program)[0], inputs, vectorised)[0]


def outputs(spec: ProgramSpec, program: Program, inputs, vectorised: bool = False) -> jax.Array:
    """All outputs ``[spec.outputs, *shape]`` of a ``program`` already passed through
    ``compact``: it runs the first ``program.length`` instructions, which after ``compact``
    are exactly the live ones. Tasks compact a population once, outside the training loop.

    ``vectorised``: under ``vmap``, select over every op across the population (the
    ``select`` interpreter) instead of looping over programs (``fused``); see the module
    docstring. The value and gradient are the same either way.
    """
    code = (program.op, program.dst, program.src1, program.src2)
    return _run(spec, vectorised, code, tuple(inputs), program.consts, program.length)
