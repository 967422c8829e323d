"""hivejax.bench: the measurements behind ``hivejax bench``, as functions returning reports.

The implementation lives in ``hivejax._src.bench``, one module per workload; this module
re-exports what the command line (or a notebook) calls. Every function returns a
JSON-ready dict; none prints. The throughput protocol is ``bench/PROTOCOL.md``; the
baselines it compares with are scripts installed as ``hivejax.baselines``, run as
subprocesses, whose dependencies are the ``[bench]`` extra (``BASELINE_INSTALL``).

Example:
  >>> import hivejax.bench as hb
  >>> hb.SEARCH_BUDGETS["loss"]
  (256, 30)
  >>> hb.solve_rate_config("nguyen-1", seed=0, population=8, generations=2).problem
  'nguyen-1'
"""

from hivejax._src.bench.baselines import INSTALL as BASELINE_INSTALL
from hivejax._src.bench.device import POPULATIONS as DEVICE_POPULATIONS
from hivejax._src.bench.device import device_check
from hivejax._src.bench.interval import validator_interval
from hivejax._src.bench.judged import judged_against_trained
from hivejax._src.bench.memory import memory
from hivejax._src.bench.nguyen import BUDGET as NGUYEN_BUDGET
from hivejax._src.bench.nguyen import DSR_RECOVERY, nguyen, recovered
from hivejax._src.bench.nguyen import PROBLEMS as NGUYEN_PROBLEMS
from hivejax._src.bench.nguyen import QUICK as NGUYEN_QUICK
from hivejax._src.bench.nguyen import SEEDS as NGUYEN_SEEDS
from hivejax._src.bench.nguyen import THRESHOLD as NGUYEN_THRESHOLD
from hivejax._src.bench.ranking import ranking, search_candidates
from hivejax._src.bench.regression import MAX_SECONDS as GP_OPS_MAX_SECONDS
from hivejax._src.bench.regression import POINTS as GP_OPS_POINTS
from hivejax._src.bench.regression import POPULATIONS as GP_OPS_POPULATIONS
from hivejax._src.bench.regression import gp_ops
from hivejax._src.bench.search import BUDGETS as SEARCH_BUDGETS
from hivejax._src.bench.search import against_random as search_against_random
from hivejax._src.bench.solve_rate import BUDGET as SOLVE_BUDGET
from hivejax._src.bench.solve_rate import PROBLEMS as SOLVE_PROBLEMS
from hivejax._src.bench.solve_rate import RUNS as SOLVE_RUNS
from hivejax._src.bench.solve_rate import THRESHOLD as SOLVE_THRESHOLD
from hivejax._src.bench.solve_rate import run_config as solve_rate_config
from hivejax._src.bench.solve_rate import solve_rate
from hivejax._src.bench.throughput import require_baseline, throughput
from hivejax._src.bench.throughput import sharded as sharded_throughput
from hivejax._src.bench.timing import machine, peak_device_bytes

__all__ = [
    "BASELINE_INSTALL",
    "device_check",
    "DEVICE_POPULATIONS",
    "DSR_RECOVERY",
    "gp_ops",
    "GP_OPS_MAX_SECONDS",
    "GP_OPS_POINTS",
    "GP_OPS_POPULATIONS",
    "judged_against_trained",
    "machine",
    "memory",
    "nguyen",
    "NGUYEN_BUDGET",
    "NGUYEN_PROBLEMS",
    "NGUYEN_QUICK",
    "NGUYEN_SEEDS",
    "NGUYEN_THRESHOLD",
    "peak_device_bytes",
    "ranking",
    "recovered",
    "require_baseline",
    "search_against_random",
    "SEARCH_BUDGETS",
    "search_candidates",
    "sharded_throughput",
    "SOLVE_BUDGET",
    "SOLVE_PROBLEMS",
    "solve_rate",
    "solve_rate_config",
    "SOLVE_RUNS",
    "SOLVE_THRESHOLD",
    "throughput",
    "validator_interval",
]
