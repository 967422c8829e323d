"""Strict, CPU-first test configuration."""

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")
# In-process tests leave JAX's persistent compilation cache off, so no test reads what an
# earlier one compiled; tests/test_chunks.py turns it on in subprocesses.
os.environ["HIVEJAX_COMPILATION_CACHE"] = "off"

import jax  # noqa: E402
import pytest  # noqa: E402

jax.config.update("jax_num_cpu_devices", 4)
jax.config.update("jax_numpy_rank_promotion", "raise")

from hivejax._src.interpret.compilation_cache import release_executables  # noqa: E402


@pytest.fixture(scope="session")
def spec():
    from hivejax._src.program.program import ProgramSpec

    return ProgramSpec()


@pytest.fixture(scope="session", autouse=True)
def _cache_dir(tmp_path_factory):
    # Keep generated datasets out of the user's home, but share them across the session.
    os.environ.setdefault("HIVEJAX_CACHE", str(tmp_path_factory.mktemp("cache")))


@pytest.fixture(scope="module", autouse=True)
def _free_executables():
    """Free each module's compiled executables when it ends.

    XLA's CPU backend maps a few memory regions per loaded executable, and JAX's caches
    keep every executable alive. The whole suite compiles thousands of them in one process:
    about 100 new maps a second, past Linux's default vm.max_map_count (65530) after some
    20 minutes, where the compiler then crashes (SIGSEGV or SIGABRT) in whichever test
    happens to be compiling.
    """
    yield
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
