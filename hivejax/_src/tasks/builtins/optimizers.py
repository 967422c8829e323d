"""Known optimizer update rules written as programs of ``(g, p, s1, s2, t)``.

Outputs: ``r0`` the update direction (the task moves parameters by ``-lr * r0``), ``r1``
and ``r2`` the new state slots. Trained with them, a model matches optax's ``sgd``
(momentum 0.9), ``adam`` and ``lion`` at the same learning rate (the tests check 100
steps). Hyperparameters are free constants, so a search can tune them.
"""

import math
from collections.abc import Callable

from hivejax._src.program.program import Program, ProgramSpec, make_program


def sgd_momentum(spec: ProgramSpec, momentum: float = 0.9) -> Program:
    """Heavy ball, as ``optax.sgd(lr, momentum)``: ``s1 <- g + momentum * s1``, step ``s1``."""
    return make_program(
        spec,
        [("r1", "mul", "s1", "c0"), ("r1", "add", "g", "r1"), ("r0", "copy", "r1", "r1")],
        consts=(momentum,),
    )


def adam(spec: ProgramSpec, b1: float = 0.9, b2: float = 0.999) -> Program:
    """Adam with bias correction, as ``optax.adam(lr)`` (eps 1e-8).

    ``b^t`` is ``exp(t log b)``; ``div`` adds 1e-8 to its denominator, which is exactly
    Adam's ``eps`` in ``m_hat / (sqrt(v_hat) + eps)`` (and a 1e-7 relative change of the
    bias correction).
    """
    return make_program(
        spec,
        [
            ("r1", "mul", "s1", "c0"),
            ("r3", "mul", "g", "c1"),
            ("r1", "add", "r1", "r3"),  # m
            ("r2", "mul", "s2", "c2"),
            ("r3", "square", "g", "g"),
            ("r3", "mul", "r3", "c3"),
            ("r2", "add", "r2", "r3"),  # v
            ("r3", "mul", "t", "c4"),
            ("r3", "exp", "r3", "r3"),
            ("r3", "sub", "one", "r3"),
            ("r3", "div", "r1", "r3"),  # m_hat
            ("r4", "mul", "t", "c5"),
            ("r4", "exp", "r4", "r4"),
            ("r4", "sub", "one", "r4"),
            ("r4", "div", "r2", "r4"),  # v_hat
            ("r4", "sqrt", "r4", "r4"),
            ("r0", "div", "r3", "r4"),
        ],
        consts=(b1, 1.0 - b1, b2, 1.0 - b2, math.log(b1), math.log(b2)),
    )


def lion(spec: ProgramSpec, b1: float = 0.9, b2: float = 0.99, wd: float = 1e-3) -> Program:
    """Lion, as ``optax.lion(lr)``.

    Direction ``sign(b1 s1 + (1-b1) g) + wd p``; new slot ``s1 <- b2 s1 + (1-b2) g``.
    """
    return make_program(
        spec,
        [
            ("r3", "mul", "s1", "c0"),
            ("r4", "mul", "g", "c1"),
            ("r3", "add", "r3", "r4"),
            ("r3", "sign", "r3", "r3"),
            ("r4", "mul", "p", "c2"),
            ("r0", "add", "r3", "r4"),
            ("r3", "mul", "s1", "c3"),
            ("r4", "mul", "g", "c4"),
            ("r1", "add", "r3", "r4"),
        ],
        consts=(b1, 1.0 - b1, wd, b2, 1.0 - b2),
    )


OPTIMIZERS: dict[str, Callable[[ProgramSpec], Program]] = {
    "sgd_momentum": sgd_momentum,
    "adam": adam,
    "lion": lion,
}
