"""The baseline scripts a benchmark runs beside hivejax, found where hivejax is installed.

The scripts live in the repository's ``bench/`` folder, which installs with the package as
``hivejax.baselines``: each is a program that a user would write without hivejax, run here
as a subprocess of this interpreter (never imported), that prints its JSON report as its
last line. Their dependencies are the ``[bench]`` extra, which hivejax itself never needs.
"""

import importlib.resources
import importlib.util
import json
import subprocess
import sys

PACKAGE = "hivejax.baselines"
INSTALL = "pip install 'hivejax[bench]'"
"""What installs every baseline's dependencies."""
NEEDS = {"deap_torch.py": ("torch", "deap"), "deap_numpy.py": ("deap",)}
"""The modules each script imports beyond numpy."""


def missing(script: str) -> tuple[str, ...]:
    """The modules ``script`` needs that this interpreter cannot import."""
    return tuple(m for m in NEEDS[script] if importlib.util.find_spec(m) is None)


def require(script: str) -> None:
    """A ``ValueError`` saying what to install unless ``script`` can run here."""
    lacking = missing(script)
    if lacking:
        raise ValueError(f"the {script} baseline needs {' and '.join(lacking)}: {INSTALL}")


def run(script: str, *args: str) -> dict:
    """Run ``script`` with ``args`` and return its report (``RuntimeError`` if it fails)."""
    with importlib.resources.as_file(importlib.resources.files(PACKAGE) / script) as path:
        cmd = [sys.executable, str(path), *args]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise RuntimeError(f"baseline {script} failed: {tail[0]}")
    return json.loads(done.stdout.strip().splitlines()[-1])
