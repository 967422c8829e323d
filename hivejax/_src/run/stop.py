"""Stopping a run cleanly: signals become a request, and every process agrees when to stop.

SIGINT and SIGTERM do not interrupt a generation: they set a flag that the loop checks
between generations, so the run saves a checkpoint of a whole generation. Cluster
launchers (``scancel``, preemption, Kubernetes) signal every process, but a signal may
reach only some processes of a multi-process run, or reach them during different
generations; ``agree_to_stop`` makes them all stop after the same generation.
"""

import contextlib
import signal
import threading

import jax
import numpy as np
from jax.experimental import multihost_utils


@contextlib.contextmanager
def stop_requests():
    """A list that SIGINT and SIGTERM append to while the block runs (from the main
    thread; elsewhere signals cannot be caught and the list stays empty)."""
    requested = []
    if threading.current_thread() is not threading.main_thread():
        yield requested
        return
    handler = lambda signum, frame: requested.append(signum)
    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield requested
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def agree_to_stop(requested: bool) -> bool:
    """Whether any process was asked to stop; every process gets the same answer.

    Each generation ends with this tiny all-gather, so all processes stop after the same
    generation: none is left waiting in a collective for one that has gone. One process
    needs no agreement.
    """
    if jax.process_count() == 1:
        return requested
    flags = multihost_utils.process_allgather(np.asarray(requested, np.int32))
    return bool(np.any(flags))
