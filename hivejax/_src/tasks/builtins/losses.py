"""Known loss functions written as programs.

They are the reference points of a search: the baseline a discovered loss must beat, seeds
for an initial population, and fixtures whose meaning is known exactly (the tests compare
them with optax and plain jnp). Each reads logits ``x`` and one-hot targets ``y``, both
``[batch, classes]``; the loss task averages the output ``r0`` over all elements, so a
per-example loss is computed with class-axis reductions, which broadcast back over the
classes and leave the batch mean unchanged by that averaging.

Programs use few registers (at most three) so they fit small specs, and write registers in
order of first use so they are already in canonical form.
"""

from collections.abc import Callable

from hivejax._src.program.program import Program, ProgramSpec, make_program


def cross_entropy(spec: ProgramSpec) -> Program:
    """Softmax cross-entropy ``-sum_c(y * (x - lse_c(x)))``.

    Averaged over all elements it equals ``optax.softmax_cross_entropy(x, y).mean()``.
    """
    return make_program(
        spec,
        [
            ("r1", "lse_c", "x", "x"),
            ("r1", "sub", "x", "r1"),  # log softmax
            ("r1", "mul", "y", "r1"),
            ("r1", "sum_c", "r1", "r1"),
            ("r0", "neg", "r1", "r1"),
        ],
    )


def mse(spec: ProgramSpec) -> Program:
    """Squared error ``(x - y)^2``; averaged, ``mean((x - y)**2)`` over all elements."""
    return make_program(spec, [("r1", "sub", "x", "y"), ("r0", "square", "r1", "r1")])


def hinge(spec: ProgramSpec) -> Program:
    """One-vs-all hinge ``relu(1 - x * (2y - 1))``, averaged over all elements."""
    return make_program(
        spec,
        [
            ("r1", "add", "y", "y"),
            ("r1", "sub", "r1", "one"),  # +1 for the target class, -1 elsewhere
            ("r1", "mul", "x", "r1"),
            ("r1", "sub", "one", "r1"),
            ("r0", "relu", "r1", "r1"),
        ],
    )


def focal(spec: ProgramSpec) -> Program:
    """Focal loss with gamma 2: ``-sum_c(y * (1 - p)^2 * log p)``, ``p = softmax(x)``.

    ``log p`` is computed as ``x - lse_c(x)``, exact and finite, not as ``log(p)``.
    """
    return make_program(
        spec,
        [
            ("r1", "lse_c", "x", "x"),
            ("r1", "sub", "x", "r1"),  # log p
            ("r2", "exp", "r1", "r1"),  # p
            ("r2", "sub", "one", "r2"),
            ("r2", "square", "r2", "r2"),
            ("r2", "mul", "r1", "r2"),
            ("r2", "mul", "y", "r2"),
            ("r2", "sum_c", "r2", "r2"),
            ("r0", "neg", "r2", "r2"),
        ],
    )


def label_smoothing(spec: ProgramSpec, eps: float = 0.1) -> Program:
    """Cross-entropy against smoothed targets ``(1 - eps) * y + eps / classes``.

    Written as ``eps * (S - M) - S`` with ``S = sum_c(y * log p)`` and
    ``M = mean_c(log p)``; ``eps`` (0.1) is the free constant ``c0``, so the spec needs
    ``num_consts >= 1``. Averaged, it equals
    ``optax.softmax_cross_entropy(x, optax.smooth_labels(y, eps)).mean()``.
    """
    return make_program(
        spec,
        [
            ("r1", "lse_c", "x", "x"),
            ("r1", "sub", "x", "r1"),  # log p
            ("r2", "mul", "y", "r1"),
            ("r2", "sum_c", "r2", "r2"),  # S
            ("r1", "mean_c", "r1", "r1"),  # M
            ("r1", "sub", "r2", "r1"),
            ("r1", "mul", "c0", "r1"),
            ("r0", "sub", "r1", "r2"),
        ],
        consts=(eps,),
    )


LOSSES: dict[str, Callable[[ProgramSpec], Program]] = {
    "cross_entropy": cross_entropy,
    "mse": mse,
    "hinge": hinge,
    "focal": focal,
    "label_smoothing": label_smoothing,
}
