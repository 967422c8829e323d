"""Does the short search protocol rank programs as the converged validator protocol does?

A search selects under ``search-<task>`` (400 steps, validation split) because the
validators' converged training (``validator-<task>``) costs far more. That is only sound if
both order programs alike. This measurement scores one set of programs under both, paired
with the baseline, and reports the rank correlations of their mean improvements
(Spearman's rho and Kendall's tau, over every program).

The set: the task's builtins, the programs given (for example the finalists of runs), and
``random`` programs from the initialiser that pass the rejection cascade, drawn in batches
until enough pass (random programs that fail it are not candidates anyone would score).
Duplicates by canonical hash are dropped. Every program is ranked in the layout a search
of the task uses (for losses, the one with derived inputs): a program file of the plain
layout is re-expressed in it (``program_io.respec``).
"""

import jax
import numpy as np
import scipy.stats

from hivejax._src.evaluation.cascade import reasons
from hivejax._src.evaluation.protocols import Protocol, get_protocol, population_improvements
from hivejax._src.io.program_io import load_program, respec
from hivejax._src.program.canonical import canonical_hash
from hivejax._src.program.formula import formula
from hivejax._src.program.program import Program, ProgramSpec, random_population, stack_programs
from hivejax._src.tasks.loss import DERIVED_SPEC
from hivejax._src.tasks.registry import builtin, builtin_names, make_task

RANDOM_BATCH = 512
"""Programs drawn from the initialiser per batch while looking for ones that pass."""
MAX_RANDOM_BATCHES = 64


def search_spec(task: str) -> ProgramSpec:
    """The program layout a search of ``task`` evolves by default."""
    return DERIVED_SPEC if task == "loss" else make_task(task).spec


def candidates(task: str, sources, random: int, seed: int) -> list[tuple[str, Program]]:
    """``(label, program)`` of the builtins, the given sources and passing random programs."""
    spec = search_spec(task)
    found = [(f"builtin:{n}", builtin(n, spec)) for n in builtin_names(task)]
    found += [(src, respec(*load_program(src), spec)) for src in sources]
    key = jax.random.key(seed)
    drawn = 0
    for i in range(MAX_RANDOM_BATCHES):
        if drawn >= random:
            break
        batch = random_population(jax.random.fold_in(key, i), spec, RANDOM_BATCH)
        passed = np.flatnonzero(np.asarray(reasons(task, spec, batch)) == 0)
        for j in passed[: random - drawn]:
            found.append((f"random:{i}:{j}", jax.tree.map(lambda a, j=j: a[j], batch)))
            drawn += 1
    out, seen = [], set()
    for label, program in found:
        h = canonical_hash(spec, program)
        if h not in seen:
            seen.add(h)
            out.append((label, program))
    return out


def ranking(
    task: str,
    sources=(),
    random: int = 16,
    seed: int = 0,
    *,
    search: Protocol | None = None,
    validator: Protocol | None = None,
    data_dir=None,
) -> dict:
    """Mean paired improvement of every candidate under both protocols, and their rank
    correlations (``search``/``validator`` default to ``search-<task>``/``validator-<task>``)."""
    search = search or get_protocol(f"search-{task}")
    validator = validator or get_protocol(f"validator-{task}")
    programs = candidates(task, sources, random, seed)
    spec = search_spec(task)
    stacked = stack_programs([p for _, p in programs])
    scores = {}
    for protocol in (search, validator):
        gains, _ = population_improvements(protocol, stacked, spec=spec, data_dir=data_dir)
        scores[protocol.name] = gains.mean(axis=1)
    a, b = scores[search.name], scores[validator.name]
    rows = [
        {"program": label, "formula": formula(spec, p), "search": float(x), "validator": float(y)}
        for (label, p), x, y in zip(programs, a, b, strict=True)
    ]
    return {
        "task": task,
        "search": {"name": search.name, "version": search.version},
        "validator": {"name": validator.name, "version": validator.version},
        "programs": rows,
        "spearman": float(scipy.stats.spearmanr(a, b).statistic),
        "kendall": float(scipy.stats.kendalltau(a, b).statistic),
    }
