"""Two processes on 127.0.0.1 with CPU collectives (gloo), two simulated devices each.

The global population is sharded over the 4 devices of both processes; each process
must report the same best program as one process with 4 devices, and only process 0
writes files. Subprocesses run under timeouts and are killed if anything fails.
"""

import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
ARGS = [
    "evolve",
    "--dataset",
    "digits",
    "--batch-size",
    "32",
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


def _launch(tmp_path, name, argvs, port, env):
    """Start one CLI process per entry of ``argvs`` (process ids 0, 1, ...)."""
    procs = []
    for pid, argv in enumerate(argvs):
        dist = ["--distributed", "--coordinator-address", f"127.0.0.1:{port}"]
        dist += ["--num-processes", str(len(argvs)), "--process-id", str(pid)]
        log = open(tmp_path / f"{name}-p{pid}.log", "w")  # noqa: SIM115
        cmd = [sys.executable, "-m", "hivejax.cli.main", *argv, *dist]
        procs.append((subprocess.Popen(cmd, env=env, stdout=log, stderr=log), log))
    return procs


def _finish(procs, timeout=400):
    """Exit codes of ``procs``; kill whatever is still running after ``timeout``."""
    try:
        return [p.wait(timeout=timeout) for p, _ in procs]
    finally:
        for p, log in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
            log.close()


@pytest.mark.slow
def test_two_processes_agree_with_one_process_of_four_devices(tmp_path, same_curve):
    argvs = [[*ARGS, "--out", str(tmp_path / f"p{pid}")] for pid in (0, 1)]
    procs = _launch(tmp_path, "run", argvs, _free_port(), _env(2))
    try:
        single = subprocess.run(
            [sys.executable, "-m", "hivejax.cli.main", *ARGS, "--out", str(tmp_path / "single")],
            env=_env(4),
            capture_output=True,
            text=True,
            timeout=400,
        )
    finally:
        codes = _finish(procs)
    logs = [(tmp_path / f"run-p{pid}.log").read_text() for pid in (0, 1)]
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


# Checkpoint and resume across processes. Training takes 200 steps so that a generation
# lasts long enough to be interrupted while it runs (as in test_checkpoint.py).
def _with(args, **flags):
    """``args`` with the given flags' values replaced (``steps=200`` sets ``--steps 200``)."""
    args = list(args)
    for name, value in flags.items():
        args[args.index("--" + name.replace("_", "-")) + 1] = str(value)
    return args


CHECKPOINTED = [
    *_with(ARGS, steps=200, generations=10),
    "--checkpoint-every",
    "4",
    "--keep-checkpoints",
    "2",
]


def _count(path):
    return len(path.read_text().splitlines()) if path.exists() else 0


def _wait_for_lines(procs, metrics, lines, timeout=300):
    deadline = time.monotonic() + timeout
    while _count(metrics) < lines:
        assert all(p.poll() is None for p, _ in procs), "a process ended early"
        assert time.monotonic() < deadline, "the run never got there"
        time.sleep(0.01)


def _steps(run_dir):
    return sorted(int(p.name) for p in (run_dir / "checkpoints").iterdir() if p.name.isdigit())


@pytest.mark.slow
def test_two_processes_stopped_and_resumed_equal_an_unbroken_run(tmp_path):
    # What a cluster launcher does on preemption or scancel: SIGTERM to every process. Each
    # process finishes its current generation, all agree to stop after the same one,
    # process 0 saves a checkpoint, and both exit with 130. A signal that reaches only one
    # process (here process 1, which writes nothing) must stop both the same way rather
    # than leave the other waiting in a collective. Then both resume with --resume.
    # No persistent compilation cache (unlike test_checkpoint.py): the processes did not
    # hit it alike, so on a later launch process 0 started its collectives while process 1
    # was still compiling, and gloo gave up waiting for its peer after 30 s (seen here).
    env = _env(2)
    whole, broken = tmp_path / "whole", tmp_path / "broken"
    metrics = broken / "metrics.jsonl"

    # Process 1 gets its own --out in the uninterrupted run and the first stopped one:
    # that directory must never appear, so process 1 writes no metrics and no checkpoint.
    procs = _launch(
        tmp_path,
        "whole",
        [[*CHECKPOINTED, "--out", str(whole)], [*CHECKPOINTED, "--out", str(tmp_path / "w1")]],
        _free_port(),
        env,
    )
    assert _finish(procs) == [0, 0], (tmp_path / "whole-p0.log").read_text()[-2000:]
    assert not (tmp_path / "w1").exists()

    procs = _launch(
        tmp_path,
        "stop1",
        [[*CHECKPOINTED, "--out", str(broken)], [*CHECKPOINTED, "--out", str(tmp_path / "b1")]],
        _free_port(),
        env,
    )
    try:
        _wait_for_lines(procs, metrics, 5)
        for p, _ in procs:
            p.send_signal(signal.SIGTERM)
    finally:
        codes = _finish(procs, timeout=120)
    assert codes == [130, 130], (tmp_path / "stop1-p0.log").read_text()[-2000:]
    assert not (tmp_path / "b1").exists()
    stopped_at = _count(metrics)
    assert stopped_at >= 5 and _steps(broken)[-1] == stopped_at  # saved after that generation

    # Both resume from the shared run directory; SIGTERM reaches process 1 only.
    resume = ["evolve", "--resume", str(broken), "--no-progress"]
    procs = _launch(tmp_path, "stop2", [resume, resume], _free_port(), env)
    try:
        _wait_for_lines(procs, metrics, 8)
        procs[1][0].send_signal(signal.SIGTERM)
    finally:
        codes = _finish(procs, timeout=120)
    assert codes == [130, 130], (tmp_path / "stop2-p0.log").read_text()[-2000:]
    stopped_at = _count(metrics)
    assert stopped_at >= 8 and _steps(broken)[-1] == stopped_at

    procs = _launch(tmp_path, "end", [resume, resume], _free_port(), env)
    assert _finish(procs) == [0, 0], (tmp_path / "end-p0.log").read_text()[-2000:]

    assert [m["generation"] for m in _metrics(metrics)] == list(range(10))  # no gap, no repeat
    assert _metrics(metrics) == _metrics(whole / "metrics.jsonl")
    assert json.loads((broken / "best.json").read_text()) == json.loads(
        (whole / "best.json").read_text()
    )
    summary = json.loads((broken / "summary.json").read_text())
    assert summary["processes"] == 2 and summary["resumed_from"] == stopped_at
    logs = [(tmp_path / f"end-p{pid}.log").read_text() for pid in (0, 1)]
    hashes = {
        line.split()[2] for x in logs for line in x.splitlines() if line.startswith("best hash")
    }
    assert hashes == {summary["best_hash"]}
