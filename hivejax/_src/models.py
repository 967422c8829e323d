"""The networks a program trains, written in flax."""

import flax.linen as nn


class MLP(nn.Module):
    """``features -> hidden (ReLU) -> classes``, the model of the loss-search protocol."""

    hidden: int = 128
    num_classes: int = 10
    activation: object = nn.relu

    @nn.compact
    def __call__(self, x):
        x = self.activation(nn.Dense(self.hidden)(x))
        return nn.Dense(self.num_classes)(x)


MODELS = ("mlp",)


def make_model(name: str, num_classes: int, *, hidden: int = 128, activation=nn.relu):
    if name != "mlp":
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}")
    return MLP(hidden=hidden, num_classes=num_classes, activation=activation)
