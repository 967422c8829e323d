"""What every benchmark shares: where it ran, steady-state rates and peak memory."""

import os
import platform
import statistics
import time

import jax


def machine() -> dict:
    """What a figure was measured on: platform, CPU, devices and JAX version."""
    return {
        "platform": platform.platform(),
        "processor": platform.machine(),
        "cpu_count": os.cpu_count(),
        "devices": [str(d) for d in jax.devices()],
        "jax": jax.__version__,
    }


def steady_rate(fn, args, population: int, repeats: int, key) -> dict:
    """Evaluations per second of ``fn(*args, key)`` over ``population`` programs.

    Compilation is ahead of time and timed apart; the rate is that of the median of
    ``repeats`` runs, each under a fresh key split from ``key``.
    """
    t0 = time.perf_counter()
    compiled = jax.jit(fn).lower(*args, key).compile()
    compile_seconds = time.perf_counter() - t0
    times = []
    for k in jax.random.split(key, repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(compiled(*args, k))
        times.append(time.perf_counter() - t0)
    seconds = statistics.median(times)
    return {
        "evals_per_second": population / seconds,
        "seconds_per_population": seconds,
        "compile_seconds": compile_seconds,
    }


def peak_device_bytes() -> int | None:
    """The first local device's peak allocation, where its backend reports one."""
    stats = jax.local_devices()[0].memory_stats() or {}
    return stats.get("peak_bytes_in_use")
