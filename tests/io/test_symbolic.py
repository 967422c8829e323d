"""The sympy form of a program: what its ops mean, guards dropped, and the same as
``hivejax export --to sympy`` writes.

The exported module is our own, made from a program's numbers, so the tests ``exec`` it in
a fresh namespace, as tests/io/test_export.py does with the other targets.
"""

import numpy as np
import pytest
import sympy

from hivejax._src.interpret import reference
from hivejax._src.io.export import export_program
from hivejax._src.io.symbolic import SYMPY_OPS, sympy_expression, sympy_expressions
from hivejax._src.program import ops
from hivejax._src.program.program import Program, ProgramSpec, make_program
from hivejax._src.tasks import optimizer
from hivejax.cli.main import main

KOZA = ProgramSpec(inputs=("x", "y"), op_set="koza")  # a regression program, constants and all
BARE = ProgramSpec(inputs=("x",), num_consts=0, op_set="koza", named_constants=False)
x, y = sympy.Symbol("x", real=True), sympy.Symbol("y", real=True)


def _module(spec, program):
    namespace = {}
    exec(compile(export_program(spec, program, "sympy"), "<export sympy>", "exec"), namespace)
    return namespace


def test_the_table_covers_every_op():
    assert set(SYMPY_OPS) == {op.name for op in ops.OPS}
    for op in ops.OPS:
        template, _ = SYMPY_OPS[op.name]
        assert "{a}" in template and ("{b}" in template) == (op.arity == 2), op.name


def test_protected_ops_are_written_as_what_they_mean():
    code = [("r1", "div", "x", "y"), ("r2", "log", "x", "x"), ("r3", "exp", "y", "y")]
    code += [("r0", "add", "r1", "r2"), ("r0", "add", "r0", "r3")]
    program = make_program(KOZA, code)
    assert sympy_expression(KOZA, program) == x / y + sympy.log(sympy.Abs(x)) + sympy.exp(y)
    # Positive inputs: sympy drops the absolute value itself.
    px = sympy.Symbol("x", positive=True)
    got = sympy_expression(KOZA, program, positive=("x",))
    assert got == px / y + sympy.log(px) + sympy.exp(y)
    with pytest.raises(ValueError, match="not inputs"):
        sympy_expression(KOZA, program, positive=("z",))


def test_constants_are_exact_and_unwritten_registers_are_zero():
    code = [("r1", "mul", "pi", "half"), ("r2", "add", "one", "e"), ("r0", "sub", "r1", "r2")]
    code += [("r0", "add", "r0", "c1"), ("r0", "add", "r0", "r7")]  # r7: never written
    program = make_program(KOZA, code, consts=(0.0, 0.1))
    want = sympy.pi / 2 - 1 - sympy.E + sympy.Float("0.1")
    assert sympy_expression(KOZA, program) == want
    # Without named constants, an unwritten register is still zero, in every form.
    bare = make_program(BARE, [("r1", "sub", "r5", "x"), ("r0", "mul", "r1", "x")])
    assert sympy_expression(BARE, bare) == -(x**2)
    namespace = _module(BARE, bare)
    assert namespace["expression"] == -(x**2)


@pytest.mark.parametrize(
    "name", [n for n, (t, _) in SYMPY_OPS.items() if "Function" not in t and n != "copy"]
)
def test_each_op_means_what_the_interpreter_computes_away_from_its_guards(name):
    spec = ProgramSpec(inputs=("x", "y"))
    program = make_program(spec, [("r0", name, "x", "y")])
    # Inside (0.2, 0.9): no guard acts (no zero denominator, no huge value, |a| < 1 - 1e-6).
    points = np.asarray([0.25, 0.4, 0.55, 0.7, 0.85], np.float32)
    xs, ys = points, points[::-1].copy()
    got = np.asarray(reference.outputs(spec, program, (xs, ys))[0])
    expression = sympy_expression(spec, program)
    at = [{x: float(a), y: float(b)} for a, b in zip(xs, ys, strict=True)]
    want = [float(expression.subs(point).evalf()) for point in at]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_the_exported_module_builds_the_same_expression():
    compared = 0
    for spec in (KOZA, optimizer.SPEC, ProgramSpec()):  # the last with every op
        for program in _random_programs(spec, 8):
            want = sympy_expressions(spec, program)
            assert "import hivejax" not in export_program(spec, program, "sympy")
            if any(e.has(sympy.nan, sympy.zoo) for e in want):
                continue  # divides by zero wherever it runs: the module raises or agrees
            got = _module(spec, program)["expression"]
            assert (got if spec.outputs > 1 else (got,)) == want
            compared += 1
    assert compared >= 12


def _random_programs(spec, n, seed=0):
    """``n`` uniformly random programs of ``spec`` (numpy: nothing to compile)."""
    rng = np.random.default_rng(seed)
    L = spec.max_length
    for _ in range(n):
        yield Program(
            op=np.asarray(rng.choice(spec.allowed_ops, L), np.int32),
            dst=rng.integers(0, spec.num_registers, L, dtype=np.int32),
            src1=rng.integers(0, spec.num_operands, L, dtype=np.int32),
            src2=rng.integers(0, spec.num_operands, L, dtype=np.int32),
            consts=rng.normal(size=spec.num_consts).astype(np.float32),
            length=np.asarray(rng.integers(1, L + 1), np.int32),
        )


def test_cli_exports_sympy(capsys, tmp_path):
    from hivejax._src.io.program_io import save_program

    program = make_program(BARE, [("r1", "mul", "x", "x"), ("r0", "add", "r1", "x")])
    save_program(tmp_path / "p.json", BARE, program)
    code = main(["export", str(tmp_path / "p.json"), "--to", "sympy"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert '"""x**2 + x' in out and "import sympy" in out
