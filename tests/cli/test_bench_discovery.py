"""The discovery benchmarks run end to end on toy settings (their figures are in docs/search.md)."""

import dataclasses
import json

import numpy as np
import pytest

import hivejax as hj
import hivejax.bench as hb
from hivejax.cli.bench.ranking import format_ranking
from hivejax.cli.main import main

TOY = hj.Protocol(
    name="toy-search",
    task="loss",
    cells=(("digits", "mlp"),),
    seeds=2,
    train=hj.TrainConfig(steps=5, learning_rate=1e-2, validation=0.25),
)


def test_ranking_scores_builtins_given_and_random_programs_under_both_protocols():
    validator = dataclasses.replace(TOY, name="toy-validator", train=hj.TrainConfig(steps=8))
    report = hb.ranking("loss", ["builtin:mse"], random=2, search=TOY, validator=validator)
    labels = [row["program"] for row in report["programs"]]
    # builtin:mse given again is a duplicate of the builtin and is dropped.
    assert labels[:5] == [f"builtin:{n}" for n in hj.builtin_names("loss")]
    assert len(labels) == 7 and all(x.startswith("random:") for x in labels[5:])
    assert (report["search"]["name"], report["validator"]["name"]) == (
        "toy-search",
        "toy-validator",
    )
    assert -1 <= report["spearman"] <= 1 and -1 <= report["kendall"] <= 1
    scores = np.array([[r["search"], r["validator"]] for r in report["programs"]])
    assert (
        np.all(np.isfinite(scores)) and abs(report["programs"][0]["search"]) <= 0.01
    )  # CE, up to rounding
    assert "Spearman" in format_ranking(report)


@pytest.mark.slow  # a whole search and a training run; the engine's tests cover the parts
def test_judged_rate_is_compared_with_training_every_program(capsys):
    argv = ["bench", "--workload", "judged", "--population", "8", "--generations", "1"]
    assert main([*argv, "--steps", "5", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["population"], report["generations"], report["steps"]) == (8, 1, 5)
    assert report["judged_per_second"] > 0 and report["trained_per_second"] > 0
    assert report["ratio"] == report["judged_per_second"] / report["trained_per_second"]
