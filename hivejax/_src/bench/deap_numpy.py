"""The DEAP + numpy baseline of the regression benchmark, on the very programs hivejax timed.

``deap_numpy.py`` of ``hivejax.baselines`` evaluates DEAP trees with numpy, one program
after another. It reads what ``write_programs`` writes: each program as the DEAP
expression of its output (``io.deap_format.to_deap``), the points, the target and the
live instruction count. Its MSEs are compared with hivejax's (``agreement``).
"""

import pathlib
import tempfile

import jax
import numpy as np

from hivejax._src.bench import baselines
from hivejax._src.io import deap_format

SCRIPT = "deap_numpy.py"


def write_programs(path, spec, programs, x, target, live: int) -> None:
    """Write the script's input (``ValueError`` if a program cannot be written in DEAP's
    vocabulary)."""
    host = jax.device_get(programs)
    size = int(host.length.shape[0])
    expressions = [
        deap_format.to_deap(spec, jax.tree.map(lambda a, i=i: a[i], host)) for i in range(size)
    ]
    np.savez(
        path,
        expressions=np.asarray(expressions),
        inputs=np.asarray(spec.inputs),
        x=np.asarray(x),
        target=np.asarray(target),
        live=live,
    )


def agreement(theirs: np.ndarray, ours: np.ndarray) -> float:
    """Share of programs whose MSEs agree: within 1e-3 relative, or both past 1e30 or NaN
    (float32 sin, exp and log differ by ulps between numpy and XLA, and a few programs
    amplify them)."""
    close = np.isclose(theirs, ours, rtol=1e-3, atol=1e-6)
    huge = (np.nan_to_num(theirs, nan=np.inf) > 1e30) & (np.nan_to_num(ours, nan=np.inf) > 1e30)
    return float(np.mean(close | huge | (np.isnan(theirs) & np.isnan(ours))))


def run(mses: dict, live: int, spec, programs, x, target) -> dict:
    """The script's report on the same programs, with the agreement of its MSEs with
    hivejax's (``mses`` by interpreter; the reference interpreter's where it ran); an
    ``error`` entry where it could not run."""
    with tempfile.TemporaryDirectory() as tmp:
        programs_file, mse_file = pathlib.Path(tmp, "programs.npz"), pathlib.Path(tmp, "mse.npy")
        try:
            write_programs(programs_file, spec, programs, x, target, live)
        except ValueError as e:  # a program DEAP's vocabulary cannot write
            return {"error": f"cannot export to DEAP: {e}"[:300]}
        args = ("--json", "--programs", str(programs_file), "--mse-out", str(mse_file))
        try:
            result = baselines.run(SCRIPT, *args)
        except RuntimeError as e:
            return {"error": str(e)[:300]}
        if "skipped" in result or not mses:
            return result
        ours = mses.get("reference", next(iter(mses.values())))
        result["mse_agreement"] = agreement(np.load(mse_file), np.asarray(ours))
        return result
