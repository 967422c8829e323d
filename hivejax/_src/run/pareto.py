"""The Pareto front of a population: test accuracy against live length.

A shorter program that does almost as well is often the one worth reading, exporting or
seeding the next search with. A member is on the front when no other member is at least
as accurate with no more live instructions and better in one of the two. Programs with no
accuracy (rejected by the cascade or broken: infinite fitness) are left out, and programs
with the same canonical hash count once.
"""

import jax
import numpy as np

from hivejax._src.io.program_io import canonical_record
from hivejax._src.program.liveness import live_mask
from hivejax._src.program.program import Program, ProgramSpec


def front(spec: ProgramSpec, programs: Program, fitness) -> list[dict]:
    """The front of a population (leaves ``[P, ...]``, minimised ``fitness`` ``[P]``),
    shortest first: each entry has ``live_length``, ``accuracy``, ``formula`` and ``hash``.

    Example:
      >>> from hivejax._src.program.program import stack_programs
      >>> from hivejax._src.tasks.registry import builtin, builtin_spec
      >>> spec = builtin_spec("cross_entropy")
      >>> pop = stack_programs([builtin("cross_entropy"), builtin("mse"), builtin("focal")])
      >>> [(e["live_length"], e["accuracy"]) for e in front(spec, pop, [-0.26, -0.21, -0.25])]
      [(2, 0.21), (5, 0.26)]
    """
    fitness = np.asarray(fitness, np.float64)
    lengths = np.asarray(jax.vmap(lambda p: live_mask(spec, p).sum())(programs))
    order = sorted(
        (int(n), float(-f), i)
        for i, (n, f) in enumerate(zip(lengths, fitness, strict=True))
        if np.isfinite(f)
    )
    out, best, seen = [], -np.inf, set()
    for length, accuracy, i in sorted(order, key=lambda t: (t[0], -t[1])):
        if accuracy <= best:
            continue
        _, record = canonical_record(spec, jax.tree.map(lambda a, i=i: a[i], programs))
        if record["hash"] in seen:
            continue
        seen.add(record["hash"])
        best = accuracy
        out.append(
            {
                "live_length": length,
                "accuracy": accuracy,
                "formula": record["formula"],
                "hash": record["hash"],
            }
        )
    return out
