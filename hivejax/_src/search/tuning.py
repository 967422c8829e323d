"""Tuning the constants of a run's elites after the search: by evosax ES or meta-gradient.

A search varies constants only by mutation, one at a time. After it, the float constants
of the best few programs can be tuned directly, either by an evosax evolution strategy
over the constants alone (``const_tuning.tune_constants``) or by meta-gradient through
each elite's whole training (``meta_gradient.refine_constants``). Tuned programs are
judged under the run's evaluation key, so tuned and untuned fitness compare like with
like, and the run's best changes only if a tuned elite beats it.
"""

import jax
import jax.numpy as jnp

from hivejax._src.evaluation import cascade
from hivejax._src.evaluation.scores import finite_or_none, fitness_from_accuracy
from hivejax._src.program.program import Program, stack_programs
from hivejax._src.search.const_tuning import TUNERS, tune_constants
from hivejax._src.search.generation import best_of, flatten_islands
from hivejax._src.search.meta_gradient import refine_constants

META_GRADIENT = "meta_gradient"
"""The name of the meta-gradient refinement beside evosax's ``TUNERS``; its generations
are meta steps."""

CHOICES = (*TUNERS, META_GRADIENT)
"""Every way to tune a run's elites."""


def check(strategy: str | None) -> None:
    """Raise ``ValueError`` naming the choices unless ``strategy`` is None or one of them."""
    if strategy not in (None, *CHOICES):
        raise ValueError(f"unknown constant tuner {strategy!r}; choose one of {', '.join(CHOICES)}")


def tune_elites(key, task, data, states, strategy: str, elites: int, generations: int, screen):
    """The run's best after tuning the constants of its ``elites`` best programs (over all
    islands) with ``strategy`` for ``generations``: ``(program, fitness, report)``.

    ``key`` is the run's evaluation key. ``screen``: with the rejection cascade, a tuned
    constant must not take a program past it (its fitness is then the worst).
    """
    best_program, best_fitness = best_of(states)
    population = flatten_islands(states.population)
    order = jnp.argsort(states.fitness.reshape(-1))[:elites]
    chosen = jax.tree.map(lambda a: a[order], population)

    def fitness_fn(programs):
        fitness = fitness_from_accuracy(task.score(programs, data, key))
        if screen:
            codes = cascade.reasons(task.name, task.spec, programs)
            fitness = jnp.where(codes > 0, jnp.inf, fitness)
        return fitness

    k_tune = jax.random.fold_in(key, 1)
    if strategy == META_GRADIENT:
        tuned = _refine_each(k_tune, task, data, chosen, generations)
        fitness = fitness_fn(tuned)
    else:
        tuned, fitness = tune_constants(
            k_tune, chosen, fitness_fn, strategy=strategy, generations=generations
        )
    i = int(jnp.argmin(fitness))
    improved = bool(fitness[i] < best_fitness)
    report = {
        "strategy": strategy,
        "elites": elites,
        "generations": generations,
        "before": finite_or_none(-best_fitness),
        "after": finite_or_none(-min(fitness[i], best_fitness)),
        "improved": improved,
    }
    if not improved:
        return best_program, best_fitness, report
    return jax.tree.map(lambda a: a[i], tuned), fitness[i], report


def _refine_each(key, task, data, elites: Program, meta_steps: int) -> Program:
    """Each elite refined by ``meta_gradient.refine_constants``, through the whole training
    of the search protocol (a shorter horizon favours losses that only start fast)."""
    refined = []
    for i in range(int(elites.length.shape[0])):
        elite = jax.tree.map(lambda a, i=i: a[i], elites)
        program, _ = refine_constants(
            jax.random.fold_in(key, i),
            task,
            elite,
            data,
            inner_steps=task.train.steps,
            meta_steps=meta_steps,
            validation=task.train.validation or 0.25,
        )
        refined.append(program)
    return stack_programs(refined)
