"""The evolution run: setup, the generation loop, and the finish.

One generation (``generation.Generation``) breeds a population, screens it with the
rejection cascade, looks every program up in the functional-equivalence cache, scores
what is left (a static number of places, past a hurdle) in one vmapped run, and gives the
fitness back to the strategy. The host writes a metrics line per generation.

Decisions a user should know:

- A run selects under its search protocol (``protocols.SEARCH_TRAIN`` by default, the
  ``search-<task>`` protocol, written into ``summary.json``): fitness is the score on a
  validation part of the training set, never the test set, and the strategy minimises
  ``-score``. A program whose training went non-finite gets ``+inf``, the worst, and so
  does one the rejection cascade turns away (each reason is counted in ``metrics.jsonl``).
- Every generation is evaluated under one evaluation key fixed for the run (derived from
  the seed; ``setup.run_keys``), so a program's fitness does not depend on when it was
  evaluated, elitism compares like with like and an equivalent program may reuse a
  cached fitness. The finish then re-scores the best on fresh keys (``finish.py``).
- The population is held as ``islands`` stacked strategy states (one island by
  default). ``ask``/``tell`` run replicated on every device; the fitness evaluation is
  sharded over the mesh's ``pop`` axis (``evaluation/mesh.py``), which changes nothing but
  float rounding (XLA compiles each device's share separately); islands exchange programs
  in a ring and select with a tournament scaled to their size (``search/islands.py``).
- Checkpoints (``checkpoint.py``) hold the states, the metrics position and the
  equivalence cache; keys derive from the seed, so ``resume`` continues exactly.
- The run directory (``run_dir.RunDir``) owns the files: a run never overwrites an earlier
  one, and ``best.json`` and ``summary.json`` are written atomically.
"""

import pathlib
import time
from collections.abc import Callable

import jax
import jax.numpy as jnp

from hivejax._src.evaluation import cascade
from hivejax._src.evaluation.scores import finite_or_none
from hivejax._src.run.config import EvolveConfig, config_dict
from hivejax._src.run.finish import finish
from hivejax._src.run.run_dir import RunDir
from hivejax._src.run.setup import Run, setup
from hivejax._src.run.stop import agree_to_stop, stop_requests
from hivejax._src.search.strategy import OPERATORS


def evolve(
    config: EvolveConfig,
    out: pathlib.Path,
    on_generation: Callable[[dict], None] | None = None,
    *,
    devices=None,
    resume: bool = False,
    data_dir: str | pathlib.Path | None = None,
) -> dict:
    """Run an evolution and write ``metrics.jsonl``, ``best.json`` and ``summary.json`` in ``out``.

    Returns the summary. ``on_generation`` receives each metrics line as it is written.
    ``devices`` (default: all devices of all processes) form the mesh; ``data_dir`` is where
    file-based data sets are (``data.load_dataset``). Neither is part of the run's config: a
    run resumed on other devices or with its data elsewhere is the same run. With ``resume``, the
    run continues from the latest checkpoint in ``out`` (whose config must be ``config``,
    see ``resume_config``). On SIGINT or SIGTERM the run saves a checkpoint after the
    current generation and raises ``KeyboardInterrupt``; in a multi-process run a signal to
    any one process stops every process after the same generation (``stop.agree_to_stop``).
    Only process 0 writes files (``run_dir.RunDir``); every process returns the summary.
    """
    t_start = time.perf_counter()
    run = setup(config, RunDir(out, config.keep_checkpoints), devices, resume, data_dir)
    generations(run, on_generation)
    return finish(run, resume, t_start)


def generations(run: Run, on_generation: Callable[[dict], None] | None) -> None:
    """The generation loop: one compiled step per generation, a metrics line each, periodic
    checkpoints, and a checkpoint then ``KeyboardInterrupt`` when asked to stop."""
    config, run_dir = run.config, run.run_dir
    with run_dir.recording(), stop_requests() as stop:
        for g in range(run.start, config.generations):
            t0 = time.perf_counter()
            run.states, m = run.generation(run.states, run.keys[g], jnp.int32(g))
            m = jax.device_get(m)
            dt = time.perf_counter() - t0
            run.eval_seconds += dt
            line = _metrics_line(g, m, dt, config.population)
            run_dir.append_metrics(line)
            if on_generation is not None:
                on_generation(line)
            done = g + 1
            every = config.checkpoint_every
            stopping = agree_to_stop(bool(stop))
            if stopping or (every and done % every == 0 and done < config.generations):
                run_dir.save_checkpoint(done, run.states, _checkpoint_record(run, done))
            if stopping:
                raise KeyboardInterrupt(
                    f"checkpoint saved after generation {g}; continue with --resume {run_dir.path}"
                )


TIMINGS = ("seconds", "evals_per_second", "screen_seconds", "train_seconds")
"""The keys of a metrics line that are wall times: they differ run to run; nothing else
does."""


def _metrics_line(g: int, m: dict, seconds: float, population: int) -> dict:
    """The ``metrics.jsonl`` line of generation ``g`` from its metrics ``m``."""
    return {
        "generation": g,
        "best_accuracy": finite_or_none(m["best_accuracy"]),
        "mean_accuracy": float(m["mean_accuracy"]),
        "best_so_far": finite_or_none(m["best_so_far"]),
        "broken": int(m["broken"]),
        **_rejections(m),
        "trained": m["trained"],
        "cache_hits": m["cache_hits"],
        "untrained": m["untrained"],
        **_screening(m),
        "confirmation": _confirmation(m["confirmation"]),
        "seconds": round(seconds, 4),
        "evals_per_second": round(population / seconds, 2),
    }


def _rejections(metrics: dict) -> dict:
    """The metrics line's ``rejected`` (total) and ``rejections`` (count per reason)."""
    if "rejected" not in metrics:
        return {}
    counts = {
        reason: int(n)
        for reason, n in zip(cascade.REASONS, metrics["rejected"], strict=True)
        if reason != "passed" and n
    }
    return {"rejected": sum(counts.values()), "rejections": counts}


def _screening(metrics: dict) -> dict:
    """What breeding viable children took (``screening``, and ``screen_seconds`` beside
    ``train_seconds``, the wall times of the generation's two steps) and what each
    operator's children did (``operators``: per ``strategy.OPERATORS`` name, children
    ``bred`` over all rounds, ``passed`` the cascade, ``scored`` in the population, and
    ``improved`` on their parents' fitness), for operators that made a child this
    generation."""
    table = {
        name: dict(zip(("bred", "passed", "scored", "improved"), map(int, row), strict=True))
        for name, row in zip(OPERATORS, metrics["operators"], strict=True)
        if row.any()
    }
    bred = sum(row["bred"] for row in table.values())
    passed = sum(row["passed"] for row in table.values())
    return {
        "screening": {
            "pass_share": round(passed / max(bred, 1), 4),
            "rounds": int(metrics["rounds"]),
            "copied": int(metrics["copied"]),
        },
        "operators": table,
        "screen_seconds": round(metrics["screen_seconds"], 4),
        "train_seconds": round(metrics["train_seconds"], 4),
    }


def _confirmation(counted) -> dict:
    """The programs confirmed under the second key (``ScreeningConfig.confirm``) and the mean
    ``drop`` of their score: their first score less the mean of both."""
    programs, drops = int(counted[0]), float(counted[1])
    return {"programs": programs, "drop": round(drops / programs, 5) if programs else None}


def _checkpoint_record(run: Run, done: int) -> dict:
    """What a checkpoint holds besides the states: the config, counters and the cache."""
    record = {
        "config": config_dict(run.config),
        "generation": done,
        "metrics_lines": done,
        "eval_seconds": run.eval_seconds,
    }
    if run.generation.cache is not None:
        record["cache"] = run.generation.cache.state()
    return record
