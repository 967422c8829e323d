"""Memory-bounded evaluation: a population trains in chunks, with the same results.

A vmapped training keeps every program's model, optimizer state and activations at once,
so its memory grows linearly with the programs trained together: on the benchmark
protocol (MNIST-1D MLP, 100 steps of batch 32) XLA plans about 1 MiB of temporaries per
program. ``ProgramTask.chunk_size`` bounds it: ``in_chunks`` runs the population as a
``lax.map`` over chunks of that many programs, each chunk one vmapped training.

Chunks change nothing but memory and time. Every program trains under the same key
(``training.train_population``) and no program's training reads another's, so a chunk
computes what the whole batch would have (``tests/test_chunks.py`` checks equality).

``auto_chunk_size`` picks the largest chunk that fits half of a device's free memory
(a GPU's allocator limit less what is in use; on a CPU, the host's available memory),
from the temporaries XLA plans for a probe of ``PROBE`` programs. It probes only when more
than ``PROBE`` programs train per device, so small runs compile nothing extra.
"""

import os

import jax
import jax.numpy as jnp

from hivejax._src.program.program import random_population

PROBE = 64
"""Programs in the probe compilation that measures memory per program."""

SHARE = 0.5
"""Fraction of a device's free memory that chunks may plan to use."""


def in_chunks(fn, programs, chunk_size: int | None):
    """``fn(programs)`` computed ``chunk_size`` programs at a time (None: all at once).

    ``fn`` maps a population (a PyTree with a leading axis) to one value per program. Full
    chunks run as a ``lax.map``; a remainder smaller than a chunk runs as one more batch.
    """
    n = jax.tree.leaves(programs)[0].shape[0]
    if chunk_size is None or chunk_size >= n:
        return fn(programs)
    full = n // chunk_size * chunk_size
    head = jax.tree.map(lambda x: x[:full].reshape(-1, chunk_size, *x.shape[1:]), programs)
    out = jax.lax.map(fn, head).reshape(full)
    if full == n:
        return out
    return jnp.concatenate([out, fn(jax.tree.map(lambda x: x[full:], programs))])


def free_bytes(device=None) -> int:
    """Memory free for a computation on ``device`` (default: the first local device)."""
    device = device or jax.local_devices()[0]
    stats = device.memory_stats()
    if stats and "bytes_limit" in stats:
        return stats["bytes_limit"] - stats.get("bytes_in_use", 0)
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def bytes_per_program(task, data) -> float:
    """Temporary bytes XLA plans per program of ``task`` on ``data``, from a probe."""
    programs = random_population(jax.random.key(0), task.spec, PROBE)
    probe = jax.jit(task.score).lower(programs, data, jax.random.key(0)).compile()
    return probe.memory_analysis().temp_size_in_bytes / PROBE


def auto_chunk_size(task, data, per_device: int) -> int | None:
    """The chunk size for ``per_device`` programs per device: None when all fit at once."""
    if per_device <= PROBE:
        return None
    fits = int(SHARE * free_bytes() / max(bytes_per_program(task, data), 1.0))
    return None if fits >= per_device else max(fits, 1)
