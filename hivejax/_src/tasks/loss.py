"""The loss task: a program is the loss function of a short training run.

The program reads logits ``x`` and one-hot targets ``y`` (both ``[batch, classes]``); its
output is averaged to the scalar loss. The baseline is softmax cross-entropy.

Derived inputs: a program of ``DERIVED_SPEC`` also reads ``p = softmax(x)`` and ``ls =
log_softmax(x)``, computed from the logits before the program runs (gradients flow
through them to the logits). GLO and TaylorGLO search over probabilities for this reason:
cross-entropy is then ``-sum_c(y * ls)``, three instructions instead of five, and a search
starts nearer the losses that train well. Programs of both layouts are loss programs.
"""

import dataclasses

import jax

from hivejax._src.program.program import ProgramSpec
from hivejax._src.tasks.base import ProgramTask

SPEC = ProgramSpec(inputs=("x", "y"))
DERIVED_SPEC = ProgramSpec(inputs=("x", "y", "p", "ls"))


def loss_inputs(spec: ProgramSpec, logits, targets) -> tuple:
    """The inputs a loss program of ``spec`` reads: ``(x, y)``, plus ``(p, ls)`` if derived."""
    if spec.inputs == DERIVED_SPEC.inputs:
        return logits, targets, jax.nn.softmax(logits), jax.nn.log_softmax(logits)
    return logits, targets


@dataclasses.dataclass(frozen=True)
class LossTask(ProgramTask):
    """Evolve loss functions of ``(x, y)``; see ``ProgramTask`` for the attributes."""

    name = "loss"
    baseline = "cross_entropy"
    default_spec = SPEC

    input_layouts = (SPEC.inputs, DERIVED_SPEC.inputs)
    derived_spec = DERIVED_SPEC

    def components(self, outputs) -> dict:
        def loss(program, logits, targets):
            return outputs(program, *loss_inputs(self.spec, logits, targets))[0].mean()

        return {"loss": loss}
