"""The model registry: shapes, the activation hook, the MNIST-1D paper's CNN, vmap over params."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hivejax._src.tasks.models import CNN1D, MLP, compatible, make_model

# One matching example shape per model and dataset it serves. Shapes and parameter counts
# come from jax.eval_shape, which traces without compiling; compiling dominates this file's
# time, so only the tests that compare values run a network, each as one jitted function.
CASES = [
    ("linear", (40,)),
    ("mlp", (28, 28, 1)),
    ("cnn1d", (40,)),
    ("cnn1d", (40, 2)),
    ("cnn2d", (8, 8, 1)),
    ("cnn2d", (28, 28, 1)),
    ("cnn2d", (32, 32, 3)),
]


def _inputs(shape) -> np.ndarray:
    # numpy, not jax.random: an eager jax.random call is one more compilation.
    return np.random.default_rng(0).uniform(size=shape).astype(np.float32)


def _count(params) -> int:
    return sum(int(np.prod(leaf.shape)) for leaf in jax.tree.leaves(params))


@pytest.mark.parametrize("name, shape", CASES)
def test_logits_shape(name, shape):
    assert compatible(name, shape) is None
    model = make_model(name, 7, hidden=16)
    x = jax.ShapeDtypeStruct((3, *shape), jnp.float32)
    logits = jax.eval_shape(lambda k, x: model.apply(model.init(k, x), x), jax.random.key(1), x)
    assert logits.shape == (3, 7) and logits.dtype == jnp.float32


@pytest.mark.parametrize("name, shape", [("mlp", (40,)), ("cnn1d", (40,)), ("cnn2d", (8, 8, 1))])
def test_activation_is_used(name, shape):
    # Zero hidden activations leave only the classifier's bias: logits ignore the input.
    zero = make_model(name, 5, hidden=16, activation=lambda h: h * 0)
    relu = make_model(name, 5, hidden=16)

    @jax.jit
    def both(key, x):
        params = relu.init(key, x)
        return zero.apply(params, x), relu.apply(params, x)

    zeroed, relued = both(jax.random.key(1), _inputs((4, *shape)))
    np.testing.assert_array_equal(zeroed, jnp.broadcast_to(zeroed[0], zeroed.shape))
    assert bool(jnp.all(jnp.isfinite(relued)))
    assert not np.allclose(relued, jnp.broadcast_to(relued[0], relued.shape))


def test_mlp_matches_a_manual_forward_pass():
    # An activation closing over an array, as an evolved program's would.
    scale = jnp.asarray(0.5)
    act = lambda h: jnp.tanh(h) * scale
    model = MLP(hidden=8, num_classes=3, depth=2, activation=act)
    x = _inputs((4, 2, 3)) - 0.5
    params, logits = jax.jit(lambda k: (model.init(k, x), model.apply(model.init(k, x), x)))(
        jax.random.key(1)
    )
    p = params["params"]
    assert sorted(p) == ["Dense_0", "Dense_1", "Dense_2"]
    h = x.reshape(4, 6)
    for layer in ("Dense_0", "Dense_1"):
        h = act(h @ p[layer]["kernel"] + p[layer]["bias"][None])
    want = h @ p["Dense_2"]["kernel"] + p["Dense_2"]["bias"][None]
    np.testing.assert_allclose(logits, want, rtol=1e-6, atol=1e-6)


def test_default_mlp_keeps_the_protocol_param_tree():
    # The loss-search protocol's model: Dense(128)-relu-Dense(10) on flattened input.
    params = jax.eval_shape(MLP().init, jax.random.key(0), jnp.zeros((1, 8, 8, 1)))
    shapes = jax.tree.map(jnp.shape, params["params"])
    assert shapes == {
        "Dense_0": {"kernel": (64, 128), "bias": (128,)},
        "Dense_1": {"kernel": (128, 10), "bias": (10,)},
    }


def test_cnn1d_has_the_paper_parameter_count():
    # ConvBase of the MNIST-1D paper (greydanus/mnist1d, notebooks/models.py), in PyTorch:
    #   Conv1d(1, 25, 5, stride=2, padding=1)   1*25*5 + 25  =  150
    #   Conv1d(25, 25, 3, stride=2, padding=1)  25*25*3 + 25 = 1900
    #   Conv1d(25, 25, 3, stride=2, padding=1)  25*25*3 + 25 = 1900
    #   Linear(125, 10)                         125*10 + 10  = 1260
    # lengths 40 -> 19 -> 10 -> 5, and 5 * 25 = 125; total 5210.
    params = jax.eval_shape(CNN1D(num_classes=10).init, jax.random.key(0), jnp.zeros((2, 40)))
    assert _count(params) == 5210
    assert params["params"]["Dense_0"]["kernel"].shape == (125, 10)


def test_vmap_over_param_sets():
    # Four networks at once, as a population trains; member 2 must equal its own forward pass.
    x = _inputs((3, 40))
    model = make_model("cnn1d", 10)

    @jax.jit
    def run(keys):
        params = jax.vmap(model.init, in_axes=(0, None))(keys, x)
        logits = jax.vmap(model.apply, in_axes=(0, None))(params, x)
        return logits, model.apply(jax.tree.map(lambda leaf: leaf[2], params), x)

    logits, member = run(jax.random.split(jax.random.key(1), 4))
    assert logits.shape == (4, 3, 10)
    np.testing.assert_allclose(logits[2], member, rtol=1e-5, atol=1e-6)
    assert not np.allclose(logits[0], logits[1])


def test_compatible_explains_in_one_line():
    assert compatible("cnn1d", (8, 8, 1)) == (
        "cnn1d takes 1-D examples [L] or [L, C]; these examples have shape (8, 8, 1)"
    )
    assert "cnn2d takes images [H, W, C]" in compatible("cnn2d", (40,))
    assert "length >= 3" in compatible("cnn1d", (2,))
    assert compatible("mlp", (32, 32, 3)) is None and compatible("linear", (40,)) is None
    assert "choose one of linear, mlp, cnn1d, cnn2d" in compatible("resnet", (40,))


def test_make_model_errors():
    with pytest.raises(ValueError, match="unknown model 'resnet'; choose one of linear, mlp"):
        make_model("resnet", 10)
    with pytest.raises(ValueError, match="got 0 and 128"):
        make_model("mlp", 0)
    assert isinstance(make_model("cnn2d", 10, activation=nn.gelu), nn.Module)


@pytest.mark.parametrize("channels", [1, 2])
def test_cnn1d_as_matmuls_is_the_same_network(channels):
    # The same parameters from the same key, and the same function up to rounding.
    x = _inputs((3, 40, channels))
    xla, matmul = (make_model("cnn1d", 10, conv=conv) for conv in ("xla", "matmul"))

    @jax.jit
    def run(key):
        params = xla.init(key, x)
        return params, matmul.init(key, x), xla.apply(params, x), matmul.apply(params, x)

    params, params_matmul, logits, logits_matmul = run(jax.random.key(3))
    assert jax.tree.structure(params) == jax.tree.structure(params_matmul)
    for a, b in zip(jax.tree.leaves(params), jax.tree.leaves(params_matmul), strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(logits_matmul, logits, rtol=1e-4, atol=1e-5)


def test_an_unknown_convolution_is_refused():
    with pytest.raises(ValueError, match="choose one of xla, matmul"):
        make_model("cnn1d", 10, conv="fft")
