"""The engine end to end, in process: ``hj.evolve`` on the suite's toy run (``toy.TOY``)
with only what a test is about changed, so that every run shares the toy's compiled steps
where its shapes allow (conftest's persistent compilation cache). What the command line
adds (flags, printing, one-line errors) is tests/cli/test_cli.py's.

The toy run's random programs all fail the rejection cascade, so runs that must train
something start from a builtin that passes it: the same configs as the notebooks' at toy
size (tests/test_notebooks.py), which then load these runs' compiled steps.
"""

import dataclasses
import json

import pytest
from toy import TOY

import hivejax as hj
from hivejax._src.program.canonical import canonical_hash
from hivejax._src.program.formats import from_json
from hivejax._src.run.finish import finalists
from hivejax._src.run.loop import TIMINGS


def seeded(config: hj.EvolveConfig, *programs: str) -> hj.EvolveConfig:
    """``config`` starting from ``programs`` as well as random ones."""
    return dataclasses.replace(config, search=hj.SearchConfig(seed_programs=programs))


MSE = seeded(TOY, "builtin:mse")  # notebook 01's search at toy size


def metrics(out) -> list[dict]:
    """The run's metrics lines, without their timings."""
    lines = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in m.items() if k not in TIMINGS} for m in lines]


def read(out, name: str) -> dict:
    return json.loads((out / name).read_text())


@pytest.mark.usefixtures("toy_run")  # compiles the generation step these runs share
def test_a_run_writes_its_files_and_repeats_exactly(tmp_path):
    summary = hj.evolve(MSE, tmp_path / "a")
    assert summary == read(tmp_path / "a", "summary.json")
    hj.evolve(MSE, tmp_path / "b")
    lines = metrics(tmp_path / "a")
    assert [m["generation"] for m in lines] == list(range(TOY.generations))
    assert lines == metrics(tmp_path / "b")  # the same config gives the same run
    assert read(tmp_path / "a", "best.json") == read(tmp_path / "b", "best.json")
    assert any(m["trained"] for m in lines)  # a run, not a population all rejected
    assert {
        "best_fitness",
        "baseline_accuracy",
        "evals_per_second",
        "compile_seconds",
        "wall_seconds",
    } <= set(summary)
    # Loss programs read the derived inputs by default; the run names its protocol.
    assert read(tmp_path / "a", "best.json")["spec"]["inputs"] == ["x", "y", "p", "ls"]
    assert summary["config"]["derived_inputs"] and summary["protocol"]["name"] == "custom"
    # Elitism: the best so far never falls below a generation's best that counted.
    assert all(
        m["best_accuracy"] is None or lines[-1]["best_so_far"] >= m["best_accuracy"] for m in lines
    )
    # The cascade's counts are in every line: per reason, summing to the total. Places whose
    # every child failed took copies of the seed, so no rejected program was let in.
    assert all(sum(m["rejections"].values()) == m["rejected"] == 0 for m in lines)
    # What screening bred, per operator: each count a part of the one before.
    for m in lines:
        assert m["screening"]["rounds"] >= 1 and 0 <= m["screening"]["pass_share"] <= 1
        for row in m["operators"].values():
            assert row["bred"] >= row["passed"] >= row["scored"] >= row["improved"] >= 0
    assert set(lines[1]["operators"]) - {"initial"}  # bred by the strategy's operators
    # The Pareto front: shortest first, each longer program more accurate.
    front = summary["front"]
    assert front and [e["accuracy"] for e in front] == sorted({e["accuracy"] for e in front})
    assert [e["live_length"] for e in front] == sorted({e["live_length"] for e in front})
    # The funnel's rows carry their programs: the run's finalists, its best first.
    spec, _ = hj.load_program(str(tmp_path / "a" / "best.json"))
    rows = summary["funnel"]["candidates"]
    assert len(rows) == TOY.finish.funnel
    assert all(canonical_hash(spec, from_json(r["program"])[1]) == r["hash"] for r in rows)
    hashes = [canonical_hash(spec, p) for p in finalists(tmp_path / "a", spec)]
    chosen = summary["funnel"]["chosen"]["hash"]
    assert hashes == [chosen] + [r["hash"] for r in rows if r["hash"] != chosen]
    assert hashes[0] == summary["best_hash"]


@pytest.mark.slow  # the plain layout is another program spec: every step compiles anew
def test_survivors_train_only_what_passed_the_cascade_and_missed_the_cache(tmp_path):
    config = dataclasses.replace(
        MSE, derived_inputs=False, screening=dataclasses.replace(TOY.screening, survivors=4)
    )
    summary = hj.evolve(config, tmp_path)
    assert read(tmp_path, "best.json")["spec"]["inputs"] == ["x", "y"]  # the plain layout
    for m in metrics(tmp_path):
        # Every program that passed is trained, cached or left without a place, and
        # programs go untrained only once the four places are taken.
        assert m["trained"] + m["cache_hits"] + m["untrained"] == TOY.population - m["rejected"]
        assert m["trained"] <= 4 and (m["untrained"] == 0 or m["trained"] == 4)
    assert summary["config"]["screening"]["survivors"] == 4


def test_survivors_that_do_not_split_over_the_devices_are_refused(tmp_path):
    config = dataclasses.replace(TOY, screening=dataclasses.replace(TOY.screening, survivors=6))
    with pytest.raises(ValueError, match="survivors 6 does not split over 4 devices"):
        hj.evolve(config, tmp_path)


@pytest.mark.slow  # tuning compiles training inside the tuner; search/ tests the tuners
@pytest.mark.parametrize("tuner", ["cma_es", "meta_gradient"])
def test_constant_tuning_hands_the_funnel_a_tuned_finalist(tmp_path, tuner):
    config = dataclasses.replace(
        # label smoothing passes the cascade, and has a constant (epsilon)
        seeded(TOY, "builtin:label_smoothing"),
        finish=dataclasses.replace(TOY.finish, tune_constants=tuner, tune_generations=2),
    )
    summary = hj.evolve(config, tmp_path)
    tuning = summary["constant_tuning"]
    assert tuning["strategy"] == tuner and tuning["before"] is not None
    assert tuning["after"] >= tuning["before"]
    # The tuned best is a finalist of the funnel, which then picks on fresh keys.
    finalists = summary["funnel"]["candidates"]
    assert finalists[0]["search"] == pytest.approx(tuning["after"])
    assert summary["best_fitness"] in [c["search"] for c in finalists]
    assert summary["fresh_fitness"] == max(c["fresh"] for c in finalists)


@pytest.mark.slow  # a task's run compiles all its steps; tasks/ tests the tasks themselves
@pytest.mark.parametrize(
    ("task", "seed", "baseline"),  # notebook 02's searches at toy size
    [("activation", "swish", "relu"), ("optimizer", "sgd_momentum", "adam")],
)
def test_other_tasks_run_end_to_end(tmp_path, task, seed, baseline):
    summary = hj.evolve(seeded(dataclasses.replace(TOY, task=task), f"builtin:{seed}"), tmp_path)
    assert summary["config"]["task"] == task and summary["baseline"] == baseline
    spec, _ = hj.load_program(str(tmp_path / "best.json"))
    assert spec.op_set == "elementwise"
    assert len(metrics(tmp_path)) == TOY.generations
