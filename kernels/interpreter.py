"""The fused interpreter as one Pallas kernel over a population of programs.

Same public API and meaning as ``hivejax._src.interpret.fused.outputs``: ``outputs(spec, program,
inputs)`` runs one program already passed through ``fused.compact``, and is ``vmap``-ed
over the population. Its plain-jnp references are ``hivejax._src.interpret.reference`` (the source
of truth) and ``hivejax._src.interpret.fused`` (the same two passes in jnp), and the tests compare
them.

**One kernel launch per population.** ``outputs`` is written for one program, but both
passes are ``jax.custom_batching.custom_vmap`` functions: under ``vmap`` their rule folds
the mapped axis into the kernel's program axis, so a whole population, and a vmap of a
vmap (members of a population, then programs), goes into one ``pallas_call`` per pass.
An input that is the same for every program (the targets of a loss, say) stays one array
that every grid step reads; a batched one gets its own block per program.

**The grid** is ``(row tiles, program tiles)``. Each grid step runs ``block_programs``
programs one after the other over the same ``block_rows`` rows of the register file, with
each program's op codes read as scalars: on TPU from SMEM through scalar prefetch
(``pltpu.PrefetchScalarGridSpec``), on GPU from a whole-array block in GPU shared memory
(``plgpu.SMEM``), so the op switch and the register addressing are scalar branches, not
selects over every op. Per instruction the kernel computes the selected op's value and its
two local partials (``fused._branch``, the fused interpreter's functions) and writes them
to the ``[2, L, rows, classes]`` partials, the residual of the backward pass. On TPU the
whole population's code, ``5 L + 1 + K`` words per program, sits in SMEM (1 MiB per core
from v4 on): about 3000 programs of the default spec per launch; bound a population with
the task's ``chunk_size``. ``outputs`` raises a ``ValueError`` naming the sizes beyond it.

**How the batch dimension is handled.** A register of shape ``[*lead, C]`` is viewed as
``[R, C]`` with ``R = prod(lead)``: the class axis that ``sum_c``, ``mean_c``, ``max_c``
and ``lse_c`` reduce stays whole and last (the TPU lane axis), every other axis becomes a
row. A REDUCE_ALL op (``mean``, ``std``) reads every element of its operand, so when the
spec's op set has one, each program's whole register is one block (``block_rows = R``):
a reduction never crosses blocks and needs no second pass, and the partials of the whole
register are written by one grid step. That is acceptable for this project's registers
(a loss of ``[batch, classes]``, an activation of ``[batch, hidden]``), which fit in
VMEM many times over. Op sets without REDUCE_ALL ops (``elementwise``, the
activation's and optimizer's, and ``koza``) tile the rows, padded with zeros to a
multiple of ``block_rows``: every op is then row-local, padded rows never reach a real
one, and their zero cotangents add nothing to the constants' gradients. Large tensors of
an optimizer update therefore stream through in row blocks.

**Backward** (``jax.custom_vjp``): a second kernel walks each program's instructions in
reverse, two multiply-adds per instruction into the operand adjoints, with the cotangent
summed first for a reduction (over everything for REDUCE_ALL, over the class axis for
REDUCE_CLASS), exactly as ``fused._backward_one``. The constants' adjoints are summed over
rows in the kernel and over row tiles and classes outside it.

**Backends.** On CPU (``jax.default_backend() == "cpu"``) the kernel runs in Pallas
interpret mode, chosen automatically, with exactly the fused interpreter's ops. Compiled,
it runs ``_LOWERABLE`` forms of ``arcsin``, ``arccos``, ``arctan`` (through ``atan2``:
Mosaic TPU has no rule for ``asin``, ``acos``, ``atan``) and ``relu`` (no custom_jvp),
equal to the op table's to a few ulp, and it holds only the ops of the spec's op set. The
design targets Mosaic TPU and Mosaic GPU, but **only interpret mode has been run**: the
tests run both layouts (scalar prefetch, and SMEM blocks) interpreted on CPU, and lower the
TPU layout to Mosaic with ``jax.export`` for ``platforms=["tpu"]`` (no TPU needed; this
checks every lowering rule, not libtpu's compilation). Lowered the same way for
``"cuda"``, Mosaic GPU rejects the kernel: it has no rule for ``integer_pow`` with a
negative exponent (the derivatives of ``div``, ``mod``, ``tan``, ``reciprocal``), copies
into SMEM only multiples of 128 bytes (a ``[rows, 10]`` float32 block is not one), and
``pl.pallas_call`` stages every block in shared memory (about 227 KiB per SM), which the
partials block outgrows; ``pl.pallas_call`` for Mosaic GPU is also deprecated in favour
of ``plgpu.kernel``. A GPU version needs the partials written straight to global memory
and derivatives written out by hand. ``interpreters.resolve`` keeps another interpreter
the default until a card has compiled and measured this one.
"""

import dataclasses
import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import pallas as pl
from jax.experimental.pallas import tpu as pltpu

from hivejax._src.interpret import fused
from hivejax._src.program import ops
from hivejax._src.program.program import Program, ProgramSpec

__all__ = ["outputs", "run"]

# Rows of the code array per instruction slot: op, dst, src1, src2 and the op's kind.
_FIELDS = 5
_BLOCK_BYTES = 4 * 1024 * 1024  # VMEM per grid step the row blocks aim at (unmeasured)
_MAX_BLOCK_PROGRAMS = 8  # programs per grid step, at most (unmeasured)
_LANES, _SUBLANES = 128, 8  # TPU vector tile: a block's rows are a multiple of 8
_SMEM_BYTES = 1024 * 1024  # TPU scalar memory per core, v4 and later


@dataclasses.dataclass(frozen=True)
class _Layout:
    """Everything static about one kernel: the program shape, the blocks and the backend.

    Attributes:
      spec: the programs' static shape.
      rows, classes: the register viewed as ``[rows, classes]`` (see the module docstring).
      block_rows: rows per grid step; ``rows`` when the op set has a REDUCE_ALL op.
      block_programs: programs per grid step, at most (``_tiled`` fits it to a population).
      target: ``"tpu"`` (op codes by scalar prefetch) or ``"gpu"`` (in an SMEM block).
      interpret: run in Pallas interpret mode (on CPU).
    """

    spec: ProgramSpec
    rows: int
    classes: int
    block_rows: int
    block_programs: int
    target: str
    interpret: bool

    @property
    def padded_rows(self) -> int:
        return -(-self.rows // self.block_rows) * self.block_rows

    @property
    def row_tiles(self) -> int:
        return self.padded_rows // self.block_rows


def _tiles_rows(spec: ProgramSpec) -> bool:
    """Whether rows may be split over blocks: no op of the spec's set reduces over all."""
    return all(ops.KINDS[i] != ops.REDUCE_ALL for i in spec.allowed_ops)


def _layout(
    spec: ProgramSpec,
    shape: tuple[int, ...],
    interpret: bool | None,
    target: str | None,
    block_rows: int | None,
) -> _Layout:
    backend = jax.default_backend()
    interpret = backend not in ("tpu", "gpu") if interpret is None else interpret
    target = target or ("gpu" if backend == "gpu" else "tpu")
    if target not in ("tpu", "gpu"):
        raise ValueError(f"target must be 'tpu' or 'gpu', got {target!r}")
    classes = shape[-1] if shape else 1
    rows = math.prod(shape[:-1])
    # Bytes of one row of one program's blocks: its register file, inputs, outputs and
    # partials (twice: Pallas double-buffers what it copies in and out).
    lanes = -(-classes // _LANES) * _LANES
    per_row = 4 * lanes * (spec.num_operands + 2 * (spec.num_inputs + spec.outputs))
    per_row += 4 * lanes * 2 * 2 * spec.max_length
    if block_rows is None:
        fit = max(_SUBLANES, _BLOCK_BYTES // per_row // _SUBLANES * _SUBLANES)
        block_rows = rows if rows <= fit or not _tiles_rows(spec) else fit
    elif block_rows < rows and not (_tiles_rows(spec) and block_rows % _SUBLANES == 0):
        raise ValueError(
            f"block_rows={block_rows} < rows={rows} needs an op set without REDUCE_ALL ops "
            f"and a multiple of {_SUBLANES}; the spec's op set is {spec.op_set!r}"
        )
    block_rows = min(block_rows, rows)
    # On GPU each grid step is a thread block: one program each, for the most parallelism.
    fit_programs = max(1, _BLOCK_BYTES // (per_row * block_rows)) if target == "tpu" else 1
    return _Layout(
        spec, rows, classes, block_rows, min(_MAX_BLOCK_PROGRAMS, fit_programs), target, interpret
    )


# ---------------------------------------------------------------------------------------
# The op table, as the kernel runs it.


def _arcsin(a, b):
    a = jnp.clip(a, -ops._ASIN_LIM, ops._ASIN_LIM)
    return jnp.arctan2(a, jnp.sqrt((1.0 - a) * (1.0 + a)))


def _arccos(a, b):
    a = jnp.clip(a, -ops._ASIN_LIM, ops._ASIN_LIM)
    return jnp.arctan2(jnp.sqrt((1.0 - a) * (1.0 + a)), a)


# Ops whose jnp form a compiled kernel cannot lower, rewritten with the same value and
# derivative: Mosaic TPU has no rule for asin, acos or atan but has one for atan2 (these
# agree with jnp's to a few ulp, see the tests); jax.nn.relu is a custom_jvp, which Mosaic
# GPU's resource estimation rejects. Interpret mode keeps the op table's own forms, so on
# CPU the kernel computes exactly what the fused interpreter does.
_LOWERABLE = {
    "arcsin": _arcsin,
    "arccos": _arccos,
    "arctan": lambda a, b: jnp.arctan2(a, jnp.ones_like(a)),
    "relu": lambda a, b: jnp.where(a > 0, a, 0.0),
}


def _unused(a, b):
    zeros = jnp.zeros_like(a)
    return zeros, zeros, zeros


@functools.cache
def _branches(spec: ProgramSpec, compiled: bool) -> tuple:
    """``(v, da, db)`` of each op code, as ``fused._branch``, with the ``_LOWERABLE`` forms
    when ``compiled``. Ops outside the spec's op set (which no valid program runs,
    ``program.is_valid``) give zeros, so the kernel holds and lowers only the ops its
    programs can select."""
    table = []
    for i, op in enumerate(ops.OPS):
        if i not in spec.allowed_ops:
            table.append(_unused)
        elif compiled and op.name in _LOWERABLE:
            table.append(fused._branch(dataclasses.replace(op, fn=_LOWERABLE[op.name])))
        else:
            table.append(fused._BRANCHES[i])
    return tuple(table)


# ---------------------------------------------------------------------------------------
# The kernels: one grid step runs `block_programs` programs over `block_rows` rows.


def _tiled(lay: _Layout, programs: int) -> _Layout:
    """``lay`` with the most programs per grid step that divides ``programs``, so that
    programs need no padding (grid steps stay whole)."""
    fit = max(d for d in range(1, lay.block_programs + 1) if programs % d == 0)
    return dataclasses.replace(lay, block_programs=fit)


def _code_at(lay: _Layout, code_ref, p, field, i):
    """One scalar of program ``p``'s code (flattened ``[P, _FIELDS, L]``)."""
    return code_ref[(p * _FIELDS + field) * lay.spec.max_length + i]


def _forward_kernel(lay: _Layout, shared, code_ref, count_ref, consts_ref, *refs):
    spec = lay.spec
    input_refs = refs[: spec.num_inputs]
    out_ref, partials_ref, regs = refs[spec.num_inputs :]
    block = regs.shape[1:]
    base = spec.register_base
    branches = _branches(spec, compiled=not lay.interpret)

    first = pl.program_id(1) * lay.block_programs  # read outside loops: interpret mode

    def program(t, carry):
        p = first + t
        for k, ref in enumerate(input_refs):
            regs[k] = ref[...] if shared[k] else ref[t]
        for k, (_, value) in enumerate(spec.named):
            regs[spec.num_inputs + k] = jnp.full(block, value, jnp.float32)
        for k in range(spec.num_consts):
            regs[spec.const_base + k] = jnp.full(block, consts_ref[p * spec.num_consts + k])
        regs[base:] = jnp.zeros((spec.num_registers, *block), jnp.float32)

        def step(i, carry):
            op, dst, src1, src2 = (_code_at(lay, code_ref, p, f, i) for f in range(4))
            v, da, db = jax.lax.switch(op, branches, regs[src1], regs[src2])
            regs[base + dst] = v
            partials_ref[t, 0, i] = da
            partials_ref[t, 1, i] = db
            return carry

        jax.lax.fori_loop(0, count_ref[p], step, 0)
        out_ref[t] = regs[base : base + spec.outputs]
        return carry

    jax.lax.fori_loop(0, lay.block_programs, program, 0)


# How an instruction's cotangent reaches its operand, by op kind (ops.ELEMENTWISE, ...).
_SPREADS = (
    lambda g: g,
    lambda g: jnp.broadcast_to(jnp.sum(g), g.shape),
    lambda g: jnp.broadcast_to(jnp.sum(g, axis=-1, keepdims=True), g.shape),
)


def _backward_kernel(lay: _Layout, code_ref, count_ref, partials_ref, g_ref, *refs):
    spec = lay.spec
    g_in_ref = refs[0]
    g_const_ref = refs[1] if spec.num_consts else None
    adj = refs[-1]
    base = spec.register_base

    first = pl.program_id(1) * lay.block_programs  # read outside loops: interpret mode

    def program(t, carry):
        p = first + t
        count = count_ref[p]
        adj[...] = jnp.zeros(adj.shape, jnp.float32)
        adj[base : base + spec.outputs] = g_ref[t]

        def step(j, carry):
            i = count - 1 - j
            dst, src1, src2, kind = (_code_at(lay, code_ref, p, f, i) for f in (1, 2, 3, 4))
            g = adj[base + dst]
            adj[base + dst] = jnp.zeros_like(g)
            g = jax.lax.switch(kind, _SPREADS, g)
            adj[src1] = adj[src1] + g * partials_ref[t, 0, i]
            adj[src2] = adj[src2] + g * partials_ref[t, 1, i]
            return carry

        jax.lax.fori_loop(0, count, step, 0)
        g_in_ref[t] = adj[: spec.num_inputs]
        if g_const_ref is not None:
            g_const_ref[t, 0] = jnp.sum(adj[spec.const_base : base], axis=1)
        return carry

    jax.lax.fori_loop(0, lay.block_programs, program, 0)


# ---------------------------------------------------------------------------------------
# pallas_call: blocks, grid specs and padding.


def _blocked(lay: _Layout, lead: tuple[int, ...], shared: bool = False) -> pl.BlockSpec:
    """Blocks of a ``[P, *lead, rows, classes]`` array (``[rows, classes]`` when shared)."""
    rows = (lay.block_rows, lay.classes)
    if shared:
        return pl.BlockSpec(rows, lambda r, i, *_: (r, 0))
    zeros = (0,) * len(lead)
    return pl.BlockSpec((lay.block_programs, *lead, *rows), lambda r, i, *_: (i, *zeros, r, 0))


def _call(lay: _Layout, kernel, scalars, arrays, in_specs, out_shapes, out_specs, scratch):
    """``pallas_call`` with ``scalars`` (int32/float32 vectors) in scalar memory."""
    # Program tiles from the outputs: the scalars are padded (``_scalars``).
    grid = (lay.row_tiles, out_shapes[0].shape[0] // lay.block_programs)
    if lay.target == "tpu":
        grid_spec = pltpu.PrefetchScalarGridSpec(
            num_scalar_prefetch=len(scalars),
            grid=grid,
            in_specs=in_specs,
            out_specs=out_specs,
            scratch_shapes=[pltpu.VMEM(shape, jnp.float32) for shape in scratch],
        )
        params = pltpu.CompilerParams(dimension_semantics=("parallel", "parallel"))
    else:
        # Late: Mosaic GPU's module takes 0.2 s to import, and `import hivejax` loads
        # this one (interpret/dispatch.py); only the GPU layout needs it.
        from jax.experimental.pallas import mosaic_gpu as plgpu

        scratch = [plgpu.SMEM(shape, jnp.float32) for shape in scratch]
        smem = [pl.BlockSpec(memory_space=plgpu.SMEM) for _ in scalars]
        grid_spec = pl.GridSpec(grid, [*smem, *in_specs], out_specs, scratch)
        params = plgpu.CompilerParams()
    return pl.pallas_call(
        kernel,
        out_shape=out_shapes,
        grid_spec=grid_spec,
        compiler_params=params,
        interpret=lay.interpret,
        name="hivejax_interpreter",
    )(*scalars, *arrays)


def _pad(x, axis: int, size: int):
    """``x`` zero-padded along ``axis`` to ``size``."""
    if x.shape[axis] == size:
        return x
    widths = [(0, 0)] * x.ndim
    widths[axis] = (0, size - x.shape[axis])
    return jnp.pad(x, widths)


def _scalars(lay: _Layout, code, count, consts=None):
    """Flattened code, counts and constants, padded to a multiple of 32 words: Mosaic GPU
    copies only multiples of 128 bytes into SMEM."""
    out = [code.reshape(-1), count] + ([] if consts is None else [consts.reshape(-1)])
    out = [_pad(x, 0, -(-max(x.size, 1) // 32) * 32) for x in out]
    words = sum(x.size for x in out)
    if lay.target == "tpu" and not lay.interpret and 4 * words > _SMEM_BYTES:
        raise ValueError(
            f"the code of {count.shape[0]} programs takes {4 * words} bytes of TPU scalar "
            f"memory, more than its {_SMEM_BYTES}: run fewer at once (a task's chunk_size)"
        )
    return out


def _forward_population(lay: _Layout, shared, programs, inputs):
    """Outputs ``[P, outputs, R, C]`` and partials ``[P, 2, L, R, C]`` of P programs."""
    spec = lay.spec
    code, count, consts = programs
    size = count.shape[0]
    scalars = _scalars(lay, code, count, consts)
    arrays = [_pad(x, -2, lay.padded_rows) for x in inputs]
    rows = (lay.padded_rows, lay.classes)
    out_shapes = (
        jax.ShapeDtypeStruct((size, spec.outputs, *rows), jnp.float32),
        jax.ShapeDtypeStruct((size, 2, spec.max_length, *rows), jnp.float32),
    )
    out, partials = _call(
        lay,
        functools.partial(_forward_kernel, lay, shared),
        scalars,
        arrays,
        [_blocked(lay, (), s) for s in shared],
        out_shapes,
        (_blocked(lay, (spec.outputs,)), _blocked(lay, (2, spec.max_length))),
        [(spec.num_operands, lay.block_rows, lay.classes)],
    )
    return out[..., : lay.rows, :], partials[..., : lay.rows, :]


def _backward_population(lay: _Layout, shared, programs, data):
    """Gradients ``[P, inputs, R, C]`` and ``[P, K]`` of P programs from their residuals."""
    del shared, data  # the residuals are per program
    spec = lay.spec
    code, count, partials, g_out = programs
    size = count.shape[0]
    scalars = _scalars(lay, code, count)
    arrays = [_pad(x, -2, lay.padded_rows) for x in (partials, g_out)]
    rows = (lay.padded_rows, lay.classes)
    out_shapes = [jax.ShapeDtypeStruct((size, spec.num_inputs, *rows), jnp.float32)]
    out_specs = [_blocked(lay, (spec.num_inputs,))]
    if spec.num_consts:
        shape = (size, lay.row_tiles, spec.num_consts, lay.classes)
        out_shapes.append(jax.ShapeDtypeStruct(shape, jnp.float32))
        out_specs.append(
            pl.BlockSpec(
                (lay.block_programs, 1, spec.num_consts, lay.classes),
                lambda r, i, *_: (i, r, 0, 0),
            )
        )
    grads = _call(
        lay,
        functools.partial(_backward_kernel, lay),
        scalars,
        arrays,
        [_blocked(lay, (2, spec.max_length)), _blocked(lay, (spec.outputs,))],
        out_shapes,
        out_specs,
        [(spec.num_operands, lay.block_rows, lay.classes)],
    )
    g_inputs = grads[0][..., : lay.rows, :]
    if spec.num_consts:
        return g_inputs, grads[1].sum(axis=(1, 3))
    return g_inputs, jnp.zeros((size, 0), jnp.float32)


# ---------------------------------------------------------------------------------------
# Batching: a vmap folds its axis into the kernel's program axis.


@functools.cache
def _population(direction: str, lay: _Layout, shared: tuple[bool, ...]):
    """Pass ``direction`` over a population, as a ``custom_vmap`` function.

    It takes ``(programs, data)``: ``programs`` arrays have a leading program axis;
    ``data`` arrays have one unless ``shared`` (then every program reads the same array).
    Under ``vmap`` the rule flattens the new axis and the program axis into one, so nested
    vmaps still make one ``pallas_call``.
    """
    body = _forward_population if direction == "forward" else _backward_population

    def call(programs, data):
        return body(_tiled(lay, programs[0].shape[0]), shared, programs, data)

    wrapped = jax.custom_batching.custom_vmap(call)

    @wrapped.def_vmap
    def rule(axis_size, in_batched, programs, data):
        batched_programs, batched_data = in_batched
        first = programs[0]
        size = first.shape[1] if batched_programs[0] else first.shape[0]

        def fold(x, batched):  # [Q, P, ...] or [P, ...] -> [Q * P, ...]
            x = x if batched else jnp.broadcast_to(x, (axis_size, *x.shape))
            return x.reshape(axis_size * size, *x.shape[2:])

        programs = tuple(map(fold, programs, batched_programs))
        new_data, new_shared = [], []
        for x, batched, was_shared in zip(data, batched_data, shared, strict=True):
            if was_shared and batched:  # one array per outer index, shared by its P programs
                x = jnp.broadcast_to(x[:, None], (axis_size, size, *x.shape[1:]))
                batched = True
            new_data.append(x if was_shared and not batched else fold(x, batched))
            new_shared.append(was_shared and not batched)
        out = _population(direction, lay, tuple(new_shared))(programs, tuple(new_data))
        out = jax.tree.map(lambda o: o.reshape(axis_size, size, *o.shape[1:]), out)
        return out, jax.tree.map(lambda _: True, out)

    return wrapped


def _one(direction: str, lay: _Layout, programs, data):
    """Pass ``direction`` for one program: a population of one, every input shared."""
    programs = tuple(x[None] for x in programs)
    out = _population(direction, lay, (True,) * len(data))(programs, tuple(data))
    return tuple(o[0] for o in out)


@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def _run(lay, code, inputs, consts, count):
    return _run_fwd(lay, code, inputs, consts, count)[0]


def _run_fwd(lay, code, inputs, consts, count):
    out, partials = _one("forward", lay, (code, count, consts), inputs)
    return out, (code, count, partials)


def _run_bwd(lay, residuals, g_out):
    code, count, partials = residuals
    g_inputs, g_consts = _one("backward", lay, (code, count, partials, g_out), ())
    no_grad = lambda a: np.zeros(np.shape(a), jax.dtypes.float0)
    return no_grad(code), tuple(g_inputs), g_consts, no_grad(count)


_run.defvjp(_run_fwd, _run_bwd)


def outputs(
    spec: ProgramSpec,
    program: Program,
    inputs,
    *,
    interpret: bool | None = None,
    target: str | None = None,
    block_rows: int | None = None,
) -> jax.Array:
    """All outputs ``[spec.outputs, *shape]`` of a ``program`` already passed through
    ``fused.compact``: the Pallas kernel. Same meaning as ``fused.outputs``.

    Differentiable with respect to ``inputs`` and ``program.consts``. One program; under
    ``vmap`` (nested too) the whole population runs in one kernel launch per pass.

    Args:
      spec: the program's static shape.
      program: one compacted program (``fused.compact``).
      inputs: one array per ``spec.inputs``, all the same shape.
      interpret: Pallas interpret mode; default: on CPU only.
      target: the kernel's layout, ``"tpu"`` (scalar prefetch) or ``"gpu"`` (SMEM
        blocks); default: the backend's, ``"tpu"`` on CPU.
      block_rows: rows of the ``[rows, classes]`` register per grid step (see the module
        docstring); default: what fits a block budget. Splitting the rows needs an op set
        without REDUCE_ALL ops and a multiple of 8.

    Example:
      >>> from hivejax._src.interpret.fused import compact
      >>> from hivejax._src.program.program import make_program
      >>> spec = ProgramSpec()
      >>> p = make_program(spec, [("r0", "sub", "x", "y"), ("r0", "square", "r0", "r0")])
      >>> x, y = jnp.ones((2, 3)), jnp.zeros((2, 3))
      >>> outputs(spec, compact(spec, p)[0], (x, y)).shape
      (1, 2, 3)
      >>> float(outputs(spec, compact(spec, p)[0], (x, y)).sum())
      6.0
    """
    inputs = tuple(jnp.asarray(x) for x in inputs)
    if len(inputs) != spec.num_inputs:
        raise ValueError(f"expected {spec.num_inputs} inputs {spec.inputs}, got {len(inputs)}")
    shape = inputs[0].shape
    if any(x.shape != shape for x in inputs):
        raise ValueError(f"inputs must share one shape, got {[x.shape for x in inputs]}")
    lay = _layout(spec, shape, interpret, target, block_rows)
    kinds = jnp.asarray(ops.KINDS)[program.op]
    code = jnp.stack([program.op, program.dst, program.src1, program.src2, kinds])
    matrices = tuple(x.astype(jnp.float32).reshape(lay.rows, lay.classes) for x in inputs)
    consts = program.consts.astype(jnp.float32)
    out = _run(lay, code.astype(jnp.int32), matrices, consts, program.length)
    return out.reshape(spec.outputs, *shape)


def run(spec: ProgramSpec, program: Program, inputs, **options) -> jax.Array:
    """The first output ``r0`` of ``program`` on ``inputs``, through the kernel.

    Compacts the program (``fused.compact``) first, like ``fused.run``; ``options`` are
    ``outputs``'s. One program; vmap for a population.

    Example:
      >>> from hivejax._src.program.program import make_program
      >>> spec = ProgramSpec()
      >>> p = make_program(spec, [("r0", "mul", "x", "c0")], consts=[2.0])
      >>> float(run(spec, p, (jnp.ones((2, 3)), jnp.zeros((2, 3)))).sum())
      12.0
    """
    return outputs(spec, fused.compact(spec, program)[0], inputs, **options)[0]
