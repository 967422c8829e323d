"""The command line: outputs, files written, and one-line errors for user mistakes."""

import json
import subprocess
import sys

import pytest

from hivejax import from_json
from hivejax.cli.main import main

TINY = ["--dataset", "digits", "--steps", "10", "--batch-size", "32"]


def run_cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_show_formula_and_json(capsys):
    code, out, _ = run_cli(capsys, "show", "builtin:cross_entropy")
    assert code == 0 and out.strip() == "-sum_c(y * (x - lse_c(x)))"
    code, out, _ = run_cli(capsys, "show", "builtin:mse", "--json")
    spec, program = from_json(json.loads(out))
    assert code == 0 and int(program.length) == 2 and spec.inputs == ("x", "y")


@pytest.mark.parametrize(
    "argv, code",
    [
        # usage errors: the command line itself is wrong (status 2)
        (["evolve", "--population", "0", "--out", "x"], 2),
        (["evolve", "--dataset", "imagenet", "--out", "x"], 2),
        (["evolve", "--population", "1", "--out", "x"], 2),  # refused by EvolveConfig
        (["evolve"], 2),
        (["frobnicate"], 2),
        (["evaluate", "builtin:mse", "--seeds", "-1"], 2),
        # runtime failures: what the command reads is missing or wrong (status 1)
        (["show", "builtin:nope"], 1),
        (["show", "/no/such/file.json"], 1),
        (["evaluate", "builtin:mse", "--dataset", "mnist", "--data-dir", "/no/such/dir"], 1),
    ],
)
def test_user_errors_are_one_line(capsys, argv, code):
    got, out, err = run_cli(capsys, *argv)
    assert got == code, err
    assert err.startswith("hivejax: error:") and err.count("\n") == 1, err
    assert "Traceback" not in err


def test_malformed_program_file_is_one_line(capsys, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "hivejax.program", "version": 99}')
    code, _, err = run_cli(capsys, "show", str(bad))
    assert code == 1 and "version" in err and err.count("\n") == 1


def test_program_that_fits_no_task_is_refused(capsys, tmp_path):
    # A well-formed file whose spec binds an input no task has.
    obj = json.loads(run_cli(capsys, "show", "builtin:mse", "--json")[1])
    obj["spec"]["inputs"] = ["x", "y", "__class__"]
    path = tmp_path / "odd.json"
    path.write_text(json.dumps(obj))
    code, out, err = run_cli(capsys, "show", str(path))
    assert code == 1 and out == "" and err.count("\n") == 1
    assert "fits no task" in err and str(path) in err


def test_console_script_prints_no_traceback(tmp_path):
    bad = tmp_path / "garbage.bin"
    bad.write_bytes(b"\x00\x01garbage")
    exe = [sys.executable, "-m", "hivejax.cli.main", "show", str(bad)]
    done = subprocess.run(exe, capture_output=True, text=True, check=False)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.startswith("hivejax: error:")


def test_evaluate_json_pairs_program_and_baseline(capsys):
    code, out, _ = run_cli(
        capsys, "evaluate", "builtin:cross_entropy", *TINY, "--seeds", "2", "--json"
    )
    result = json.loads(out)
    assert code == 0 and result["seeds"] == [0, 1]
    # The builtin is cross-entropy itself, trained under the same keys as the baseline.
    for p, b in zip(result["program"]["per_seed"], result["baseline"]["per_seed"], strict=True):
        assert abs(p - b) <= 0.003


def _evolve(capsys, out_dir, *extra):
    return run_cli(
        capsys,
        "evolve",
        *TINY,
        "--population",
        "8",
        "--generations",
        "3",
        "--seed",
        "5",
        "--out",
        str(out_dir),
        "--final-seeds",
        "1",
        "--no-progress",
        *extra,
    )


def test_evolve_writes_run_and_is_deterministic(capsys, tmp_path):
    code, out, err = _evolve(capsys, tmp_path / "a", "--seed-programs", "builtin:mse")
    assert code == 0, err
    assert _evolve(capsys, tmp_path / "b", "--seed-programs", "builtin:mse")[0] == 0
    runs = []
    for name in ("a", "b"):
        lines = [
            json.loads(x) for x in (tmp_path / name / "metrics.jsonl").read_text().splitlines()
        ]
        assert [m["generation"] for m in lines] == [0, 1, 2]
        for m in lines:  # timings differ run to run; everything else must not
            del m["seconds"], m["evals_per_second"]
        best = json.loads((tmp_path / name / "best.json").read_text())
        summary = json.loads((tmp_path / name / "summary.json").read_text())
        assert {
            "best_fitness",
            "baseline_accuracy",
            "evals_per_second",
            "compile_seconds",
            "wall_seconds",
        } <= set(summary)
        runs.append((lines, best))
    assert runs[0] == runs[1]
    # Loss programs read the derived inputs by default; the run names its protocol.
    assert runs[0][1]["spec"]["inputs"] == ["x", "y", "p", "ls"]
    assert summary["config"]["derived_inputs"] and summary["protocol"]["name"] == "custom"
    lines = runs[0][0]
    # Elitism: the best so far never falls below a generation's best that counted.
    assert all(
        m["best_accuracy"] is None or lines[-1]["best_so_far"] >= m["best_accuracy"] for m in lines
    )
    # The cascade's counts are in every line: per reason, summing to the total.
    assert all(sum(m["rejections"].values()) == m["rejected"] for m in lines)
    # The Pareto front: shortest first, each longer program more accurate.
    front = json.loads((tmp_path / "a" / "summary.json").read_text())["front"]
    assert [e["accuracy"] for e in front] == sorted({e["accuracy"] for e in front})
    assert [e["live_length"] for e in front] == sorted({e["live_length"] for e in front})
    code, out, _ = run_cli(capsys, "show", "--front", str(tmp_path / "a"))
    assert code == 0 and len(out.splitlines()) == len(front) + 1


def test_evolve_refuses_to_overwrite_a_run(capsys, tmp_path):
    (tmp_path / "metrics.jsonl").write_text("earlier results\n")
    code, _, err = _evolve(capsys, tmp_path)
    assert code == 1 and "already holds a run" in err
    assert (tmp_path / "metrics.jsonl").read_text() == "earlier results\n"


@pytest.mark.slow  # about 40 s each: a run, then tuning
@pytest.mark.parametrize("tuner", ["cma_es", "meta_gradient"])
def test_evolve_with_constant_tuning_end_to_end(capsys, tmp_path, tuner):
    code, _, err = _evolve(
        capsys,
        tmp_path,
        "--tune-constants",
        tuner,
        "--tune-generations",
        "2",
        "--seed-programs",
        "builtin:label_smoothing",  # passes the cascade, and has a constant (epsilon)
    )
    assert code == 0, err
    summary = json.loads((tmp_path / "summary.json").read_text())
    tuning = summary["constant_tuning"]
    assert tuning["strategy"] == tuner and tuning["before"] is not None
    assert tuning["after"] >= tuning["before"]
    # The tuned best is a finalist of the funnel, which then picks on fresh keys.
    finalists = summary["funnel"]["candidates"]
    assert finalists[0]["search"] == pytest.approx(tuning["after"])
    assert summary["best_fitness"] in [c["search"] for c in finalists]
    assert summary["fresh_fitness"] == max(c["fresh"] for c in finalists)


@pytest.mark.slow  # two more end-to-end runs; tests/test_tasks.py covers the tasks themselves
@pytest.mark.parametrize(("task", "baseline"), [("activation", "relu"), ("optimizer", "adam")])
def test_evolve_other_tasks_end_to_end(capsys, tmp_path, task, baseline):
    out = tmp_path / task
    argv = ["evolve", "--task", task, *TINY, "--population", "8", "--generations", "2"]
    code, stdout, _ = run_cli(capsys, *argv, "--out", str(out), "--no-progress")
    assert code == 0, stdout
    summary = json.loads((out / "summary.json").read_text())
    assert summary["config"]["task"] == task and summary["baseline"] == baseline
    spec, _ = from_json(json.loads((out / "best.json").read_text()))
    assert spec.op_set == "elementwise"
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 2


def test_evaluate_names_the_task_a_program_does_not_fit(capsys):
    code, _, err = run_cli(capsys, "evaluate", "builtin:lion", "--task", "activation", *TINY)
    assert code == 2 and err.count("\n") == 1
    assert "builtin:lion: the activation task takes programs with inputs ('x',)" in err
    assert "got inputs ('g', 'p', 's1', 's2', 't')" in err


def test_survivors_train_only_what_passed_the_cascade_and_missed_the_cache(capsys, tmp_path):
    argv = ["--survivors", "4", "--seed-programs", "builtin:mse", "--no-derived-inputs"]
    code, _, err = _evolve(capsys, tmp_path, *argv)
    assert code == 0, err
    best = json.loads((tmp_path / "best.json").read_text())
    assert best["spec"]["inputs"] == ["x", "y"]  # --no-derived-inputs: the plain layout
    lines = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    for m in lines:
        # Every program that passed is trained, cached or left without a place, and
        # programs go untrained only once the four places are taken.
        assert m["trained"] + m["cache_hits"] + m["untrained"] == 8 - m["rejected"]
        assert m["trained"] <= 4 and (m["untrained"] == 0 or m["trained"] == 4)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["config"]["screening"]["survivors"] == 4
    code, _, err = _evolve(capsys, tmp_path / "x", "--survivors", "6")
    assert code == 1 and "survivors 6 does not split over 4 devices" in err
