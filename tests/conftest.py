"""Strict, CPU-first test configuration (STYLE.md guideline 11)."""

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402
import pytest  # noqa: E402

jax.config.update("jax_num_cpu_devices", 4)
jax.config.update("jax_numpy_rank_promotion", "raise")


@pytest.fixture(scope="session")
def spec():
    from hivejax._src.program import ProgramSpec

    return ProgramSpec()


@pytest.fixture(scope="session", autouse=True)
def _cache_dir(tmp_path_factory):
    # Keep generated datasets out of the user's home, but share them across the session.
    os.environ.setdefault("HIVEJAX_CACHE", str(tmp_path_factory.mktemp("cache")))
