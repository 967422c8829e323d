"""Does a search protocol rank programs as the converged validator protocol does, and at
what cost?

A search selects under a cheap protocol because the validators' converged training
(``validator-<task>``) costs far more. That is only sound if both order programs alike.
This measurement scores one set of programs under the validator's protocol and under each
search protocol given, paired with the baseline, and reports for each search protocol the
rank correlations of the programs' mean improvements with the validator's (Spearman's rho
and Kendall's tau, over every program) and its cost: the seconds its scoring took, per
program, and as a fraction of the validator's (compilation included, each protocol's
baseline trained once; the programs are scored in one batch, as a search scores them).

The set, so that it spans the qualities a search meets and not only random ones: the task's
builtins; the programs given (for example the winners of runs); **mutants** of the
builtins, each 1, 2 or 4 mutations away (``variation.mutate``), which are near-good and
sometimes better; and **random** programs from the initialiser. Mutants and random programs
are kept only if they pass the rejection cascade (programs that fail it are not candidates
anyone would score). Duplicates by canonical hash are dropped. Every program is ranked in
the layout a search of the task uses (for losses, the one with derived inputs): a program
file of the plain layout is re-expressed in it (``program_io.respec``).
"""

import time

import jax
import numpy as np
import scipy.stats

from hivejax._src.evaluation.cascade import reasons
from hivejax._src.evaluation.protocols import Protocol, get_protocol, population_improvements
from hivejax._src.io.program_io import load_program, respec
from hivejax._src.program.canonical import canonical_hash
from hivejax._src.program.formula import formula
from hivejax._src.program.program import Program, ProgramSpec, random_population, stack_programs
from hivejax._src.search.variation import MutationParams, mutate
from hivejax._src.tasks.loss import DERIVED_SPEC
from hivejax._src.tasks.registry import builtin, builtin_names, make_task
from hivejax._src.tasks.training import TrainConfig

RANDOM_BATCH = 512
"""Programs drawn from the initialiser per batch while looking for ones that pass."""
MAX_RANDOM_BATCHES = 64
MUTATION_DISTANCES = (1, 2, 4)
"""How many mutations away from a builtin its mutants are, in turn."""
MAX_MUTANT_TRIES = 32
"""Draws per mutant wanted before giving up (most mutants of a builtin pass)."""


def search_spec(task: str) -> ProgramSpec:
    """The program layout a search of ``task`` evolves by default."""
    return DERIVED_SPEC if task == "loss" else make_task(task).spec


def candidates(
    task: str, sources, random: int, seed: int, mutants: int = 0
) -> list[tuple[str, Program]]:
    """``(label, program)`` of the builtins, the given sources, ``mutants`` passing mutants
    of the builtins and ``random`` passing random programs, distinct by canonical hash."""
    spec = search_spec(task)
    builtins = [(f"builtin:{n}", builtin(n, spec)) for n in builtin_names(task)]
    found = builtins + [(src, respec(*load_program(src), spec)) for src in sources]
    key = jax.random.key(seed)
    found += _mutants(task, spec, builtins, mutants, jax.random.fold_in(key, 1))
    found += _random(task, spec, random, jax.random.fold_in(key, 0))
    out, seen = [], set()
    for label, program in found:
        h = canonical_hash(spec, program)
        if h not in seen:
            seen.add(h)
            out.append((label, program))
    return out


def _passing(task: str, spec: ProgramSpec, programs: Program) -> np.ndarray:
    return np.flatnonzero(np.asarray(reasons(task, spec, programs)) == 0)


def _random(task, spec, count, key) -> list[tuple[str, Program]]:
    found = []
    for i in range(MAX_RANDOM_BATCHES):
        if len(found) >= count:
            break
        batch = random_population(jax.random.fold_in(key, i), spec, RANDOM_BATCH)
        for j in _passing(task, spec, batch)[: count - len(found)]:
            found.append((f"random:{i}:{j}", jax.tree.map(lambda a, j=j: a[j], batch)))
    return found


def _mutants(task, spec, builtins, count, key) -> list[tuple[str, Program]]:
    """Passing mutants, dealt out over (distance, builtin) in turn."""
    slots = [(d, name, p) for d in MUTATION_DISTANCES for name, p in builtins]
    # At least a random batch's size: the same shape as the random draws, so the cascade
    # that screens both compiles once.
    tries = max(RANDOM_BATCH, count * MAX_MUTANT_TRIES)
    if not count or not slots:
        return []
    mutate_many = jax.jit(jax.vmap(lambda k, p: mutate(k, spec, p, MutationParams())))
    keys = jax.random.split(key, tries * max(MUTATION_DISTANCES)).reshape(tries, -1)
    parents = [slots[i % len(slots)] for i in range(tries)]
    children = stack_programs([p for _, _, p in parents])
    for step in range(max(MUTATION_DISTANCES)):
        mutated = mutate_many(keys[:, step], children)
        # A mutant of distance d stops after its d-th mutation.
        going = np.asarray([step < d for d, _, _ in parents])
        children = jax.tree.map(
            lambda new, old, going=going: np.where(
                going.reshape((-1,) + (1,) * (new.ndim - 1)), new, old
            ),
            mutated,
            children,
        )
    passing = set(_passing(task, spec, children).tolist())
    found = []
    for i, (d, name, _) in enumerate(parents):
        if i in passing and len(found) < count:
            found.append((f"{name}+{d}:{i}", jax.tree.map(lambda a, i=i: a[i], children)))
    return found


def ranking(
    task: str,
    sources=(),
    random: int = 16,
    seed: int = 0,
    *,
    mutants: int = 24,
    search: Protocol | list[Protocol] | None = None,
    validator: Protocol | None = None,
    data_dir=None,
) -> dict:
    """Mean paired improvement of every candidate under the validator's protocol and each
    search protocol, and each search protocol's rank correlations and cost.

    ``search`` is one protocol or a list (default ``search-<task>``); ``validator``
    defaults to ``validator-<task>``. The report's ``searches`` has one entry per search
    protocol: ``name``, ``version``, ``spearman``, ``kendall``, ``seconds``,
    ``seconds_per_program`` and ``cost`` (its seconds over the validator's).
    """
    if search is None:
        search = get_protocol(f"search-{task}")
    searches = [search] if isinstance(search, Protocol) else list(search)
    validator = validator or get_protocol(f"validator-{task}")
    programs = candidates(task, sources, random, seed, mutants)
    spec = search_spec(task)
    stacked = stack_programs([p for _, p in programs])
    scores, seconds = {}, {}
    for protocol in (validator, *searches):
        start = time.perf_counter()
        gains, _ = population_improvements(protocol, stacked, spec=spec, data_dir=data_dir)
        seconds[protocol.name] = time.perf_counter() - start
        scores[protocol.name] = gains.mean(axis=1)
    v = scores[validator.name]
    rows = [
        {
            "program": label,
            "formula": formula(spec, p),
            "validator": float(v[i]),
            "search": {s.name: float(scores[s.name][i]) for s in searches},
        }
        for i, (label, p) in enumerate(programs)
    ]
    return {
        "task": task,
        "validator": _cost(validator, seconds, len(programs)),
        "searches": [
            _cost(s, seconds, len(programs))
            | {
                "spearman": float(scipy.stats.spearmanr(scores[s.name], v).statistic),
                "kendall": float(scipy.stats.kendalltau(scores[s.name], v).statistic),
                "cost": seconds[s.name] / seconds[validator.name],
            }
            for s in searches
        ],
        "programs": rows,
    }


def _cost(protocol: Protocol, seconds: dict, count: int) -> dict:
    return {
        "name": protocol.name,
        "version": protocol.version,
        "seconds": seconds[protocol.name],
        "seconds_per_program": seconds[protocol.name] / count,
    }


def search_candidates(task: str) -> list[Protocol]:
    """The search protocols ``hivejax bench ranking --search all`` compares for ``task``.

    The shipped ``search-<task>`` and single-cell protocols a search can select under
    (``evolve`` trains one cell), each at the validators' batch size and learning rate,
    selecting on a validation quarter: the validators' MLP cell run to convergence, and
    their convolutional cell cut short (with the convolution as matmuls, ``models.CNN1D``).
    """
    at_validator_rate = dict(batch_size=100, learning_rate=1e-2, validation=0.25)
    cells = {
        "mlp-1000": (("mnist1d", "mlp"), 3, TrainConfig(steps=1000, **at_validator_rate)),
        "cnn-300": (
            ("mnist1d", "cnn1d"),
            3,
            TrainConfig(steps=300, conv="matmul", **at_validator_rate),
        ),
        "cnn-600": (
            ("mnist1d", "cnn1d"),
            2,
            TrainConfig(steps=600, conv="matmul", **at_validator_rate),
        ),
    }
    out = [get_protocol(f"search-{task}")]
    for name, (cell, seeds, train) in cells.items():
        out.append(
            Protocol(name=f"{name}-{task}", task=task, cells=(cell,), seeds=seeds, train=train)
        )
    return out
