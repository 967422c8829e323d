"""The Pareto front: accuracy against live length, dominated, rejected and repeated
programs left out."""

import math

from programs import CE

from hivejax._src.program.program import make_program, stack_programs
from hivejax._src.run.pareto import front
from hivejax._src.tasks.registry import builtin, builtin_spec

SPEC = builtin_spec("cross_entropy")


def test_the_front_keeps_only_what_nothing_beats():
    programs = {
        "mse": (builtin("mse"), 0.21),  # 2 live instructions
        "ce": (builtin("cross_entropy"), 0.26),  # 5
        "ce_dead_code": (make_program(SPEC, [("r2", "exp", "x", "y"), *CE]), 0.26),  # same hash
        "hinge": (builtin("hinge"), 0.24),  # as long as ce and worse: dominated
        "focal": (builtin("focal"), 0.30),  # 9
        "rejected": (make_program(SPEC, [("r0", "square", "x", "x")]), math.inf),
    }
    fitness = [-a if math.isfinite(a) else math.inf for _, a in programs.values()]
    got = front(SPEC, stack_programs([p for p, _ in programs.values()]), fitness)
    assert [(e["live_length"], e["accuracy"]) for e in got] == [(2, 0.21), (5, 0.26), (9, 0.3)]
    assert got[1]["formula"] == "-sum_c(y * (x - lse_c(x)))"
    lengths = [e["live_length"] for e in got]
    assert lengths == sorted(lengths) and len({e["hash"] for e in got}) == len(got)
