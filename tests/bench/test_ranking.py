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
        search=[_toy("short", 4), _toy("short-90", 4, confidence=0.9)],
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
    assert [s["name"] for s in report["searches"]] == ["short", "short-90"]
    assert report["validator"]["name"] == "judge"
    for s in report["searches"]:
        assert -1 <= s["spearman"] <= 1 and -1 <= s["kendall"] <= 1
        assert s["seconds"] > 0 and math.isclose(
            s["cost"], s["seconds"] / report["validator"]["seconds"]
        )
        assert math.isclose(s["seconds_per_program"], s["seconds"] / len(report["programs"]))
    for row in report["programs"]:
        assert set(row["search"]) == {"short", "short-90"}
    text = format_ranking(report)
    assert "short (" in text and "Spearman" in text and "of the validator's" in text


def test_a_search_protocol_that_is_the_validator_ranks_perfectly():
    r = hb.ranking("optimizer", random=1, mutants=2, search=[JUDGE], validator=JUDGE)
    assert r["searches"][0]["spearman"] == pytest.approx(1.0)


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
