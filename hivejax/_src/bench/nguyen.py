"""Symbolic regression on the published protocol: recovery of Nguyen-1..12 and Koza-1..3.

``nguyen`` runs ``evolve`` on each of the ``dso-`` problems (``tasks/regression.py``: the
benchmarks exactly as DSO defines them, Koza's function set, no constants) with one run
per seed at a fixed budget (population × generations, ``BUDGET``), through the same loop
as the solve rates (``solve_rate.seeded_runs``), and reports per problem:

- **recovery**: the share of seeds whose best program is symbolically equal to the
  ground truth: ``sympy.simplify`` of the difference gives zero (``recovered``), the
  criterion of Petersen et al. (DSR, ICLR 2021), whose published rate is beside it
  (``DSR_RECOVERY``);
- **R²**: the share of seeds whose best program has R² > ``THRESHOLD`` on a fresh sample
  of the problem's points (the run's final scoring key, never seen by the search), and the
  median of that R²;
- the evaluations of one run (programs scored: population × generations when nothing is
  screened out) and the wall seconds.

A measurement, never a test: quality figures depend on the budget and the machine, and
``docs/benchmarks.md`` has those measured. DSR spent up to 2 million expressions per run,
100 runs per problem; the default budget here is much smaller (``BUDGET``) so that a
2-core CPU finishes a seed of a problem in well under a minute.

Where a program equals the truth but sympy's ``simplify`` cannot show it, the run counts
as not recovered (the same risk DSR's check runs). Before simplifying, both sides are
compared at a few points of the problem's range, so that a near miss costs no symbolic
work. Recovery is strict about hivejax's protected ops: a program that leans on a guard
(``log`` of an expression that is identically 0 is ``log(1e-8) = -18.4`` here, a division
by one multiplies by 1e8: constants the benchmark does not have) has no finite sympy form
(``zoo`` or ``nan``) and is not recovered, however well it fits; its R² still counts.
"""

import time

import numpy as np

from hivejax._src.bench.solve_rate import seeded_runs
from hivejax._src.bench.timing import machine
from hivejax._src.interpret.dispatch import resolve
from hivejax._src.io.symbolic import sympy_expression
from hivejax._src.tasks import regression

PROBLEMS = regression.DSO
"""The problems by default: the fifteen ``dso-`` problems."""
THRESHOLD = 0.999
"""A run fits its problem when its best program's R² on a fresh sample is above this."""
SEEDS = 10
"""Seeds (runs) per problem by default: 0 .. SEEDS - 1."""
BUDGET = (1000, 100)
"""(population, generations) of each run: 100,000 programs scored."""
QUICK = {"problems": ("dso-nguyen-1", "dso-nguyen-8"), "seeds": 1, "budget": (16, 2)}
"""``--quick``: two problems, one seed, a tiny budget; seconds, for the test suite."""

# Petersen et al., "Deep symbolic regression: recovering mathematical expressions from data
# via risk-seeking policy gradients", ICLR 2021, Table 1: recovery over 100 runs per
# problem, Nguyen with the Koza function set (no constants), up to 2 million expressions a
# run. The paper publishes no Koza figures: None, printed as a dash.
DSR_RECOVERY: dict[str, float | None] = {
    **{f"dso-nguyen-{i}": 1.0 for i in (1, 2, 3, 4, 6, 9, 10, 11)},
    "dso-nguyen-5": 0.72,
    "dso-nguyen-7": 0.35,
    "dso-nguyen-8": 0.96,
    "dso-nguyen-12": 0.0,
    **{f"dso-koza-{i}": None for i in (1, 2, 3)},
}
DSR_AVERAGE = 0.836
"""DSR's published average recovery over Nguyen-1..12 (83.6%)."""

_PROBES = 7  # points of the numeric check before simplifying


def _symbols(problem: regression.Problem) -> tuple[tuple, tuple[str, ...]]:
    """The problem's inputs as sympy symbols, positive where its range is, and the names
    of the positive ones."""
    import sympy  # late: slow to import, only the symbolic check needs it

    positive = problem.inputs if problem.low >= 0 else ()
    symbols = tuple(
        sympy.Symbol(n, positive=True) if n in positive else sympy.Symbol(n, real=True)
        for n in problem.inputs
    )
    return symbols, positive


def truth(problem: regression.Problem):
    """The problem's target as an exact sympy expression, over the symbols that
    ``recovered`` gives a program's inputs."""
    import sympy  # late: slow to import, only the symbolic check needs it

    symbols, _ = _symbols(problem)
    return problem.target(sympy, *symbols)


def recovered(problem: regression.Problem, spec, program) -> bool:
    """Whether ``program`` is symbolically equal to ``problem``'s target: the sympy form of
    what its ops mean (``io/symbolic.py``), inputs positive where the problem's range is,
    minus the target simplifies to zero.

    Example:
      >>> from hivejax._src.program.program import make_program
      >>> problem = regression.get_problem("dso-nguyen-8")
      >>> spec = regression.problem_spec(problem)
      >>> code = [("r1", "div", "x", "x"), ("r1", "add", "r1", "r1"),
      ...         ("r2", "log", "x", "x"), ("r2", "div", "r2", "r1"), ("r0", "exp", "r2", "r2")]
      >>> recovered(problem, spec, make_program(spec, code))  # exp(log(x) / 2) is sqrt(x)
      True
    """
    import sympy  # late: slow to import, only the symbolic check needs it

    symbols, positive = _symbols(problem)
    candidate = sympy_expression(spec, program, positive)
    target = problem.target(sympy, *symbols)
    if candidate == target:
        return True
    # A near miss fails here, at a few points inside the range, before any simplification.
    points = np.linspace(problem.low, problem.high, _PROBES + 2)[1:-1]
    for k in range(_PROBES):
        at = {s: sympy.Float(points[(k + 3 * i) % _PROBES]) for i, s in enumerate(symbols)}
        try:
            got, want = complex(candidate.subs(at).evalf()), complex(target.subs(at).evalf())
        except (TypeError, ValueError):  # not a number there
            return False
        if not np.isfinite(got) or abs(got - want) > 1e-6 * (1 + abs(want)):
            return False
    return sympy.simplify(candidate - target) == 0


def nguyen(
    problems=PROBLEMS,
    seeds: int = SEEDS,
    population: int = BUDGET[0],
    generations: int = BUDGET[1],
    interpreter: str = "auto",
    threshold: float = THRESHOLD,
) -> dict:
    """Per problem, recovery and R² over ``seeds`` seeded runs (module docstring)."""
    rows = []
    for name in problems:
        problem = regression.get_problem(name)  # a ValueError lists the problems
        t0 = time.perf_counter()
        runs = seeded_runs(name, range(seeds), population, generations, interpreter)
        found = [recovered(problem, r["spec"], r["program"]) for r in runs]
        _, positive = _symbols(problem)
        r2_test = np.asarray([r["r2_test"] for r in runs], np.float64)
        rows.append(
            {
                "problem": name,
                "formula": problem.formula,
                "sampling": problem.sampling,
                "recovered": int(np.sum(found)),
                "recovery": float(np.mean(found)),
                "r2_share": float(np.mean(r2_test > threshold)),
                "r2_median": float(np.median(r2_test)),
                "evaluations": int(np.median([r["evaluations"] for r in runs])),
                "seconds": time.perf_counter() - t0,
                "dsr_recovery": DSR_RECOVERY.get(name),
                "runs": [
                    {
                        "seed": r["seed"],
                        "formula": r["formula"],
                        "sympy": str(sympy_expression(r["spec"], r["program"], positive)),
                        "recovered": bool(f),
                        "r2": r["r2"],
                        "r2_test": r["r2_test"],
                        "evaluations": r["evaluations"],
                        "seconds": r["seconds"],
                    }
                    for r, f in zip(runs, found, strict=True)
                ],
            }
        )
    nguyen_rows = [r for r in rows if r["problem"].startswith("dso-nguyen-")]
    return {
        "workload": "nguyen",
        "population": population,
        "generations": generations,
        "seeds": seeds,
        "interpreter": resolve(interpreter),
        "threshold": threshold,
        "problems": rows,
        "recovery": float(np.mean([r["recovery"] for r in rows])),
        "nguyen_recovery": (
            float(np.mean([r["recovery"] for r in nguyen_rows])) if nguyen_rows else None
        ),
        "dsr_nguyen_recovery": DSR_AVERAGE,
        "machine": machine(),
    }
