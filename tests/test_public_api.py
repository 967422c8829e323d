"""The public surface: every exported name exists and is documented; no extras imported."""

import subprocess
import sys

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


def test_core_imports_without_heavy_extras():
    code = (
        "import sys, hivejax; "
        "extras = ('bittensor', 'torch', 'deap', 'nbclient', 'matplotlib'); "
        "bad = [m for m in extras if m in sys.modules]; "
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_importing_hivejax_leaves_jax_uninitialised():
    # `hivejax evolve --distributed` must call jax.distributed.initialize after the import.
    code = (
        "import hivejax.cli.main; from jax._src import xla_bridge as xb; "
        "print(xb.backends_are_initialized())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
