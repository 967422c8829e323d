"""``hivejax bench ranking``: the program set, the correlations and the cost, on toy protocols."""

import math

import pytest

import hivejax.bench as hb
from hivejax._src.evaluation.protocols import Protocol
from hivejax._src.tasks.training import TrainConfig
from hivejax.cli.bench.ranking import _searches, format_ranking


def _toy(name: str, steps: int, confidence: float = 0.95) -> Protocol:
    # Protocols of one training compile once: the bench is measured, not its compiler.
    train = TrainConfig(steps=steps, batch_size=16, learning_rate=1e-2, hidden=8)
    cells = (("digits", "mlp"),)
    return Protocol(name, "optimizer", cells, 2, train, confidence=confidence)


JUDGE = _toy("judge", 12)


@pytest.fixture(scope="module")
def report():
    return hb.ranking(
        "optimizer",
        random=2,
        mutants=3,
        # Searches that train as the validator does (one compilation for the module).
        search=[_toy("judge-90", 12, confidence=0.9), _toy("judge-99", 12, confidence=0.99)],
        validator=JUDGE,
    )


def test_the_set_spans_builtins_mutants_and_random_programs(report):
    labels = [row["program"] for row in report["programs"]]
    assert labels[:3] == ["builtin:sgd_momentum", "builtin:adam", "builtin:lion"]
    mutants = [label for label in labels if "+" in label]
    assert 1 <= len(mutants) <= 3 and all(label.startswith("builtin:") for label in mutants)
    assert sum(label.startswith("random:") for label in labels) <= 2
    assert len(set(row["formula"] for row in report["programs"])) == len(labels)


def test_every_search_protocol_gets_its_correlations_and_cost(report):
    assert [s["name"] for s in report["searches"]] == ["judge-90", "judge-99"]
    assert report["validator"]["name"] == "judge"
    for s in report["searches"]:
        # The same training ranks as the validator does, exactly.
        assert s["spearman"] == pytest.approx(1.0) and s["kendall"] == pytest.approx(1.0)
        assert s["seconds"] > 0 and math.isclose(
            s["cost"], s["seconds"] / report["validator"]["seconds"]
        )
        assert math.isclose(s["seconds_per_program"], s["seconds"] / len(report["programs"]))
    for row in report["programs"]:
        assert set(row["search"]) == {"judge-90", "judge-99"}
    text = format_ranking(report)
    assert "judge-90 (" in text and "Spearman 1.000" in text and "of the validator's" in text


def test_search_protocols_by_name():
    names = [p.name for p in _searches("loss", ["all"])]
    assert names == [p.name for p in hb.search_candidates("loss")]
    assert names[0] == "search-loss" and len(names) == len(set(names))
    assert [p.name for p in _searches("loss", ["search", "cnn-300", "miner-loss"])] == [
        "search-loss",
        "cnn-300-loss",
        "miner-loss",
    ]
    for p in hb.search_candidates("activation"):
        assert p.task == "activation" and len(p.cells) == 1  # what evolve can select on


def test_programs_given_join_the_builtins_once():
    r = hb.ranking(
        "optimizer", ["builtin:lion"], random=0, mutants=0, search=[JUDGE], validator=JUDGE
    )
    # builtin:lion given again is a duplicate of the builtin and is dropped.
    assert [row["program"] for row in r["programs"]] == [
        "builtin:sgd_momentum",
        "builtin:adam",
        "builtin:lion",
    ]
    adam = r["programs"][1]
    assert abs(adam["validator"]) <= 0.01  # the baseline's own rule, up to rounding
