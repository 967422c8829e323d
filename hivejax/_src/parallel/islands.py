"""Island model: sub-populations that evolve apart and trade their best programs in a ring.

Each island is one ``RegularizedEvolution`` state; a run holds them stacked on a leading
island axis. Every ``interval`` generations island ``i`` sends copies of its best
``count`` programs to island ``i + 1`` (mod the number of islands), where they replace
that island's worst ``count``. Separated sub-populations keep more distinct programs
alive than one panmictic population of the same size; migration lets good building
blocks spread without collapsing that diversity.

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
from jax.sharding import PartitionSpec as P

from hivejax._src.parallel.mesh import POP

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
        return jax.vmap(lambda s: migrate(s, migration, ISLAND), axis_name=ISLAND)

    def one_island_per_device(states):
        one = jax.tree.map(lambda x: x[0], states)
        return jax.tree.map(lambda x: x[None], migrate(one, migration, POP))

    return jax.shard_map(
        one_island_per_device, mesh=mesh, in_specs=P(POP), out_specs=P(POP), check_vma=False
    )
