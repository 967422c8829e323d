"""Peak memory of training one population, chunked or not.

One process trains ``population`` random loss programs once on the benchmark protocol
(``steps`` may shorten it: memory does not grow with the steps, since each step's
gradients are dropped before the next) and reports its peak resident memory, the device's
peak where the backend reports one (GPUs), and the time. Peak resident memory only ever
grows within a process, so each configuration is its own process.
"""

import resource
import time

import jax

from hivejax._src.bench.timing import peak_device_bytes
from hivejax._src.interpret.chunks import auto_chunk_size
from hivejax._src.interpret.dispatch import resolve
from hivejax._src.program.program import random_population
from hivejax._src.tasks.data import load_dataset
from hivejax._src.tasks.loss import LossTask
from hivejax._src.tasks.training import TrainConfig


def memory(
    population: int,
    chunk_size: int | str | None,
    steps: int | None = None,
    interpreter: str = "auto",
    dataset: str = "mnist1d",
    data_dir=None,
) -> dict:
    """Train ``population`` programs once; see the module docstring.

    ``chunk_size``: programs at once, ``auto`` (``chunks.auto_chunk_size``) or None (all).
    """
    data = load_dataset(dataset, data_dir)
    train = TrainConfig() if steps is None else TrainConfig(steps=steps)
    task = LossTask(train=train, interpreter=interpreter)
    if chunk_size == "auto":
        chunk_size = auto_chunk_size(task, data, population)
    task = LossTask(train=train, interpreter=interpreter, chunk_size=chunk_size)
    programs = random_population(jax.random.key(0), task.spec, population)
    t0 = time.perf_counter()
    jax.block_until_ready(jax.jit(task.score)(programs, data, jax.random.key(1)))
    seconds = time.perf_counter() - t0
    return {
        "population": population,
        "chunk_size": chunk_size,
        "steps": train.steps,
        "interpreter": resolve(interpreter),
        "seconds_with_compile": seconds,
        "peak_resident_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "peak_device_bytes": peak_device_bytes(),
    }
