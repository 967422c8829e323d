"""One generation: breed viable children, decide what trains, train it past a hurdle, select.

A generation is two jitted steps with a host decision between them:

1. **ask** (jitted): the strategy breeds the children of every island
   (``strategy.offspring``) and the rejection cascade (``cascade.reasons``) screens them.
   **Viable children**: while a place's child is rejected, the generation breeds again, a
   round of children for every place with new keys, and each island's open places take
   the round's passing children in turn (children are alike to the places they fill), up
   to ``tries`` rounds (``initial_tries`` for the initial population, whose random
   programs pass far more rarely). Sharing a round's children between places fills a
   generation in about ``1 / pass share`` rounds, where a place breeding for itself alone
   took as many rounds as its unluckiest place (in the main job the screening then cost
   as much as the training). At the bound, a place still open takes a copy of a child of
   its island that passed (dealt out in turn), so no rejected program enters the
   population while any passed;
   the copy shares its original's fingerprint, so with the equivalence cache it costs no
   training. Only an island none of whose children passed keeps rejected ones; they get
   the worst fitness and rank below every scored program (``strategy.tell``). With an
   equivalence cache, every program's fingerprint grid (``fingerprint.grid_cells``) comes
   back to the host. What screening did is counted per operator (``strategy.OPERATORS``):
   children bred over all rounds, and those that passed.
2. **plan** (host, ``_plan``): a program whose fingerprint is in the cache, or was met
   earlier in the same generation, takes that fitness without training (a *cache hit*).
   The others train, in population order, up to a static number of places (``trained``);
   a program past them gets the worst fitness and counts as ``untrained``. Static shapes
   are what make this one compiled program: places not taken train a copy of the first
   program and are ignored.
3. **tell** (jitted): the chosen programs train, sharded over the mesh's ``pop`` axis. With
   a hurdle, every one trains ``hurdle_steps`` steps first and only the ``promoted`` best of
   them train the full protocol (AutoML-Zero's hurdles; the counts are static). Fitness
   is compared only between programs trained on the same budget: a full-budget program has
   fitness ``-accuracy`` (at most 0), one stopped at the hurdle ``HURDLE_TIER -
   accuracy`` (at least 1), so any full-budget program ranks above any stopped one. The
   strategy then takes the fitness back, and islands migrate when due. Each operator's
   children that got a fitness are counted, and those that beat their parents' fitness
   (``strategy.Lineage``; both under the run's one evaluation key).

**Confirmation** (selection under noise): one evaluation key flatters the programs it
happens to suit, and selection picks exactly those (the winner's curse). So the
``confirm`` best full-budget programs of each generation train once more, under the run's
second evaluation key (fixed like the first, so a fitness stays a property of the
program), and their fitness becomes the mean of the two; the metrics line's
``confirmation`` gives how far their first score fell (``drop``), the curse measured in
the run. Programs that reach the top are the ones whose luck matters, so the second key
goes to them alone. The confirmed mean enters the cache like any fitness.

The fitness of every trained program enters the cache under its fingerprint, so a later
equivalent program reuses it (``equivalence_cache``). Everything the host decides follows
from values every process sees alike, so the processes of a multi-process run agree.
"""

import dataclasses
import functools
import time

import jax
import jax.numpy as jnp
import numpy as np

from hivejax._src.evaluation import cascade, fingerprint
from hivejax._src.evaluation.equivalence_cache import EquivalenceCache
from hivejax._src.evaluation.mesh import POP, replicated, sharded_score
from hivejax._src.evaluation.scores import fitness_from_accuracy
from hivejax._src.search.islands import Migration, exchange
from hivejax._src.search.strategy import OPERATORS, Lineage, restart_from_best

HURDLE_TIER = 2.0
"""Added to the fitness of a program stopped at the hurdle, so it ranks below every
program trained on the full budget (whose fitness is ``-accuracy``, in ``[-1, 0]``)."""


def accuracy_of(fitness):
    """The full-budget accuracy a fitness stands for; NaN for stopped or rejected ones."""
    return jnp.where(fitness <= 0, -fitness, jnp.nan)


def flatten_islands(population):
    """Leaves ``[islands, n, ...]`` as ``[islands * n, ...]``: every island's members in turn."""
    # Sizes spelled out: a program without free constants has a zero-size leaf, whose -1
    # reshape cannot infer.
    return jax.tree.map(lambda x: x.reshape(x.shape[0] * x.shape[1], *x.shape[2:]), population)


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
      tries: with the cascade, while a place's child is rejected the generation breeds
        another round of children, and open places take the passing ones; up to this many
        rounds, then a place still open takes a copy of a child that passed ...
      initial_tries: ... and up to this many rounds of random programs for the initial
        population, where far fewer pass (0.4% of random losses against 20-37% of bred
        ones, in seeded runs on digits).
      confirm: the best this many full-budget programs of a generation train again under
        a second key and take the mean of both scores (0: none, the default: it did not
        raise the winner's test score where measured, docs/search.md). At most the
        full-budget programs of a generation (``promoted`` with a hurdle, else the
        places); on several devices the step trains a multiple of the ``pop`` axis's size
        and keeps the best ``confirm``, so the result does not depend on the devices.
    """

    cascade: bool = True
    survivors: int | None = 32
    hurdle_steps: int | None = 100
    promoted: int = 8
    cache: int = 4096
    cache_max_hits: int = 64
    tries: int = 8
    initial_tries: int = 64
    confirm: int = 0

    def __post_init__(self):
        for name in ("survivors", "hurdle_steps"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be at least 1 (or None), got {value}")
        for name in ("promoted", "cache_max_hits", "tries", "initial_tries"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.cache < 0 or self.confirm < 0:
            raise ValueError(f"cache and confirm must be >= 0, got {self.cache} and {self.confirm}")

    @classmethod
    def off(cls) -> "ScreeningConfig":
        """Score every program: no cascade, cache, survivors cap or hurdle (what a task that
        trains nothing, symbolic regression, takes)."""
        return cls(cascade=False, survivors=None, hurdle_steps=None, cache=0, confirm=0)

    def training_settings(self) -> tuple[str, ...]:
        """The settings that judge programs by how they train (empty when ``off``)."""
        on = {
            "cascade=False": self.cascade,
            "cache=0": self.cache,
            "hurdle_steps=None": self.hurdle_steps is not None,
            "confirm=0": self.confirm,
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
    ``cache_hits``, ``untrained``, ``operators`` (``int[len(OPERATORS), 4]``: children bred,
    passed, scored, improved), ``rounds`` (of breeding), ``copied`` (places filled at
    the bound), ``confirmation`` (``float[2]``: programs confirmed under the second key,
    and the sum of their drops), ``screen_seconds`` and ``train_seconds`` (the two steps'
    wall times) and, with the cascade, ``rejected`` (a count per reason code). The cache
    (``self.cache``, None without one) lives on the host and goes into checkpoints.
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
        self._strategy, self._params, self._migration = strategy, params, migration
        rep = replicated(mesh)
        # Arguments of the tell step, not constants baked into it: runs of the same shapes
        # (another seed, the next round of a miner) then compile to the same program and
        # load it from the persistent cache, and XLA does not fold a data set into the code.
        # Placed from the host: with several processes the mesh holds devices this one
        # cannot address, which only host values may be put on (each process has the same).
        self._key_impl = jax.random.key_impl(k_eval)
        self._inputs = jax.device_put(jax.device_get((data, jax.random.key_data(k_eval))), rep)
        self._evaluate = sharded_score(task, mesh)
        self._short, self._promoted = None, screening.promoted
        if task.trains and screening.hurdle(self.size, task.train.steps):
            self._short = sharded_score(task.with_steps(screening.hurdle_steps), mesh)
        full = self._promoted if self._short is not None else self.trained
        self._confirm = min(screening.confirm, full)
        devices = mesh.shape[POP]
        self._confirm_slots = min(full, -(-self._confirm // devices) * devices)
        self._migrate = exchange(migration, mesh)
        self._restart_every = restart_every
        self._tries = (screening.initial_tries, screening.tries)
        self._ask = jax.jit(self._ask_step, in_shardings=(rep, rep), out_shardings=rep)
        self._tell = jax.jit(self._tell_step, out_shardings=rep)

    # ---- the jitted steps ----------------------------------------------------------------

    def _ask_step(self, states, key):
        k_ask, _ = jax.random.split(key)
        keys = jax.random.split(k_ask, self.islands)
        if self.screen is None:
            population, lineage = self._offspring(keys, states, 0)
            flat, flat_lineage = flatten_islands((population, lineage))
            codes = jnp.zeros(self.size, jnp.int32)
            bred = _per_operator(flat_lineage.operator, True)
            screening = {"bred": bred, "passed": bred, "rounds": jnp.int32(1)}
            copied = jnp.zeros(self.size, bool)
        else:
            flat, flat_lineage, codes, screening = self._viable(keys, states)
            flat, copied = self._copy_at_bound(flat, codes)
            codes = jnp.where(copied, 0, codes)
        if self.cache is not None:
            cells, known = fingerprint.grid_cells(self.task.name, self.task.spec, flat)
        else:
            cells, known = jnp.zeros((self.size, 0), jnp.int32), jnp.zeros(self.size, bool)
        population = jax.tree.map(
            lambda a: a.reshape(self.islands, self.size // self.islands, *a.shape[1:]), flat
        )
        screening = {**screening, "copied": copied}
        return states, population, flat_lineage, codes, cells, known, screening

    def _offspring(self, keys, states, attempt):
        offspring = jax.vmap(self._strategy.offspring, in_axes=(0, 0, None, None))
        return offspring(keys, states, self._params, attempt)

    def _viable(self, keys, states):
        """Children the cascade passes (module docstring, "viable children"): each round
        breeds a child for every place, and the island's open places take its passing
        children in turn; at most ``tries`` rounds.

        Returns the flat children, their lineage, their codes (a rejected child's where no
        child filled the place) and what screening counted: ``bred`` and ``passed``
        children per operator, and the ``rounds``.
        """

        def draw(carry):
            t, population, lineage, codes, bred, passed = carry
            attempt_keys = jax.vmap(lambda k: jax.random.fold_in(k, t))(keys)
            children, child_lineage = flatten_islands(self._offspring(attempt_keys, states, t))
            child_codes = self.screen(children)
            fine = child_codes == 0
            open_ = codes != 0
            # An open place keeps its own child if it passed; the passing children of places
            # already filled go to open places whose own child failed, which otherwise hold
            # that rejected child (and its reason) until a later round.
            source, dealt = self._deal(open_ & ~fine, fine & ~open_, cycle=False)
            filled = (open_ & fine) | dealt
            pick = lambda new, old: jnp.where(  # noqa: E731
                _rows(open_, new), new[source], old
            )
            return (
                t + 1,
                jax.tree.map(pick, children, population),
                jax.tree.map(pick, child_lineage, lineage),
                jnp.where(filled, 0, jnp.where(open_, child_codes, codes)),
                bred + _per_operator(child_lineage.operator, True),
                passed + _per_operator(child_lineage.operator, fine),
            )

        # The first round reaches every place, so these placeholders are never read.
        index = jnp.zeros(self.size, jnp.int32)
        lineage = Lineage(operator=index, parent_fitness=index.astype(jnp.float32))
        zeros = jnp.zeros(len(OPERATORS), jnp.int32)
        carry = (0, flatten_islands(states.population), lineage, index + 1, zeros, zeros)
        bound = jnp.where(states.generation_counter[0] == 0, *self._tries)
        rounds, population, lineage, codes, bred, passed = jax.lax.while_loop(
            lambda c: (c[0] < bound) & jnp.any(c[3] != 0), draw, carry
        )
        return population, lineage, codes, {"bred": bred, "passed": passed, "rounds": rounds}

    def _deal(self, need, have, cycle: bool):
        """Within each island, the places where ``need`` holds take the places where
        ``have`` holds, in turn (round and round if ``cycle``, else each once). Returns the
        flat source index of every place and where one was dealt."""
        need, have = need.reshape(self.islands, -1), have.reshape(self.islands, -1)
        n = need.shape[1]
        order = jnp.argsort(~have, axis=1, stable=True)  # the places that have, first
        count = have.sum(axis=1, keepdims=True)
        turn = jnp.cumsum(need, axis=1) - 1
        dealt = need & (count > 0) & (cycle | (turn < count))
        source = jnp.take_along_axis(order, turn % jnp.maximum(count, 1), axis=1)
        source = jnp.where(dealt, source, jnp.arange(n)) + n * jnp.arange(self.islands)[:, None]
        return source.reshape(-1), dealt.reshape(-1)

    def _copy_at_bound(self, flat, codes):
        """Fill each place still rejected after the last round with a copy of a child of its
        island that passed, dealt out in turn; an island none of whose children passed keeps
        its rejected ones. Returns the children and which places are copies."""
        source, copied = self._deal(codes != 0, codes == 0, cycle=True)
        return jax.tree.map(lambda a: a[source], flat), copied

    def _judge(self, chosen, real, data, k_eval):
        """Fitness ``[trained]`` of the chosen programs, past the hurdle if there is one, and
        what confirming the best of them counted (``_confirmed``)."""
        k_confirm = jax.random.fold_in(k_eval, 1)
        if self._short is None:
            full = self._evaluate(chosen, data, k_eval)
            full, confirmation = self._confirmed(chosen, real, full, data, k_confirm)
            return fitness_from_accuracy(full), confirmation
        short = self._short(chosen, data, k_eval)
        promoted = _best(real, short, self._promoted)
        chosen = jax.tree.map(lambda a: a[promoted], chosen)
        full = self._evaluate(chosen, data, k_eval)
        full, confirmation = self._confirmed(chosen, real[promoted], full, data, k_confirm)
        fitness = HURDLE_TIER + fitness_from_accuracy(short)
        return fitness.at[promoted].set(fitness_from_accuracy(full)), confirmation

    def _confirmed(self, programs, real, accuracy, data, k_confirm):
        """``accuracy`` with the best ``confirm`` real programs' replaced by the mean of it
        and their accuracy under the second key (module docstring, "confirmation"); and
        ``[confirmed, sum of their drops]``. A run broken under either key stays broken."""
        if not self._confirm:
            return accuracy, jnp.zeros(2, jnp.float32)
        top = _best(real, accuracy, self._confirm_slots)
        second = self._evaluate(jax.tree.map(lambda a: a[top], programs), data, k_confirm)
        first = accuracy[top]
        keep = (jnp.arange(self._confirm_slots) < self._confirm) & real[top] & ~jnp.isnan(first)
        mean = (first + second) / 2
        drop = jnp.where(keep & ~jnp.isnan(mean), first - mean, 0.0)
        counted = jnp.stack([jnp.sum(keep).astype(jnp.float32), jnp.sum(drop)])
        return accuracy.at[top].set(jnp.where(keep, mean, first)), counted

    def _tell_step(
        self,
        states,
        population,
        lineage,
        screening,
        key,
        g,
        places,
        real,
        slot_of,
        cached,
        codes,
        inputs,
    ):
        _, k_tell = jax.random.split(key)
        flat = flatten_islands(population)
        chosen = jax.tree.map(lambda a: a[places], flat)
        data, k_eval = inputs
        k_eval = jax.random.wrap_key_data(k_eval, impl=self._key_impl)
        slot_fitness, confirmation = self._judge(chosen, real, data, k_eval)
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
        scored = jnp.isfinite(fitness) & ~screening["copied"]
        improved = scored & (fitness < lineage.parent_fitness)
        summary["operators"] = jnp.stack(
            [
                screening["bred"],
                screening["passed"],
                _per_operator(lineage.operator, scored),
                _per_operator(lineage.operator, improved),
            ],
            axis=1,
        )
        summary["rounds"] = screening["rounds"]
        summary["copied"] = screening["copied"].sum()
        summary["confirmation"] = confirmation
        return states, summary, slot_fitness

    # ---- one generation ------------------------------------------------------------------

    def compile(self, states, key) -> None:
        """Compile both steps ahead of the first generation (``states``, ``key``: examples)."""
        states, population, lineage, codes, _, _, screening = jax.eval_shape(self._ask, states, key)
        self._ask = self._ask.lower(states, key).compile()
        plan = _empty_plan(self.size, self.trained)
        self._tell = self._tell.lower(
            states, population, lineage, screening, key, jnp.int32(0), *plan, codes, self._inputs
        ).compile()

    def __call__(self, states, key, g):
        t0 = time.perf_counter()
        states, population, lineage, codes, cells, known, screening = self._ask(states, key)
        codes_host, cells, known = jax.device_get((codes, cells, known))
        t1 = time.perf_counter()
        hashes = [
            fingerprint.digest(self.task.name, row) if ok else None
            for row, ok in zip(cells, known, strict=True)
        ]
        plan, slot_hashes, counts = _plan(codes_host, hashes, self.cache, self.trained)
        states, summary, slot_fitness = self._tell(
            states, population, lineage, screening, key, jnp.int32(g), *plan, codes, self._inputs
        )
        summary, slot_fitness = jax.device_get((summary, slot_fitness))
        timing = {"screen_seconds": t1 - t0, "train_seconds": time.perf_counter() - t1}
        if self.cache is not None:
            for h, f in zip(slot_hashes, slot_fitness, strict=False):
                if h is not None:
                    self.cache.put(h, float(f))
        return states, {**summary, **counts, **timing}


def _best(real, accuracy, count):
    """Indices of the ``count`` highest ``accuracy`` values where ``real`` holds (NaN and
    places not real last, in order)."""
    rank = jnp.where(real & ~jnp.isnan(accuracy), accuracy, -jnp.inf)
    return jnp.argsort(-rank, stable=True)[:count]


def _rows(mask, leaf):
    """``mask [P]`` shaped to broadcast over ``leaf [P, ...]``."""
    return mask.reshape((-1,) + (1,) * (leaf.ndim - 1))


def _per_operator(operator, where):
    """``int32[len(OPERATORS)]``: how many children of each operator ``where`` holds for."""
    counts = jnp.zeros(len(OPERATORS), jnp.int32)
    return counts.at[operator].add(jnp.broadcast_to(where, operator.shape).astype(jnp.int32))


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
