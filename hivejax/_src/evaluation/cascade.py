"""The rejection cascade: cheap checks that turn a program away before any network trains it.

Random programs mostly cannot train anything; the loss-search literature (CSE-Autoloss,
AutoLoss-Zero, EvoMAL) rejects them with checks that cost a tiny fraction of a training run.
``reasons(task, spec, programs)`` runs every check of a task on a whole population in one
vmapped call and returns a reason code per program: ``0`` passes, ``k > 0`` is
``REASONS[k]``, the first check the program failed. Checks, in order:

**loss** (a program of logits ``x`` and one-hot targets ``y``, averaged to the loss):

- R0 ``non_finite``: the loss or its gradient is NaN or infinite on the probe, whose
  logits include extremes (±30); ``ignores_logits``: the gradient is zero;
  ``ignores_targets``: the loss is the same for every target;
- R1 ``wrong_direction``: at initialisation (logits near 0) descending the gradient does
  not, on average, raise the true-class logit, and raise it more than the others;
- R2 ``not_monotone``: the loss does not fall as the true class's probability rises
  from chance (logits ``a * y`` for ``a`` = 0, 0.25, 0.5, 1: a loss with a target
  margin, such as the squared error, may rise again beyond it);
- R3 ``cannot_fit``: ``FIT_STEPS`` Adam steps (learning rate ``FIT_LR``) on ``FIT_ROWS``
  free logit rows with the program as the loss reach less than ``FIT_ACCURACY`` of their
  labels.

**activation**: ``non_finite`` on ``[-30, 30]``; ``constant`` output; ``dead_gradient``
when the slope is zero on more than ``DEAD_FRACTION`` of the probe.

**optimizer**: ``non_finite`` updates, or ``no_descent``: ``DESCENT_STEPS`` steps at a
learning rate of ``DESCENT_LR`` leave a small quadratic or a small logistic regression
above ``DESCENT_RATIO`` of its starting loss.

Every builtin of every task passes (``tests/test_cascade.py``). The probes are fixed
(numpy seed ``PROBE_SEED``), so a program's codes are the same in every run.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax

from hivejax._src.interpret import fused
from hivejax._src.program.program import Program, ProgramSpec
from hivejax._src.tasks.loss import loss_inputs

REASONS = (
    "passed",
    "non_finite",
    "ignores_logits",
    "ignores_targets",
    "wrong_direction",
    "not_monotone",
    "cannot_fit",
    "constant",
    "dead_gradient",
    "no_descent",
)
"""Reason codes: a program's code is an index into this tuple; 0 passes."""
CODE = {name: i for i, name in enumerate(REASONS)}

PROBE_SEED = 4049
FIT_STEPS = 20
FIT_LR = 0.3
FIT_ACCURACY = 0.9
FIT_ROWS = 16
DEAD_FRACTION = 0.9
DESCENT_STEPS = 50
DESCENT_LR = 0.05
DESCENT_RATIO = 0.9
TINY = 1e-12
_CLASSES = 10


def _probe() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(PROBE_SEED)
    logits = rng.normal(0.0, 2.0, (16, _CLASSES)).astype(np.float32)
    logits[:2] = np.float32(30.0) * np.sign(logits[:2])  # saturated rows
    labels = rng.integers(0, _CLASSES, 16)
    fit_labels = rng.integers(0, _CLASSES, FIT_ROWS)
    return {
        "logits": logits,
        "targets": np.eye(_CLASSES, dtype=np.float32)[labels],
        "other_targets": np.eye(_CLASSES, dtype=np.float32)[(labels + 3) % _CLASSES],
        "init_logits": rng.normal(0.0, 0.1, (16, _CLASSES)).astype(np.float32),
        "fit_targets": np.eye(_CLASSES, dtype=np.float32)[fit_labels],
        "pre_activation": np.linspace(-30.0, 30.0, 241, dtype=np.float32),
        "quadratic": rng.uniform(0.5, 2.0, 32).astype(np.float32),
        "start": rng.normal(0.0, 1.0, 32).astype(np.float32),
        "features": rng.normal(0.0, 1.0, (64, 8)).astype(np.float32),
        "binary": (rng.uniform(size=64) < 0.5).astype(np.float32),
    }


_PROBE = _probe()


def _first_failure(failures) -> jax.Array:
    """The code of the first ``(reason, failed)`` pair that failed, 0 if none did."""
    code = jnp.int32(0)
    for reason, failed in reversed(failures):
        code = jnp.where(failed, CODE[reason], code)
    return code


def _finite(*arrays) -> jax.Array:
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(a)) for a in arrays]))


def _loss_reason(spec: ProgramSpec, program: Program) -> jax.Array:
    p = {k: jnp.asarray(v) for k, v in _PROBE.items()}
    loss = lambda x, y: fused.outputs(spec, program, loss_inputs(spec, x, y))[0].mean()
    value, grad = jax.value_and_grad(loss)(p["logits"], p["targets"])
    other = loss(p["logits"], p["other_targets"])
    # R1: -grad points up on the true class and down on the others, averaged over the batch
    g0 = jax.grad(loss)(p["init_logits"], p["targets"])
    y = p["targets"]
    true_push = jnp.sum(g0 * y) / jnp.sum(y)
    other_push = jnp.sum(g0 * (1 - y)) / jnp.sum(1 - y)
    # R2: the loss at logits a * y, a rising
    scales = jnp.asarray([0.0, 0.25, 0.5, 1.0])
    curve = jax.vmap(lambda a: loss(a * y, y))(scales)
    monotone = jnp.all(jnp.diff(curve) <= 1e-6 * (1 + jnp.abs(curve[:-1]))) & (curve[-1] < curve[0])
    # R3: fit free logits
    fit_y = p["fit_targets"]
    opt = optax.adam(FIT_LR)

    def fit_step(carry, _):
        z, state = carry
        g = jax.grad(loss)(z, fit_y)
        g = jnp.where(jnp.isfinite(g), g, 0.0)
        updates, state = opt.update(g, state, z)
        return (optax.apply_updates(z, updates), state), None

    z0 = jnp.zeros_like(fit_y)
    (z, _), _ = jax.lax.scan(fit_step, (z0, opt.init(z0)), None, length=FIT_STEPS)
    accuracy = jnp.mean(jnp.argmax(z, -1) == jnp.argmax(fit_y, -1))
    return _first_failure(
        [
            ("non_finite", ~_finite(value, grad, other, g0, curve)),
            ("ignores_logits", jnp.sum(jnp.abs(grad)) <= TINY),
            ("ignores_targets", jnp.abs(value - other) <= 1e-6 * (1 + jnp.abs(value))),
            ("wrong_direction", ~((true_push < 0) & (true_push < other_push))),
            ("not_monotone", ~monotone),
            ("cannot_fit", ~(accuracy >= FIT_ACCURACY)),
        ]
    )


def _activation_reason(spec: ProgramSpec, program: Program) -> jax.Array:
    x = jnp.asarray(_PROBE["pre_activation"])
    f = lambda x: fused.outputs(spec, program, (x,))[0]
    out, pull = jax.vjp(f, x)
    (slope,) = pull(jnp.ones_like(out))
    spread = jnp.max(out) - jnp.min(out)
    dead = jnp.mean(jnp.abs(slope) <= TINY)
    return _first_failure(
        [
            ("non_finite", ~_finite(out, slope)),
            ("constant", ~(spread > 1e-6)),
            ("dead_gradient", dead > DEAD_FRACTION),
        ]
    )


def _descend(spec: ProgramSpec, program: Program, loss, w0: jax.Array):
    """Final and initial loss after ``DESCENT_STEPS`` of the rule on ``loss`` from ``w0``."""

    def step(carry, t):
        w, s1, s2 = carry
        g = jax.grad(loss)(w)
        out = fused.outputs(spec, program, (g, w, s1, s2, jnp.full_like(w, t)))
        return (w - DESCENT_LR * out[0], out[1], out[2]), None

    zeros = jnp.zeros_like(w0)
    steps = jnp.arange(1, DESCENT_STEPS + 1, dtype=jnp.float32)
    (w, _, _), _ = jax.lax.scan(step, (w0, zeros, zeros), steps)
    return loss(w), loss(w0)


def _optimizer_reason(spec: ProgramSpec, program: Program) -> jax.Array:
    p = {k: jnp.asarray(v) for k, v in _PROBE.items()}
    quadratic = lambda w: 0.5 * jnp.sum(p["quadratic"] * w * w)

    def logistic(w):
        logits = p["features"] @ w
        return jnp.mean(optax.sigmoid_binary_cross_entropy(logits, p["binary"]))

    q_end, q_start = _descend(spec, program, quadratic, p["start"])
    l_end, l_start = _descend(spec, program, logistic, p["start"][:8])
    descends = (q_end <= DESCENT_RATIO * q_start) & (l_end <= DESCENT_RATIO * l_start)
    return _first_failure([("non_finite", ~_finite(q_end, l_end)), ("no_descent", ~descends)])


_CHECKS = {"loss": _loss_reason, "activation": _activation_reason, "optimizer": _optimizer_reason}


@functools.partial(jax.jit, static_argnums=(0, 1))
def reasons(task: str, spec: ProgramSpec, programs: Program) -> jax.Array:
    """The reason code ``[P]`` of each program of a population (0: passed), for ``task``
    (``"loss"``, ``"activation"`` or ``"optimizer"``). Programs run through the fast
    interpreter on their live code, as in training."""
    programs, _ = jax.vmap(lambda p: fused.compact(spec, p))(programs)
    return jax.vmap(functools.partial(_CHECKS[task], spec))(programs)
