"""Functional fingerprints: what a program does to training, hashed, so copies are recognised.

``canonical.canonical_hash`` identifies programs that are the same instructions up to dead
code and register names; a copier escapes it with any training-neutral edit, for example
``loss + c`` or ``2.5 * loss``. A fingerprint instead hashes what training sees of a
program on a fixed probe, made invariant to the edits that do not change training:

- **loss**: the gradient of the loss (the task's mean of ``r0``) with respect to the logits,
  on a fixed batch of ``PROBE_BATCH`` logits (normal, scale 2, numpy seed ``PROBE_SEED``)
  and one-hot targets. A gradient ignores added constants, and it is normalised to unit L2
  norm, so a positive scale factor vanishes too. Dead code, register names and constant
  numbering change nothing the interpreter computes.
- **activation**: the output and the input gradient on ``PROBE_SIZE`` fixed
  pre-activations; the output is centred and both are normalised to unit norm, so
  ``a * f(x) + c`` with ``a > 0`` has the fingerprint of ``f`` (a network absorbs such a
  change in its next layer's weights and bias). A sign flip ``-f`` does not share it.
- **optimizer**: the update directions ``r0`` of ``PROBE_STEPS`` steps on fixed gradients
  and parameters, the state slots fed back from step to step, normalised to unit norm
  over all steps: the slots are the program's private memory (storing ``2 * m`` and
  reading it as such is the same rule), and a positive scale of the update is a learning
  rate, which the fingerprint treats as the same rule.

The normalised vector is quantised to a grid of ``GRID`` (on a unit vector; 0.1% of its
norm) and hashed with SHA-256, with the task and ``VERSION``. The grid absorbs the float32
rounding of a rescaled or reordered computation (a few ulps, far below ``GRID``); two
equivalent programs whose values straddle a grid line by rounding differ, a rare miss that
lets a copy through as a separate program, which the scoring margin still ranks below the
original. The probe is fixed, public and small: two losses that agree on it share a
fingerprint even if they differ elsewhere.

Programs that cannot train anything are flagged instead of hashed (``fingerprint`` None):
``"non_finite"`` when a value or gradient on the probe is NaN or infinite, ``"constant"``
when the gradient (loss, activation), an activation's centred output or the update
(optimizer) has norm at most ``TINY``, or the optimizer's update is the same for two
different gradient sequences. An activation with zero slope everywhere (``sign``,
``floor``) is ``"constant"`` too: no gradient reaches the layers below it.

Example:
  >>> from hivejax._src.tasks.registry import builtin, builtin_spec
  >>> spec = builtin_spec("cross_entropy")
  >>> ce = fingerprint("loss", spec, builtin("cross_entropy"))
  >>> ce.reason is None and len(ce.fingerprint)
  64
  >>> ce == fingerprint("loss", spec, builtin("mse"))
  False
"""

import dataclasses
import functools
import hashlib

import jax
import jax.numpy as jnp
import numpy as np

from hivejax._src.interpret import reference
from hivejax._src.program.program import Program, ProgramSpec, pad_population, stack_programs
from hivejax._src.tasks.loss import loss_inputs
from hivejax._src.tasks.registry import task_type

VERSION = 1
"""Changes whenever the probe, the normalisation or the grid change: old hashes then differ."""
PROBE_SEED = 20260
"""The numpy seed of every probe array."""
PROBE_BATCH = (8, 10)
"""Logits and targets of the loss probe: 8 examples of 10 classes, like the data sets."""
PROBE_SIZE = 64
"""Pre-activations of the activation probe; elements of the optimizer probe per step."""
PROBE_STEPS = 3
"""Optimizer steps of the optimizer probe, so the state slots are read back."""
GRID = 1e-3
"""Quantum of the normalised fingerprint vector (whose L2 norm is 1)."""
TINY = 1e-10
"""A gradient or update with L2 norm at most this trains nothing: ``"constant"``."""
MIN_BUCKET = 8
"""Populations are padded to a power of two at least this, so sizes share compilations."""
REASONS = ("non_finite", "constant")
"""Why a program has no fingerprint."""


@dataclasses.dataclass(frozen=True)
class Fingerprint:
    """A program's fingerprint (hex SHA-256), or ``None`` and the ``reason`` (``REASONS``)."""

    fingerprint: str | None
    reason: str | None = None


def _probe_arrays() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(PROBE_SEED)
    batch, classes = PROBE_BATCH
    labels = rng.integers(0, classes, batch)
    return {
        "logits": rng.normal(0.0, 2.0, PROBE_BATCH).astype(np.float32),
        "targets": np.eye(classes, dtype=np.float32)[labels],
        "pre_activation": rng.normal(0.0, 2.0, PROBE_SIZE).astype(np.float32),
        "grads": rng.normal(0.0, 1.0, (2, PROBE_STEPS, PROBE_SIZE)).astype(np.float32),
        "params": rng.normal(0.0, 1.0, (PROBE_STEPS, PROBE_SIZE)).astype(np.float32),
    }


_PROBE = _probe_arrays()


def _unit(v: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``v / |v|`` (0 where ``|v| <= TINY``) and ``|v|``."""
    norm = jnp.sqrt(jnp.sum(jnp.square(v)))
    return jnp.where(norm > TINY, v / jnp.maximum(norm, TINY), 0.0), norm


def _loss_probe(spec: ProgramSpec, program: Program):
    x, y = jnp.asarray(_PROBE["logits"]), jnp.asarray(_PROBE["targets"])
    loss = lambda x: reference.outputs(spec, program, loss_inputs(spec, x, y))[0].mean()
    value, grad = jax.value_and_grad(loss)(x)
    unit, norm = _unit(grad.ravel())
    finite = jnp.isfinite(value) & jnp.all(jnp.isfinite(grad))
    return unit, finite, norm > TINY


def _activation_probe(spec: ProgramSpec, program: Program):
    x = jnp.asarray(_PROBE["pre_activation"])
    f = lambda x: reference.outputs(spec, program, (x,))[0]
    out, pull = jax.vjp(f, x)
    (grad,) = pull(jnp.ones_like(out))  # elementwise: the derivative at each point
    centred, spread = _unit(out - out.mean())
    slope, norm = _unit(grad)
    finite = jnp.all(jnp.isfinite(out)) & jnp.all(jnp.isfinite(grad))
    return jnp.concatenate([centred, slope]), finite, (spread > TINY) & (norm > TINY)


def _updates(spec: ProgramSpec, program: Program, grads: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Updates ``[PROBE_STEPS, PROBE_SIZE]`` of the rule on ``grads``; whether all finite."""

    def step(slots, inputs):
        g, p, t = inputs
        out = reference.outputs(spec, program, (g, p, *slots, jnp.full_like(g, t)))
        return tuple(out[1:]), (out[0], jnp.all(jnp.isfinite(out)))

    zeros = jnp.zeros(PROBE_SIZE, jnp.float32)
    steps = jnp.arange(1, PROBE_STEPS + 1, dtype=jnp.float32)
    slots = (zeros,) * (spec.outputs - 1)
    _, (updates, finite) = jax.lax.scan(step, slots, (grads, jnp.asarray(_PROBE["params"]), steps))
    return updates, jnp.all(finite)


def _optimizer_probe(spec: ProgramSpec, program: Program):
    grads = jnp.asarray(_PROBE["grads"])
    updates, finite = _updates(spec, program, grads[0])
    other, other_finite = _updates(spec, program, grads[1])
    unit, norm = _unit(updates.ravel())
    scale = jnp.maximum(jnp.max(jnp.abs(updates)), TINY)
    ignores_grads = jnp.all(jnp.abs(updates - other) <= 1e-6 * scale)
    return unit, finite & other_finite, (norm > TINY) & ~ignores_grads


_PROBES = {"loss": _loss_probe, "activation": _activation_probe, "optimizer": _optimizer_probe}


def _probe(task: str, spec: ProgramSpec, programs: Program):
    """Grid cells ``[P, D]`` (int32), finite flags ``[P]`` and trainable flags ``[P]``."""
    vectors, finite, trainable = jax.vmap(functools.partial(_PROBES[task], spec))(programs)
    return jnp.rint(vectors / GRID).astype(jnp.int32), finite, trainable


_probe_population = jax.jit(_probe, static_argnums=(0, 1))


def grid_cells(task: str, spec: ProgramSpec, programs: Program) -> tuple[jax.Array, jax.Array]:
    """The quantised fingerprint vectors ``[P, D]`` (int32 grid cells) of a population and
    whether each program has a fingerprint (finite and trainable). Traceable: a generation
    computes them inside its own jitted step, and ``digest`` hashes a row on the host."""
    cells, finite, trainable = _probe(task, spec, programs)
    return cells, finite & trainable


def digest(task: str, cells: np.ndarray) -> str:
    """The hex SHA-256 of one program's grid cells, with the task and ``VERSION``."""
    header = f"hivejax-fingerprint:{VERSION}:{task}:".encode()
    return hashlib.sha256(header + np.asarray(cells, "<i4").tobytes()).hexdigest()


def fingerprints(task: str, spec: ProgramSpec, programs: Program) -> list[Fingerprint]:
    """The fingerprint of each program of a population (leaves with a leading axis ``[P]``).

    One jitted, vmapped call probes the whole population; hashing runs on the host. The
    population is padded to the next power of two (at least ``MIN_BUCKET``), so a
    validator whose number of new programs changes every interval compiles once per
    ``(task, spec)`` and size bucket.
    Raises ``ValueError`` for an unknown task or a spec that does not fit it.

    Example:
      >>> from hivejax._src.tasks.registry import builtin, builtin_spec
      >>> spec = builtin_spec("relu")
      >>> pop = stack_programs([builtin("relu"), builtin("gelu")])
      >>> a, b = fingerprints("activation", spec, pop)
      >>> a.fingerprint != b.fingerprint
      True
    """
    task_type(task).check_spec(spec)
    if int(np.shape(programs.length)[0]) == 0:
        return []
    padded, size = pad_population(programs, MIN_BUCKET)
    results = jax.device_get(_probe_population(task, spec, padded))
    cells, finite, trainable = (r[:size] for r in results)
    out = []
    for row, ok, moves in zip(cells, finite, trainable, strict=True):
        if not ok:
            out.append(Fingerprint(None, "non_finite"))
        elif not moves:
            out.append(Fingerprint(None, "constant"))
        else:
            out.append(Fingerprint(digest(task, row)))
    return out


def fingerprint(task: str, spec: ProgramSpec, program: Program) -> Fingerprint:
    """The fingerprint of one program (``fingerprints`` of a population of one)."""
    return fingerprints(task, spec, stack_programs([program]))[0]
