"""Everything a new GPU or TPU host should report, in one call.

``bench/device.sh`` runs it on a lent card: one JSON document with

- the card (``device_kind``), the backend, the device count and the JAX version;
- evaluations per second of each interpreter and of the hard-coded ceiling on the
  benchmark protocol, at each population (256, 4096 and 16384 by default), with each
  interpreter's ratio to the ceiling;
- the device's peak memory over the whole check (where the backend reports one);
- GP operations per second of each interpreter on the symbolic-regression workload
  (sizes predicted to take over ``max_seconds`` are skipped and labelled).

Every size is an argument, so the same code runs as a test on the CPU at toy sizes. An
interpreter that fails at a size (out of memory, say) is reported with its error rather
than ending the check.
"""

import jax

from hivejax._src.bench import regression
from hivejax._src.bench.throughput import throughput
from hivejax._src.bench.timing import machine, peak_device_bytes
from hivejax._src.interpret.dispatch import NAMES

POPULATIONS = (256, 4096, 16384)


def device_check(
    populations=POPULATIONS,
    interpreters=None,
    repeats: int = 2,
    regression_populations=regression.POPULATIONS,
    regression_points=regression.POINTS,
    max_seconds: float = regression.MAX_SECONDS,
    dataset: str = "mnist1d",
    steps: int | None = None,
    data_dir=None,
) -> dict:
    """Run the check; see the module docstring. ``interpreters``: default all; ``dataset``
    and ``steps`` change the benchmark protocol, for quick checks only."""
    device = jax.devices()[0]
    names = tuple(interpreters or NAMES)
    report = {
        "card": device.device_kind,
        "backend": jax.default_backend(),
        "devices": jax.device_count(),
        "jax": jax.__version__,
        "throughput": [],
    }
    for population in populations:
        try:
            row = throughput(population, dataset, repeats, names, data_dir=data_dir, steps=steps)
        except Exception as e:  # noqa: BLE001 (an OOM at one size must not lose the rest)
            row = {"population": population, "error": f"{type(e).__name__}: {e}"[:300]}
        row.pop("machine", None)
        report["throughput"].append(row)
    report["regression"] = regression.gp_ops(
        populations=regression_populations,
        points=regression_points,
        interpreters=names,
        repeats=repeats,
        max_seconds=max_seconds,
    )
    report["peak_device_bytes"] = peak_device_bytes()
    report["machine"] = machine()
    return report
