"""Island model: sub-populations that evolve apart and trade their best programs in a ring.

Each island is one ``RegularizedEvolution`` state; a run holds them stacked on a leading
island axis. Every ``interval`` generations island ``i`` sends copies of its best
``count`` programs to island ``i + 1`` (mod the number of islands), where they replace
that island's worst ``count``. Separated sub-populations are meant to keep lineages
apart that one panmictic population would let one winner take over, provided each island
selects no harder per member than that population would (``island_params``); migration
lets good building blocks spread. Whether they keep more distinct programs depends on the
operators: they did before mutation became effective, and no longer do on the stand-in
task of the tests (README, known limits).

``migrate`` is written for one island and moves programs with ``jax.lax.ppermute`` over a
named axis, so the same code runs two ways:

- islands vmapped on the devices that hold the replicated strategy state:
  ``jax.vmap(..., axis_name=ISLAND)`` (ppermute over a vmapped axis is a roll);
- one island per device: inside ``shard_map`` over the mesh's ``pop`` axis, where the
  ppermute is a real collective permute between neighbouring devices.
"""

import dataclasses

import jax
import jax.numpy as jnp
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from hivejax._src.evaluation.mesh import POP

ISLAND = "island"
TOPOLOGIES = ("ring",)


@dataclasses.dataclass(frozen=True)
class Migration:
    """How islands exchange programs; written into ``summary.json``.

    Attributes:
      islands: number of islands (1: one panmictic population, no migration).
      interval: generations between migrations.
      count: programs each island sends (its best) and loses (its worst) per migration.
      topology: ``"ring"``: island ``i`` sends to island ``i + 1``.
    """

    islands: int = 1
    interval: int = 5
    count: int = 1
    topology: str = "ring"

    def __post_init__(self):
        for name in ("islands", "interval", "count"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"migration {name} must be a positive integer, got {value!r}")
        if self.topology not in TOPOLOGIES:
            raise ValueError(
                f"unknown topology {self.topology!r}; choose one of {', '.join(TOPOLOGIES)}"
            )

    def check(self, island_size: int) -> None:
        """Raise ``ValueError`` unless ``count`` best and ``count`` worst are disjoint."""
        if self.islands > 1 and 2 * self.count > island_size:
            raise ValueError(
                f"migration count {self.count} is more than half the island size "
                f"{island_size}; use at most {island_size // 2}"
            )

    def permutation(self) -> list[tuple[int, int]]:
        """Source and destination island of each transfer."""
        return [(i, (i + 1) % self.islands) for i in range(self.islands)]


def island_params(params, island_size: int, population: int):
    """``params`` with the tournament scaled so islands select as hard as one population.

    A tournament of ``t`` drawn with replacement from ``n`` members gives the best member
    ``n * (1 - (1 - 1/n) ** t)``, about ``t``, of the ``n`` parent picks: a share of about
    ``t / n`` of the next generation. Kept unchanged, a tournament of 4 takes an eighth of
    a population of 32 but half of an island of 8, which then converges in a few
    generations. So each island of ``island_size`` gets the tournament size that keeps
    the best member's share equal to that in one population of ``population`` members:
    ``max(1, round(t * island_size / population))``. One island (``island_size ==
    population``) keeps ``t``. With the default ``t = 4``, islands of at most an eighth of
    the population get ``t = 1`` (parents drawn uniformly): within them, only elitism,
    which keeps each island's best, and migration select.

    Example:
      >>> from hivejax._src.search.strategy import Params
      >>> island_params(Params(tournament_size=4), 8, 32).tournament_size
      1
      >>> island_params(Params(tournament_size=4), 16, 32).tournament_size
      2
    """
    t = max(1, round(params.tournament_size * island_size / population))
    return params.replace(tournament_size=t)


def migrate(state, migration: Migration, axis_name: str):
    """One island's state after the ring exchange over ``axis_name`` (see module docstring).

    The emigrants are copies: the sender keeps them. Ties in fitness break by position
    (stable sort), so the chosen programs are deterministic.
    """
    k = migration.count
    order = jnp.argsort(state.fitness, stable=True)
    best, worst = order[:k], order[-k:]
    outgoing = (
        jax.tree.map(lambda x: x[best], state.population),
        state.fitness[best],
        state.birth[best],
    )
    population, fitness, birth = jax.lax.ppermute(outgoing, axis_name, migration.permutation())
    return state.replace(
        population=jax.tree.map(
            lambda all_, new: all_.at[worst].set(new), state.population, population
        ),
        fitness=state.fitness.at[worst].set(fitness),
        birth=state.birth.at[worst].set(birth),
    )


def exchange(migration: Migration, mesh):
    """``states -> states``: ``migrate`` over stacked island states (leading island axis).

    With one island per device of the mesh's ``pop`` axis, inside ``shard_map``: a
    collective permute between neighbouring devices. Otherwise vmapped over the islands on
    the devices that hold the (replicated) states.
    """
    if migration.islands != mesh.shape[POP]:
        vmapped = jax.vmap(lambda s: migrate(s, migration, ISLAND), axis_name=ISLAND)
        rep = NamedSharding(mesh, P())

        def on_every_device(states):
            # Pinned replicated on both sides: left to sharding propagation from the
            # population-sharded fitness, XLA (0.10.2, CPU) partitioned this vmapped
            # permute and scatter wrongly when the islands do not match the devices
            # (2 islands on 4 devices), and changed the states even when no migration
            # was due. tests/test_parallel.py runs 1, 2 and 4 devices bit for bit.
            states = jax.lax.with_sharding_constraint(states, rep)
            return jax.lax.with_sharding_constraint(vmapped(states), rep)

        return on_every_device

    def one_island_per_device(states):
        one = jax.tree.map(lambda x: x[0], states)
        return jax.tree.map(lambda x: x[None], migrate(one, migration, POP))

    return jax.shard_map(
        one_island_per_device, mesh=mesh, in_specs=P(POP), out_specs=P(POP), check_vma=False
    )
