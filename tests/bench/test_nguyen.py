"""``hivejax bench nguyen``: recovery is sympy equivalence to the truth, and the command
prints a row per problem, with DSR's published rate beside it.

Quality figures are measurements (docs/benchmarks.md), never asserted here: the tests check
the judge (``recovered``) on hand-built programs, and the command's wiring and printing.
"""

import json

import pytest

import hivejax as hj
import hivejax.bench as hb
from hivejax._src.tasks import regression
from hivejax.cli.bench.nguyen import format_nguyen
from hivejax.cli.main import main

NGUYEN_1 = [  # x^3 + x^2 + x, exactly
    ("r1", "mul", "x", "x"),
    ("r2", "mul", "r1", "x"),
    ("r0", "add", "r1", "x"),
    ("r0", "add", "r0", "r2"),
]
NGUYEN_7 = [  # log(x + 1) + log(x^2 + 1), the 1 made as x / x
    ("r1", "div", "x", "x"),
    ("r2", "add", "x", "r1"),
    ("r2", "log", "r2", "r2"),
    ("r3", "mul", "x", "x"),
    ("r3", "add", "r3", "r1"),
    ("r3", "log", "r3", "r3"),
    ("r0", "add", "r2", "r3"),
]


def _judge(name, code):
    problem = regression.get_problem(name)
    spec = hj.RegressionTask(problem=name).spec
    return hb.recovered(problem, spec, hj.make_program(spec, code))


def test_an_exact_program_is_recovered_and_a_near_miss_is_not():
    assert _judge("dso-nguyen-1", NGUYEN_1)
    assert not _judge("dso-nguyen-1", NGUYEN_1[:3])  # x^2 + x
    # Horner's form, x (x (x + 1) + 1), is the same polynomial.
    horner = [("r1", "div", "x", "x"), ("r0", "add", "x", "r1"), ("r0", "mul", "r0", "x")]
    horner += [("r0", "add", "r0", "r1"), ("r0", "mul", "r0", "x")]
    assert _judge("dso-nguyen-1", horner)
    assert not _judge("dso-koza-2", NGUYEN_1)


def test_protected_ops_are_judged_by_what_they_mean():
    # log(|a| + 1e-8) is log(a) where the range is positive: Nguyen-7 on [0, 2).
    assert _judge("dso-nguyen-7", NGUYEN_7)
    # x^y as exp(y log|x|) on [0, 1): x positive.
    x_to_y = [("r1", "log", "x", "x"), ("r1", "mul", "r1", "y"), ("r0", "exp", "r1", "r1")]
    assert _judge("dso-nguyen-11", x_to_y)
    # sqrt(x) as exp(log(x) / 2), the 2 made as x / x + x / x.
    root = [("r1", "div", "x", "x"), ("r1", "add", "r1", "r1"), ("r2", "log", "x", "x")]
    root += [("r2", "div", "r2", "r1"), ("r0", "exp", "r2", "r2")]
    assert _judge("dso-nguyen-8", root)
    # On [-1, 1] x is not positive: exp(log|x| * 3) is |x|^3, not x^3.
    cube = [("r1", "log", "x", "x"), ("r2", "add", "r1", "r1"), ("r1", "add", "r1", "r2")]
    cube += [("r0", "exp", "r1", "r1"), ("r2", "mul", "x", "x"), ("r0", "add", "r0", "r2")]
    cube += [("r0", "add", "r0", "x")]
    assert not _judge("dso-nguyen-1", cube)


def test_dsr_rates_are_the_published_ones():
    # Petersen et al. (ICLR 2021), Table 1: Nguyen with the Koza set, 100 runs per problem.
    assert set(hb.DSR_RECOVERY) == set(regression.DSO) == set(hb.NGUYEN_PROBLEMS)
    published = {5: 0.72, 7: 0.35, 8: 0.96, 12: 0.0}
    for i in range(1, 13):
        assert hb.DSR_RECOVERY[f"dso-nguyen-{i}"] == published.get(i, 1.0)
    nguyen = [hb.DSR_RECOVERY[f"dso-nguyen-{i}"] for i in range(1, 13)]
    assert sum(nguyen) / 12 == pytest.approx(0.836, abs=5e-4)
    assert all(hb.DSR_RECOVERY[f"dso-koza-{i}"] is None for i in (1, 2, 3))


@pytest.mark.parametrize(
    "argv",
    [
        ["bench", "nguyen", "--problem", "dso-nguyen-13"],
        ["bench", "nguyen", "--seeds", "0"],
        ["bench", "nguyen", "--seeds", "two"],
        ["bench", "nguyen", "--population", "1"],
        ["bench", "nguyen", "--points", "10"],
    ],
)
def test_bad_flags_are_one_line(capsys, argv):
    code = main(argv)
    _, err = capsys.readouterr()
    assert code == 2 and err.startswith("hivejax: error:") and err.count("\n") == 1, err
    assert "Traceback" not in err


@pytest.mark.slow  # two evolve runs: about a minute on 2 cores, most of it compiling
def test_quick_runs_the_searches_and_prints_a_row_per_problem(capsys):
    code = main(["bench", "nguyen", "--quick", "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    report = json.loads(out)
    problems, seeds, budget = (hb.NGUYEN_QUICK[k] for k in ("problems", "seeds", "budget"))
    assert (report["population"], report["generations"]) == budget
    assert [r["problem"] for r in report["problems"]] == list(problems)
    for row in report["problems"]:
        assert row["evaluations"] == budget[0] * budget[1] and len(row["runs"]) == seeds
        assert row["dsr_recovery"] == hb.DSR_RECOVERY[row["problem"]]
        assert row["recovered"] == sum(r["recovered"] for r in row["runs"])
    # The text the command prints of the same report: the budget, a row per problem with
    # DSR's published rate last, and the average against DSR's.
    lines = format_nguyen(report).splitlines()
    assert f"budget {budget[0]} programs x {budget[1]} generations" in lines[0]
    rows = [line for line in lines if line.startswith("dso-")]
    assert [r.split()[0] for r in rows] == list(problems)
    assert rows[0].split()[-1] == "100%" and rows[1].split()[-1] == "96%"
    assert "(DSR 83.6% on Nguyen-1..12)" in lines[-1]
