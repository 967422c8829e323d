"""One conformance suite for every task: shapes, vmap, NaN isolation, determinism, no
recompilation, and a baseline trained under the same key."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hivejax._src.program.program import make_program, random_population
from hivejax._src.tasks import registry
from hivejax._src.tasks.data import load_dataset
from hivejax._src.tasks.registry import TASKS, make_task
from hivejax._src.tasks.training import TrainConfig

TRAIN = TrainConfig(steps=20, batch_size=32, hidden=32)


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


def _stack(programs):
    return jax.tree.map(lambda *xs: jnp.stack(xs), *programs)


def _unstack(population, n):
    return [jax.tree.map(lambda a, i=i: a[i], population) for i in range(n)]


def _nan_program(spec):
    """``0 * inf``: NaN on every element. Decoders reject such constants; the engine must
    survive one anyway, whatever task it breaks."""
    return make_program(spec, [("r0", "mul", "zero", "c0")], consts=(float("inf"),))


@pytest.fixture(scope="module", params=TASKS)
def setup(request, digits):
    task = make_task(request.param, TRAIN)
    others = _unstack(random_population(jax.random.key(0), task.spec, 4), 4)
    baseline = registry.builtin(task.baseline, task.spec)
    accuracy = jax.jit(task.score)
    key = jax.random.key(1)
    clean = np.asarray(accuracy(_stack([baseline, baseline, *others]), digits, key))
    return task, accuracy, baseline, others, key, clean


def test_accuracy_has_one_value_per_program(setup):
    task, _, _, others, _, clean = setup
    assert clean.shape == (2 + len(others),)
    assert np.all((clean >= 0) & (clean <= 1) | np.isnan(clean))


def test_baseline_program_matches_the_hand_written_baseline(setup, digits):
    task, _, _, _, key, clean = setup
    base = float(task.baseline_score(digits, key)[0])
    # The builtin program is the baseline's maths: at most a rounding flip of one example.
    assert abs(float(clean[0]) - base) <= 1.0 / digits.y_test.shape[0] + 1e-6
    assert clean[0] == clean[1]


def test_a_non_finite_program_scores_nan_and_changes_no_other(setup, digits):
    task, accuracy, baseline, others, key, clean = setup
    planted = _stack([baseline, _nan_program(task.spec), *others])
    result = np.asarray(accuracy(planted, digits, key))
    assert np.isnan(result[1])
    np.testing.assert_array_equal(np.delete(result, 1), np.delete(clean, 1))


def test_deterministic_and_compiled_once(setup, digits):
    task, accuracy, baseline, others, key, clean = setup
    again = np.asarray(accuracy(_stack([baseline, baseline, *others]), digits, key))
    np.testing.assert_array_equal(again, clean)
    # Other programs of the same shape reuse the compiled run.
    fresh = random_population(jax.random.key(9), task.spec, 2 + len(others))
    accuracy(fresh, digits, key)
    assert accuracy._cache_size() == 1


def test_vmapped_population_equals_programs_run_alone(setup, digits):
    task, accuracy, baseline, others, key, clean = setup
    alone = [float(task.score(_stack([p]), digits, key)[0]) for p in others[:2]]
    np.testing.assert_allclose(alone, clean[2:4], atol=1.0 / digits.y_test.shape[0] + 1e-6)


def test_unknown_task_lists_the_tasks():
    with pytest.raises(ValueError, match="unknown task 'nope'; choose one of loss, activation"):
        make_task("nope")


def test_a_task_refuses_programs_of_another_shape():
    with pytest.raises(ValueError, match="activation task takes programs with inputs"):
        make_task("activation").__class__(spec=make_task("loss").spec)
