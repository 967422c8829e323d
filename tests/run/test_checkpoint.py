"""Checkpoint and resume: a run killed mid-way and resumed ends exactly like an unbroken one.

The unbroken run and the last resume run in this process; the runs that are killed or
stopped are CLI subprocesses, since a signal is what they are about. All use the toy
run's shapes (``toy.TOY_FLAGS``), so the session's persistent compilation cache serves
their compiled steps, and the subprocesses cache even their small compiles, so the second
loads what the first compiled. A toy generation takes a fraction of a second: rather than
hope to signal a process during a given generation, the test freezes it (SIGSTOP) once
the metrics reach a line count, reads where it is, and asserts relative to that.
"""

import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import pytest
from toy import TOY_FLAGS

from hivejax._src.run.loop import TIMINGS
from hivejax.cli.main import main

ROOT = pathlib.Path(__file__).resolve().parents[2]
# The SIGTERM comes at line 8 or later, so the last resume saves no periodic checkpoint
# (one that did was seen to leave three kept: [8, 9, 12] with --keep-checkpoints 2).
GENERATIONS, EVERY = 12, 4
# A seeded builtin trains from the first generation, so the metrics hold real accuracies.
ARGS = ["evolve", *TOY_FLAGS, "--seed-programs", "builtin:mse"]
ARGS[ARGS.index("--generations") + 1] = str(GENERATIONS)
ARGS += ["--checkpoint-every", str(EVERY), "--keep-checkpoints", "2"]


@pytest.fixture
def env():
    """The session's environment (its compilation cache, devices and rules), and every
    compile cached, however small."""
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
        "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0",
    }


def _cli(*argv):
    return [sys.executable, "-m", "hivejax.cli.main", *argv]


def _count(path):
    return len(path.read_text().splitlines()) if path.exists() else 0


def _stopped(proc):
    """Whether ``proc`` is stopped by a signal (state T in /proc)."""
    stat = pathlib.Path(f"/proc/{proc.pid}/stat").read_text()
    return stat[stat.rindex(")") + 2] in "Tt"


def _freeze_at(proc, metrics, lines, log):
    """Wait until ``metrics`` has ``lines`` lines, SIGSTOP ``proc``; its line count then."""
    deadline = time.monotonic() + 600
    while _count(metrics) < lines:
        assert proc.poll() is None, log.read_text()[-2000:]
        assert time.monotonic() < deadline, "the run never got there"
        time.sleep(0.002)
    proc.send_signal(signal.SIGSTOP)
    while not _stopped(proc):
        time.sleep(0.001)
    return _count(metrics)


def _signal_during(env, argv, metrics, lines, signum, log):
    """Start the CLI, freeze it once ``metrics`` has ``lines`` lines, send ``signum`` and
    let it go on. Returns the line count when frozen and the exit code."""
    with open(log, "w") as err:
        proc = subprocess.Popen(_cli(*argv), env=env, stdout=err, stderr=err)
        try:
            at = _freeze_at(proc, metrics, lines, log)
            assert at < GENERATIONS, "the run ended its generations before the signal"
            proc.send_signal(signum)
            proc.send_signal(signal.SIGCONT)
            return at, proc.wait(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def _lines(path):
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    return [{k: v for k, v in m.items() if k not in TIMINGS} for m in lines]


def _steps(run_dir):
    return sorted(int(p.name) for p in (run_dir / "checkpoints").iterdir() if p.name.isdigit())


@pytest.mark.slow
def test_killed_and_resumed_run_equals_unbroken_run(env, tmp_path, capsys):
    whole, broken = tmp_path / "whole", tmp_path / "broken"
    assert main([*ARGS, "--out", str(whole)]) == 0, capsys.readouterr().err
    assert _count(whole / "metrics.jsonl") == GENERATIONS

    metrics = broken / "metrics.jsonl"
    log = tmp_path / "log.txt"
    at, code = _signal_during(env, [*ARGS, "--out", str(broken)], metrics, 6, signal.SIGKILL, log)
    assert code == -signal.SIGKILL
    assert _count(metrics) == at >= 6  # killed while frozen: not a line more
    # Every checkpoint of a finished generation before the kill is there, the last two
    # kept; one of generation ``at`` itself only if its save had finished.
    done = [g for g in range(EVERY, GENERATIONS, EVERY) if g < at][-2:]
    finished = [done, [*done, at][-2:]] if at % EVERY == 0 else [done]
    assert _steps(broken) in finished, (at, _steps(broken))
    others = [p.name for p in (broken / "checkpoints").iterdir() if not p.name.isdigit()]
    assert all(".orbax-checkpoint-tmp" in name for name in others), others
    # A save cut short leaves only a temporary directory, which resuming ignores.
    half = broken / "checkpoints" / f"{_steps(broken)[-1] + EVERY}.orbax-checkpoint-tmp-1700000000"
    (half / "state").mkdir(parents=True)
    (half / "state" / "garbage").write_bytes(b"\x00half written")

    # Resume from the last checkpoint (the lines after it are rewritten), then stop it
    # again with SIGTERM, which saves a checkpoint after the current generation, and
    # resume to the end.
    resume = _cli_resume(broken)
    at, code = _signal_during(env, resume, metrics, at + 2, signal.SIGTERM, log)
    assert code == 130, log.read_text()[-2000:]
    stopped_at = _count(metrics)
    assert stopped_at in (at, at + 1) and _steps(broken)[-1] == stopped_at
    assert main(resume) == 0, capsys.readouterr().err

    assert _lines(metrics) == _lines(whole / "metrics.jsonl")
    assert [m["generation"] for m in _lines(metrics)] == list(range(GENERATIONS))
    best = json.loads((broken / "best.json").read_text())
    assert best == json.loads((whole / "best.json").read_text())
    kept = _steps(broken)
    assert len(kept) <= 2 and kept[-1] >= stopped_at  # the last two are kept


def _cli_resume(run_dir):
    return ["evolve", "--resume", str(run_dir), "--no-progress"]


@pytest.mark.parametrize("layout", ["empty", "foreign", "damaged"])
def test_resume_from_a_bad_directory_is_one_line(capsys, tmp_path, layout):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    if layout == "foreign":
        (run_dir / "checkpoints" / "3").mkdir(parents=True)
        (run_dir / "checkpoints" / "3" / "notes.txt").write_text("not a checkpoint")
    if layout == "damaged":
        record = run_dir / "checkpoints" / "3" / "record"
        record.mkdir(parents=True)
        (record / "metadata").write_text("{ not json")
    code = main(_cli_resume(run_dir))
    err = capsys.readouterr().err
    assert code == 1, err
    assert err.startswith("hivejax: error:") and err.count("\n") == 1, err
