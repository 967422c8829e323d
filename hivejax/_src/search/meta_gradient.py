"""Refine a program's constants by meta-gradient: descent through a short, unrolled training.

``const_tuning`` searches constants with evosax from fitness values alone, so it works for
any fitness, test accuracy included, at the price of many trainings per step. A program's
constants are also differentiable through the training it shapes: the loss a program
defines, the activation it computes or the update it makes changes the trained weights
smoothly in ``program.consts``, and so does the loss of the trained model on held-out
data. This module follows that gradient: one meta step is one training run forward and
backward, whatever the number of constants. It complements the evosax tuner; it does not
replace it, since accuracy itself has no useful gradient.

Decisions, each named:

- **Meta-objective**: the mean softmax cross-entropy, on the held-out last
  ``round(N * validation)`` training examples, of a model trained for ``inner_steps``
  steps with the program as the task's component. Cross-entropy, not accuracy, because
  accuracy is piecewise constant in the constants; held-out training data, never the
  test set, so refined constants can be scored on test afterwards. The split is
  ``TrainConfig.validation``'s (a fraction, the last examples) and overrides the task's
  own; a split that rounds to no example is refused.
- **Inner training**: ``training.train_member``, the very run ``train_population`` scores
  with (the task's model, batch size and learning rate; ``inner_steps`` replaces its step
  count). Time and memory grow linearly with ``inner_steps``, so the run is usually
  truncated; but a horizon much shorter than the scoring run's favours components that
  train fast early (short-horizon bias), so ``inner_steps`` near ``task.train.steps`` is
  the faithful choice where affordable. A run that goes non-finite counts as ``+inf``.
- **The program unrolled**: whatever ``task.interpreter`` says, the program runs as
  straight-line code. Only the constants move during refinement, so the program's
  live instructions are unrolled at trace time into straight-line code, each
  ``ops.apply_op`` as the reference interpreter applies it (a test checks that they agree,
  values and constant gradients). The meta-gradient is second order through the program:
  the reference interpreter's op switch differentiated twice compiles about five times
  slower, and the fused interpreter's custom VJP is written for first order. The price is
  one compilation per program structure, not one per spec.
- **Adam's ``eps_root``**: where the task keeps the baseline Adam, the inner Adam adds
  ``EPS_ROOT`` under its square root, as optax advises for meta-gradients through Adam:
  with none, a second moment that is exactly zero (a gradient exactly zero on the first
  steps, as for a ReLU unit dead on the first batch) has ``sqrt'(0) = inf``, and the
  meta-gradient becomes NaN. The value is far below any second moment that trains, so
  training is unchanged but for rounding.
- **A fresh trajectory per meta step**: step ``t`` trains from the key
  ``fold_in(k_steps, t)`` (initialisation and batches), so the descent is stochastic
  gradient descent over training runs and cannot fit the noise of one trajectory.
- **Meta optimiser**: ``clip_by_global_norm(CLIP_NORM)`` then Adam at
  ``meta_learning_rate``; clipping bounds the rare huge gradient of an unrolled run
  before it enters Adam's moments.
- **Non-finite steps are skipped**: a meta step whose objective, gradient or new
  constants is not finite keeps the constants and optimiser state; the report counts
  them. Constants are therefore always finite.
- **Selection on a fixed evaluation**: every iterate, the original first, is scored by
  the meta-objective averaged over ``eval_trajectories`` runs under keys split from
  ``k_eval`` (independent of the descent's keys), and the best is returned; ties keep the
  earliest, so the original constants stay unless a refined vector is strictly better.
- **Only live constants matter**: a constant no live instruction reads is not in the
  unrolled code, has zero gradient and is never moved. A program without a live constant
  skips the descent and comes back unchanged.
- **Compilation**: the descent (a ``lax.scan`` of meta steps) and the evaluation are two
  jitted functions keyed on the task, the unrolled program and the sizes; constants, data,
  keys and the meta learning rate are arguments, so refining a program again (with other
  constants, keys or rate) compiles nothing.
"""

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax

from hivejax._src.evaluation.scores import worst_if_nan
from hivejax._src.program import ops
from hivejax._src.program.liveness import live_mask
from hivejax._src.program.program import INSTRUCTION_FIELDS, Program, ProgramSpec, operand_values
from hivejax._src.tasks import training
from hivejax._src.tasks.base import ProgramTask
from hivejax._src.tasks.data import Dataset

EPS_ROOT = 1e-16  # under the inner Adam's square root: finite second derivatives
CLIP_NORM = 1.0  # largest global norm of a meta-gradient entering the meta optimiser

# A program's live instructions, ``(op, dst, src1, src2)`` each: hashable, so static.
Code = tuple[tuple[int, int, int, int], ...]


def _unroll(spec: ProgramSpec, program: Program) -> Code:
    """The live instructions of one concrete program, in order."""
    live = np.asarray(live_mask(spec, program))
    fields = [np.asarray(getattr(program, f)).tolist() for f in INSTRUCTION_FIELDS]
    rows = zip(*fields, strict=True)
    return tuple(tuple(row) for row, keep in zip(rows, live, strict=True) if keep)


def _consts_read(spec: ProgramSpec, code: Code) -> list[int]:
    """Indices of the free constants that ``code`` reads."""
    reads = {s1 for _, _, s1, _ in code} | {s2 for op, _, _, s2 in code if ops.ARITY[op] == 2}
    return sorted(i - spec.const_base for i in reads if spec.const_base <= i < spec.register_base)


def _run_unrolled(spec: ProgramSpec, code: Code, consts: jax.Array, inputs) -> jax.Array:
    """``interpreter.outputs`` of the program whose live instructions are ``code``."""
    regs = list(operand_values(spec, tuple(inputs), consts))
    for op, dst, src1, src2 in code:
        regs[spec.register_base + dst] = ops.apply_op(op, regs[src1], regs[src2])
    return jnp.stack(regs[spec.register_base : spec.register_base + spec.outputs])


def _validation_loss(logits, labels):
    return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()


def _objective(task, code, consts, data, key, inner_steps, validation):
    """The meta-objective of constants ``consts`` under one training run; ``+inf`` where it
    went non-finite."""
    config = dataclasses.replace(task.train, steps=inner_steps, validation=validation)
    run = lambda member, *inputs: _run_unrolled(task.spec, code, member, inputs)
    adam = lambda member: optax.adam(config.learning_rate, eps_root=EPS_ROOT)
    components = {"optimizer": adam} | task.components(run)
    loss = training.train_member(config, consts, data, key, metric=_validation_loss, **components)
    return worst_if_nan(loss)


_STATIC = ("task", "code", "inner_steps", "validation")


@functools.partial(jax.jit, static_argnames=(*_STATIC, "meta_steps"))
def _descend(
    key, consts, data, meta_learning_rate, *, task, code, inner_steps, validation, meta_steps
):
    """The constants after each of ``meta_steps`` meta steps, and whether each was taken."""
    objective = lambda c, k: _objective(task, code, c, data, k, inner_steps, validation)
    meta_opt = optax.chain(optax.clip_by_global_norm(CLIP_NORM), optax.adam(meta_learning_rate))

    def step(carry, t):
        consts, opt_state = carry
        value, grads = jax.value_and_grad(objective)(consts, jax.random.fold_in(key, t))
        updates, new_state = meta_opt.update(grads, opt_state, consts)
        new = optax.apply_updates(consts, updates)
        ok = jnp.isfinite(value) & jnp.all(jnp.isfinite(grads)) & jnp.all(jnp.isfinite(new))
        keep = lambda a, b: jnp.where(ok, a, b)
        consts, opt_state = keep(new, consts), jax.tree.map(keep, new_state, opt_state)
        return (consts, opt_state), (consts, ok)

    _, (path, taken) = jax.lax.scan(step, (consts, meta_opt.init(consts)), jnp.arange(meta_steps))
    return path, taken


@functools.partial(jax.jit, static_argnames=_STATIC)
def _evaluate(keys, candidates, data, *, task, code, inner_steps, validation):
    """The meta-objective ``[C]`` of each constant vector ``candidates[C, K]``, averaged
    over the training runs of ``keys``."""
    one = lambda c, k: _objective(task, code, c, data, k, inner_steps, validation)
    return jax.vmap(lambda c: jnp.mean(jax.vmap(lambda k: one(c, k))(keys)))(candidates)


def _check(task, program, data, validation, meta_learning_rate, counts: dict):
    """Refuse, naming the numbers, what ``refine_constants`` cannot run."""
    spec = task.spec
    if program.consts.shape != (spec.num_consts,) or program.op.shape != (spec.max_length,):
        raise ValueError(
            f"refine_constants takes one program of the task's spec ({spec.max_length} "
            f"instructions, {spec.num_consts} constants); got instructions of shape "
            f"{program.op.shape} and constants of shape {program.consts.shape}"
        )
    for name, value in counts.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if not meta_learning_rate > 0:
        raise ValueError(f"meta_learning_rate must be > 0, got {meta_learning_rate!r}")
    n_all = data.x_train.shape[0]
    held = round(n_all * validation) if 0 < validation < 1 else 0
    if not 1 <= held < n_all:
        raise ValueError(
            f"validation must be a fraction in (0, 1) that holds out at least one of the "
            f"{n_all} training examples and keeps one; got {validation!r}"
        )


def _finite_or_none(x) -> float | None:
    x = float(x)
    return x if np.isfinite(x) else None


def refine_constants(
    key: jax.Array,
    task: ProgramTask,
    program: Program,
    data: Dataset,
    *,
    inner_steps: int = 50,
    meta_steps: int = 20,
    meta_learning_rate: float = 0.05,
    validation: float = 0.25,
    eval_trajectories: int = 4,
) -> tuple[Program, dict]:
    """Refine ``program``'s constants, as ``task``'s component, by meta-gradient descent.

    The meta-objective is the held-out cross-entropy after a short training run; the
    module docstring names every choice.

    Args:
      key: PRNG key; split into the descent's (a fresh training run per meta step) and
        the fixed evaluation's.
      task: the task whose component the program is; its ``train`` gives the model,
        batch size and learning rate (its ``steps`` and ``validation`` are replaced).
      program: one concrete program of ``task.spec``.
      data: the dataset; only its training examples are used.
      inner_steps: training steps unrolled per meta-objective.
      meta_steps: meta-gradient steps.
      meta_learning_rate: the meta optimiser's Adam step size.
      validation: fraction of the training set held out, its last examples, to measure
        the meta-objective on; the inner training draws from the rest.
      eval_trajectories: training runs averaged by the fixed evaluation that picks the
        returned constants.

    Returns:
      ``(program, report)``: the program with the best constants found (its own unless a
      refined vector was strictly better on the fixed evaluation), and a JSON-able dict:
      ``before`` and ``after`` (that evaluation's meta-objective; ``None`` if non-finite),
      ``improved``, ``consts_before``, ``consts_after``, ``live_consts`` (indices of the
      constants live code reads), ``best_step`` (0: the original), ``objective_by_step``
      (the evaluation of every iterate, the original first; only the original when no
      constant is live), ``skipped_steps`` (meta steps dropped as non-finite), and the
      settings ``meta_steps``, ``inner_steps``, ``meta_learning_rate``, ``validation``,
      ``eval_trajectories``.

    Example:
      >>> from hivejax._src.tasks.data import load_dataset
      >>> from hivejax._src.tasks.registry import builtin, make_task
      >>> task, data = make_task("loss"), load_dataset("mnist1d")
      >>> refined, report = refine_constants(
      ...     jax.random.key(0), task, builtin("label_smoothing"), data, inner_steps=5,
      ...     meta_steps=2, eval_trajectories=1)
      >>> report["live_consts"], report["after"] <= report["before"]
      ([0], True)
    """
    counts = dict(
        inner_steps=inner_steps, meta_steps=meta_steps, eval_trajectories=eval_trajectories
    )
    _check(task, program, data, validation, meta_learning_rate, counts)
    code = _unroll(task.spec, program)
    static = dict(task=task, code=code, inner_steps=inner_steps, validation=float(validation))
    k_steps, k_eval = jax.random.split(key)
    live = _consts_read(task.spec, code)
    path, taken = program.consts[None], np.zeros(0, bool)
    if live:
        lr = jnp.float32(meta_learning_rate)
        steps, taken = _descend(k_steps, program.consts, data, lr, meta_steps=meta_steps, **static)
        path = jnp.concatenate([path, steps])
    eval_keys = jax.random.split(k_eval, eval_trajectories)
    objective = np.asarray(_evaluate(eval_keys, path, data, **static))
    best = int(np.argmin(objective))  # the first of equals: the original unless beaten
    refined = program.replace(consts=path[best])
    report = {
        "before": _finite_or_none(objective[0]),
        "after": _finite_or_none(objective[best]),
        "improved": best > 0,
        "consts_before": np.asarray(program.consts).tolist(),
        "consts_after": np.asarray(refined.consts).tolist(),
        "live_consts": live,
        "best_step": best,
        "objective_by_step": [_finite_or_none(v) for v in objective],
        "skipped_steps": int(np.sum(~np.asarray(taken))),
        "meta_steps": meta_steps,
        "inner_steps": inner_steps,
        "meta_learning_rate": float(meta_learning_rate),
        "validation": float(validation),
        "eval_trajectories": eval_trajectories,
    }
    return refined, report
