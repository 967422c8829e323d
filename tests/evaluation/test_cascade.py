"""The rejection cascade: every builtin passes, and each check turns away what it names."""

import jax
import numpy as np
import pytest
from programs import CE

from hivejax._src.evaluation import cascade
from hivejax._src.program.program import make_program, random_population, stack_programs
from hivejax._src.tasks.builtins import BUILTINS, TASK_OF
from hivejax._src.tasks.registry import builtin, builtin_spec, task_type

INF = float("inf")


def codes(task: str, programs) -> list[str]:
    spec = task_type(task).default_spec
    return [cascade.REASONS[int(c)] for c in cascade.reasons(task, spec, stack_programs(programs))]


@pytest.mark.parametrize("task", ["loss", "activation", "optimizer"])
def test_every_builtin_passes(task):
    names = [n for n in BUILTINS if TASK_OF[n] == task]
    assert codes(task, [builtin(n) for n in names]) == ["passed"] * len(names)


def test_each_loss_check_rejects_what_it_names():
    spec = builtin_spec("cross_entropy")
    cases = {
        "non_finite": [("r0", "mul", "x", "c0")],
        "ignores_logits": [("r0", "mul", "y", "c0")],
        "ignores_targets": [("r0", "square", "x", "x")],
        "wrong_direction": [*CE, ("r0", "neg", "r0", "r0")],  # maximises cross-entropy
        # the squared distance to 0.3 * y: falls, then rises as the true class's logit grows
        "not_monotone": [
            ("r1", "mul", "y", "c0"),
            ("r1", "sub", "x", "r1"),
            ("r0", "square", "r1", "r1"),
        ],
    }
    consts = {"non_finite": [INF], "ignores_logits": [2.0], "not_monotone": [0.3]}
    programs = [make_program(spec, ins, consts.get(name, [])) for name, ins in cases.items()]
    assert codes("loss", programs) == list(cases)


def test_each_activation_and_optimizer_check_rejects_what_it_names():
    act = builtin_spec("relu")
    activations = {
        "non_finite": make_program(act, [("r0", "mul", "x", "c0")], [INF]),
        "constant": make_program(act, [("r0", "add", "one", "c0")], [2.0]),
        "dead_gradient": make_program(act, [("r0", "sign", "x", "x")]),
    }
    assert codes("activation", list(activations.values())) == list(activations)
    opt = builtin_spec("adam")
    optimizers = {
        "non_finite": make_program(opt, [("r0", "mul", "g", "c0")], [INF]),
        "no_descent": make_program(opt, [("r0", "neg", "g", "g")]),  # gradient ascent
    }
    assert codes("optimizer", list(optimizers.values())) == list(optimizers)


def test_codes_are_the_same_for_a_population_and_its_members():
    spec = builtin_spec("cross_entropy")
    # As many as the loss builtins above: the cascade runs op by op (not jitted as a
    # whole), and each op compiles once per population size.
    size = len([n for n in BUILTINS if TASK_OF[n] == "loss"])
    population = random_population(jax.random.key(3), spec, size)
    together = np.asarray(cascade.reasons("loss", spec, population))
    alone = [
        int(cascade.reasons("loss", spec, jax.tree.map(lambda a, i=i: a[i : i + 1], population))[0])
        for i in range(size)
    ]
    assert together.tolist() == alone
    assert set(together.tolist()) <= set(range(len(cascade.REASONS)))
