"""Scoring a program against its task's baseline: one home for fitness, pairing and statistics.

- **Fitness** is minimised, as in evosax: ``-accuracy``. A program whose training went
  non-finite has NaN accuracy and gets the worst fitness, ``+inf`` (``worst_if_nan``), so
  it never wins a tournament and never displaces anything.
- **Paired scoring** trains one model with the program and one with the baseline under
  each key (``paired_accuracies``; ``population_accuracies`` for many programs at once,
  vmapped over the keys; the programs' and the baseline's runs are two computations, so
  the baseline can be reused), so a seed's luck cancels in their difference. A broken run
  counts as accuracy 0 in the improvement (``improvement``) and is flagged.
- **Statistics** over a sample of paired improvements (``summarize``): the mean, the
  standard deviation with ``ddof=1`` (the sample estimate; ``None`` for one value), and a
  one-sided Student-t lower confidence bound on the mean,
  ``mean - t.ppf(confidence, n - 1) * std / sqrt(n)``.

``paired_scores`` (``hivejax evaluate``, the final re-scoring of ``evolve``) and
``protocols.run_protocol`` are both built from these three pieces.
"""

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from hivejax._src.program.program import Program, stack_programs
from hivejax._src.tasks.base import seed_keys
from hivejax._src.tasks.data import Dataset


def finite_or_none(x) -> float | None:
    """A score or fitness as JSON: ``None`` where it is not finite (nothing was scored)."""
    x = float(x)
    return x if math.isfinite(x) else None


def worst_if_nan(fitness: jax.Array) -> jax.Array:
    """Minimised fitness with NaN (a broken program) mapped to the worst, ``+inf``."""
    fitness = jnp.asarray(fitness, jnp.float32)
    return jnp.where(jnp.isnan(fitness), jnp.inf, fitness)


def fitness_from_accuracy(accuracy: jax.Array) -> jax.Array:
    """Minimised fitness of test accuracies: ``-accuracy``, ``+inf`` where training broke.

    Example:
      >>> fitness_from_accuracy(jnp.asarray([0.5, jnp.nan])).tolist()
      [-0.5, inf]
    """
    return worst_if_nan(-jnp.asarray(accuracy))


@functools.partial(jax.jit, static_argnums=0)
def program_accuracies(task, programs: Program, data: Dataset, keys: jax.Array) -> jax.Array:
    """Scores ``[S, P]`` of a population (leaves ``[P, ...]``) under each of the keys
    ``[S]``; NaN where a program broke."""
    return jax.vmap(lambda key: task.score(programs, data, key))(keys)


@functools.partial(jax.jit, static_argnums=0)
def baseline_accuracies(task, data: Dataset, keys: jax.Array) -> jax.Array:
    """Scores ``[S]`` of ``task``'s baseline under each of the keys ``[S]``.

    Its own computation, not a part of the programs': the numbers are the same (the
    baseline's run shares nothing with theirs), and a caller that already has the
    baseline for these keys (``evaluation/baselines.py``) trains only the programs."""
    return jax.vmap(lambda key: task.baseline_score(data, key)[0])(keys)


def population_accuracies(task, programs: Program, data: Dataset, keys: jax.Array):
    """Scores ``[S, P]`` of a population and ``[S]`` of ``task``'s baseline under each of the
    keys ``[S]``: for a training task, accuracies of every program and the baseline trained
    from the same initialisation on the same batches. NaN where a program broke."""
    return program_accuracies(task, programs, data, keys), baseline_accuracies(task, data, keys)


def paired_accuracies(task, program: Program, data: Dataset, keys: jax.Array):
    """Accuracies ``([S], [S])`` of one program and of ``task``'s baseline under each key."""
    prog, base = population_accuracies(task, stack_programs([program]), data, keys)
    return prog[:, 0], base


def improvement(program, baseline) -> tuple[np.ndarray, np.ndarray]:
    """Paired improvements ``program - baseline`` (a broken run counts as 0) and the
    broken flags, as float64 host arrays."""
    program = np.asarray(program, np.float64)
    broken = np.isnan(program)
    base = np.nan_to_num(np.asarray(baseline, np.float64), nan=0.0)
    return np.where(broken, 0.0, program) - base, broken


def summarize(sample, confidence: float = 0.95) -> dict:
    """Mean, standard deviation (``ddof=1``) and one-sided Student-t lower bound of a sample.

    With one value the spread is unknown: ``std`` and ``lower_bound`` are ``None``.

    Example:
      >>> s = summarize([0.1, 0.2, 0.3])
      >>> round(s["mean"], 6), round(s["std"], 6), s["lower_bound"] < s["mean"], s["n"]
      (0.2, 0.1, True, 3)
    """
    # scipy.stats takes about a second to import, and only the statistics need it.
    from scipy import stats

    x = np.asarray(sample, np.float64).ravel()
    n = x.size
    mean = float(np.mean(x))
    if n < 2:
        return {"mean": mean, "std": None, "lower_bound": None, "confidence": confidence, "n": n}
    std = float(np.std(x, ddof=1))
    margin = float(stats.t.ppf(confidence, n - 1)) * std / math.sqrt(n)
    return {
        "mean": mean,
        "std": std,
        "lower_bound": mean - margin,
        "confidence": confidence,
        "n": n,
    }


def _describe(accuracies: np.ndarray) -> dict:
    s = summarize(accuracies)
    return {"mean": s["mean"], "std": s["std"], "per_seed": accuracies.tolist()}


def paired_scores(task, program: Program, data: Dataset, seeds, confidence: float = 0.95) -> dict:
    """Score one program and ``task``'s baseline on ``data`` under the keys of ``seeds``.

    Returns ``seeds``; ``program`` and ``baseline``, each with ``mean``, ``std`` (``ddof=1``)
    and ``per_seed`` accuracies (the program's NaN where its training broke); and
    ``improvement`` (``summarize`` of the paired improvements).
    """
    seeds = [int(s) for s in seeds]
    prog, base = paired_accuracies(task, program, data, seed_keys(seeds))
    prog, base = np.asarray(prog, np.float64), np.asarray(base, np.float64)
    gains, _ = improvement(prog, base)
    return {
        "seeds": seeds,
        "program": _describe(prog),
        "baseline": _describe(base),
        "improvement": summarize(gains, confidence),
    }
