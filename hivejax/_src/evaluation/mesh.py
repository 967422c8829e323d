"""The device mesh and the population-sharded fitness evaluation.

Fitness evaluation (a full training run per program) is where the time goes, so it is
what gets sharded: the population axis is split over the mesh's ``pop`` axis with
``jax.shard_map``, and each device trains its slice of the programs in one vmapped run.
We shard explicitly rather than leaving it to the SPMD partitioner because the fused
interpreter's batching rule loops over the programs with ``lax.map``; a partitioner
cannot split a sequential loop, but ``shard_map`` hands each device its own, shorter loop.

The strategy's ``ask`` and ``tell`` (breeding, sorting, bookkeeping) stay replicated: they
cost microseconds next to training, and replicated state means every device, and every
process of a multi-host run, holds the same population and agrees on the best program.

An optional second axis, ``data``, splits each program's training batch: see
``train_population``'s ``data_axis``.

A population that does not divide by the number of devices on the ``pop`` axis is
refused with a ``ValueError`` naming the sizes that work; it is not padded, because
padding would spend device time on programs nobody asked for and make the evaluated
population depend on the machine.
"""

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

POP = "pop"
DATA = "data"


def make_mesh(devices=None, data: int = 1) -> Mesh:
    """A ``(pop, data)`` mesh over ``devices`` (default: all devices of all processes).

    ``data`` devices split each training batch; the rest of the factor goes to ``pop``.
    """
    devices = list(jax.devices() if devices is None else devices)
    if not isinstance(data, int) or data < 1 or len(devices) % data:
        raise ValueError(
            f"the data axis ({data}) must be a positive divisor of the device count "
            f"({len(devices)})"
        )
    grid = np.empty(len(devices), object)
    grid[:] = devices
    return Mesh(grid.reshape(len(devices) // data, data), (POP, DATA))


def check_population(population: int, mesh: Mesh, what: str = "population") -> None:
    """Raise a ``ValueError`` naming working sizes unless ``population`` splits over ``pop``."""
    n = mesh.shape[POP]
    if population % n:
        lower = max(n, population // n * n)
        raise ValueError(
            f"{what} {population} does not split over {n} devices on the pop axis; "
            f"use a multiple of {n}, e.g. {lower} or {lower + n}"
        )


def replicated(mesh: Mesh) -> NamedSharding:
    """The sharding of state every device holds in full (strategy state, keys, metrics)."""
    return NamedSharding(mesh, P())


def sharded_score(task, mesh: Mesh):
    """``score(programs, data, key)`` of ``task`` with the programs split over ``pop``.

    Call it inside ``jit``; the programs may arrive replicated, each device takes its
    slice. With a ``data`` axis larger than one, each program's batches are split over it.
    """
    data_axis = DATA if mesh.shape[DATA] > 1 else None

    def local(programs, data, key):
        return task.score(programs, data, key, data_axis=data_axis)

    # check_vma=False: the interpreter's loops start from replicated carries (zeroed
    # registers) that become per-device; the varying-axis checker would ask every such
    # loop to be annotated, and nothing here relies on it.
    return jax.shard_map(
        local, mesh=mesh, in_specs=(P(POP), P(), P()), out_specs=P(POP), check_vma=False
    )
