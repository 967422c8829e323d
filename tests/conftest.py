"""Strict, CPU-first test configuration, tuned for a suite that compiles a lot.

Most of the suite's time is XLA compiling small programs, so the configuration is about
compiling less:

- **One persistent compilation cache for the session**, shared by every xdist worker and
  every subprocess a test starts (the ``hivejax`` command reads
  ``HIVEJAX_COMPILATION_CACHE``): the same computation compiled by another test, module or
  process is loaded instead. It starts empty, so no run reads an earlier run's code.
- **Executables stay in memory across modules** until the process's memory maps near
  Linux's limit (``_free_executables``).
"""

import atexit
import os
import pathlib
import shutil
import tempfile

os.environ.setdefault("JAX_PLATFORMS", "cpu")
if "HIVEJAX_TEST_SCRATCH" not in os.environ:  # the controller; xdist workers inherit it
    os.environ["HIVEJAX_TEST_SCRATCH"] = tempfile.mkdtemp(prefix="hivejax-tests-")
    atexit.register(shutil.rmtree, os.environ["HIVEJAX_TEST_SCRATCH"], ignore_errors=True)
SCRATCH = pathlib.Path(os.environ["HIVEJAX_TEST_SCRATCH"])
# Generated data sets, shared across the session and out of the user's home.
os.environ.setdefault("HIVEJAX_CACHE", str(SCRATCH / "data"))
os.environ["HIVEJAX_COMPILATION_CACHE"] = str(SCRATCH / "jit")  # the hivejax command's
os.environ["JAX_COMPILATION_CACHE_DIR"] = str(SCRATCH / "jit")  # any other process's (notebooks)
# Subprocesses see the same devices and rules, so their compiled programs match ours and
# load from the shared cache (a test that wants another layout sets its own).
os.environ["JAX_NUM_CPU_DEVICES"] = "4"
os.environ["JAX_NUMPY_RANK_PROMOTION"] = "raise"

import jax  # noqa: E402
import pytest  # noqa: E402

jax.config.update("jax_compilation_cache_dir", os.environ["JAX_COMPILATION_CACHE_DIR"])

from hivejax._src.interpret.compilation_cache import release_executables  # noqa: E402

MAPS = pathlib.Path("/proc/self/maps")
MAPS_BUDGET = 30_000
"""Memory maps a test process may hold before it frees its executables: about half of
Linux's default ``vm.max_map_count`` (65530)."""


@pytest.fixture(scope="session")
def spec():
    from hivejax._src.program.program import ProgramSpec

    return ProgramSpec()


@pytest.fixture(scope="module", autouse=True)
def _free_executables():
    """After a module, free the compiled executables if the process holds many maps.

    XLA's CPU backend maps a few memory regions per loaded executable, and JAX's caches
    keep every executable alive. The whole suite compiles thousands of them: about 100
    new maps a second, past Linux's default vm.max_map_count (65530) after some 20
    minutes, where the compiler then crashes (SIGSEGV or SIGABRT) in whichever test
    happens to be compiling. Freeing them after every module would throw away what the
    next module compiles again; freeing them past ``MAPS_BUDGET`` keeps both.
    """
    yield
    if not MAPS.exists() or len(MAPS.read_bytes().splitlines()) > MAPS_BUDGET:
        release_executables()


CHANCE = 0.2  # accuracy of 10-class runs that learned next to nothing


@pytest.fixture(scope="session")
def same_curve():
    """Assert two runs' metrics lines agree: the best-so-far curve within float noise.

    Runs on another device count or process layout compile each device's share of the
    training separately, so sums may round differently: the mean accuracy of the
    1/2/4-device digits run agrees to about 1e-8 here. On other processors XLA emits other
    CPU code, and a program whose training is on the edge of diverging can amplify such
    rounding into a few test images, at chance-level accuracy (below 0.12). So the
    best-so-far curve, and any generation best above chance, must agree; the mean of 8
    programs may move by up to ~0.015.
    """

    def check(lines_a, lines_b):
        assert len(lines_a) == len(lines_b)
        for a, b in zip(lines_a, lines_b, strict=True):
            assert a["generation"] == b["generation"] and a["broken"] == b["broken"]
            assert a.get("rejections") == b.get("rejections"), (a, b)  # exact checks
            for key in ("best_so_far", "best_accuracy"):  # None: nothing counted yet
                assert (a[key] is None) == (b[key] is None), (a, b)
            if a["best_so_far"] is not None:
                assert a["best_so_far"] == pytest.approx(b["best_so_far"], abs=1e-6), (a, b)
            if (
                a["best_accuracy"] is not None
                and max(a["best_accuracy"], b["best_accuracy"]) > CHANCE
            ):
                assert a["best_accuracy"] == pytest.approx(b["best_accuracy"], abs=1e-6), (a, b)
            assert a["mean_accuracy"] == pytest.approx(b["mean_accuracy"], abs=0.015)

    return check


@pytest.fixture(scope="session")
def toy_run():
    """One finished ``toy.TOY`` run shared by the session: read it, don't write it (copy it
    with ``shutil.copytree`` first). One per xdist worker: two workers would otherwise write
    the same directory at once (the second run loads the first's compiled steps)."""
    from toy import TOY

    from hivejax._src.run.loop import evolve

    out = SCRATCH / f"toy-run-{os.environ.get('PYTEST_XDIST_WORKER', 'main')}"
    if not (out / "summary.json").exists():
        evolve(TOY, out)
    return out
