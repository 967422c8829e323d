"""Checkpoint and resume: a run killed mid-way and resumed ends exactly like an unbroken one.

The runs are CLI subprocesses sharing a persistent compilation cache, so only the first
pays for compiling. Training takes 200 steps so that a generation lasts long enough
(about half a second here) to be interrupted while it runs.
"""

import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import pytest

from hivejax.cli.main import main

ROOT = pathlib.Path(__file__).resolve().parents[2]
TIMING = ("seconds", "evals_per_second")
ARGS = [
    "evolve",
    "--dataset",
    "digits",
    "--batch-size",
    "32",
    "--steps",
    "200",
    "--learning-rate",
    "0.01",
    "--population",
    "8",
    "--generations",
    "10",
    "--seed",
    "3",
    "--seed-programs",
    "builtin:mse",
    "--checkpoint-every",
    "4",
    "--keep-checkpoints",
    "2",
    "--final-seeds",
    "1",
    "--no-progress",
]


@pytest.fixture
def env(tmp_path):
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "JAX_PLATFORMS": "cpu",
        "JAX_COMPILATION_CACHE_DIR": str(tmp_path / "jit-cache"),
        "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
        "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0",
    }


def _cli(*argv):
    return [sys.executable, "-m", "hivejax.cli.main", *argv]


def _run(env, *argv, code=0):
    done = subprocess.run(_cli(*argv), env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == code, done.stderr[-2000:]
    return done


def _count(path):
    return len(path.read_text().splitlines()) if path.exists() else 0


def _stop_during(env, argv, metrics, lines, signum, log):
    """Start the CLI, wait until ``metrics`` has ``lines`` lines, send ``signum``."""
    with open(log, "w") as err:
        proc = subprocess.Popen(_cli(*argv), env=env, stdout=err, stderr=err)
        try:
            deadline = time.monotonic() + 240
            while _count(metrics) < lines:
                assert proc.poll() is None, log.read_text()[-2000:]
                assert time.monotonic() < deadline, "the run never got there"
                time.sleep(0.01)
            proc.send_signal(signum)
            return proc.wait(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def _lines(path):
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    return [{k: v for k, v in m.items() if k not in TIMING} for m in lines]


@pytest.mark.slow
def test_killed_and_resumed_run_equals_unbroken_run(env, tmp_path):
    whole, broken = tmp_path / "whole", tmp_path / "broken"
    _run(env, *ARGS, "--out", str(whole))
    assert _count(whole / "metrics.jsonl") == 10

    metrics = broken / "metrics.jsonl"
    log = tmp_path / "log.txt"
    code = _stop_during(env, [*ARGS, "--out", str(broken)], metrics, 6, signal.SIGKILL, log)
    assert code == -signal.SIGKILL
    assert 6 <= _count(metrics) <= 7  # killed during generation 6 or 7
    steps = sorted(p.name for p in (broken / "checkpoints").iterdir())
    assert steps == ["4"], steps
    # A save cut short leaves only a temporary directory, which resuming ignores.
    half = broken / "checkpoints" / "8.orbax-checkpoint-tmp-1700000000"
    (half / "state").mkdir(parents=True)
    (half / "state" / "garbage").write_bytes(b"\x00half written")

    # Resume from generation 4 (lines 4.. are rewritten), then stop it again with SIGTERM,
    # which saves a checkpoint after the current generation, and resume to the end.
    code = _stop_during(env, _cli_resume(broken), metrics, 8, signal.SIGTERM, log)
    assert code == 130, log.read_text()[-2000:]
    _run(env, *_cli_resume(broken))

    assert _lines(metrics) == _lines(whole / "metrics.jsonl")
    assert [m["generation"] for m in _lines(metrics)] == list(range(10))
    best = json.loads((broken / "best.json").read_text())
    assert best == json.loads((whole / "best.json").read_text())
    kept = sorted(int(p.name) for p in (broken / "checkpoints").iterdir() if p.name.isdigit())
    assert len(kept) <= 2 and kept[-1] >= 8  # the last two are kept


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
