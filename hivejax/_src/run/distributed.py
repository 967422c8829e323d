"""Many hosts: one JAX process per host, joined by ``jax.distributed.initialize``.

Nothing here moves data itself. After initialisation ``jax.devices()`` lists the devices
of every process, the engine's mesh spans them all, and the sharded fitness evaluation
and replicated strategy state work unchanged: each process runs the same program on the
same seed and holds the same replicated state, so every process agrees on the best
program, and only process 0 writes files.
"""

import jax


def initialize(
    coordinator_address: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
) -> None:
    """Join the run's processes; call before any other JAX work.

    With all three arguments omitted, JAX detects the cluster itself (TPU VM pod slices,
    SLURM, Open MPI, Kubernetes); otherwise all three must be given.
    """
    given = [x is not None for x in (coordinator_address, num_processes, process_id)]
    if any(given) and not all(given):
        raise ValueError(
            "give --coordinator-address, --num-processes and --process-id together, "
            "or none of them to let JAX detect the cluster"
        )
    if not any(given):
        jax.distributed.initialize()
        return
    if not 0 <= process_id < num_processes:
        raise ValueError(f"process id {process_id} is not in [0, {num_processes})")
    jax.distributed.initialize(
        coordinator_address=coordinator_address,
        num_processes=num_processes,
        process_id=process_id,
    )
