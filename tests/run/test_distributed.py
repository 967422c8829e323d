"""Two processes on 127.0.0.1 with CPU collectives (gloo), two simulated devices each.

The global population is sharded over the 4 devices of both processes; each process
must report the same best program as one process with 4 devices, and only process 0
writes files. Subprocesses run under timeouts and are killed if anything fails.

Every launch compiles its run from scratch: with executables loaded from a persistent
cache, one process reached its collectives while the other was still compiling what it
had not cached, and gloo gave up waiting for its peer after 30 s (seen here, warm cache
shared or one per process). So the launches are few: one unbroken two-process run,
beside the one-process reference, serves both end-to-end tests, and the vote that stops
every process together is tested on its own, without a run.
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

from hivejax._src.run.loop import TIMINGS

ROOT = pathlib.Path(__file__).resolve().parents[2]
GENERATIONS = 10
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
    str(GENERATIONS),
    "--seed",
    "3",
    "--seed-programs",
    "builtin:mse",
    "--final-seeds",
    "1",
    "--no-progress",
    "--checkpoint-every",
    "4",
    "--keep-checkpoints",
    "2",
]


def _env(devices):
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "JAX_PLATFORMS": "cpu",
        "JAX_NUM_CPU_DEVICES": str(devices),
        "JAX_CPU_COLLECTIVES_IMPLEMENTATION": "gloo",
        "HIVEJAX_COMPILATION_CACHE": "off",  # see the module docstring
    }
    env.pop("JAX_COMPILATION_CACHE_DIR", None)
    return env


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _metrics(path):
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    return [{k: v for k, v in m.items() if k not in TIMINGS} for m in lines]


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


def _finish(procs, timeout=900):
    """Exit codes of ``procs``; kill whatever is still running after ``timeout``."""
    try:
        return [p.wait(timeout=timeout) for p, _ in procs]
    finally:
        for p, log in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
            log.close()


@pytest.fixture(scope="module")
def unbroken(tmp_path_factory):
    """One two-process run of ``ARGS`` and, at the same time, one process of 4 devices: the
    directory holding both, their logs, and the exit codes ``(two, one)``."""
    tmp = tmp_path_factory.mktemp("unbroken")
    argvs = [[*ARGS, "--out", str(tmp / "whole")], [*ARGS, "--out", str(tmp / "w1")]]
    procs = _launch(tmp, "whole", argvs, _free_port(), _env(2))
    try:
        single = subprocess.run(
            [sys.executable, "-m", "hivejax.cli.main", *ARGS, "--out", str(tmp / "single")],
            env=_env(4),
            capture_output=True,
            text=True,
            timeout=900,
        )
    finally:
        codes = _finish(procs)
    return tmp, (codes, single.returncode), single.stderr


def _best_hashes(logs):
    return [
        line.split()[2] for x in logs for line in x.splitlines() if line.startswith("best hash")
    ]


@pytest.mark.slow
def test_two_processes_agree_with_one_process_of_four_devices(unbroken, same_curve):
    tmp, (codes, single_code), single_err = unbroken
    logs = [(tmp / f"whole-p{pid}.log").read_text() for pid in (0, 1)]
    assert codes == [0, 0], [x[-2000:] for x in logs]
    assert single_code == 0, single_err[-2000:]

    summary = json.loads((tmp / "whole" / "summary.json").read_text())
    assert summary["processes"] == 2 and summary["mesh"] == {"pop": 4, "data": 1}
    assert not (tmp / "w1").exists()  # only process 0 writes
    hashes = _best_hashes(logs)
    assert len(hashes) == 2 and set(hashes) == {summary["best_hash"]}
    ref = json.loads((tmp / "single" / "summary.json").read_text())
    assert ref["mesh"] == {"pop": 4, "data": 1} and ref["processes"] == 1
    assert ref["best_hash"] == summary["best_hash"]
    same_curve(
        _metrics(tmp / "whole" / "metrics.jsonl"), _metrics(tmp / "single" / "metrics.jsonl")
    )


def _count(path):
    return len(path.read_text().splitlines()) if path.exists() else 0


def _freeze_at(procs, metrics, lines, timeout=900):
    """SIGSTOP every process once ``metrics`` has ``lines`` lines; its line count then.

    A toy generation takes a fraction of a second: rather than hope a signal lands during
    a given generation, the test freezes the processes, reads where they are, signals,
    and lets them go on, asserting relative to that count.
    """
    deadline = time.monotonic() + timeout
    while _count(metrics) < lines:
        assert all(p.poll() is None for p, _ in procs), "a process ended early"
        assert time.monotonic() < deadline, "the run never got there"
        time.sleep(0.005)
    for p, _ in procs:
        p.send_signal(signal.SIGSTOP)
    return _count(metrics)


def _steps(run_dir):
    return sorted(int(p.name) for p in (run_dir / "checkpoints").iterdir() if p.name.isdigit())


@pytest.mark.slow
def test_two_processes_stopped_and_resumed_equal_an_unbroken_run(tmp_path, unbroken):
    # A signal that reaches only one process (here process 1, which writes nothing) must
    # stop both after the same generation rather than leave the other waiting in a
    # collective: process 0 saves a checkpoint, both exit with 130. Then both resume with
    # --resume and must end exactly where the unbroken run did. (A launcher's SIGTERM to
    # every process is the vote's other case: test_every_process_stops_after_the_same_step.)
    env = _env(2)
    broken = tmp_path / "broken"
    metrics = broken / "metrics.jsonl"
    argvs = [[*ARGS, "--out", str(broken)], [*ARGS, "--out", str(tmp_path / "b1")]]
    procs = _launch(tmp_path, "stop", argvs, _free_port(), env)
    try:
        frozen = _freeze_at(procs, metrics, 3)
        procs[1][0].send_signal(signal.SIGTERM)
        for p, _ in procs:
            p.send_signal(signal.SIGCONT)
    finally:
        codes = _finish(procs, timeout=120)
    assert codes == [130, 130], (tmp_path / "stop-p0.log").read_text()[-2000:]
    assert not (tmp_path / "b1").exists()  # process 1 wrote no metrics and no checkpoint
    stopped_at = _count(metrics)
    # The generation under way when the signal came is finished first.
    assert frozen <= stopped_at <= frozen + 1 < GENERATIONS
    assert _steps(broken)[-1] == stopped_at  # saved after that generation

    resume = ["evolve", "--resume", str(broken), "--no-progress"]
    procs = _launch(tmp_path, "end", [resume, resume], _free_port(), env)
    assert _finish(procs) == [0, 0], (tmp_path / "end-p0.log").read_text()[-2000:]

    whole = unbroken[0] / "whole"
    assert [m["generation"] for m in _metrics(metrics)] == list(range(GENERATIONS))
    assert _metrics(metrics) == _metrics(whole / "metrics.jsonl")  # no gap, no repeat
    assert json.loads((broken / "best.json").read_text()) == json.loads(
        (whole / "best.json").read_text()
    )
    summary = json.loads((broken / "summary.json").read_text())
    assert summary["processes"] == 2 and summary["resumed_from"] == stopped_at
    logs = [(tmp_path / f"end-p{pid}.log").read_text() for pid in (0, 1)]
    assert set(_best_hashes(logs)) == {summary["best_hash"]}


VOTE = """
import os, signal, sys
import jax
from hivejax._src.run.stop import agree_to_stop, stop_requests

address, pid, signal_at = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
jax.distributed.initialize(address, num_processes=2, process_id=pid)
with stop_requests() as requested:
    for step in range(20):
        if step == signal_at:
            os.kill(os.getpid(), signal.SIGTERM)
        if agree_to_stop(bool(requested)):
            print("stopped after", step, "asked", bool(requested), flush=True)
            break
"""


@pytest.mark.parametrize("signal_at", [(3, 3), (5, 2), (99, 4)], ids=["both", "at_2_and_5", "one"])
def test_every_process_stops_after_the_same_step(tmp_path, signal_at):
    # The stop vote alone, in two real processes: whichever process is signalled first
    # (SIGTERM to both, at different steps, or to one only), both stop after that step.
    port, env = _free_port(), _env(1)
    procs = []
    for pid in (0, 1):
        cmd = [sys.executable, "-c", VOTE, f"127.0.0.1:{port}", str(pid), str(signal_at[pid])]
        procs.append(subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, text=True))
    try:
        outs = [p.communicate(timeout=120)[0] for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    first = min(signal_at)
    assert [p.returncode for p in procs] == [0, 0], outs
    expected = [f"stopped after {first} asked {at <= first}" for at in signal_at]
    said = [[x for x in o.splitlines() if x.startswith("stopped after")] for o in outs]
    assert said == [[line] for line in expected], outs  # gloo prints its own lines too
