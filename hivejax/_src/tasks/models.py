"""The networks a program trains, written in flax.

Every model takes a batch ``[B, *shape]`` and returns logits ``[B, num_classes]``, and applies
its ``activation`` after every hidden layer, so an evolved activation (any jittable
``Array -> Array``, a closure over a program included) is swapped in by construction.

``make_model`` builds one by registry name (``MODELS``); ``compatible`` says, before anything
is traced, whether a model takes examples of a given shape.
"""

from collections.abc import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

MODELS = ("linear", "mlp", "cnn1d", "cnn2d")
CONVS = ("xla", "matmul")
"""How ``cnn1d`` computes its convolutions (``CNN1D.conv``)."""


def _flatten(x: jax.Array) -> jax.Array:
    return x.reshape(x.shape[0], -1)


class Linear(nn.Module):
    """Logistic regression: flatten, then one ``Dense(num_classes)``.

    ``activation`` is accepted so every model is built alike; with no hidden layer it is unused.
    """

    num_classes: int = 10
    activation: Callable = nn.relu

    @nn.compact
    def __call__(self, x):
        return nn.Dense(self.num_classes)(_flatten(x))


class MLP(nn.Module):
    """Flatten, ``depth`` hidden ``Dense(hidden)`` layers with ``activation``, ``Dense(classes)``.

    The defaults are the model of the loss-search protocol, ``Dense(128)-relu-Dense(10)``, with
    parameters ``Dense_0`` and ``Dense_1``.
    """

    hidden: int = 128
    num_classes: int = 10
    depth: int = 1
    activation: Callable = nn.relu

    @nn.compact
    def __call__(self, x):
        x = _flatten(x)
        for _ in range(self.depth):
            x = self.activation(nn.Dense(self.hidden)(x))
        return nn.Dense(self.num_classes)(x)


class StridedConv1D(nn.Module):
    """``nn.Conv(features, (kernel,), strides=(2,), padding=[(1, 1)])`` as strided slices
    and one matmul: the same parameters (names, shapes, initialisers) and the same function.

    XLA's CPU convolution runs these small 1-D convolutions at about 3 ms per training step
    of the MNIST-1D CNN (batch 100); the slices and a matmul take a sixth of that. The sums
    are ordered differently, so results differ by rounding, which a thousand steps at a high
    learning rate grow into different accuracies seed by seed.
    """

    features: int
    kernel: int

    @nn.compact
    def __call__(self, x):
        channels = x.shape[-1]
        w = self.param(
            "kernel", nn.initializers.lecun_normal(), (self.kernel, channels, self.features)
        )
        b = self.param("bias", nn.initializers.zeros, (self.features,))
        x = jnp.pad(x, ((0, 0), (1, 1), (0, 0)))
        length = (x.shape[1] - self.kernel) // 2 + 1
        taps = [x[:, k : k + 2 * length - 1 : 2] for k in range(self.kernel)]
        patches = jnp.concatenate(taps, axis=-1)  # [B, length, kernel * channels]
        return patches @ w.reshape(self.kernel * channels, self.features) + b[None, None, :]


class CNN1D(nn.Module):
    """The MNIST-1D paper's ``ConvBase``: three stride-2 convolutions, then a linear classifier.

    Input ``[B, L]`` (one channel) or ``[B, L, C]``. Convolutions of ``channels`` filters with
    kernels 5, 3, 3, stride 2 and padding 1, each followed by ``activation``, then flatten and
    ``Dense(num_classes)``. On MNIST-1D (L = 40) the lengths go 40 -> 19 -> 10 -> 5, so the
    classifier sees 5 * 25 = 125 features, as in the paper (Greydanus, ``notebooks/models.py``).
    The flattened features are ordered length-major rather than PyTorch's channel-major,
    which permutes the classifier's rows and changes nothing else.

    ``conv`` (one of ``CONVS``): ``xla``, XLA's convolution, or ``matmul``
    (``StridedConv1D``), the same network six times faster on a CPU with different rounding.
    """

    num_classes: int = 10
    channels: int = 25
    activation: Callable = nn.relu
    conv: str = "xla"

    @nn.compact
    def __call__(self, x):
        if x.ndim == 2:
            x = x[..., None]
        for i, kernel in enumerate((5, 3, 3)):
            if self.conv == "matmul":
                conv = StridedConv1D(self.channels, kernel, name=f"Conv_{i}")
            else:
                conv = nn.Conv(self.channels, (kernel,), strides=(2,), padding=[(1, 1)])
            x = self.activation(conv(x))
        return nn.Dense(self.num_classes)(_flatten(x))


class CNN2D(nn.Module):
    """A small image CNN: 3x3 convolutions with ``activation``, 2x2 pooling, ``Dense(classes)``.

    Input ``[B, H, W, C]``. Each of ``features`` (default 32 then 64 filters) is a 'SAME' 3x3
    convolution and ``activation``, followed by 2x2 average pooling while both sides are at
    least 4 (so 8x8 digits end at 2x2, 28x28 at 7x7, 32x32 at 8x8).

    Pooling is average, not max: it is linear, so the activation stays the network's only
    nonlinearity and a search over activations is not propped up by the pooling.
    """

    num_classes: int = 10
    features: tuple[int, ...] = (32, 64)
    activation: Callable = nn.relu

    @nn.compact
    def __call__(self, x):
        for width in self.features:
            x = self.activation(nn.Conv(width, (3, 3), padding="SAME")(x))
            if min(x.shape[1:3]) >= 4:
                x = nn.avg_pool(x, (2, 2), strides=(2, 2))
        return nn.Dense(self.num_classes)(_flatten(x))


def compatible(name: str, shape: tuple[int, ...]) -> str | None:
    """Why model ``name`` cannot take examples of ``shape``, in one line; None if it can.

    >>> compatible("cnn2d", (40,))
    'cnn2d takes images [H, W, C]; these examples have shape (40,)'
    """
    shape = tuple(shape)
    if name not in MODELS:
        return f"unknown model {name!r}; choose one of {', '.join(MODELS)}"
    if name == "cnn1d":
        if len(shape) not in (1, 2):
            return f"cnn1d takes 1-D examples [L] or [L, C]; these examples have shape {shape}"
        if shape[0] < 3:  # the first convolution (kernel 5, padding 1) needs 3 positions
            return f"cnn1d needs examples of length >= 3; these have shape {shape}"
    if name == "cnn2d" and len(shape) != 3:
        return f"cnn2d takes images [H, W, C]; these examples have shape {shape}"
    return None


def make_model(
    name: str,
    num_classes: int,
    *,
    hidden: int = 128,
    depth: int = 1,
    activation: Callable = nn.relu,
    conv: str = "xla",
) -> nn.Module:
    """The model registered as ``name`` (one of ``MODELS``).

    Args:
      name: ``linear``, ``mlp``, ``cnn1d`` or ``cnn2d``.
      num_classes: the number of logits.
      hidden: the MLP's hidden width (the other models have fixed widths).
      depth: the MLP's number of hidden layers (the other models ignore it).
      activation: applied after every hidden layer; jittable ``Array -> Array``.
      conv: how ``cnn1d`` computes its convolutions (``CONVS``; the others ignore it).

    Raises:
      ValueError: the name is unknown, or a size is not positive.

    >>> make_model("mlp", 10)
    MLP(
        # attributes
        hidden = 128
        num_classes = 10
        depth = 1
        activation = relu
    )
    """
    if num_classes < 1 or hidden < 1:
        raise ValueError(f"num_classes and hidden must be >= 1, got {num_classes} and {hidden}")
    if depth < 1:
        raise ValueError(f"depth must be >= 1, got {depth}")
    if conv not in CONVS:
        raise ValueError(f"unknown convolution {conv!r}; choose one of {', '.join(CONVS)}")
    if name == "linear":
        return Linear(num_classes=num_classes, activation=activation)
    if name == "mlp":
        return MLP(hidden=hidden, num_classes=num_classes, depth=depth, activation=activation)
    if name == "cnn1d":
        return CNN1D(num_classes=num_classes, activation=activation, conv=conv)
    if name == "cnn2d":
        return CNN2D(num_classes=num_classes, activation=activation)
    raise ValueError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}")
