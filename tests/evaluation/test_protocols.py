"""Evaluation protocols: versions, epoch seeds, paired scores, the summary and the CLI."""

import dataclasses
import json

import jax
import numpy as np
import pytest
from scipy import stats

from hivejax._src.evaluation import protocols
from hivejax._src.evaluation.protocols import (
    PROTOCOLS,
    Protocol,
    get_protocol,
    population_improvements,
    run_protocol,
    seed_values,
)
from hivejax._src.evaluation.scores import summarize
from hivejax._src.io.program_io import load_program
from hivejax._src.program.program import stack_programs
from hivejax._src.tasks.base import seed_keys
from hivejax._src.tasks.registry import TASKS, builtin
from hivejax._src.tasks.training import TrainConfig
from hivejax.cli.main import main

# Digits has 397 test images: one flipped prediction moves an accuracy by 1/397.
ONE_IMAGE = 1 / 397

TINY = Protocol(
    name="tiny",
    task="loss",
    cells=(("digits", "mlp"),),
    seeds=3,
    train=TrainConfig(steps=10, batch_size=32, learning_rate=1e-3, hidden=16),
    description="a test protocol",
)


@pytest.fixture(scope="module")
def mse_result():
    _, program = load_program("builtin:mse")
    return run_protocol(TINY, program)


def test_result_structure(mse_result):
    r = mse_result
    json.loads(json.dumps(r, allow_nan=False))  # strict JSON: no NaN anywhere
    assert (r["protocol"], r["version"], r["task"], r["epoch"]) == (
        "tiny",
        TINY.version,
        "loss",
        None,
    )
    assert r["seeds"] == [0, 1, 2] and r["broken"] == 0
    [cell] = r["cells"]
    assert (cell["dataset"], cell["model"]) == ("digits", "mlp")
    for k in ("program", "baseline", "improvement", "broken"):
        assert len(cell[k]) == 3, k
    assert all(0 <= a <= 1 for a in cell["program"] + cell["baseline"])
    assert set(r["improvement"]) == {"mean", "std", "lower_bound", "confidence", "n"}
    assert r["improvement"]["n"] == 3 and r["improvement"]["confidence"] == 0.95


def test_improvement_is_program_minus_baseline_per_seed(mse_result):
    [cell] = mse_result["cells"]
    want = np.subtract(cell["program"], cell["baseline"])
    np.testing.assert_allclose(cell["improvement"], want, atol=1e-12)
    assert cell["improvement_mean"] == pytest.approx(want.mean(), abs=1e-12)
    assert mse_result["improvement"]["mean"] == pytest.approx(want.mean(), abs=1e-12)


def test_builtin_cross_entropy_scores_no_improvement():
    # The builtin is the baseline's loss, trained under the same keys; the fused interpreter's
    # arithmetic differs from optax's in rounding, which may flip one test image. This also
    # shows the pairing: under different keys the two would differ by many images.
    _, program = load_program("builtin:cross_entropy")
    r = run_protocol(TINY, program)
    assert all(abs(d) <= ONE_IMAGE + 1e-9 for d in r["cells"][0]["improvement"])
    assert abs(r["improvement"]["mean"]) <= ONE_IMAGE
    assert r["improvement"]["lower_bound"] <= r["improvement"]["mean"]


def test_summary_is_mean_std_and_student_t_lower_bound():
    x = [0.01, -0.02, 0.03, 0.005]
    s = summarize(x, 0.95)
    mean, std = np.mean(x), np.std(x, ddof=1)
    assert s["mean"] == pytest.approx(mean) and s["std"] == pytest.approx(std)
    bound = mean - stats.t.ppf(0.95, 3) * std / np.sqrt(4)
    assert s["lower_bound"] == pytest.approx(bound) and s["lower_bound"] <= s["mean"]
    assert summarize(x, 0.99)["lower_bound"] < s["lower_bound"]
    assert summarize([0.02, 0.02])["lower_bound"] == pytest.approx(0.02)  # no spread


def test_broken_program_scores_zero_and_is_counted(monkeypatch):
    nan = float("nan")
    fake = lambda task, programs, data, keys: np.array([[0.5], [nan], [0.7]], np.float32)
    monkeypatch.setattr(protocols, "program_accuracies", fake)
    monkeypatch.setattr(protocols.baselines, "baseline", lambda *a: np.array([0.6, 0.6, 0.6]))
    _, program = load_program("builtin:mse")
    r = run_protocol(TINY, program)
    [cell] = r["cells"]
    assert r["broken"] == 1 and cell["broken"] == [False, True, False]
    assert cell["program"][1] is None
    np.testing.assert_allclose(cell["improvement"], [-0.1, -0.6, 0.1], atol=1e-6)
    json.dumps(r, allow_nan=False)


def test_version_follows_every_number_and_nothing_else():
    changed = {
        "task": "activation",
        "cells": (("digits", "mlp"), ("mnist1d", "mlp")),
        "seeds": 4,
        "steps": 11,
        "batch_size": 16,
        "learning_rate": 1.0000001e-3,
        "hidden": 17,
        "depth": 2,
        "validation": 0.25,
        "confidence": 0.9,
    }
    assert set(changed) == set(protocols._CONTENT)
    versions = {TINY.version}
    for field, value in changed.items():
        if field in protocols._TRAIN_CONTENT:
            train = dataclasses.replace(TINY.train, **{field: value})
            versions.add(dataclasses.replace(TINY, train=train).version)
        else:
            versions.add(dataclasses.replace(TINY, **{field: value}).version)
    # The training run's model is each cell's, so the train config's own does not count.
    other_model = dataclasses.replace(TINY.train, model="linear")
    assert dataclasses.replace(TINY, train=other_model).version == TINY.version
    assert len(versions) == 1 + len(changed)
    same = dataclasses.replace(TINY, name="renamed", description="other words")
    assert same.version == TINY.version and len(TINY.version) == 12
    fields = {f.name: getattr(TINY, f.name) for f in dataclasses.fields(TINY)}
    assert Protocol(**{**fields, "cells": [["digits", "mlp"]]}) == TINY


def test_epoch_seeds_rotate_and_are_reproducible():
    assert seed_values(TINY) == [0, 1, 2]
    e1, e1_again, e2 = seed_values(TINY, 1), seed_values(TINY, 1), seed_values(TINY, 2)
    assert e1 == e1_again and e1 != e2 and len(set(e1 + e2)) == 6
    assert all(0 <= s < 2**31 for s in e1 + e2)
    other = dataclasses.replace(TINY, train=dataclasses.replace(TINY.train, steps=11))
    assert seed_values(other, 1) != e1  # seeds derive from the version too
    assert seed_keys(seed_values(TINY, 1)).shape == (3,)
    with pytest.raises(ValueError, match="epoch"):
        seed_values(TINY, -1)


@pytest.mark.parametrize(
    "kw, match",
    [
        ({"task": "nope"}, "unknown task"),
        ({"cells": ()}, "cells"),
        ({"cells": (("digits", "resnet"),)}, "unknown model"),
        ({"seeds": 0}, "seeds"),
        ({"seeds": 1}, "at least 2"),
        ({"cells": (("nope", "mlp"),)}, "unknown dataset"),
        ({"train": None}, "TrainConfig"),
        ({"confidence": 1.0}, "confidence"),
    ],
)
def test_bad_protocols_are_refused(kw, match):
    with pytest.raises(ValueError, match=match):
        dataclasses.replace(TINY, **kw)


def test_shipped_protocols():
    for task in TASKS:
        miner, validator = get_protocol(f"miner-{task}"), get_protocol(f"validator-{task}")
        assert miner.task == validator.task == task
        assert len(miner.cells) == 1 and miner.seeds >= 2
        assert len(validator.cells) >= 3 and validator.seeds >= 4
        assert len({d for d, _ in validator.cells}) >= 2
        assert {m for _, m in validator.cells} >= {"mlp", "cnn1d"}  # dense and convolutional
        search = get_protocol(f"search-{task}")
        assert search.task == task and 0 < search.train.validation < 1
    paper = get_protocol("paper-mnist1d")
    assert paper.cells == (("mnist1d", "linear"), ("mnist1d", "mlp"), ("mnist1d", "cnn1d"))
    train = paper.train
    assert (train.steps, train.batch_size, train.learning_rate) == (6000, 100, 1e-2)
    assert (train.hidden, train.depth) == (100, 2)
    assert len({p.version for p in PROTOCOLS.values()}) == len(PROTOCOLS)
    assert all(name == p.name for name, p in PROTOCOLS.items())
    with pytest.raises(ValueError, match="choose one of .*miner-loss"):
        get_protocol("nope")


# ---- the command line -----------------------------------------------------------------------


def run_cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def tiny_shipped(monkeypatch):
    monkeypatch.setitem(PROTOCOLS, "tiny", TINY)


def test_cli_evaluate_protocol_json(capsys, tiny_shipped):
    code, out, err = run_cli(
        capsys, "evaluate", "builtin:cross_entropy", "--protocol", "tiny", "--epoch", "3", "--json"
    )
    assert code == 0, err
    r = json.loads(out)
    assert r["program"] == "builtin:cross_entropy" and r["protocol"] == "tiny"
    assert r["version"] == TINY.version and r["epoch"] == 3
    assert r["seeds"] == seed_values(TINY, 3)
    assert abs(r["improvement"]["mean"]) <= ONE_IMAGE


def test_cli_evaluate_protocol_table(capsys, tiny_shipped):
    code, out, err = run_cli(capsys, "evaluate", "builtin:mse", "--protocol", "tiny")
    assert code == 0, err
    assert TINY.version in out and "digits/mlp" in out and "lower bound" in out


@pytest.mark.parametrize(
    "argv, match",
    [
        (["builtin:mse", "--protocol", "nope"], "unknown protocol 'nope'; choose one of"),
        (["builtin:relu", "--protocol", "miner-loss"], "the loss task takes programs"),
        (["builtin:mse", "--protocol", "miner-loss", "--steps", "5"], "--steps cannot"),
        (["builtin:mse", "--epoch", "1"], "--epoch needs --protocol"),
        (["builtin:mse", "--protocol", "miner-loss", "--epoch", "-1"], "integer >= 0"),
    ],
)
def test_cli_protocol_errors_are_one_line(capsys, argv, match):
    code, out, err = run_cli(capsys, "evaluate", *argv)
    assert code == 2 and out == ""
    assert err.startswith("hivejax: error:") and err.count("\n") == 1, err
    assert match in err


def test_cli_lists_protocols(capsys):
    code, out, _ = run_cli(capsys, "protocols", "--json")
    rows = json.loads(out)
    assert code == 0 and [r["name"] for r in rows] == list(PROTOCOLS)
    assert all(r["version"] == PROTOCOLS[r["name"]].version for r in rows)
    code, out, _ = run_cli(capsys, "protocols")
    assert code == 0 and "validator-loss" in out and get_protocol("paper-mnist1d").version in out


def test_mlp_depth_reaches_the_model():
    import flax.linen as nn

    from hivejax._src.tasks.models import make_model

    params = make_model("mlp", 10, hidden=8, depth=2).init(jax.random.key(0), np.zeros((1, 5)))
    assert len(params["params"]) == 3  # two hidden Dense layers and the classifier
    assert isinstance(make_model("linear", 10, depth=3), nn.Module)  # others ignore it
    assert get_protocol("paper-mnist1d").train_config("mlp").depth == 2
    with pytest.raises(ValueError, match="depth"):
        TrainConfig(depth=0)
    with pytest.raises(ValueError, match="learning_rate"):
        TrainConfig(learning_rate=0.0)


def test_a_population_scores_as_its_programs_do_one_by_one():
    protocol = get_protocol("local-optimizer")
    names = ("lion", "sgd_momentum", "adam")
    programs = stack_programs([builtin(n) for n in names])
    gains, broken = population_improvements(protocol, programs, epoch=3)
    assert gains.shape == broken.shape == (3, protocol.seeds * len(protocol.cells))
    for i, name in enumerate(names):
        one = run_protocol(protocol, builtin(name), epoch=3)
        # padded and batched, XLA may round differently: at most a test image in a thousand
        np.testing.assert_allclose(gains[i], one["cells"][0]["improvement"], atol=1.5e-3)
    np.testing.assert_array_equal(gains[2], 0.0)  # the baseline against itself, paired
    assert not broken.any()
