"""The public surface: every exported name exists and is documented; no extras imported."""

import subprocess
import sys

import pytest

import hivejax
import hivejax.bench as hb


def test_every_export_exists_and_has_a_docstring():
    for name in hivejax.__all__:
        obj = getattr(hivejax, name)
        if callable(obj) or isinstance(obj, type):
            assert (obj.__doc__ or "").strip(), f"hivejax.{name} has no docstring"


def test_every_bench_export_exists_and_has_a_docstring():
    assert sorted(hb.__all__, key=str.lower) == hb.__all__
    for name in hb.__all__:
        obj = getattr(hb, name)
        if callable(obj):
            assert (obj.__doc__ or "").strip(), f"hivejax.bench.{name} has no docstring"


# One fresh interpreter answers both import tests below: first what ``import hivejax``
# loads, then whether importing the command line started JAX's backends.
_FRESH_IMPORTS = """
import sys, hivejax
extras = ('bittensor', 'torch', 'deap', 'nbclient', 'matplotlib')
print(','.join(m for m in extras if m in sys.modules))
import hivejax.cli.main
from jax._src import xla_bridge as xb
print(xb.backends_are_initialized())
"""


@pytest.fixture(scope="module")
def fresh_imports() -> list[str]:
    """The lines ``_FRESH_IMPORTS`` prints in a fresh interpreter."""
    done = subprocess.run(
        [sys.executable, "-c", _FRESH_IMPORTS], capture_output=True, text=True, check=True
    )
    return done.stdout.splitlines()


def test_core_imports_without_heavy_extras(fresh_imports):
    assert fresh_imports[0] == ""


def test_importing_hivejax_leaves_jax_uninitialised(fresh_imports):
    # `hivejax evolve --distributed` must call jax.distributed.initialize after the import.
    assert fresh_imports[1] == "False"
