"""Two processes on 127.0.0.1 with CPU collectives (gloo), two simulated devices each.

The global population is sharded over the 4 devices of both processes; each process
must report the same best program as one process with 4 devices, and only process 0
writes files. Subprocesses run under timeouts and are killed if anything fails.
"""

import json
import os
import pathlib
import socket
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
ARGS = [
    "evolve",
    "--dataset",
    "digits",
    "--steps",
    "10",
    "--learning-rate",
    "0.01",
    "--population",
    "8",
    "--generations",
    "3",
    "--seed",
    "3",
    "--seed-programs",
    "builtin:mse",
    "--final-seeds",
    "1",
    "--no-progress",
]


def _env(devices):
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "JAX_PLATFORMS": "cpu",
        "JAX_NUM_CPU_DEVICES": str(devices),
        "JAX_CPU_COLLECTIVES_IMPLEMENTATION": "gloo",
    }


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _metrics(path):
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    return [{k: v for k, v in m.items() if k not in ("seconds", "evals_per_second")} for m in lines]


@pytest.mark.slow
def test_two_processes_agree_with_one_process_of_four_devices(tmp_path, same_curve):
    port = _free_port()
    cli = [sys.executable, "-m", "hivejax.cli.main", *ARGS]
    procs = []
    try:
        for pid in (0, 1):
            argv = [
                *cli,
                "--out",
                str(tmp_path / f"p{pid}"),
                "--distributed",
                "--coordinator-address",
                f"127.0.0.1:{port}",
                "--num-processes",
                "2",
                "--process-id",
                str(pid),
            ]
            log = open(tmp_path / f"p{pid}.log", "w")  # noqa: SIM115
            procs.append((subprocess.Popen(argv, env=_env(2), stdout=log, stderr=log), log))
        single = subprocess.run(
            [*cli, "--out", str(tmp_path / "single")],
            env=_env(4),
            capture_output=True,
            text=True,
            timeout=400,
        )
        codes = [p.wait(timeout=400) for p, _ in procs]
    finally:
        for p, log in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
            log.close()
    logs = [(tmp_path / f"p{pid}.log").read_text() for pid in (0, 1)]
    assert codes == [0, 0], [x[-2000:] for x in logs]
    assert single.returncode == 0, single.stderr[-2000:]

    summary = json.loads((tmp_path / "p0" / "summary.json").read_text())
    assert summary["processes"] == 2 and summary["mesh"] == {"pop": 4, "data": 1}
    assert not (tmp_path / "p1").exists()  # only process 0 writes
    hashes = [line for x in logs for line in x.splitlines() if line.startswith("best hash")]
    assert len(hashes) == 2
    assert {h.split()[2] for h in hashes} == {summary["best_hash"]}
    ref = json.loads((tmp_path / "single" / "summary.json").read_text())
    assert ref["mesh"] == {"pop": 4, "data": 1} and ref["processes"] == 1
    assert ref["best_hash"] == summary["best_hash"]
    same_curve(
        _metrics(tmp_path / "p0" / "metrics.jsonl"), _metrics(tmp_path / "single" / "metrics.jsonl")
    )
