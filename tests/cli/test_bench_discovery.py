"""The discovery benchmarks run end to end on toy settings (their figures are in docs/search.md)."""

import json

import pytest

from hivejax.cli.main import main


@pytest.mark.slow  # a whole search and a training run; the engine's tests cover the parts
def test_judged_rate_is_compared_with_training_every_program(capsys):
    argv = ["bench", "--workload", "judged", "--population", "8", "--generations", "1"]
    assert main([*argv, "--steps", "5", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["population"], report["generations"], report["steps"]) == (8, 1, 5)
    assert report["judged_per_second"] > 0 and report["trained_per_second"] > 0
    assert report["ratio"] == report["judged_per_second"] / report["trained_per_second"]
