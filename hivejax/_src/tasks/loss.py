"""The loss task: a program is the loss function of a short training run.

The program reads logits ``x`` and one-hot targets ``y`` (both ``[batch, classes]``); its
output is averaged to the scalar loss. The baseline is softmax cross-entropy.
"""

import dataclasses

from hivejax._src.program import ProgramSpec
from hivejax._src.tasks.base import ProgramTask

SPEC = ProgramSpec(inputs=("x", "y"))


@dataclasses.dataclass(frozen=True)
class LossTask(ProgramTask):
    """Evolve loss functions of ``(x, y)``; see ``ProgramTask`` for the attributes."""

    name = "loss"
    baseline = "cross_entropy"
    default_spec = SPEC

    def components(self, outputs) -> dict:
        return {"loss": lambda p, logits, targets: outputs(p, logits, targets)[0].mean()}
