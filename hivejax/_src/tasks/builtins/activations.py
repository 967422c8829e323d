"""Known activation functions written as programs of the pre-activation ``x``.

Each matches its ``jax.nn`` counterpart (the tests compare them): ``relu``, ``gelu`` (the
tanh approximation, ``jax.nn.gelu``'s default), ``tanh``, ``swish`` (= ``silu``) and
``leaky_relu`` (slope 0.01). Registers are written in order of first use, so the programs
are already canonical.
"""

import math
from collections.abc import Callable

from hivejax._src.program.program import Program, ProgramSpec, make_program


def _unary(op: str) -> Callable[[ProgramSpec], Program]:
    def build(spec: ProgramSpec) -> Program:
        return make_program(spec, [("r0", op, "x", "x")])

    build.__doc__ = f"``{op}(x)``, one op of the table."
    return build


def gelu(spec: ProgramSpec) -> Program:
    """``0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))``, as ``jax.nn.gelu``."""
    return make_program(
        spec,
        [
            ("r1", "cube", "x", "x"),
            ("r1", "mul", "c0", "r1"),
            ("r1", "add", "x", "r1"),
            ("r1", "mul", "c1", "r1"),
            ("r1", "tanh", "r1", "r1"),
            ("r1", "add", "one", "r1"),
            ("r1", "mul", "x", "r1"),
            ("r0", "mul", "half", "r1"),
        ],
        consts=(0.044715, math.sqrt(2.0 / math.pi)),
    )


def swish(spec: ProgramSpec) -> Program:
    """``x * sigmoid(x)``, as ``jax.nn.swish`` (also called SiLU)."""
    return make_program(spec, [("r1", "sigmoid", "x", "x"), ("r0", "mul", "x", "r1")])


ACTIVATIONS: dict[str, Callable[[ProgramSpec], Program]] = {
    "relu": _unary("relu"),
    "gelu": gelu,
    "tanh": _unary("tanh"),
    "swish": swish,
    "silu": swish,
    "leaky_relu": _unary("leaky_relu"),
}
