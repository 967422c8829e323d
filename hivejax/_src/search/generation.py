"""One generation: breed, screen, decide what trains, train it past a hurdle, select.

A generation is two jitted steps with a host decision between them:

1. **ask** (jitted): the strategy breeds the population of every island; the rejection
   cascade (``cascade.reasons``) screens it and, with an equivalence cache, every program's
   fingerprint grid (``fingerprint.grid_cells``) comes back to the host.
2. **plan** (host, ``_plan``): a program the cascade rejected gets the worst fitness. A
   program whose fingerprint is in the cache, or was met earlier in the same generation,
   takes that fitness without training (a *cache hit*). The others train, in population
   order, up to a static number of places (``trained``); a program past them gets the worst
   fitness and counts as ``untrained``. Static shapes are what make this one compiled
   program: places not taken train a copy of the first program and are ignored.
3. **tell** (jitted): the chosen programs train, sharded over the mesh's ``pop`` axis. With
   a hurdle, every one trains ``hurdle_steps`` steps first and only the ``promoted`` best of
   them train the full protocol (AutoML-Zero's hurdles; the counts are static). Fitness
   is compared only between programs trained on the same budget: a full-budget program has
   fitness ``-accuracy`` (at most 0), one stopped at the hurdle ``HURDLE_TIER -
   accuracy`` (at least 1), so any full-budget program ranks above any stopped one. The
   strategy then takes the fitness back, and islands migrate when due.

The fitness of every trained program enters the cache under its fingerprint, so a later
equivalent program reuses it (``equivalence_cache``). Everything the host decides follows
from values every process sees alike, so the processes of a multi-process run agree.
"""

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np

from hivejax._src.evaluation import cascade, fingerprint
from hivejax._src.evaluation.equivalence_cache import EquivalenceCache
from hivejax._src.evaluation.mesh import replicated, sharded_score
from hivejax._src.evaluation.scores import fitness_from_accuracy
from hivejax._src.search.islands import Migration, exchange
from hivejax._src.search.strategy import restart_from_best

HURDLE_TIER = 2.0
"""Added to the fitness of a program stopped at the hurdle, so it ranks below every
program trained on the full budget (whose fitness is ``-accuracy``, in ``[-1, 0]``)."""


def accuracy_of(fitness):
    """The full-budget accuracy a fitness stands for; NaN for stopped or rejected ones."""
    return jnp.where(fitness <= 0, -fitness, jnp.nan)


def flatten_islands(population):
    """Leaves ``[islands, n, ...]`` as ``[islands * n, ...]``: every island's members in turn."""
    return jax.tree.map(lambda x: x.reshape(-1, *x.shape[2:]), population)


def best_of(states):
    """The best program over all islands' stacked states, and its fitness (minimised)."""
    i = jnp.argmin(states.best_fitness)
    return jax.tree.map(lambda x: x[i], states.best_program), states.best_fitness[i]


@dataclasses.dataclass(frozen=True)
class ScreeningConfig:
    """What saves training in a generation (module docstring). The hurdle applies only
    where it saves training (``promoted`` below the trained count and ``hurdle_steps`` below
    the training's steps), so small populations simply train all.

    Attributes:
      cascade: reject programs that fail the rejection cascade's cheap checks before
        training (training tasks only).
      survivors: train at most this many programs per generation, those that passed the
        cascade and missed the cache first (None: the whole population).
      hurdle_steps: train every survivor this many steps first ... (None: no hurdle)
      promoted: ... and only this many of the best of them on the full budget.
      cache: functional-equivalence cache entries (0: none).
      cache_max_hits: a cached fitness serves at most this many programs before its
        program trains again.
    """

    cascade: bool = True
    survivors: int | None = 32
    hurdle_steps: int | None = 100
    promoted: int = 8
    cache: int = 4096
    cache_max_hits: int = 64

    def __post_init__(self):
        for name in ("survivors", "hurdle_steps"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be at least 1 (or None), got {value}")
        for name in ("promoted", "cache_max_hits"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.cache < 0:
            raise ValueError(f"cache must be >= 0 entries, got {self.cache}")

    @classmethod
    def off(cls) -> "ScreeningConfig":
        """Score every program: no cascade, cache, survivors cap or hurdle (what a task that
        trains nothing, symbolic regression, takes)."""
        return cls(cascade=False, survivors=None, hurdle_steps=None, cache=0)

    def training_settings(self) -> tuple[str, ...]:
        """The settings that judge programs by how they train (empty when ``off``)."""
        on = {
            "cascade=False": self.cascade,
            "cache=0": self.cache,
            "hurdle_steps=None": self.hurdle_steps is not None,
        }
        return tuple(name for name, bad in on.items() if bad)

    def places(self, population: int) -> int:
        """Programs trained per generation: ``survivors``, at most the population."""
        return min(self.survivors or population, population)

    def hurdle(self, population: int, steps: int) -> bool:
        """Whether the hurdle saves training for ``population`` programs trained ``steps``."""
        return (
            self.hurdle_steps is not None
            and self.hurdle_steps < steps
            and self.promoted < self.places(population)
        )


class Generation:
    """``generation(states, key, g) -> (states, metrics)`` over stacked island states.

    Args:
      strategy, params: the strategy of one island and its (island-scaled) params.
      task: the task; ``task.score`` judges programs (for a training task ``task.train``
        is the full budget).
      data, mesh, migration: the data set, the device mesh and the island layout.
      k_eval: the run's fixed evaluation key.
      screening: the cascade, the equivalence cache, the places and the hurdle
        (``ScreeningConfig``; None: ``ScreeningConfig.off()``, every program scored).
      restart_every: every that many generations a quarter of each island restarts from
        the best program seen (``strategy.restart_from_best``); 0 for never.

    ``metrics`` holds host numbers: ``best_accuracy``, ``mean_accuracy`` (full-budget
    programs of this generation, trained or cached), ``best_so_far``, ``broken``, ``trained``,
    ``cache_hits``, ``untrained`` and, with the cascade, ``rejected`` (a count per reason code).
    The cache (``self.cache``, None without one) lives on the host and goes into checkpoints.
    """

    def __init__(
        self,
        strategy,
        params,
        task,
        data,
        mesh,
        migration: Migration,
        k_eval,
        screening: ScreeningConfig | None = None,
        restart_every: int = 0,
    ):
        screening = screening or ScreeningConfig.off()
        self.islands = migration.islands
        self.size = strategy.population_size * migration.islands
        self.trained = screening.places(self.size)
        self.screen = (
            functools.partial(cascade.reasons, task.name, task.spec) if screening.cascade else None
        )
        self.cache = (
            EquivalenceCache(screening.cache, screening.cache_max_hits) if screening.cache else None
        )
        self.task = task
        self._strategy, self._params, self._k_eval = strategy, params, k_eval
        self._migration, self._data = migration, data
        self._evaluate = sharded_score(task, mesh)
        self._short, self._promoted = None, screening.promoted
        if task.trains and screening.hurdle(self.size, task.train.steps):
            self._short = sharded_score(task.with_steps(screening.hurdle_steps), mesh)
        self._migrate = exchange(migration, mesh)
        self._restart_every = restart_every
        rep = replicated(mesh)
        self._ask = jax.jit(self._ask_step, in_shardings=(rep, rep), out_shardings=rep)
        self._tell = jax.jit(self._tell_step, out_shardings=rep)

    # ---- the jitted steps ----------------------------------------------------------------

    def _ask_step(self, states, key):
        k_ask, _ = jax.random.split(key)
        ask = jax.vmap(self._strategy.ask, in_axes=(0, 0, None))
        population, states = ask(jax.random.split(k_ask, self.islands), states, self._params)
        flat = flatten_islands(population)
        codes = self.screen(flat) if self.screen is not None else jnp.zeros(self.size, jnp.int32)
        if self.cache is not None:
            cells, known = fingerprint.grid_cells(self.task.name, self.task.spec, flat)
        else:
            cells, known = jnp.zeros((self.size, 0), jnp.int32), jnp.zeros(self.size, bool)
        return states, population, codes, cells, known

    def _judge(self, chosen, real):
        """Fitness ``[trained]`` of the chosen programs, past the hurdle if there is one."""
        if self._short is None:
            return fitness_from_accuracy(self._evaluate(chosen, self._data, self._k_eval))
        short = self._short(chosen, self._data, self._k_eval)
        rank = jnp.where(real & ~jnp.isnan(short), short, -jnp.inf)
        promoted = jnp.argsort(-rank, stable=True)[: self._promoted]
        full = self._evaluate(jax.tree.map(lambda a: a[promoted], chosen), self._data, self._k_eval)
        fitness = HURDLE_TIER + fitness_from_accuracy(short)
        return fitness.at[promoted].set(fitness_from_accuracy(full))

    def _tell_step(self, states, population, key, g, places, real, slot_of, cached, codes):
        _, k_tell = jax.random.split(key)
        flat = flatten_islands(population)
        slot_fitness = self._judge(jax.tree.map(lambda a: a[places], flat), real)
        fitness = jnp.where(slot_of >= 0, slot_fitness[jnp.maximum(slot_of, 0)], cached)
        tell = jax.vmap(self._strategy.tell, in_axes=(0, 0, 0, 0, None))
        keys = jax.random.split(k_tell, self.islands)
        states, _ = tell(keys, population, fitness.reshape(self.islands, -1), states, self._params)
        if self.islands > 1:
            due = (g + 1) % self._migration.interval == 0
            moved = self._migrate(states)
            states = jax.tree.map(lambda a, b: jnp.where(due, a, b), moved, states)
        if self._restart_every:
            due = (g + 1) % self._restart_every == 0
            count = max(1, self._strategy.population_size // 4)
            restarted = jax.vmap(lambda s: restart_from_best(s, count))(states)
            states = jax.tree.map(lambda a, b: jnp.where(due, a, b), restarted, states)
        accuracy = accuracy_of(fitness)
        counted = ~jnp.isnan(accuracy)
        summary = {
            "best_accuracy": jnp.max(jnp.where(counted, accuracy, -jnp.inf)),
            "mean_accuracy": jnp.sum(jnp.where(counted, accuracy, 0.0))
            / jnp.maximum(counted.sum(), 1),
            "broken": (real & jnp.isinf(slot_fitness)).sum(),
            "best_so_far": jnp.nanmax(accuracy_of(states.best_fitness)),
        }
        if self.screen is not None:
            summary["rejected"] = jnp.bincount(codes, length=len(cascade.REASONS))
        return states, summary, slot_fitness

    # ---- one generation ------------------------------------------------------------------

    def compile(self, states, key) -> None:
        """Compile both steps ahead of the first generation (``states``, ``key``: examples)."""
        shapes = jax.eval_shape(self._ask, states, key)
        self._ask = self._ask.lower(states, key).compile()
        plan = _empty_plan(self.size, self.trained)
        self._tell = self._tell.lower(
            shapes[0], shapes[1], key, jnp.int32(0), *plan, shapes[2]
        ).compile()

    def __call__(self, states, key, g):
        states, population, codes, cells, known = self._ask(states, key)
        codes_host, cells, known = jax.device_get((codes, cells, known))
        hashes = [
            fingerprint.digest(self.task.name, row) if ok else None
            for row, ok in zip(cells, known, strict=True)
        ]
        plan, slot_hashes, counts = _plan(codes_host, hashes, self.cache, self.trained)
        states, summary, slot_fitness = self._tell(
            states, population, key, jnp.int32(g), *plan, codes
        )
        summary, slot_fitness = jax.device_get((summary, slot_fitness))
        if self.cache is not None:
            for h, f in zip(slot_hashes, slot_fitness, strict=False):
                if h is not None:
                    self.cache.put(h, float(f))
        return states, {**summary, **counts}


def _empty_plan(size: int, trained: int):
    places = np.zeros(trained, np.int32)
    real = np.zeros(trained, bool)
    slot_of = np.full(size, -1, np.int32)
    cached = np.full(size, np.inf, np.float32)
    return places, real, slot_of, cached


def _plan(codes, hashes, cache, trained):
    """Which programs train, and the fitness the others take (module docstring, step 2).

    Returns ``(places, real, slot_of, cached)`` for the tell step, the fingerprint of each
    trained place (None where unknown) and the counts ``trained``, ``cache_hits``,
    ``untrained``.
    """
    places, real, slot_of, cached = _empty_plan(len(codes), trained)
    seen: dict[str, tuple[str, float | int]] = {}
    slot_hashes, hits, untrained = [], 0, 0
    for p, (code, h) in enumerate(zip(codes, hashes, strict=True)):
        if code:
            continue
        if h is not None and h in seen:
            kind, value = seen[h]
            if kind == "slot":
                slot_of[p] = value
            else:
                cached[p] = value
            hits += 1
            continue
        if h is not None and cache is not None:
            value = cache.get(h)
            if value is not None:
                cached[p] = value
                seen[h] = ("cache", value)
                hits += 1
                continue
        if len(slot_hashes) == trained:
            untrained += 1
            continue
        slot = len(slot_hashes)
        places[slot], real[slot], slot_of[p] = p, True, slot
        slot_hashes.append(h)
        if h is not None:
            seen[h] = ("slot", slot)
    counts = {"trained": len(slot_hashes), "cache_hits": hits, "untrained": untrained}
    return (places, real, slot_of, cached), slot_hashes, counts
