"""The public surface: every exported name exists and is documented; no extras imported."""

import subprocess
import sys

import hivejax


def test_every_export_exists_and_has_a_docstring():
    for name in hivejax.__all__:
        obj = getattr(hivejax, name)
        if callable(obj) or isinstance(obj, type):
            assert (obj.__doc__ or "").strip(), f"hivejax.{name} has no docstring"


def test_core_imports_without_heavy_extras():
    code = (
        "import sys, hivejax; "
        "bad = [m for m in ('bittensor', 'torch', 'deap', 'nbclient') if m in sys.modules]; "
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_import_leaves_jax_backend_unstarted():
    # Users must be able to configure devices (jax_num_cpu_devices, distributed) after import.
    code = (
        "import hivejax\n"
        "from jax._src import xla_bridge\n"
        "print(xla_bridge.backends_are_initialized())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
