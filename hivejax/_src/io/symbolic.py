"""A program as a sympy expression: the mathematics its ops mean, without their guards.

``sympy_expression(spec, program)`` is the formula of output ``r0`` as a sympy object, for
comparing a program with a known formula (symbolic regression's recovery: the difference
simplifies to zero), and ``sympy_source`` is the same as a standalone module, the
``sympy`` target of ``export_program`` (``hivejax export --to sympy``).

**What it drops.** ``ops.py`` guards every op so that values and gradients stay finite in
float32. The sympy form writes what the op means instead (``SYMPY_OPS``):

- ``div`` is ``a / b``: the ``+ 1e-8`` and the keep-away-from-zero of the denominator, the
  clamp of the numerator to ``+-1e20`` and the saturation are dropped (an expression
  divided by one that is identically zero becomes sympy's ``zoo``);
- ``log`` is ``log(Abs(a))``: the ``+ 1e-8`` is dropped and the absolute value kept, since
  the op takes the logarithm of ``|a|``. Where ``a`` is positive, sympy drops ``Abs``
  itself: declare the inputs positive (``positive=``) when the problem's range is, and
  ``log(Abs(x + 1))`` is ``log(x + 1)``;
- ``exp`` is ``exp(a)``: the clamp of its input to [-80, 80] is dropped;
- ``sqrt`` is ``sqrt(Abs(a))`` (the 1e-16 floor dropped), ``reciprocal`` ``1 / a``;
- ``add``, ``sub``, ``mul``, ``square``, ``cube``, ``hypot`` lose their saturation at
  ``+-1e30`` and their input clamps; ``arcsin`` and ``arccos`` the clamp to
  ``+-(1 - 1e-6)``; ``tan`` the keep-away-from-zero of ``cos``;
- ``mod`` is ``a - b floor(a / b)`` (sympy's ``Mod`` for reals, which raises at ``b = 0``);
- the reductions (``mean``, ``std``, ``sum_c``, ``mean_c``, ``max_c``, ``lse_c``) and
  ``round`` have no elementwise formula: they are undefined sympy functions of that name.

Where sympy's value is not a number (a division by an expression that is identically
zero gives ``zoo``), it stays so, and an op that sympy cannot evaluate there (``Max`` of
``zoo``) gives ``nan``; the exported module raises sympy's error instead. Such a program
divides by zero wherever it runs, guards or not.

So two programs whose sympy forms are equal compute the same function wherever no guard
acts, which on a benchmark's range is everywhere but within about 1e-8 of a zero of a
denominator or of a logarithm's argument.

**Constants.** The named constants are exact: ``one`` 1, ``zero`` 0, ``half`` 1/2, ``pi``
and ``e`` sympy's ``pi`` and ``E`` (not their float32 roundings). A free constant is a sympy
``Float`` of the shortest decimal that reads back as its float32. A read of a work register
that nothing has written yet is 0. Inputs are real symbols, positive where named in
``positive``.

Only the canonical form's live instructions are written (``canonical.canonicalize``), as in
every export. sympy is imported when a function here is called, not with hivejax.

Example:
  >>> from hivejax._src.program.program import ProgramSpec, make_program
  >>> spec = ProgramSpec(inputs=("x",), op_set="koza")
  >>> p = make_program(spec, [("r1", "add", "x", "one"), ("r0", "log", "r1", "r1")])
  >>> sympy_expression(spec, p), sympy_expression(spec, p, positive=("x",))
  (log(Abs(x + 1)), log(x + 1))
"""

from collections.abc import Callable, Iterable

import jax
import numpy as np

from hivejax._src.program import ops
from hivejax._src.program.canonical import canonicalize, hash_of_canonical
from hivejax._src.program.program import Program, ProgramSpec


def _undefined(name: str) -> tuple[str, Callable]:
    return f'sympy.Function("{name}")({{a}})', lambda sp, a, b: sp.Function(name)(a)


# One entry per op: the source template over the module ``sympy`` (``{a}``, ``{b}`` the
# sources) and the same meaning as a function of (sympy, a, b).
SYMPY_OPS: dict[str, tuple[str, Callable]] = {
    "add": ("{a} + {b}", lambda sp, a, b: a + b),
    "sub": ("{a} - {b}", lambda sp, a, b: a - b),
    "mul": ("{a} * {b}", lambda sp, a, b: a * b),
    "div": ("{a} / {b}", lambda sp, a, b: a / b),
    "max": ("sympy.Max({a}, {b})", lambda sp, a, b: sp.Max(a, b)),
    "min": ("sympy.Min({a}, {b})", lambda sp, a, b: sp.Min(a, b)),
    # a - b floor(a / b), what sympy's Mod means for reals, without its error at b = 0
    "mod": ("{a} - {b} * sympy.floor({a} / {b})", lambda sp, a, b: a - b * sp.floor(a / b)),
    "hypot": ("sympy.sqrt({a}**2 + {b}**2)", lambda sp, a, b: sp.sqrt(a**2 + b**2)),
    "log": ("sympy.log(sympy.Abs({a}))", lambda sp, a, b: sp.log(sp.Abs(a))),
    "sqrt": ("sympy.sqrt(sympy.Abs({a}))", lambda sp, a, b: sp.sqrt(sp.Abs(a))),
    "exp": ("sympy.exp({a})", lambda sp, a, b: sp.exp(a)),
    "sin": ("sympy.sin({a})", lambda sp, a, b: sp.sin(a)),
    "cos": ("sympy.cos({a})", lambda sp, a, b: sp.cos(a)),
    "tan": ("sympy.tan({a})", lambda sp, a, b: sp.tan(a)),
    "arcsin": ("sympy.asin({a})", lambda sp, a, b: sp.asin(a)),
    "arccos": ("sympy.acos({a})", lambda sp, a, b: sp.acos(a)),
    "arctan": ("sympy.atan({a})", lambda sp, a, b: sp.atan(a)),
    "sigmoid": ("1 / (1 + sympy.exp(-{a}))", lambda sp, a, b: 1 / (1 + sp.exp(-a))),
    "relu": ("sympy.Max({a}, 0)", lambda sp, a, b: sp.Max(a, 0)),
    "tanh": ("sympy.tanh({a})", lambda sp, a, b: sp.tanh(a)),
    "leaky_relu": (
        "sympy.Piecewise(({a}, {a} >= 0), ({a} / 100, True))",
        lambda sp, a, b: sp.Piecewise((a, a >= 0), (a / 100, True)),
    ),
    "mean": _undefined("mean"),
    "std": _undefined("std"),
    "abs": ("sympy.Abs({a})", lambda sp, a, b: sp.Abs(a)),
    "reciprocal": ("1 / {a}", lambda sp, a, b: 1 / a),
    "square": ("{a}**2", lambda sp, a, b: a**2),
    "cube": ("{a}**3", lambda sp, a, b: a**3),
    "sign": ("sympy.sign({a})", lambda sp, a, b: sp.sign(a)),
    "floor": ("sympy.floor({a})", lambda sp, a, b: sp.floor(a)),
    "ceil": ("sympy.ceiling({a})", lambda sp, a, b: sp.ceiling(a)),
    "round": _undefined("round"),
    "neg": ("-{a}", lambda sp, a, b: -a),
    "copy": ("{a}", lambda sp, a, b: a),
    "sum_c": _undefined("sum_c"),
    "mean_c": _undefined("mean_c"),
    "max_c": _undefined("max_c"),
    "lse_c": _undefined("lse_c"),
}

# The named constants' exact values: source, and the value from sympy.
NAMED: dict[str, tuple[str, Callable]] = {
    "one": ("sympy.Integer(1)", lambda sp: sp.Integer(1)),
    "zero": ("sympy.Integer(0)", lambda sp: sp.Integer(0)),
    "half": ("sympy.Rational(1, 2)", lambda sp: sp.Rational(1, 2)),
    "pi": ("sympy.pi", lambda sp: sp.pi),
    "e": ("sympy.E", lambda sp: sp.E),
}


def _literal(value) -> str:
    """The shortest decimal that reads back as ``value``'s float32."""
    f = np.float32(value)
    text = str(f)
    return text if np.float32(float(text)) == f else repr(float(f))


def _rows(spec: ProgramSpec, program: Program) -> tuple[Program, list[tuple[int, int, int, int]]]:
    """The canonical form and its live instructions ``(op, dst, src1, src2)``."""
    if np.ndim(program.length) != 0:
        raise ValueError("a sympy expression is of one program, not a population")
    canonical = canonicalize(spec, jax.device_get(program))
    rows = [
        (
            int(canonical.op[i]),
            int(canonical.dst[i]),
            int(canonical.src1[i]),
            int(canonical.src2[i]),
        )
        for i in range(int(canonical.length))
    ]
    return canonical, rows


def sympy_expressions(spec: ProgramSpec, program: Program, positive: Iterable[str] = ()) -> tuple:
    """The sympy expression of each output ``r0 ..`` of one program (module docstring);
    the inputs named in ``positive`` are positive symbols, the others real."""
    import sympy as sp  # late: slow to import, only a symbolic form needs it

    positive = set(positive)
    unknown = positive - set(spec.inputs)
    if unknown:
        raise ValueError(f"positive: {sorted(unknown)} are not inputs of {spec.inputs}")
    canonical, rows = _rows(spec, program)
    leaves = [
        sp.Symbol(n, positive=True) if n in positive else sp.Symbol(n, real=True)
        for n in spec.inputs
    ]
    leaves += [NAMED[n][1](sp) for n, _ in spec.named]
    leaves += [sp.Float(_literal(v)) for v in np.asarray(canonical.consts)]
    value: dict[int, object] = {}

    def read(s: int):
        if s < spec.register_base:
            return leaves[s]
        return value.get(s - spec.register_base, sp.Integer(0))

    for op, dst, s1, s2 in rows:
        try:
            value[dst] = SYMPY_OPS[ops.OPS[op].name][1](sp, read(s1), read(s2))
        except (ValueError, TypeError, ZeroDivisionError):  # Max(zoo, x), say
            value[dst] = sp.nan
    return tuple(value.get(k, sp.Integer(0)) for k in range(spec.outputs))


def sympy_expression(spec: ProgramSpec, program: Program, positive: Iterable[str] = ()):
    """The sympy expression of output ``r0`` of one program (module docstring); the inputs
    named in ``positive`` are positive symbols, the others real."""
    return sympy_expressions(spec, program, positive)[0]


def sympy_source(spec: ProgramSpec, program: Program, task: str) -> str:
    """A standalone module that builds the program's sympy expression: ``program(*inputs)``
    returns its outputs from sympy expressions, one line per live instruction, and
    ``expression`` is ``program`` of real symbols named as the inputs (``r0``, or the
    tuple of outputs). ``task`` names the program's task in the header."""
    import sympy as sp  # late: slow to import, only a symbolic form needs it

    canonical, rows = _rows(spec, program)
    leaves = list(spec.inputs) + [NAMED[n][0] for n, _ in spec.named]
    leaves += [f"sympy.Float({_literal(v)!r})" for v in np.asarray(canonical.consts)]
    lines, written = [], set()

    def read(s: int) -> str:
        if s < spec.register_base:
            return leaves[s]
        r = s - spec.register_base
        return f"r{r}" if r in written else "sympy.Integer(0)"

    for op, dst, s1, s2 in rows:
        template = SYMPY_OPS[ops.OPS[op].name][0]
        # every operand is a name, an attribute or a call: no parentheses needed
        lines.append(f"r{dst} = " + template.format(a=read(s1), b=read(s2)))
        written.add(dst)
    outputs = [f"r{k}" if k in written else "sympy.Integer(0)" for k in range(spec.outputs)]
    formulas = sympy_expressions(spec, program)
    shown = str(formulas[0] if spec.outputs == 1 else formulas)
    args = ", ".join(spec.inputs)
    symbols = "\n".join(f'{n} = sympy.Symbol("{n}", real=True)' for n in spec.inputs)
    body = "\n".join(f"    {line}" for line in [*lines, f"return {', '.join(outputs)}"])
    return (
        f"# The {task} program {hash_of_canonical(spec, canonical)[:16]}, exported by "
        f"hivejax (sympy {sp.__version__}).\n"
        "import sympy\n\n\n"
        f"def program({args}):\n"
        f'    """{shown}\n\n'
        "    What the ops mean, their float32 guards dropped (hivejax's io/symbolic.py).\n"
        f'    """\n{body}\n\n\n'
        f"{symbols}\nexpression = program({args})\n"
    )
