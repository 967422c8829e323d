"""Programs as readable formulas, for logs, tables and reports.

A register program is hard to read: it is a list of assignments over reused registers.
``formula`` prints the canonical live code (``canonical.canonicalize``) as one expression,
inlining every intermediate value that is used once. A value used more than once is bound
first, named after its canonical register (primed when the register was bound before), and
the bindings are joined with ``"; "`` in program order::

    r1 = x - lse_c(x); r0 = -sum_c(y * (r1 * square(one - exp(r1))))

Binary ops with an ``infix`` symbol print infix, parenthesised by precedence (``*``, ``/``
and ``%`` bind tighter than ``+`` and ``-``; a right operand of equal precedence keeps its
parentheses, so the tree is exact); ``neg`` prints as a prefix minus; other ops print as
calls, except ``copy``, which prints its operand. Inputs and named constants print by
name, free constants by value with 4 significant digits. A program that never writes its
output prints ``0``. A program with several outputs (``spec.outputs``) prints each one as
``rK = ...``, in order.
"""

import dataclasses

import numpy as np

from hivejax._src.program import ops
from hivejax._src.program.canonical import canonicalize
from hivejax._src.program.program import Program, ProgramSpec

_ATOM = 100  # names, numbers, calls
_PREFIX = 50  # -a
_INFIX = {"*": 20, "/": 20, "%": 20, "+": 10, "-": 10}


@dataclasses.dataclass(frozen=True)
class _Text:
    """An expression's text and the precedence of its outermost operator."""

    text: str
    prec: int = _ATOM


def _number(v: float) -> _Text:
    text = f"{v:.4g}"
    return _Text(text, _PREFIX if text.startswith("-") else _ATOM)


def _operand(t: _Text, prec: int, right: bool) -> str:
    if t.prec < prec or (right and t.prec == prec) or t.prec == _PREFIX:
        return f"({t.text})"
    return t.text


def _apply(op: ops.Op, a: _Text, b: _Text) -> _Text:
    if op.name == "copy":
        return a
    if op.name == "neg":
        return _Text("-" + (f"({a.text})" if a.prec <= _PREFIX else a.text), _PREFIX)
    if op.arity == 1:
        return _Text(f"{op.name}({a.text})")
    if op.infix is None:
        return _Text(f"{op.name}({a.text}, {b.text})")
    prec = _INFIX[op.infix]
    return _Text(f"{_operand(a, prec, False)} {op.infix} {_operand(b, prec, True)}", prec)


def _use_counts(spec: ProgramSpec, rows: list) -> list[int]:
    """How often the value written by each instruction is read (each output counts once)."""
    rb = spec.register_base
    writer: dict[int, int] = {}  # register -> index of the instruction that holds it
    uses = [0] * len(rows)
    for i, (op, dst, s1, s2) in enumerate(rows):
        sources = (s1, s2) if ops.OPS[op].arity == 2 else (s1,)
        for s in sources:
            if s - rb in writer:  # an unwritten register reads zero
                uses[writer[s - rb]] += 1
        writer[dst] = i
    for out in range(spec.outputs):
        if out in writer:
            uses[writer[out]] += 1
    return uses


def formula(spec: ProgramSpec, program: Program) -> str:
    """A readable formula of one program's outputs.

    Example:
      >>> from hivejax._src.program.program import make_program
      >>> spec = ProgramSpec()
      >>> p = make_program(spec, [("r1", "sub", "x", "y"), ("r2", "exp", "x", "x"),
      ...                         ("r0", "square", "r1", "r1")])
      >>> formula(spec, p)
      'square(x - y)'
    """
    return formula_of_canonical(spec, canonicalize(spec, program))


def formula_of_canonical(spec: ProgramSpec, c: Program) -> str:
    """``formula`` of a program already in canonical form (host arrays)."""
    rows = [
        (int(c.op[i]), int(c.dst[i]), int(c.src1[i]), int(c.src2[i])) for i in range(int(c.length))
    ]
    if spec.outputs == 1 and not any(dst == 0 for _, dst, _, _ in rows):
        return "0"
    names = spec.operand_names()
    leaves = [_Text(n) for n in names[: spec.const_base]]
    leaves += [_number(float(v)) for v in np.asarray(c.consts)]
    uses = _use_counts(spec, rows)
    value: dict[int, _Text] = {}  # register -> its current value's text
    bound_before: dict[int, int] = {}
    lines = []

    def read(s: int) -> _Text:
        if s < spec.register_base:
            return leaves[s]
        return value.get(s - spec.register_base, _Text("0"))  # unwritten: still zero

    for i, (op, dst, s1, s2) in enumerate(rows):
        text = _apply(ops.OPS[op], read(s1), read(s2))
        if uses[i] > 1:
            name = f"r{dst}" + "'" * bound_before.get(dst, 0)
            bound_before[dst] = bound_before.get(dst, 0) + 1
            lines.append(f"{name} = {text.text}")
            text = _Text(name)
        value[dst] = text
    if spec.outputs > 1:
        texts = [value.get(k, _Text("0")).text for k in range(spec.outputs)]
        # An output already bound under its own name is printed once, where it is bound.
        outs = [f"r{k} = {t}" for k, t in enumerate(texts) if t != f"r{k}"]
        return "; ".join(lines + outs)
    if lines:  # the output line needs a name too, unique like the others
        value[0] = _Text(f"r0{chr(39) * bound_before.get(0, 0)} = {value[0].text}")
    lines.append(value[0].text)
    return "; ".join(lines)
