"""The function a program computes, beside its task's baseline: ``function.png``.

- loss: the per-example loss and its derivative against the margin ``m`` of the true
  class, for 10-class logits ``x`` that hold ``m`` on the true class and 0 elsewhere (so
  the true logit minus each other logit is ``m``). The loss is the loss task's own
  (``LossTask.components``) for a batch of that one example, so a program with the
  derived inputs reads ``p = softmax(x)`` and ``ls = log_softmax(x)`` as in training;
- activation: ``f(x)`` and ``f'(x)``;
- optimizer: the update direction ``r0`` (a parameter moves by ``-learning_rate * r0``)
  against the gradient ``g``, at a parameter ``p = 0.1``, for a few states of the slots
  ``s1, s2`` and the step ``t``; the program and the baseline in two panels.

Curves come from the reference interpreter, the source of truth for what a program
means; values that are not finite are left as gaps.
"""

import os

import jax
import jax.numpy as jnp
import numpy as np

from hivejax._src.interpret import reference
from hivejax._src.plotting import figures
from hivejax._src.program.formula import formula
from hivejax._src.program.program import Program, ProgramSpec
from hivejax._src.tasks.registry import TASK_TYPES, builtin, builtin_spec, task_of_spec

CLASSES = 10
MARGINS = np.linspace(-6.0, 6.0, 241)
INPUTS = np.linspace(-4.0, 4.0, 321)
GRADIENTS = np.linspace(-2.0, 2.0, 201)
PARAMETER = 0.1
STATES = (
    ("s1 = s2 = 0, t = 1 (first step)", 0.0, 0.0, 1.0),
    ("s1 = 0.5, s2 = 0.25, t = 10", 0.5, 0.25, 10.0),
    ("s1 = -0.5, s2 = 0.25, t = 10", -0.5, 0.25, 10.0),
)
"""The optimizer's slot states drawn: ``(label, s1, s2, t)``."""
SHAPED = ("loss", "activation", "optimizer")


def _finite(a) -> np.ndarray:
    a = np.asarray(a, np.float64)
    return np.where(np.isfinite(a), a, np.nan)


def _outputs(spec: ProgramSpec):
    """``outputs(program, *inputs)``, as the tasks' ``components`` take it."""
    return lambda program, *inputs: reference.outputs(spec, program, inputs)


def _loss(spec: ProgramSpec, program: Program) -> dict[str, np.ndarray]:
    loss = TASK_TYPES["loss"](spec=spec).components(_outputs(spec))["loss"]
    targets = jax.nn.one_hot(jnp.zeros((1,), jnp.int32), CLASSES)

    def one(m):
        logits = jnp.zeros((1, CLASSES)).at[0, 0].set(m)
        return loss(program, logits, targets)

    margins = jnp.asarray(MARGINS, jnp.float32)
    value, slope = jax.vmap(jax.value_and_grad(one))(margins)
    return {"value": _finite(value), "derivative": _finite(slope)}


def _activation(spec: ProgramSpec, program: Program) -> dict[str, np.ndarray]:
    act = TASK_TYPES["activation"](spec=spec).components(_outputs(spec))["activation"]
    x = jnp.asarray(INPUTS, jnp.float32)
    value = act(program, x)
    slope = jax.grad(lambda x: act(program, x).sum())(x)  # elementwise: the derivative
    return {"value": _finite(value), "derivative": _finite(slope)}


def _optimizer(spec: ProgramSpec, program: Program) -> dict[str, np.ndarray]:
    g = jnp.asarray(GRADIENTS, jnp.float32)
    full = lambda v: jnp.full_like(g, v)
    out = {}
    for label, s1, s2, t in STATES:
        inputs = (g, full(PARAMETER), full(s1), full(s2), full(t))
        out[label] = _finite(reference.outputs(spec, program, inputs)[0])
    return out


_CURVES = {"loss": _loss, "activation": _activation, "optimizer": _optimizer}


def curves(spec: ProgramSpec, program: Program) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The x values of ``program``'s function shape and its curves by name: ``value`` and
    ``derivative`` for a loss or an activation, one per ``STATES`` label for an optimizer.

    Example:
      >>> x, ys = curves(builtin_spec("relu"), builtin("relu"))
      >>> float(ys["value"][-1]), float(ys["derivative"][0])
      (4.0, 0.0)
    """
    task = task_of_spec(spec).name
    if task not in _CURVES:
        raise ValueError(f"function shapes are drawn for {', '.join(SHAPED)} programs, not {task}")
    x = {"loss": MARGINS, "activation": INPUTS, "optimizer": GRADIENTS}[task]
    # One concrete program: run op by op, so that each instruction's switch calls its one
    # branch, rather than compile every op's branch for every instruction (seconds each).
    with jax.disable_jit():
        return x, _CURVES[task](spec, program)


_LABELS = {
    "loss": ("margin m: true-class logit minus each other logit", "loss", "d loss / d m"),
    "activation": ("x (pre-activation)", "f(x)", "f′(x)"),
}


def plot_program(spec: ProgramSpec, program: Program, path: str | os.PathLike) -> None:
    """Draw ``program``'s function shape beside its task's baseline (module docstring) as a
    PNG at ``path``; ``ValueError`` for a program of no training task (a formula of
    symbolic regression), ``RuntimeError`` without matplotlib."""
    x, ys = curves(spec, program)
    task = task_of_spec(spec)
    base_x, base = curves(builtin_spec(task.baseline), builtin(task.baseline))
    fig, axes = figures.figure(1, 2)
    fig.suptitle(figures.wrap(f"{task.name}: {formula(spec, program)}"), fontsize=10)
    if task.name == "optimizer":
        _draw_updates(fig, axes, x, ys, base, task.baseline)
    else:
        xlabel, *ylabels = _LABELS[task.name]
        for ax, key, ylabel in zip(axes, ("value", "derivative"), ylabels, strict=True):
            ax.plot(x, ys[key], color="C0", lw=2, label="this program")
            ax.plot(base_x, base[key], "--", color="gray", label=f"{task.baseline} (baseline)")
            ax.set(xlabel=xlabel, ylabel=ylabel)
            ax.grid(alpha=0.3)
        axes[0].legend()
    figures.save(fig, path)


def _draw_updates(fig, axes, x, ys, base, baseline: str) -> None:
    titles = ("this program", f"{baseline} (baseline)")
    for ax, lines, title in zip(axes, (ys, base), titles, strict=True):
        for i, (label, y) in enumerate(lines.items()):  # thick to thin: overlaps stay visible
            ax.plot(x, y, color=f"C{i}", lw=3.0 - 0.8 * i, label=label)
        ax.set(xlabel="gradient g", ylabel="update direction r0 (step: -lr · r0)", title=title)
        ax.grid(alpha=0.3)
    fig.legend(
        *axes[0].get_legend_handles_labels(),
        loc="outside lower center",
        ncols=len(STATES),
        title=f"slot states, at a parameter p = {PARAMETER}",
        fontsize="small",
        title_fontsize="small",
    )
