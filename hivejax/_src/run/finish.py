"""How a run ends: constant tuning, the fresh-key funnel, the test score and the summary.

One evaluation key overfits: the best of thousands of programs under one key is partly
luck. So a run does not simply report its best program. It first tunes the elites'
constants if asked (``search/tuning.py``), then the funnel re-scores the ``funnel`` best
distinct programs on ``final_seeds`` fresh keys (still on validation) and the best of
those becomes the run's best; ``summary.json`` keeps both its search score and its
fresh-key score. Only then is it scored on held-out data (for a training task, trained on
the whole training set and scored on test), paired with the task's baseline on other
fresh keys.

The funnel's report in ``summary.json`` keeps every candidate with its program, so a
caller can take the run's finalists rather than its best alone (``finalists``: a miner
scores them under the validators' protocol).
"""

import dataclasses
import os
import time

import jax
import numpy as np

from hivejax._src.evaluation.protocols import get_protocol
from hivejax._src.evaluation.scores import paired_scores, population_accuracies
from hivejax._src.interpret import dispatch
from hivejax._src.io.program_io import canonical_record, load_program
from hivejax._src.program.canonical import canonicalize, hash_of_canonical
from hivejax._src.program.formats import DecodeError, from_json, to_json
from hivejax._src.program.program import Program, ProgramSpec, stack_programs
from hivejax._src.run import pareto
from hivejax._src.run.config import EvolveConfig, config_dict
from hivejax._src.run.run_dir import BEST, SUMMARY, RunDir
from hivejax._src.run.setup import Run
from hivejax._src.search.generation import best_of, flatten_islands
from hivejax._src.search.tuning import tune_elites
from hivejax._src.tasks.base import Task, seed_keys

FUNNEL_SEEDS = 2000
"""The fresh keys of the funnel are ``FUNNEL_SEEDS + i``; the test score uses ``TEST_SEEDS + i``."""

TEST_SEEDS = 1000


def finish(run: Run, resumed: bool, t_start: float) -> dict:
    """Tune constants if asked, pass the best through the fresh-key funnel, score the
    winner on held-out data, write ``best.json`` and ``summary.json``; return the summary."""
    config, task = run.config, run.task
    best, best_fitness = best_of(run.states)
    tuning = None
    if config.finish.tune_constants:
        best, best_fitness, tuning = tune_elites(
            run.eval_key,
            task,
            run.data,
            run.states,
            config.finish.tune_constants,
            min(config.finish.tune_elites, config.population),
            config.finish.tune_generations,
            screen=config.screening.cascade,
        )
    best, search, funnel = _funnel(run, *jax.device_get((best, best_fitness)))
    best, best_doc = canonical_record(task.spec, best, fitness=search)
    seeds = range(TEST_SEEDS, TEST_SEEDS + config.finish.final_seeds)
    final = paired_scores(task.for_final_scoring(), best, run.data, seeds)
    evaluations = config.population * config.generations  # eval_seconds spans resumes too
    summary = {
        "config": config_dict(config),
        "protocol": _protocol_of(config, task),
        "best_fitness": search,
        "fresh_fitness": funnel["chosen"]["fresh"] if funnel else None,
        "best_hash": best_doc["hash"],
        "constant_tuning": tuning,
        "best_formula": best_doc["formula"],
        "funnel": funnel,
        "front": _front(task, run.states),
        "final": final,
        "baseline": task.baseline,
        "baseline_accuracy": final["baseline"]["mean"],
        "evaluations": evaluations,
        "evals_per_second": evaluations / run.eval_seconds if run.eval_seconds else 0.0,
        "compile_seconds": run.compile_seconds,
        "wall_seconds": time.perf_counter() - t_start,
        "resumed_from": run.start if resumed else None,
        "mesh": dict(run.mesh.shape),
        "interpreter": dispatch.resolve(task.interpreter),
        "chunk_size": task.chunk_size,
        "processes": jax.process_count(),
        "devices": [str(d) for d in run.mesh.devices.flat],
        **task.report(best, run.eval_key, final["seeds"]),
    }
    run.run_dir.write_json("best.json", best_doc)
    run.run_dir.write_json("summary.json", summary)
    return summary


def _funnel(run: Run, best: Program, best_fitness) -> tuple[Program, float | None, dict | None]:
    """The run's best after re-scoring on fresh keys: ``(program, search score, report)``.

    The candidates are ``best`` (the best ever seen, or the tuned one) and the fittest
    full-budget programs of the final population, distinct by canonical hash, at most
    ``funnel`` of them. Each is scored under ``final_seeds`` fresh keys, on the same
    validation split, beside the baseline; the highest mean wins (a broken run counts 0).
    The report's ``candidates`` rows hold each one's hash, scores and ``program`` (its
    canonical form as ``formats.to_json`` writes it). With no full-budget candidate the
    report is None and ``best`` stays.
    """
    config, task = run.config, run.task
    programs, fitness = jax.device_get((run.states.population, run.states.fitness))
    flat = flatten_islands(programs)
    fitness = fitness.reshape(-1)
    pool = [(best, float(best_fitness))]
    pool += [
        (jax.tree.map(lambda a, i=i: a[i], flat), float(fitness[i])) for i in np.argsort(fitness)
    ]
    chosen, hashes = [], set()
    for program, f in pool:
        if len(chosen) == config.finish.funnel:
            break
        canonical = canonicalize(task.spec, program)
        h = hash_of_canonical(task.spec, canonical)
        if f <= 0 and h not in hashes:
            chosen.append((program, -f, h, to_json(task.spec, canonical)))
            hashes.add(h)
    if not chosen:
        return best, None, None
    seeds = range(FUNNEL_SEEDS, FUNNEL_SEEDS + config.finish.final_seeds)
    stacked = stack_programs([program for program, *_ in chosen])
    scores, baseline = population_accuracies(task, stacked, run.data, seed_keys(seeds))
    scores, baseline = jax.device_get((scores, baseline))
    fresh = np.nan_to_num(np.asarray(scores, np.float64), nan=0.0).mean(axis=0)
    rows = [
        {"hash": h, "search": search, "fresh": float(f), "program": doc}
        for (_, search, h, doc), f in zip(chosen, fresh, strict=True)
    ]
    i = int(np.argmax(fresh))
    report = {"seeds": list(seeds), "baseline_fresh": float(np.mean(baseline)), "chosen": rows[i]}
    return chosen[i][0], chosen[i][1], report | {"candidates": rows}


def finalists(out: str | os.PathLike, spec: ProgramSpec) -> list[Program]:
    """A finished run's finalists: its best (``best.json``), then the funnel's other
    candidates in the funnel's order, distinct by canonical hash; the best alone when the
    summary has no funnel. ``DecodeError`` if a program does not fit ``spec``."""
    run_dir = RunDir(out, writer=False)
    best_doc, summary = run_dir.read_json(BEST), run_dir.read_json(SUMMARY)
    if best_doc is None or summary is None:
        raise ValueError(f"{run_dir.path} holds no finished run ({BEST}, {SUMMARY})")
    programs, hashes = [load_program(run_dir.path / BEST, spec)[1]], {best_doc["hash"]}
    for row in (summary["funnel"] or {}).get("candidates", []):
        # A summary written before the rows held their programs offers only its best.
        if row["hash"] in hashes or "program" not in row:
            continue
        got, program = from_json(row["program"])
        if got != spec:
            raise DecodeError(f"{run_dir.path / SUMMARY}: a finalist's shape {got} is not {spec}")
        programs.append(program)
        hashes.add(row["hash"])
    return programs


def _front(task: Task, states) -> list[dict]:
    """The final population's Pareto front of score against live length, all islands."""
    programs, fitness = jax.device_get((states.population, states.fitness))
    flat = flatten_islands(programs)
    fitness = np.where(fitness <= 0, fitness, np.inf)  # full-budget programs only
    return pareto.front(task.spec, flat, fitness.reshape(-1))


def _protocol_of(config: EvolveConfig, task: Task) -> dict:
    """The protocol a run selected under: the task's own (a regression problem), or
    ``search-<task>`` with its version when the run's data set, training and seeds are that
    protocol's, else ``custom``."""
    own = task.protocol()
    if own is not None:
        return own
    shipped = get_protocol(f"search-{config.task}")
    train = dataclasses.asdict(config.train)
    same = (
        shipped.cells == ((config.dataset, config.train.model),)
        and shipped.train == config.train
        and shipped.seeds == config.finish.final_seeds
    )
    if not same:
        return {"name": "custom", "version": None, "dataset": config.dataset, "train": train}
    return {
        "name": shipped.name,
        "version": shipped.version,
        "dataset": config.dataset,
        "train": train,
    }
