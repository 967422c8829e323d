"""``hivejax bench --workload memory``: peak memory of training one population, chunked or not.

One process trains ``population`` random loss programs once on the benchmark protocol
(``--steps`` may shorten it: memory does not grow with the steps, since each step's
gradients are dropped before the next) and reports its peak resident memory, the device's
peak where the backend reports one (GPUs), and the time. Peak resident memory only ever
grows within a process, so each configuration is its own command.
"""

import resource
import time

import jax

import hivejax as hj
from hivejax._src.interpret.chunks import auto_chunk_size


def peak_device_bytes() -> int | None:
    """The first local device's peak allocation, where its backend reports one."""
    stats = jax.local_devices()[0].memory_stats() or {}
    return stats.get("peak_bytes_in_use")


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
    data = hj.load_dataset(dataset, data_dir)
    train = hj.TrainConfig() if steps is None else hj.TrainConfig(steps=steps)
    task = hj.LossTask(train=train, interpreter=interpreter)
    if chunk_size == "auto":
        chunk_size = auto_chunk_size(task, data, population)
    task = hj.LossTask(train=train, interpreter=interpreter, chunk_size=chunk_size)
    programs = hj.random_population(jax.random.key(0), task.spec, population)
    t0 = time.perf_counter()
    jax.block_until_ready(jax.jit(task.accuracy)(programs, data, jax.random.key(1)))
    seconds = time.perf_counter() - t0
    return {
        "population": population,
        "chunk_size": chunk_size,
        "steps": train.steps,
        "interpreter": hj.resolve_interpreter(interpreter),
        "seconds_with_compile": seconds,
        "peak_resident_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "peak_device_bytes": peak_device_bytes(),
    }


def format_memory(report: dict) -> str:
    """The line ``hivejax bench --workload memory`` prints."""
    device = report["peak_device_bytes"]
    return (
        f"population {report['population']}, chunk {report['chunk_size'] or 'none'}: peak "
        f"resident {report['peak_resident_bytes'] / 2**30:.2f} GiB"
        + (f", device {device / 2**30:.2f} GiB" if device else "")
        + f", {report['seconds_with_compile']:.1f} s with compilation"
    )
