"""Memory-bounded populations, the interpreter choice and the persistent compilation cache."""

import dataclasses
import json
import os
import subprocess
import sys

import jax
import numpy as np
import pytest

import hivejax as hj
from hivejax._src.interpret import chunks, dispatch

SHORT = hj.TrainConfig(steps=15, batch_size=32)


@pytest.fixture(scope="module")
def digits():
    return hj.load_dataset("digits")


@pytest.mark.parametrize("task_name", ["loss", "optimizer"])
def test_chunks_give_the_same_accuracies_as_one_batch(digits, task_name):
    task = hj.make_task(task_name, SHORT)
    programs = hj.random_population(jax.random.key(3), task.spec, 20)
    key = jax.random.key(4)
    whole = np.asarray(jax.jit(task.score)(programs, digits, key))
    chunked = dataclasses.replace(task, chunk_size=6)  # 3 chunks and a remainder of 2
    np.testing.assert_array_equal(np.asarray(jax.jit(chunked.score)(programs, digits, key)), whole)


def test_in_chunks_maps_full_chunks_and_the_remainder():
    xs = jax.numpy.arange(10.0)
    sizes = []

    def fn(x):
        sizes.append(x.shape[0])
        return x * 2

    np.testing.assert_array_equal(chunks.in_chunks(fn, xs, 4), xs * 2)
    assert sizes == [4, 2]  # lax.map traces one chunk, then the remainder
    assert chunks.in_chunks(fn, xs, 10).shape == (10,) and sizes[-1] == 10


def test_auto_chunk_size_follows_free_memory(digits, monkeypatch):
    task = hj.make_task("loss", SHORT)
    assert chunks.auto_chunk_size(task, digits, chunks.PROBE) is None  # no probe needed
    per_program = chunks.bytes_per_program(task, digits)
    assert per_program > 1e4  # a model, its optimizer state and activations per program
    monkeypatch.setattr(chunks, "free_bytes", lambda device=None: 100 * per_program)
    assert chunks.auto_chunk_size(task, digits, 1000) == 50  # half of the free memory
    monkeypatch.setattr(chunks, "free_bytes", lambda device=None: 1000 * per_program)
    assert chunks.auto_chunk_size(task, digits, 500) is None  # all 500 fit at once
    monkeypatch.setattr(chunks, "free_bytes", lambda device=None: 0)
    assert chunks.auto_chunk_size(task, digits, 1000) == 1


def test_a_bad_chunk_size_or_interpreter_is_refused():
    with pytest.raises(ValueError, match="chunk_size"):
        hj.LossTask(chunk_size=0)
    with pytest.raises(ValueError, match="interpreter must be one of"):
        hj.LossTask(interpreter="magic")
    with pytest.raises(ValueError, match="chunk_size"):
        hj.ScaleConfig(chunk_size="big")


def test_auto_resolves_from_the_measured_table():
    assert dispatch.resolve("auto", "cpu") == dispatch.MEASURED["cpu"][0]
    assert dispatch.resolve("auto", "rocm") == dispatch.UNMEASURED_DEFAULT
    assert dispatch.resolve("select", "cpu") == "select"


def test_every_interpreter_trains_to_the_same_accuracies(digits):
    programs = hj.random_population(jax.random.key(5), hj.LossTask().spec, 8)
    accuracies = {
        name: np.asarray(
            jax.jit(hj.make_task("loss", SHORT, interpreter=name).score)(
                programs, digits, jax.random.key(6)
            )
        )
        for name in ("fused", "select", "reference")
    }
    # Float rounding may differ (another op order), never by more than one test image.
    for name in ("select", "reference"):
        np.testing.assert_allclose(
            accuracies[name], accuracies["fused"], atol=1.5 / digits.x_test.shape[0]
        )


def test_evolve_records_interpreter_and_chunk_size(tmp_path, capsys):
    from hivejax.cli.main import main

    argv = ["evolve", "--dataset", "digits", "--steps", "10", "--batch-size", "32"]
    argv += ["--population", "8", "--generations", "2", "--survivors", "8", "--no-progress"]
    assert (
        main([*argv, "--chunk-size", "3", "--interpreter", "select", "--out", str(tmp_path)]) == 0
    )
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["chunk_size"] == 3 and summary["interpreter"] == "select"
    capsys.readouterr()
    assert main([*argv, "--chunk-size", "none", "--out", str(tmp_path / "x")]) == 2
    assert "--chunk-size" in capsys.readouterr().err


def test_a_second_identical_run_compiles_nothing_new(tmp_path):
    env = {**os.environ, "HIVEJAX_COMPILATION_CACHE": str(tmp_path / "jit")}
    argv = [sys.executable, "-m", "hivejax.cli.main", "evaluate", "builtin:focal"]
    argv += ["--dataset", "digits", "--steps", "200", "--seeds", "2", "--json"]
    outputs, entries = [], []
    for _ in range(2):
        done = subprocess.run(argv, env=env, capture_output=True, text=True, check=True)
        outputs.append(json.loads(done.stdout)["program"])
        entries.append(sorted(os.listdir(tmp_path / "jit")))
    assert entries[0], "the first run stored its slow compilations"
    assert entries[1] == entries[0]  # the second found every one of them
    assert outputs[1] == outputs[0]
    off = {**os.environ, "HIVEJAX_COMPILATION_CACHE": "off"}
    subprocess.run(argv, env=off, capture_output=True, check=True)
    assert sorted(os.listdir(tmp_path / "jit")) == entries[0]
