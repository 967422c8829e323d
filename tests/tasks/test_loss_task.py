"""The loss task: paired training, NaN isolation, and agreement with optax."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hivejax._src.evaluation import cascade, fingerprint
from hivejax._src.program.program import make_program, random_population
from hivejax._src.tasks.data import load_dataset
from hivejax._src.tasks.loss import DERIVED_SPEC, LossTask
from hivejax._src.tasks.registry import builtin
from hivejax._src.tasks.training import TrainConfig

TRAIN = TrainConfig(steps=30, batch_size=32)


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


def _stack(*programs):
    return jax.tree.map(lambda *xs: jnp.stack(xs), *programs)


def exploding(spec):
    """Finite values everywhere, but the backward pass overflows: 7 times 1e8 per step."""
    insts = [("r0", "mul", "x", "c0")] + [("r0", "div", "r0", "zero")] * 7
    return make_program(spec, insts, consts=(1e-30,))


def cross_entropy(spec):
    return make_program(
        spec,
        [
            ("r1", "lse_c", "x", "x"),
            ("r2", "sub", "x", "r1"),
            ("r3", "mul", "y", "r2"),
            ("r4", "sum_c", "r3", "r3"),
            ("r0", "neg", "r4", "r4"),
        ],
    )


def test_cross_entropy_program_trains_like_optax(digits):
    task = LossTask(train=TRAIN)
    key = jax.random.key(3)
    acc = task.score(_stack(cross_entropy(task.spec)), digits, key)
    base = task.baseline_score(digits, key)
    # Same maths, same key: at most a float-rounding flip of one test example.
    assert abs(float(acc[0]) - float(base[0])) <= 1.0 / digits.y_test.shape[0] + 1e-6
    assert float(base[0]) > 0.5


def test_non_finite_program_scores_nan_without_touching_neighbours(digits):
    task = LossTask(train=TRAIN)
    spec = task.spec
    others = random_population(jax.random.key(0), spec, 5)
    others = [jax.tree.map(lambda a, i=i: a[i], others) for i in range(5)]
    key = jax.random.key(1)
    accuracy = jax.jit(task.score)  # one compilation serves both batches
    ce = cross_entropy(spec)
    clean = np.asarray(accuracy(_stack(ce, ce, *others), digits, key))
    planted = np.asarray(accuracy(_stack(ce, exploding(spec), *others), digits, key))
    assert np.isnan(planted[1]) and not np.isnan(clean).any()
    np.testing.assert_array_equal(np.delete(planted, 1), np.delete(clean, 1))


def test_fused_and_reference_tasks_agree(digits):
    pop = random_population(jax.random.key(7), LossTask().spec, 6)
    key = jax.random.key(2)
    train = TrainConfig(steps=10)
    fused = LossTask(train=train).score(pop, digits, key)
    reference = LossTask(train=train, interpreter="reference").score(pop, digits, key)
    np.testing.assert_allclose(fused, reference, atol=2.0 / digits.y_test.shape[0])


def test_derived_inputs_make_cross_entropy_three_instructions(digits):
    # -sum_c(y * log_softmax(x)) over the derived input ls is cross-entropy: the same
    # cascade verdict, the same fingerprint and the same training as the five-instruction
    # builtin over the logits.
    short = make_program(
        DERIVED_SPEC,
        [("r1", "mul", "y", "ls"), ("r1", "sum_c", "r1", "r1"), ("r0", "neg", "r1", "r1")],
    )
    task = LossTask(train=TRAIN, spec=DERIVED_SPEC)
    population = _stack(short, builtin("cross_entropy", DERIVED_SPEC))
    assert cascade.reasons("loss", DERIVED_SPEC, population).tolist() == [0, 0]
    derived = fingerprint.fingerprints("loss", DERIVED_SPEC, population)
    plain = fingerprint.fingerprint("loss", LossTask.default_spec, builtin("cross_entropy"))
    assert derived[0] == derived[1] == plain
    accuracy = task.score(population, digits, jax.random.key(0))
    baseline = task.baseline_score(digits, jax.random.key(0))
    np.testing.assert_allclose(accuracy, baseline[0], atol=0.01)
