"""The device check (bench/device.sh) runs in one call and prints one JSON document.

On a lent GPU it runs at full size; here it runs on the CPU at toy sizes, every
interpreter included, so the script a card will run is the one the suite ran.
"""

import importlib.resources
import json
import os
import subprocess
import sys

import pytest

import hivejax as hj

SCRIPT = importlib.resources.files("hivejax.baselines") / "device.sh"


@pytest.mark.slow  # every interpreter compiles twice, Pallas in interpret mode: a minute
def test_the_device_check_reports_every_interpreter_and_the_regression_rate():
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "PYTHON": sys.executable}
    argv = ["bash", str(SCRIPT), "--populations", "4", "--regression-populations", "64"]
    argv += ["--points", "32", "--repeats", "1", "--steps", "3", "--dataset", "digits"]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout)
    assert report["backend"] == "cpu" and report["jax"] and report["card"]
    (row,) = report["throughput"]
    for name in hj.INTERPRETERS:
        assert row[name]["evals_per_second"] > 0, name
        assert row[f"{name}_over_ceiling"] > 0, name
    assert row["ceiling"]["evals_per_second"] > 0
    measured = {c["interpreter"] for c in report["regression"]["cells"] if "gp_ops_per_second" in c}
    assert measured == set(hj.INTERPRETERS)
    assert "peak_device_bytes" in report  # None on a CPU, which reports no peak
