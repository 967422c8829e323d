"""The optimizer task: a program is the update rule of the optimizer, as in the Lion search.

The program runs elementwise on every parameter tensor. It reads the gradient ``g``, the
parameter ``p``, the state slots ``s1`` and ``s2`` (zero at the start) and the step ``t``
(1 at the first update), and returns three outputs: the update direction ``r0`` and the
new state slots ``r1`` and ``r2``. The parameter then moves by ``-learning_rate * r0``,
so the learning rate and the training protocol stay the task's, as in the Lion paper,
where the searched program's output is scaled by the schedule. Two slots hold Adam's
moments; SGD with momentum and Lion use one. The baseline is Adam.
"""

import dataclasses
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from hivejax._src.program.program import ProgramSpec
from hivejax._src.tasks.base import ProgramTask

SLOTS = 2
SPEC = ProgramSpec(
    inputs=("g", "p", "s1", "s2", "t"),
    max_length=24,
    num_consts=6,
    num_registers=8,
    outputs=1 + SLOTS,
    op_set="elementwise",
)


class ProgramOptimizerState(NamedTuple):
    """The state of a program's optimizer: the step count and the slots of every tensor."""

    count: jax.Array
    slots: tuple  # SLOTS PyTrees shaped like the parameters


def program_optimizer(outputs, program, learning_rate: float) -> optax.GradientTransformation:
    """An optax optimizer whose update rule is ``program``.

    ``outputs(program, g, p, s1, s2, t)`` runs the program on equally shaped arrays and
    returns its ``[1 + SLOTS, *shape]`` outputs.
    """

    def init(params):
        zeros = jax.tree.map(jnp.zeros_like, params)
        return ProgramOptimizerState(jnp.zeros((), jnp.int32), (zeros,) * SLOTS)

    def update(grads, state, params):
        count = state.count + 1
        t = count.astype(jnp.float32)

        def one(g, p, *slots):
            return outputs(program, g, p, *slots, jnp.broadcast_to(t, g.shape))

        out = jax.tree.map(one, grads, params, *state.slots)
        pick = lambda k: jax.tree.map(lambda o: o[k], out)
        updates = jax.tree.map(lambda d: -learning_rate * d, pick(0))
        return updates, ProgramOptimizerState(count, tuple(pick(k + 1) for k in range(SLOTS)))

    return optax.GradientTransformation(init, update)


@dataclasses.dataclass(frozen=True)
class OptimizerTask(ProgramTask):
    """Evolve optimizer update rules; see ``ProgramTask`` for the attributes."""

    name = "optimizer"
    baseline = "adam"
    default_spec = SPEC

    def components(self, outputs) -> dict:
        lr = self.train.learning_rate
        return {"optimizer": lambda p: program_optimizer(outputs, p, lr)}
