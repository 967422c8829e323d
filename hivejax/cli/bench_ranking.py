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

import hivejax as hj
from hivejax._src.evaluation.protocols import population_improvements
from hivejax._src.io.program_io import respec
from hivejax._src.program.program import stack_programs
from hivejax._src.tasks.loss import DERIVED_SPEC

RANDOM_BATCH = 512
"""Programs drawn from the initialiser per batch while looking for ones that pass."""
MAX_RANDOM_BATCHES = 64


def search_spec(task: str) -> hj.ProgramSpec:
    """The program layout a search of ``task`` evolves by default."""
    return DERIVED_SPEC if task == "loss" else hj.make_task(task).spec


def candidates(task: str, sources, random: int, seed: int) -> list[tuple[str, hj.Program]]:
    """``(label, program)`` of the builtins, the given sources and passing random programs."""
    spec = search_spec(task)
    found = [(f"builtin:{n}", hj.builtin(n, spec)) for n in hj.builtin_names(task)]
    found += [(src, respec(*hj.load_program(src), spec)) for src in sources]
    key = jax.random.key(seed)
    drawn = 0
    for i in range(MAX_RANDOM_BATCHES):
        if drawn >= random:
            break
        batch = hj.random_population(jax.random.fold_in(key, i), spec, RANDOM_BATCH)
        passed = np.flatnonzero(np.asarray(hj.cascade_reasons(task, spec, batch)) == 0)
        for j in passed[: random - drawn]:
            found.append((f"random:{i}:{j}", jax.tree.map(lambda a, j=j: a[j], batch)))
            drawn += 1
    out, seen = [], set()
    for label, program in found:
        h = hj.canonical_hash(spec, program)
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
    search: hj.Protocol | None = None,
    validator: hj.Protocol | None = None,
    data_dir=None,
) -> dict:
    """Mean paired improvement of every candidate under both protocols, and their rank
    correlations (``search``/``validator`` default to ``search-<task>``/``validator-<task>``)."""
    search = search or hj.get_protocol(f"search-{task}")
    validator = validator or hj.get_protocol(f"validator-{task}")
    programs = candidates(task, sources, random, seed)
    spec = search_spec(task)
    stacked = stack_programs([p for _, p in programs])
    scores = {}
    for protocol in (search, validator):
        gains, _ = population_improvements(protocol, stacked, spec=spec, data_dir=data_dir)
        scores[protocol.name] = gains.mean(axis=1)
    a, b = scores[search.name], scores[validator.name]
    rho = scipy.stats.spearmanr(a, b).statistic
    tau = scipy.stats.kendalltau(a, b).statistic
    rows = [
        {
            "program": label,
            "formula": hj.formula(spec, p),
            "search": float(x),
            "validator": float(y),
        }
        for (label, p), x, y in zip(programs, a, b, strict=True)
    ]
    return {
        "task": task,
        "search": {"name": search.name, "version": search.version},
        "validator": {"name": validator.name, "version": validator.version},
        "programs": rows,
        "spearman": float(rho),
        "kendall": float(tau),
    }


def format_ranking(report: dict) -> str:
    """One line per program (sorted by the validator's score) and one for the correlations."""
    s, v = report["search"], report["validator"]
    lines = [
        f"{report['task']}: improvement under {s['name']} ({s['version']}) and "
        f"{v['name']} ({v['version']})"
    ]
    for row in sorted(report["programs"], key=lambda r: -r["validator"]):
        lines.append(
            f"  {row['search']:+.3f}  {row['validator']:+.3f}  {row['program']}: {row['formula']}"
        )
    lines.append(
        f"  {len(report['programs'])} programs: Spearman {report['spearman']:.3f}, "
        f"Kendall {report['kendall']:.3f}"
    )
    return "\n".join(lines)
