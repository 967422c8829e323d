"""The command line, in process: outputs, files written, and one-line errors for user
mistakes. What a run does is the engine's, tested by calling ``hj.evolve``
(tests/run/test_engine.py)."""

import dataclasses
import json
import subprocess
import sys

import pytest
from toy import TOY, TOY_FLAGS

import hivejax as hj
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
    return run_cli(capsys, "evolve", *TOY_FLAGS, "--out", str(out_dir), *extra)


@pytest.mark.usefixtures("toy_run")  # compiles the generation step this run shares
def test_evolve_runs_the_config_of_its_flags_and_prints_what_it_found(capsys, tmp_path):
    # The engine's runs are tests/run/test_engine.py's; this is the command around one.
    code, out, err = _evolve(capsys, tmp_path, "--seed-programs", "builtin:mse")
    assert code == 0, err
    summary = json.loads((tmp_path / "summary.json").read_text())
    seeded = dataclasses.replace(TOY, search=hj.SearchConfig(seed_programs=("builtin:mse",)))
    assert hj.config_from_dict(summary["config"]) == seeded
    assert f"best hash {summary['best_hash']}" in out and summary["best_formula"] in out
    assert f"vs {summary['baseline']} {summary['baseline_accuracy']:.4f}" in out
    assert f"wrote {tmp_path}/metrics.jsonl, best.json, summary.json" in out
    # The front it wrote, one line per program under a header.
    code, out, _ = run_cli(capsys, "show", "--front", str(tmp_path))
    assert code == 0 and len(out.splitlines()) == len(summary["front"]) + 1 > 1


def test_evolve_refuses_to_overwrite_a_run(capsys, tmp_path):
    (tmp_path / "metrics.jsonl").write_text("earlier results\n")
    code, _, err = _evolve(capsys, tmp_path)
    assert code == 1 and "already holds a run" in err
    assert (tmp_path / "metrics.jsonl").read_text() == "earlier results\n"


def test_evolve_survivors_that_do_not_split_are_one_line(capsys, tmp_path):
    code, _, err = _evolve(capsys, tmp_path, "--survivors", "6")
    assert code == 1 and err.count("\n") == 1
    assert "survivors 6 does not split over 4 devices" in err


def test_evaluate_names_the_task_a_program_does_not_fit(capsys):
    code, _, err = run_cli(capsys, "evaluate", "builtin:lion", "--task", "activation", *TINY)
    assert code == 2 and err.count("\n") == 1
    assert "builtin:lion: the activation task takes programs with inputs ('x',)" in err
    assert "got inputs ('g', 'p', 's1', 's2', 't')" in err
