"""The loss task: a program is the loss function of a short training run.

The program reads logits ``x`` and one-hot targets ``y`` (both ``[batch, classes]``); its
output register is averaged to the scalar loss. Fitness is test accuracy after training.
The baseline is optax's softmax cross-entropy, trained under the same key.
"""

import dataclasses

import jax
import jax.numpy as jnp
import optax

from hivejax._src import fused, interpreter
from hivejax._src.data import Dataset
from hivejax._src.program import Program, ProgramSpec
from hivejax._src.tasks.training import TrainConfig, train_population


def cross_entropy_loss(scale, logits, targets):
    """The hand-designed baseline, optax's softmax cross-entropy, times ``scale`` (1.0).

    The member is a scale of 1.0 rather than nothing so that ``copies`` members really
    train ``copies`` models: vmap would otherwise train one and broadcast it.
    """
    return scale * optax.softmax_cross_entropy(logits, targets).mean()


@dataclasses.dataclass(frozen=True)
class LossTask:
    """Evolve loss functions of ``(x, y)``.

    Attributes:
      train: the inner-training protocol.
      spec: program capacities; its inputs are always ``("x", "y")``.
      interpreter: ``"fused"`` (fast path) or ``"reference"`` (plain jnp autodiff).
    """

    train: TrainConfig = TrainConfig()
    spec: ProgramSpec = ProgramSpec(inputs=("x", "y"))
    interpreter: str = "fused"

    name = "loss"

    def __post_init__(self):
        if self.spec.inputs != ("x", "y"):
            raise ValueError(f"the loss task binds inputs ('x', 'y'), got {self.spec.inputs}")
        if self.interpreter not in ("fused", "reference"):
            raise ValueError(
                f"interpreter must be 'fused' or 'reference', got {self.interpreter!r}"
            )

    def accuracy(
        self, programs: Program, data: Dataset, key: jax.Array, data_axis: str | None = None
    ) -> jax.Array:
        """Test accuracy ``[P]`` of each program used as the loss; NaN where training broke.

        ``data_axis``: split each batch over this mesh axis (see ``train_population``).
        """
        if self.interpreter == "reference":
            loss = lambda p, x, y: interpreter.run(self.spec, p, (x, y)).mean()
            return train_population(self.train, loss, programs, data, key, data_axis)
        compacted, _ = jax.vmap(lambda p: fused.compact(self.spec, p))(programs)
        loss = lambda p, x, y: fused.run(self.spec, p, (x, y)).mean()
        return train_population(self.train, loss, compacted, data, key, data_axis)

    def baseline_accuracy(self, data: Dataset, key: jax.Array, copies: int = 1) -> jax.Array:
        """Accuracy of cross-entropy under ``key``, ``copies`` times (the hard-coded ceiling)."""
        return train_population(self.train, cross_entropy_loss, jnp.ones(copies), data, key)
