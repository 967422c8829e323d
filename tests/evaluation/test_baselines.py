"""The baseline memo: trained once per (training, data, seeds), scores unchanged."""

import dataclasses
import functools

import jax
import numpy as np
import pytest

from hivejax._src.evaluation import baselines
from hivejax._src.evaluation.protocols import Protocol, run_protocol, seed_values
from hivejax._src.io.program_io import load_program
from hivejax._src.program.program import stack_programs
from hivejax._src.tasks.base import seed_keys
from hivejax._src.tasks.data import load_dataset
from hivejax._src.tasks.registry import make_task
from hivejax._src.tasks.training import TrainConfig

TRAIN = TrainConfig(steps=8, batch_size=16, learning_rate=1e-2, hidden=8)
CNN = Protocol(
    name="cnn",
    task="loss",
    cells=(("mnist1d", "cnn1d"),),  # where batching decides the numbers
    seeds=2,
    train=TRAIN,
)


@pytest.fixture(autouse=True)
def empty_memo():
    baselines.clear()
    yield
    baselines.clear()


@functools.partial(jax.jit, static_argnums=0)
def _programs_and_baseline_in_one_computation(task, programs, data, keys):
    """How paired scores were computed before the memo: both runs in one vmapped call."""

    def one_key(key):
        return task.score(programs, data, key), task.baseline_score(data, key)[0]

    return jax.vmap(one_key)(keys)


def test_scores_are_those_of_training_the_baseline_beside_the_program():
    _, focal = load_program("builtin:focal")
    first = run_protocol(CNN, focal, epoch=3)
    again = run_protocol(CNN, focal, epoch=3)  # every baseline from the memo
    assert again == first
    keys = seed_keys(seed_values(CNN, 3))
    for cell in first["cells"]:
        task = make_task("loss", CNN.train_config(cell["model"]))
        data = load_dataset(cell["dataset"])
        prog, base = _programs_and_baseline_in_one_computation(
            task, stack_programs([focal]), data, keys
        )
        assert cell["program"] == np.asarray(prog[:, 0], np.float64).tolist()
        assert cell["baseline"] == np.asarray(base, np.float64).tolist()


def test_a_baseline_trains_once_per_training_data_and_seeds():
    data = load_dataset("digits")
    loss = make_task("loss", TRAIN)
    first = baselines.baseline(loss, data, [4, 5])
    assert baselines.baseline(loss, data, [4, 5]) is first  # not trained again
    # Every training task's baseline is the same run, so the tasks share it.
    assert baselines.baseline(make_task("optimizer", TRAIN), data, [4, 5]) is first
    assert not first.flags.writeable
    others = [
        baselines.baseline(loss, data, [4, 6]),
        baselines.baseline(make_task("loss", dataclasses.replace(TRAIN, steps=9)), data, [4, 5]),
        baselines.baseline(loss, data.replace(y_train=data.y_train[::-1]), [4, 5]),
    ]
    assert all(o is not first for o in others)


def test_the_memo_keeps_the_most_recently_used(monkeypatch):
    monkeypatch.setattr(baselines, "MAX_ENTRIES", 2)
    data = load_dataset("digits")
    task = make_task("loss", TRAIN)
    a = baselines.baseline(task, data, [1])
    baselines.baseline(task, data, [2])
    assert baselines.baseline(task, data, [1]) is a  # used again: now the most recent
    baselines.baseline(task, data, [3])  # evicts [2], the least recently used
    assert baselines.baseline(task, data, [1]) is a
    assert len(baselines._memo) == 2
