"""The networks a program trains, written in flax."""

import flax.linen as nn


class MLP(nn.Module):
    """``features -> hidden (ReLU) -> classes``, the model of the loss-search protocol."""

    hidden: int = 128
    num_classes: int = 10

    @nn.compact
    def __call__(self, x):
        x = nn.relu(nn.Dense(self.hidden)(x))
        return nn.Dense(self.num_classes)(x)
