"""Short training runs shared by every task: a population trained in one vmapped call.

One evaluation initialises a model from a key, trains it for ``steps`` optimizer steps
on batches drawn from the training set with that key, and reports test accuracy. Every
member of a population uses the same key, so their comparison is paired, and so is the
comparison with the baseline trained under the same key.

A training run has three components, and a task makes one of them a function of the
member (its program): the loss (default softmax cross-entropy), the hidden activation
(default ReLU) and the optimizer (default Adam at ``learning_rate``). The defaults
together are the baseline of every task.

A run whose loss or gradients go non-finite stops updating (its parameters are frozen
by ``where``) and reports NaN accuracy; the others are unaffected because nothing mixes
across the vmapped axis.

Data parallelism: with ``data_axis`` (inside ``shard_map`` over a mesh with that axis),
every device of the axis trains the same model on its equal slice of each batch, and the
loss and gradients are averaged across the axis with ``pmean``. Each shard's loss is a
mean over its slice, so the averaged gradient is the full-batch gradient and the model
trains as one. A loss program's own reductions over *all* elements (the ``REDUCE_ALL``
ops ``mean`` and ``std``) see only the local slice, though: for programs that use them,
training on a ``data`` axis is a different (per-shard normalised) loss, not the same one.
Reductions over the class axis and elementwise ops are unaffected.
"""

import dataclasses
from collections.abc import Callable

import jax
import jax.numpy as jnp
import optax

from hivejax._src.tasks.data import Dataset
from hivejax._src.tasks.models import CONVS, MODELS, compatible, make_model


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """The inner-training protocol (defaults: the throughput protocol, ``bench/PROTOCOL.md``).

    Attributes:
      steps: optimizer steps of each training run.
      batch_size: examples per step, drawn from the training set.
      learning_rate: the optimizer's learning rate (Adam's, where a task does not evolve
        the optimizer).
      hidden: the MLP's width (the other models ignore it).
      model: the network trained (``models.MODELS``).
      depth: the MLP's number of hidden layers (the other models ignore it).
      validation: the fraction of the training set held out, its last
        ``round(N * validation)`` examples: training draws its batches from the others
        and accuracy is measured on them instead of the test set, so a search that
        selects on it never sees the test set (0: train on all, measure on test).
      conv: how ``cnn1d`` computes its convolutions, ``xla`` or ``matmul`` (the same
        network, six times faster on a CPU, different rounding: ``models.CNN1D``).
    """

    steps: int = 100
    batch_size: int = 32
    learning_rate: float = 1e-3
    hidden: int = 128
    model: str = "mlp"
    depth: int = 1
    validation: float = 0.0
    conv: str = "xla"

    def __post_init__(self):
        for name in ("steps", "batch_size", "hidden", "depth"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"TrainConfig.{name} must be a positive integer, got {value!r}")
        if not 0 <= self.validation < 1:
            raise ValueError(f"TrainConfig.validation must be in [0, 1), got {self.validation!r}")
        if not self.learning_rate > 0:
            raise ValueError(f"TrainConfig.learning_rate must be > 0, got {self.learning_rate}")
        if self.model not in MODELS:
            raise ValueError(f"unknown model {self.model!r}; choose one of {', '.join(MODELS)}")
        if self.conv not in CONVS:
            raise ValueError(
                f"TrainConfig.conv must be one of {', '.join(CONVS)}, got {self.conv!r}"
            )


def _all_finite(tree) -> jax.Array:
    leaves = jax.tree.leaves(tree)
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(leaf)) for leaf in leaves]))


def cross_entropy(member, logits, targets):
    """The baseline loss, optax's softmax cross-entropy (``member`` is unused)."""
    return optax.softmax_cross_entropy(logits, targets).mean()


def relu(member, x):
    """The baseline activation (``member`` is unused)."""
    return jax.nn.relu(x)


def train_population(
    config: TrainConfig,
    members,
    data: Dataset,
    key: jax.Array,
    data_axis: str | None = None,
    *,
    loss: Callable = cross_entropy,
    activation: Callable = relu,
    optimizer: Callable | None = None,
) -> jax.Array:
    """Test accuracy ``[P]`` of one model per member, trained with the member's components.

    Validation accuracy instead when ``config.validation`` holds part of the training set out.

    Args:
      config: the training protocol.
      members: a PyTree with a leading population axis (programs, or anything vmappable).
      data: the dataset.
      key: one key shared by the whole population (model init and batch order).
      data_axis: a mesh axis to split each batch over (call inside ``shard_map``); the
        batch size must divide by its size. See the module docstring.
      loss: ``loss(member, logits, onehot_targets) -> scalar``.
      activation: ``activation(member, x) -> same shape``, every hidden activation.
      optimizer: ``optimizer(member) -> optax.GradientTransformation``; default Adam.

    Returns:
      Accuracy per member, NaN where training went non-finite.
    """
    return jax.vmap(
        lambda member: train_member(
            config,
            member,
            data,
            key,
            data_axis,
            loss=loss,
            activation=activation,
            optimizer=optimizer,
        )
    )(members)


def train_member(
    config: TrainConfig,
    member,
    data: Dataset,
    key: jax.Array,
    data_axis: str | None = None,
    *,
    loss: Callable = cross_entropy,
    activation: Callable = relu,
    optimizer: Callable | None = None,
    metric: Callable | None = None,
) -> jax.Array:
    """One training run of ``train_population``, for one member, and its measure.

    The arguments are ``train_population``'s, for one member rather than a population, and
    ``metric(logits, labels) -> scalar``, what is measured on the test (or validation)
    examples after training; default accuracy. The run is plain JAX from the member to the
    measure, so it is differentiable in the member where its components are: with a
    continuous ``metric`` (a validation loss, say) it is the objective of a meta-gradient
    (``hivejax._src.search.meta_gradient``).

    Returns:
      The measure, NaN where training went non-finite.
    """
    problem = compatible(config.model, data.shape)
    if problem:
        raise ValueError(problem)
    if optimizer is None:
        optimizer = lambda member: optax.adam(config.learning_rate)
    if metric is None:
        metric = lambda logits, labels: jnp.mean(jnp.argmax(logits, -1) == labels)
    model_for = lambda act: make_model(
        config.model,
        data.num_classes,
        hidden=config.hidden,
        depth=config.depth,
        activation=act,
        conv=config.conv,
    )
    k_init, k_batch = jax.random.split(key)
    # Parameters do not depend on the activation, so under train_population's vmap one
    # initialisation (unbatched: it reads only the key) serves every member.
    params0 = model_for(jax.nn.relu).init(k_init, data.x_train[:1])
    n_all = data.x_train.shape[0]
    n_train = n_all - round(n_all * config.validation)
    if n_train < 1:
        raise ValueError(f"a validation fraction of {config.validation} leaves no training data")
    x_eval, y_eval = data.x_test, data.y_test
    if n_train < n_all:
        x_eval, y_eval = data.x_train[n_train:], data.y_train[n_train:]
    batches = jax.random.randint(k_batch, (config.steps, config.batch_size), 0, n_train)
    if data_axis is not None:
        shards = jax.lax.axis_size(data_axis)
        if config.batch_size % shards:
            raise ValueError(
                f"batch size {config.batch_size} does not split over {shards} devices on "
                f"the {data_axis!r} axis"
            )
        size = config.batch_size // shards
        start = jax.lax.axis_index(data_axis) * size
        batches = jax.lax.dynamic_slice_in_dim(batches, start, size, axis=1)

    model = model_for(lambda x: activation(member, x))
    opt = optimizer(member)

    def step(carry, idx):
        params, opt_state, ok = carry
        xb = data.x_train[idx]
        yb = jax.nn.one_hot(data.y_train[idx], data.num_classes)
        value, grads = jax.value_and_grad(lambda p: loss(member, model.apply(p, xb), yb))(params)
        if data_axis is not None:
            value, grads = jax.lax.pmean((value, grads), data_axis)
        updates, new_opt_state = opt.update(grads, opt_state, params)
        new_params = optax.apply_updates(params, updates)
        ok = ok & jnp.isfinite(value) & _all_finite(grads) & _all_finite(new_params)
        keep = lambda new, old: jnp.where(ok, new, old)
        params = jax.tree.map(keep, new_params, params)
        opt_state = jax.tree.map(keep, new_opt_state, opt_state)
        return (params, opt_state, ok), None

    init = (params0, opt.init(params0), jnp.asarray(True))
    (params, _, ok), _ = jax.lax.scan(step, init, batches)
    logits = model.apply(params, x_eval)
    measure = metric(logits, y_eval)
    return jnp.where(ok, measure, jnp.nan)


def _scaled_cross_entropy(scale, logits, targets):
    return scale * cross_entropy(None, logits, targets)


def baseline_accuracy(
    config: TrainConfig, data: Dataset, key: jax.Array, copies: int = 1
) -> jax.Array:
    """Accuracy ``[copies]`` of the baseline (cross-entropy, ReLU, Adam) under ``key``.

    Each copy is a member scaling the loss by 1.0 rather than nothing, so that ``copies``
    members really train ``copies`` models (the hard-coded ceiling of ``hivejax bench``):
    vmap would otherwise train one and broadcast it.
    """
    return train_population(config, jnp.ones(copies), data, key, loss=_scaled_cross_entropy)
