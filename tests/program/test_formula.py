"""Formulas print the canonical live code, readably and deterministically."""

import jax
import numpy as np
import pytest

from hivejax._src.program.canonical import canonicalize
from hivejax._src.program.formula import formula
from hivejax._src.program.program import make_program, random_population
from hivejax._src.tasks import builtins, registry

EXPECTED = {
    "cross_entropy": "-sum_c(y * (x - lse_c(x)))",
    "mse": "square(x - y)",
    "hinge": "relu(one - x * (y + y - one))",
    "focal": "r1 = x - lse_c(x); r0 = -sum_c(y * (r1 * square(one - exp(r1))))",
    "label_smoothing": "r1 = x - lse_c(x); r2 = sum_c(y * r1); r0 = 0.1 * (r2 - mean_c(r1)) - r2",
    "relu": "relu(x)",
    "gelu": "half * (x * (one + tanh(0.7979 * (x + 0.04471 * cube(x)))))",
    "tanh": "tanh(x)",
    "swish": "x * sigmoid(x)",
    "silu": "x * sigmoid(x)",
    "leaky_relu": "leaky_relu(x)",
    # Several outputs: each printed as rK, once.
    "sgd_momentum": "r1 = g + s1 * 0.9; r0 = r1; r2 = 0",
    "adam": "r1 = s1 * 0.9 + g * 0.1; r2 = s2 * 0.999 + 0.001 * square(g); "
    "r0 = r1 / (one - exp(t * (-0.1054))) / sqrt(r2 / (one - exp(t * (-0.001001))))",
    "lion": "r0 = sign(s1 * 0.9 + g * 0.1) + p * 0.001; r1 = s1 * 0.99 + g * 0.01; r2 = 0",
}


@pytest.mark.parametrize("name", builtins.BUILTINS)
def test_builtin_formulas(name):
    spec = registry.builtin_spec(name)
    assert formula(spec, registry.builtin(name, spec)) == EXPECTED[name]


def _formula(spec, instructions, consts=()):
    return formula(spec, make_program(spec, instructions, consts))


def test_dead_code_is_not_printed(spec):
    program = [
        ("r3", "exp", "x", "x"),
        ("r1", "sub", "x", "y"),
        ("r2", "sin", "r1", "r1"),
        ("r0", "square", "r1", "r1"),
    ]
    assert _formula(spec, program) == "square(x - y)"


def test_empty_and_outputless_programs_print_zero(spec):
    assert _formula(spec, []) == "0"
    assert _formula(spec, [("r1", "exp", "x", "x")]) == "0"


@pytest.mark.parametrize(
    "instructions, expected",
    [
        ([("r0", "mul", "x", "c0")], "x * 0.1235"),
        ([("r0", "add", "c0", "x")], "x + 0.1235"),
        ([("r0", "sub", "x", "c1")], "x - (-2)"),
        ([("r0", "max", "c2", "pi")], "max(pi, 1e+06)"),
        ([("r0", "neg", "c1", "c1")], "-(-2)"),
        ([("r0", "neg", "x", "x"), ("r0", "neg", "r0", "r0")], "-(-x)"),
        ([("r1", "sub", "x", "y"), ("r0", "sub", "y", "r1")], "y - (x - y)"),
        ([("r1", "sub", "x", "y"), ("r0", "sub", "r1", "y")], "x - y - y"),
        ([("r1", "add", "x", "y"), ("r0", "mul", "r1", "r1")], "r1 = x + y; r0 = r1 * r1"),
        ([("r1", "neg", "x", "x"), ("r0", "div", "r1", "y")], "(-x) / y"),
        ([("r0", "add", "r0", "x")], "x + zero"),  # registers start at zero
    ],
)
def test_expressions(spec, instructions, expected):
    assert _formula(spec, instructions, (0.123456, -2.0, 1e6)) == expected


def test_rebound_registers_get_primes(spec):
    program = [
        ("r1", "exp", "x", "x"),
        ("r2", "mul", "r1", "r1"),
        ("r1", "cos", "y", "y"),
        ("r3", "add", "r1", "r1"),
        ("r0", "add", "r2", "r3"),
        ("r0", "mul", "r0", "r0"),
    ]
    assert _formula(spec, program) == (
        "r1 = exp(x); r1' = cos(y); r0 = r1 * r1 + (r1' + r1'); r0' = r0 * r0"
    )


def test_formula_is_that_of_the_canonical_form(spec):
    population = random_population(jax.random.key(5), spec, 12, max_length=spec.max_length)
    host = jax.tree.map(np.asarray, population)
    for i in range(12):
        program = jax.tree.map(lambda a, i=i: a[i], host)
        text = formula(spec, program)
        assert text and "\n" not in text
        assert formula(spec, canonicalize(spec, program)) == text == formula(spec, program)
