"""Symbolic regression: the benchmark table, exact fits, the evolve and bench commands."""

import importlib.resources
import importlib.util
import json
import math

import jax
import numpy as np
import pytest

import hivejax as hj
from hivejax._src.io.deap_format import to_deap
from hivejax._src.program.program import stack_programs
from hivejax._src.tasks import regression
from hivejax._src.tasks.registry import task_of_spec
from hivejax.cli.main import main

BASELINE = importlib.resources.files("hivejax.baselines") / "deap_numpy.py"

# (problem, inputs, target) at points worked out by hand from the published formulas.
KNOWN = [
    ("nguyen-1", (0.5,), 0.875),
    ("nguyen-1", (-1.0,), -1.0),
    ("nguyen-2", (0.5,), 0.9375),
    ("nguyen-3", (0.5,), 0.96875),
    ("nguyen-4", (0.5,), 0.984375),
    ("nguyen-5", (1.0,), math.sin(1) * math.cos(1) - 1),
    ("nguyen-6", (1.0,), math.sin(1) + math.sin(2)),
    ("nguyen-7", (1.0,), 2 * math.log(2)),
    ("nguyen-8", (0.25,), 0.5),
    ("nguyen-9", (0.0, 2.0), math.sin(4)),
    ("nguyen-10", (math.pi / 2, 0.0), 2.0),
    ("nguyen-11", (0.25, 0.5), 0.5),
    ("nguyen-12", (2.0, 1.0), 7.5),
    ("koza-1", (0.5,), 0.9375),
    ("koza-2", (0.5,), 0.28125),
    ("koza-3", (0.5,), 0.140625),
]
# The published sampling, U[low, high, points] (module docstring of tasks/regression.py).
SAMPLING = {f"nguyen-{i}": (-1, 1, 20) for i in range(1, 7)} | {
    "nguyen-7": (0, 2, 20),
    "nguyen-8": (0, 4, 20),
    "nguyen-9": (-1, 1, 100),
    "nguyen-10": (-1, 1, 100),
    "nguyen-11": (0, 1, 100),
    "nguyen-12": (-1, 1, 100),
    "koza-1": (-1, 1, 20),
    "koza-2": (-1, 1, 20),
    "koza-3": (-1, 1, 20),
}
# DSO's definitions, copied by hand from github.com/brendenpetersen/deep-symbolic-optimization
# (commit d652666), dso/dso/task/regression/benchmarks.csv: name, expression, train_spec
# {"all": {"U": [low, high, points]}}, function_set Koza. Koza-1 is not in that file; its row
# is McDermott et al.'s (2012), as in the table above.
DSO = {
    "dso-nguyen-1": ("pow(x1,3)+pow(x1,2)+x1", (-1, 1, 20)),
    "dso-nguyen-5": ("sin(pow(x1,2))*cos(x1)-1", (-1, 1, 20)),
    "dso-nguyen-7": ("log(x1+1)+log(pow(x1,2)+1)", (0, 2, 20)),
    "dso-nguyen-8": ("sqrt(x1)", (0, 4, 20)),
    "dso-nguyen-9": ("sin(x1)+sin(pow(x2,2))", (0, 1, 20)),
    "dso-nguyen-10": ("2*sin(x1)*cos(x2)", (0, 1, 20)),
    "dso-nguyen-11": ("pow(x1,x2)", (0, 1, 20)),
    "dso-nguyen-12": ("pow(x1,4)-pow(x1,3)+div(pow(x2,2),2)-x2", (0, 1, 20)),
    "dso-koza-1": ("x^4 + x^3 + x^2 + x (McDermott et al.)", (-1, 1, 20)),
    "dso-koza-2": ("pow(x1,5)-2*pow(x1,3)+x1", (-1, 1, 20)),
    "dso-koza-3": ("pow(x1,6)-2*pow(x1,4)+pow(x1,2)", (-1, 1, 20)),
}
# function_sets.csv: Koza,"add,sub,mul,div,sin,cos,exp,log" (no const, no literal).
DSO_KOZA = ("add", "sub", "mul", "div", "sin", "cos", "exp", "log")
NGUYEN_1 = [  # x^3 + x^2 + x, exactly
    ("r1", "mul", "x", "x"),
    ("r2", "mul", "r1", "x"),
    ("r0", "add", "r1", "x"),
    ("r0", "add", "r0", "r2"),
]
NGUYEN_10 = [("r1", "sin", "x", "x"), ("r2", "cos", "y", "y"), ("r0", "mul", "r1", "r2")]
NGUYEN_10 += [("r0", "add", "r0", "r0")]  # 2 sin(x) cos(y), exactly


@pytest.mark.parametrize("name, point, want", KNOWN)
def test_targets_match_their_formulas(name, point, want):
    problem = regression.get_problem(name)
    got = problem.target(np, *(np.float64(v) for v in point))
    assert len(point) == len(problem.inputs)
    assert got == pytest.approx(want, rel=1e-12, abs=1e-12)


def test_sampling_is_the_published_one():
    assert set(hj.REGRESSION_PROBLEMS) == set(SAMPLING) | {f"dso-{n}" for n in SAMPLING}
    dso = {name: cases for name, (_, cases) in DSO.items()}
    for name, (low, high, points) in (SAMPLING | dso).items():
        problem = regression.get_problem(name)
        inputs, target = regression.sample(problem, jax.random.key(3))
        assert (problem.low, problem.high, problem.points) == (low, high, points)
        for x in inputs:
            assert x.shape == (points,) and low <= float(x.min()) and float(x.max()) < high
        want = problem.target(np, *(np.asarray(x, np.float64) for x in inputs))
        np.testing.assert_allclose(target, want, rtol=1e-5, atol=1e-6)  # float32 targets


def test_dso_problems_are_the_published_protocol():
    assert regression.DSO == tuple(f"dso-{n}" for n in regression.TABLE)
    for name in regression.DSO:
        problem = regression.get_problem(name)
        plain = regression.get_problem(name.removeprefix("dso-"))
        assert problem.formula == plain.formula and problem.inputs == plain.inputs
        spec = hj.RegressionTask(problem=name).spec
        # The benchmark's terminals (its inputs, no constant) and Koza's function set.
        assert spec.operand_names()[: spec.register_base] == problem.inputs
        assert spec.num_consts == 0 and not spec.named_constants
        names = {hj.OPS[i].name for i in spec.allowed_ops} - {"copy"}  # copy: no-op padding
        assert names == set(DSO_KOZA)
        assert name not in DSO or problem.sampling == "U[{:g}, {:g}, {}]".format(*DSO[name][1])
    # The same formulas: DSO's Nguyen-12 at a point worked out by hand.
    problem = regression.get_problem("dso-nguyen-12")
    assert problem.target(np, 0.5, 0.5) == pytest.approx(0.0625 - 0.125 + 0.125 - 0.5)
    # The first table keeps its constants and its sampling.
    spec = hj.RegressionTask(problem="nguyen-9").spec
    assert spec.named_constants and spec.num_consts == 4
    assert regression.get_problem("nguyen-9").sampling == "U[-1, 1, 100]"


def test_a_dso_program_cannot_read_a_constant():
    task = hj.RegressionTask(problem="dso-nguyen-5", interpreter="reference")
    with pytest.raises(ValueError, match="unknown operand 'one'"):
        hj.make_program(task.spec, [("r0", "sub", "x", "one")])
    # sin(x^2) cos(x) - 1, with 1 = x / x, is exact.
    code = [("r1", "mul", "x", "x"), ("r1", "sin", "r1", "r1"), ("r2", "cos", "x", "x")]
    code += [("r1", "mul", "r1", "r2"), ("r2", "div", "x", "x"), ("r0", "sub", "r1", "r2")]
    program = hj.make_program(task.spec, code)
    mse, r2 = jax.device_get(task.errors(stack_programs([program]), jax.random.key(0)))
    assert mse[0] < 1e-10 and r2[0] == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize(
    "name, code, interpreter",
    [("nguyen-1", NGUYEN_1, "reference"), ("nguyen-1", NGUYEN_1, "fused")]
    + [("nguyen-10", NGUYEN_10, "reference")],
)
def test_a_planted_exact_program_fits_exactly(name, code, interpreter):
    task = hj.RegressionTask(problem=name, interpreter=interpreter)
    exact = hj.make_program(task.spec, code)
    wrong = hj.make_program(task.spec, [("r0", "add", "x", "one")])
    both = stack_programs([exact, wrong])
    mse, r2 = jax.device_get(task.errors(both, jax.random.key(0)))
    assert mse[0] < 1e-10 and r2[0] == pytest.approx(1.0, abs=1e-6)
    assert mse[1] > 1e-2 and r2[1] < 0.999
    score = task.score(both, None, jax.random.key(0))
    assert float(score[0]) == pytest.approx(1.0, abs=1e-6) and float(score[1]) < float(score[0])
    np.testing.assert_allclose(hj.r2_of_score(score), r2, atol=1e-5)
    assert float(task.baseline_score(None, jax.random.key(0))[0]) == 0.5


def test_regression_programs_have_a_task_and_configs_say_what_they_lack():
    spec = hj.RegressionTask(problem="nguyen-9").spec
    assert spec.inputs == ("x", "y") and spec.op_set == "koza"
    assert task_of_spec(spec) is hj.RegressionTask
    with pytest.raises(ValueError, match="cascade=False, cache=0, hurdle_steps=None"):
        hj.EvolveConfig(task=hj.REGRESSION, problem="nguyen-1")
    with pytest.raises(ValueError, match="unknown regression problem"):
        hj.EvolveConfig(task=hj.REGRESSION, problem="nguyen-13", screening=hj.ScreeningConfig.off())
    with pytest.raises(ValueError, match="problem is a setting"):
        hj.EvolveConfig(problem="nguyen-1")
    with pytest.raises(ValueError, match="inputs"):
        hj.RegressionTask(problem="nguyen-9", spec=hj.RegressionTask().spec)


def run_cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_evolve_finds_a_seeded_exact_formula_end_to_end(capsys, tmp_path):
    task = hj.RegressionTask(problem="nguyen-1")
    hj.save_program(tmp_path / "exact.json", task.spec, hj.make_program(task.spec, NGUYEN_1))
    out = tmp_path / "run"
    argv = ["evolve", "--task", "regression", "--problem", "nguyen-1", "--population", 8]
    argv += ["--generations", 2, "--final-seeds", 1, "--funnel", 2, "--out", out]
    argv += ["--interpreter", "reference"]  # compiles fastest; any interpreter would do
    code, text, err = run_cli(capsys, *argv, "--seed-programs", tmp_path / "exact.json")
    assert code == 0, err
    summary = json.loads((out / "summary.json").read_text())
    fit = summary["regression"]
    assert fit["problem"] == "nguyen-1" and fit["sampling"] == "U[-1, 1, 20]"
    assert fit["search"]["r2"] > 0.999999 and fit["test"]["r2"][0] > 0.999999
    assert summary["protocol"]["name"] == "regression-nguyen-1"
    lines = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [m["trained"] for m in lines] == [8, 8]  # every program is scored
    assert "best R² 1.000000" in text
    code, text, _ = run_cli(capsys, "show", out / "best.json")
    assert code == 0 and "x" in text


@pytest.mark.parametrize(
    "argv",
    [
        ["evolve", "--task", "regression", "--problem", "nguyen-13", "--out", "x"],
        ["evolve", "--task", "regression", "--out", "x"],
        ["evolve", "--problem", "nguyen-1", "--out", "x"],
        ["evolve", "--task", "regression", "--problem", "nguyen-1", "--steps", 5, "--out", "x"],
        ["bench", "--workload", "regression", "--solve-rate", "--problem", "nguyen-0"],
        ["bench", "--workload", "regression", "--problem", "nguyen-1"],
        ["bench", "--points", 10],
    ],
)
def test_bad_regression_flags_are_one_line(capsys, argv):
    code, _, err = run_cli(capsys, *argv)
    assert code == 2 and err.startswith("hivejax: error:") and err.count("\n") == 1, err
    assert "Traceback" not in err


def test_bench_prints_gp_ops_as_json(capsys):
    argv = ["bench", "--workload", "regression", "--json", "--population", 8, "--points", 16]
    argv += ["--repeats", 1, "--interpreter", "fused", "reference", "--baseline"]
    code, out, err = run_cli(capsys, *argv)
    assert code == 0, err
    report = json.loads(out)
    assert report["workload"] == "regression" and "forward" in report["measure"]
    cells = {c["interpreter"]: c for c in report["cells"]}
    assert set(cells) == {"fused", "reference"}
    for cell in cells.values():
        assert (cell["population"], cell["points"]) == (8, 16)
        assert cell["live_instructions"] >= 8 and cell["gp_ops_per_second"] > 0
        assert cell["seconds"] > 0 and cell["compile_seconds"] > 0
    (baseline,) = report["deap_numpy"]
    if importlib.util.find_spec("deap") is None:
        assert "deap is not installed" in baseline["skipped"]
    else:
        assert baseline["gp_ops_per_second"] > 0 and baseline["mse_agreement"] >= 0.75


def test_deap_trees_compute_what_the_programs_do():
    gp = pytest.importorskip("deap.gp")
    spec_ = importlib.util.spec_from_file_location("deap_numpy", BASELINE)
    script = importlib.util.module_from_spec(spec_)
    spec_.loader.exec_module(script)
    task = hj.RegressionTask(problem="nguyen-10")
    expression = to_deap(task.spec, hj.make_program(task.spec, NGUYEN_10))
    ps = script.primitive_set(gp, ("x", "y"))
    tree = gp.PrimitiveTree.from_string(expression, ps)
    assert str(tree) == "safe_add(safe_mul(sin(x), cos(y)), safe_mul(sin(x), cos(y)))"
    assert script.point_primitives(ps, tree) == 7  # r0 is read twice: written out twice
    x, y = np.linspace(-1, 1, 5, dtype=np.float32), np.linspace(1, -1, 5, dtype=np.float32)
    got = gp.compile(tree, ps)(x, y)
    np.testing.assert_allclose(got, 2 * np.sin(x) * np.cos(y), rtol=1e-6)
    assert BASELINE.is_file()  # installed with the package, as hivejax.baselines
