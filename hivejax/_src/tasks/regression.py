"""Symbolic regression: a program is a formula of ``x`` (and ``y``) fitted to a benchmark.

A workload to compare the engine with the genetic-programming literature: the program
reads the input registers ``x`` (and ``y`` for the two-variable problems) and returns
``r0``, its prediction at every point at once; on the problems of the table below its
free constants ``c0 ..`` are genome, as are the named constants ``one zero half pi e``,
while the ``dso-`` problems give it no constant at all. Nothing trains: a program is
scored by one forward pass over the fitness cases, so the interpreters run without
gradients.

**Problems** (``PROBLEMS``, as data): two families of the same fifteen formulas.
``U[a, b, n]`` is ``n`` points drawn uniformly from ``[a, b)``; for two variables every
point draws both coordinates from it. The first family (``TABLE``) is McDermott et al.'s
collection, with hivejax's extra terminals:

============  ===========================  ======  ================
problem       target                       inputs  fitness cases
============  ===========================  ======  ================
nguyen-1      x^3 + x^2 + x                x       U[-1, 1, 20]
nguyen-2      x^4 + x^3 + x^2 + x          x       U[-1, 1, 20]
nguyen-3      x^5 + ... + x                x       U[-1, 1, 20]
nguyen-4      x^6 + ... + x                x       U[-1, 1, 20]
nguyen-5      sin(x^2) cos(x) - 1          x       U[-1, 1, 20]
nguyen-6      sin(x) + sin(x + x^2)        x       U[-1, 1, 20]
nguyen-7      log(x + 1) + log(x^2 + 1)    x       U[0, 2, 20]
nguyen-8      sqrt(x)                      x       U[0, 4, 20]
nguyen-9      sin(x) + sin(y^2)            x, y    U[-1, 1, 100]
nguyen-10     2 sin(x) cos(y)              x, y    U[-1, 1, 100]
nguyen-11     x^y                          x, y    U[0, 1, 100]
nguyen-12     x^4 - x^3 + y^2 / 2 - y      x, y    U[-1, 1, 100]
koza-1        x^4 + x^3 + x^2 + x          x       U[-1, 1, 20]
koza-2        x^5 - 2 x^3 + x              x       U[-1, 1, 20]
koza-3        x^6 - 2 x^4 + x^2            x       U[-1, 1, 20]
============  ===========================  ======  ================

The Nguyen problems and their sampling are those of Uy et al. (2011, "Semantically-based
crossover in genetic programming: application to real-valued symbolic regression", GPEM
12(2)); the Koza problems are Koza's quartic, quintic and sextic polynomials (1992, 1994)
with 20 random points in [-1, 1], as collected by McDermott et al. (2012, "Genetic
programming needs better benchmarks"; NASA's bingo, ``bingo/SymbolicRegression/
Benchmarking/BenchmarkDefinitions.py``, is a public copy of their Koza-1..3 and Nguyen-9
and 10 rows). Later papers, DSR among them, draw nguyen-9 to 12 from U[0, 1]: that is the
second family. Where the papers' terminals are ``x`` and the constant 1, programs of this
family also have ``zero half pi e`` and four free constants.

**The published protocol** (``DSO``: ``dso-nguyen-1 .. dso-nguyen-12`` and ``dso-koza-1 ..
dso-koza-3``, measured by ``hivejax bench nguyen``): the benchmarks exactly as Petersen et
al.'s deep symbolic regression (DSR, ICLR 2021) runs them, read from the DSO repository
(github.com/brendenpetersen/deep-symbolic-optimization, commit d652666, the files
``dso/dso/task/regression/benchmarks.csv`` and ``function_sets.csv``, last changed
2023-03-10):

- the same target formulas, and the same sampling as the table above for Nguyen-1 to 8
  and Koza-2 and 3 (``"U": [-1, 1, 20]``; Nguyen-7 ``[0, 2, 20]``, Nguyen-8 ``[0, 4,
  20]``), but **Nguyen-9 to 12 on U[0, 1, 20]**, not U[-1, 1, 100] (nor Nguyen-11's
  U[0, 1, 100]);
- the test set is "None", which DSO reads as a fresh draw from the training
  specification: here, a fresh key;
- the function set of all fifteen is DSO's ``Koza``: ``add, sub, mul, div, sin, cos, exp,
  log``, this module's op set ``"koza"``;
- the terminals are the inputs alone: DSO's ``Koza`` set has no ``const`` token and no
  literal, so **none of the fifteen has a free constant to fit**, and the programs here
  get neither free nor named constants (``ProgramSpec(num_consts=0,
  named_constants=False)``). An integer of a formula (Nguyen-5's 1, Nguyen-10's 2,
  Nguyen-12's 1/2) has to be built from the inputs (``x / x``), as DSR has to. The work
  registers start at zero and a program may read one before writing it: a constant 0,
  which ``x - x`` gives anyway, so the functions a program can express are DSO's;
- DSO's file has no Koza-1 (its formula is Nguyen-2's): ``dso-koza-1`` is McDermott et
  al.'s Koza-1 (``x^4 + x^3 + x^2 + x`` on U[-1, 1, 20], Koza's function set, terminal
  ``x``) under the same conventions.

DSO protects div (1 where ``|b| <= 0.001``), log (``log|a|``, 0 where ``|a| <= 0.001``) and
exp (0 from 100 up) its own way; programs here keep hivejax's protected ops (below), and
recovery is judged on what the ops mean, their guards dropped (``io/symbolic.py``). The
guards make constants DSO's do not: the log of an expression that is identically 0 is
``log(1e-8) = -18.4``, a division by it multiplies by 1e8. A search may use them, and the
R² of such a program counts, but it is never recovered (its sympy form is not finite).

**Fitness cases come from the key.** ``score(programs, data, key)`` draws the problem's
points from ``key`` (``sample``); there is no data set. So a run's fixed evaluation key is
its training sample (each seed draws its own), the funnel's fresh keys are fresh samples
(a generalisation check) and the final scoring's keys are test samples from the same
ranges: the engine's key discipline carries over unchanged.

**Score.** The engine maximises a score in [0, 1] and minimises its negation (the
fitness, ``evaluation.fitness_from_accuracy``). A program's score is
``1 / (1 + MSE / Var(target)) = 1 / (2 - R²)``: strictly decreasing in the mean squared
error, so selection ranks programs exactly as the MSE does (lower is better), with 1 for
an exact fit, 0.5 for predicting the targets' mean (the ``baseline``) and towards 0 as
the error grows. Normalising by the variance makes the strategy's parsimony penalty
(1e-3 per live instruction) worth the same R² on every problem. ``r2_of_score`` inverts
it; ``RegressionTask.report`` gives MSE and R² themselves. A program whose prediction
is not finite scores NaN (broken, the worst fitness).

**Op set.** ``"koza"`` by default, and always for the ``dso-`` problems
(``program.OP_SETS``): + - * / sin cos exp log, the
function set of Koza and of Uy et al., with hivejax's protected meanings (``ops.py``:
``a / (b + 1e-8)``, ``log(|a| + 1e-8)``, exp clamped to [-80, 80]) where the papers
protect division by returning 1 and log by ``log|a|``. ``"elementwise"`` programs (every
op that acts point by point) are regression programs too.

Example:
  >>> from hivejax._src.program.program import make_program
  >>> task = RegressionTask(problem="nguyen-1")
  >>> cube = [("r1", "mul", "x", "x"), ("r2", "mul", "r1", "x"), ("r0", "add", "r1", "x")]
  >>> exact = make_program(task.spec, [*cube, ("r0", "add", "r0", "r2")])
  >>> err, r2 = task.errors(stack_programs([exact]), jax.random.key(0))
  >>> bool(err[0] < 1e-10), round(float(r2[0]), 6)
  (True, 1.0)
"""

import dataclasses
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from hivejax._src.interpret import chunks, dispatch
from hivejax._src.program.program import Program, ProgramSpec, stack_programs
from hivejax._src.tasks.base import Task, seed_keys

OP_SETS = ("koza", "elementwise")
"""The op sets a regression program may use; the first is the default."""


@dataclasses.dataclass(frozen=True)
class Problem:
    """One benchmark: its target formula and how its fitness cases are drawn.

    Attributes:
      name: what ``--problem`` calls it.
      formula: the target, for people.
      inputs: the input registers, ``("x",)`` or ``("x", "y")``.
      low, high, points: the fitness cases are ``points`` draws from ``U[low, high)``
        (every coordinate of a point).
      target: ``target(xp, *inputs)``, the target values, where ``xp`` is ``numpy`` or
        ``jax.numpy`` (or ``sympy``, with symbols for inputs: the exact formula).
      constants: whether programs read constants (the named ones and four free ones);
        False where the benchmark's terminals are its inputs alone (``DSO``).
    """

    name: str
    formula: str
    inputs: tuple[str, ...]
    low: float
    high: float
    points: int
    target: Callable
    constants: bool = True

    @property
    def sampling(self) -> str:
        """The fitness cases in the literature's notation, e.g. ``U[-1, 1, 20]``."""
        return f"U[{self.low:g}, {self.high:g}, {self.points}]"


_X, _XY = ("x",), ("x", "y")


def _powers(x, degree: int):
    """``x + x^2 + ... + x^degree``."""
    return sum(x**k for k in range(1, degree + 1))


_A, _B, _C, _D = (-1, 1, 20), (0, 2, 20), (0, 4, 20), (-1, 1, 100)
_ROWS = (  # name, target as written, inputs, U[low, high, points], target(xp, *inputs)
    ("nguyen-1", "x^3 + x^2 + x", _X, _A, lambda m, x: _powers(x, 3)),
    ("nguyen-2", "x^4 + x^3 + x^2 + x", _X, _A, lambda m, x: _powers(x, 4)),
    ("nguyen-3", "x^5 + x^4 + x^3 + x^2 + x", _X, _A, lambda m, x: _powers(x, 5)),
    ("nguyen-4", "x^6 + x^5 + x^4 + x^3 + x^2 + x", _X, _A, lambda m, x: _powers(x, 6)),
    ("nguyen-5", "sin(x^2) cos(x) - 1", _X, _A, lambda m, x: m.sin(x**2) * m.cos(x) - 1),
    ("nguyen-6", "sin(x) + sin(x + x^2)", _X, _A, lambda m, x: m.sin(x) + m.sin(x + x**2)),
    ("nguyen-7", "log(x + 1) + log(x^2 + 1)", _X, _B, lambda m, x: m.log(x + 1) + m.log(x**2 + 1)),
    ("nguyen-8", "sqrt(x)", _X, _C, lambda m, x: m.sqrt(x)),
    ("nguyen-9", "sin(x) + sin(y^2)", _XY, _D, lambda m, x, y: m.sin(x) + m.sin(y**2)),
    ("nguyen-10", "2 sin(x) cos(y)", _XY, _D, lambda m, x, y: 2 * m.sin(x) * m.cos(y)),
    ("nguyen-11", "x^y", _XY, (0, 1, 100), lambda m, x, y: x**y),
    ("nguyen-12", "x^4 - x^3 + y^2 / 2 - y", _XY, _D, lambda m, x, y: x**4 - x**3 + y**2 / 2 - y),
    ("koza-1", "x^4 + x^3 + x^2 + x", _X, _A, lambda m, x: _powers(x, 4)),
    ("koza-2", "x^5 - 2 x^3 + x", _X, _A, lambda m, x: x**5 - 2 * x**3 + x),
    ("koza-3", "x^6 - 2 x^4 + x^2", _X, _A, lambda m, x: x**6 - 2 * x**4 + x**2),
)
# DSO's sampling where it differs from the table's (benchmarks.csv; module docstring).
_DSO_CASES = {f"nguyen-{i}": (0, 1, 20) for i in (9, 10, 11, 12)}
PROBLEMS: dict[str, Problem] = {
    name: Problem(name, formula, inputs, *cases, target)
    for name, formula, inputs, cases, target in _ROWS
} | {
    f"dso-{name}": Problem(
        f"dso-{name}", formula, inputs, *_DSO_CASES.get(name, cases), target, constants=False
    )
    for name, formula, inputs, cases, target in _ROWS
}
"""Every problem by name: the module docstring's table, then the ``dso-`` problems."""
TABLE: tuple[str, ...] = tuple(name for name, *_ in _ROWS)
"""The first family: McDermott et al.'s collection, with hivejax's constants."""
DSO: tuple[str, ...] = tuple(f"dso-{name}" for name in TABLE)
"""The published protocol (module docstring): Nguyen-1..12 and Koza-1..3 as DSO runs them."""


def get_problem(name: str) -> Problem:
    """The problem ``name`` (one of ``PROBLEMS``); ``ValueError`` lists the choices."""
    if name not in PROBLEMS:
        raise ValueError(
            f"unknown regression problem {name!r}; choose one of {', '.join(PROBLEMS)}"
        )
    return PROBLEMS[name]


def problem_spec(problem: Problem, op_set: str = OP_SETS[0]) -> ProgramSpec:
    """The default program shape for ``problem``: its inputs, one output, ``op_set``, and
    no constant at all where the problem has none (``Problem.constants``)."""
    if problem.constants:
        return ProgramSpec(inputs=problem.inputs, op_set=op_set)
    return ProgramSpec(inputs=problem.inputs, op_set=op_set, num_consts=0, named_constants=False)


def sample(problem: Problem, key: jax.Array) -> tuple[tuple[jax.Array, ...], jax.Array]:
    """The fitness cases ``key`` draws: one ``float32[points]`` array per input, and the
    targets there. Jittable."""
    shape = (len(problem.inputs), problem.points)
    points = jax.random.uniform(key, shape, jnp.float32, problem.low, problem.high)
    inputs = tuple(points)
    return inputs, problem.target(jnp, *inputs).astype(jnp.float32)


def mse(
    spec: ProgramSpec,
    interpreter: str,
    programs: Program,
    inputs,
    target: jax.Array,
    chunk_size: int | None = None,
) -> jax.Array:
    """Mean squared error ``[P]`` of each program's ``r0`` against ``target``, NaN where a
    prediction is not finite. A forward pass only, with interpreter ``interpreter``
    (``dispatch.CHOICES``), ``chunk_size`` programs at a time (None: all at once)."""

    def batch(programs):
        programs, run = dispatch.population_runner(interpreter, spec, programs)

        def one(program):
            prediction = run(program, *inputs)[0]
            error = jnp.mean(jnp.square(prediction - target))
            return jnp.where(jnp.all(jnp.isfinite(prediction)), error, jnp.nan)

        return jax.vmap(one)(programs)

    return chunks.in_chunks(batch, programs, chunk_size)


def r2_of_score(score):
    """R² of a score ``1 / (2 - R²)`` (module docstring); NaN stays NaN.

    Example:
      >>> float(r2_of_score(0.5)), float(r2_of_score(1.0))
      (0.0, 1.0)
    """
    return 2.0 - 1.0 / np.asarray(score, np.float64)


@dataclasses.dataclass(frozen=True, kw_only=True)
class RegressionTask(Task):
    """Fit the formula of a benchmark problem (module docstring).

    Attributes:
      problem: one of ``PROBLEMS``.
      spec: default ``problem_spec``; its inputs must be the problem's, its op set one of
        ``OP_SETS``.
      interpreter, chunk_size: as for every task (``Task``).
    """

    problem: str = "nguyen-1"

    name = "regression"
    baseline = "mean"  # predicting the targets' mean: R² 0, score 0.5
    default_spec = problem_spec(PROBLEMS["nguyen-1"])
    input_layouts = (_X, _XY)
    trains = False

    def __post_init__(self):
        problem = get_problem(self.problem)
        if self.spec is None:
            object.__setattr__(self, "spec", problem_spec(problem))
        super().__post_init__()
        if self.spec.inputs != problem.inputs:
            raise ValueError(
                f"problem {problem.name} takes programs with inputs {problem.inputs}, "
                f"got {self.spec.inputs}"
            )

    @classmethod
    def for_run(cls, *, train, problem: str | None, **kw) -> "RegressionTask":
        """The search for ``problem``'s formula; ``train`` plays no part (nothing trains)."""
        if problem is None:
            raise ValueError(f"task {cls.name!r} needs a problem (regression.PROBLEMS)")
        return cls(problem=problem, **kw)

    @classmethod
    def fits(cls, spec: ProgramSpec) -> bool:
        """Whether ``spec`` reads ``x`` (or ``x, y``), returns one output and uses one of
        ``OP_SETS``."""
        return spec.inputs in cls.input_layouts and spec.outputs == 1 and spec.op_set in OP_SETS

    def errors(self, programs: Program, key: jax.Array) -> tuple[jax.Array, jax.Array]:
        """MSE and R² ``[P]`` of each program on the fitness cases ``key`` draws."""
        inputs, target = sample(get_problem(self.problem), key)
        error = mse(self.spec, self.interpreter, programs, inputs, target, self.chunk_size)
        return error, 1.0 - error / jnp.maximum(jnp.var(target), 1e-30)

    def score(
        self, programs: Program, data: None, key: jax.Array, data_axis: str | None = None
    ) -> jax.Array:
        """The score ``1 / (2 - R²)`` ``[P]`` on the fitness cases ``key`` draws (module
        docstring); NaN where a prediction is not finite. There is no data set (the points
        come from the key) and no batch to split, so ``data`` and ``data_axis`` are None."""
        _, r2 = self.errors(programs, key)
        return 1.0 / (2.0 - r2)

    def baseline_score(self, data: None, key: jax.Array, copies: int = 1) -> jax.Array:
        """The score of predicting the targets' mean, ``copies`` times: exactly 0.5 (its
        MSE is the targets' variance), whatever the key."""
        return jnp.full((copies,), 0.5, jnp.float32)

    def load_data(self, dataset: str, data_dir=None) -> None:
        """None: the fitness cases come from the keys, not from a data set."""
        return None

    def for_final_scoring(self) -> "RegressionTask":
        """This task: a fresh key is a fresh sample of held-out points."""
        return self

    def protocol(self) -> dict:
        """The problem as a search protocol: its name, target and sampling (no version:
        the points are the protocol)."""
        problem = get_problem(self.problem)
        return {
            "name": f"regression-{problem.name}",
            "version": None,
            "problem": problem.name,
            "formula": problem.formula,
            "sampling": problem.sampling,
        }

    def report(self, program: Program, search_key: jax.Array, final_seeds) -> dict:
        """``regression``: the problem, and MSE and R² of ``program`` on the run's fitness
        cases (``search_key``) and on a test sample per final seed."""
        problem = get_problem(self.problem)
        one = stack_programs([program])
        keys = [search_key, *seed_keys(final_seeds)]
        fits = [jax.device_get(self.errors(one, k)) for k in keys]
        mses = [float(e[0]) for e, _ in fits]
        r2s = [float(r[0]) for _, r in fits]
        return {
            "regression": {
                "problem": problem.name,
                "formula": problem.formula,
                "sampling": problem.sampling,
                "search": {"mse": mses[0], "r2": r2s[0]},
                "test": {"seeds": [int(s) for s in final_seeds], "mse": mses[1:], "r2": r2s[1:]},
            }
        }
