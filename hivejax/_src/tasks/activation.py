"""The activation task: a program is every hidden activation function of the network.

The program reads the pre-activation ``x`` and returns the activation, elementwise (its op
set has no reductions), so it applies to dense and convolutional layers alike. It must be
differentiable in ``x``: the fused interpreter's backward pass carries the gradient. The
baseline is ReLU.
"""

import dataclasses

from hivejax._src.program.program import ProgramSpec
from hivejax._src.tasks.base import ProgramTask

SPEC = ProgramSpec(inputs=("x",), op_set="elementwise")


@dataclasses.dataclass(frozen=True)
class ActivationTask(ProgramTask):
    """Evolve activation functions of ``x``; see ``ProgramTask`` for the attributes."""

    name = "activation"
    baseline = "relu"
    default_spec = SPEC

    def components(self, outputs) -> dict:
        return {"activation": lambda p, x: outputs(p, x)[0]}
