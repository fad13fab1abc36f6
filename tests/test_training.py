"""Tests of convlib.training: softmax cross-entropy, the Sequential network, SGD with the note's step."""

from __future__ import annotations

import numpy as np
import pytest

from convlib import Conv2D
from convlib.bounds import gamma, unit_roundoff
from convlib.training import (
    History,
    Sequential,
    accuracy,
    dense,
    digits_cnn,
    load_digits_split,
    softmax,
    softmax_cross_entropy,
    train,
)

U = unit_roundoff(np.float64)


def test_softmax_rows_sum_to_one_and_survive_huge_logits():
    z = np.array([[1000.0, 0.0, -1000.0], [0.0, 0.0, 0.0]])
    p = softmax(z)
    assert np.all(np.isfinite(p))
    assert p[0, 0] == 1.0 and p[0, 2] == 0.0
    # three equal logits: 1/3 each, up to the rounding of one division
    assert np.all(np.abs(p[1] - 1 / 3) <= 2 * U)
    assert np.all(np.abs(p.sum(axis=1) - 1) <= gamma(3, U) * 2)


def test_cross_entropy_of_equal_logits_is_log_k_with_gradient_p_minus_onehot():
    n, k = 4, 5
    labels = np.array([0, 4, 2, 2])
    loss, grad = softmax_cross_entropy(np.zeros((n, k)), labels)
    # logsumexp(0,...,0) = log k, minus z[label] = 0: a few roundings of values near log 5
    assert abs(loss - np.log(k)) <= 8 * U * np.log(k)
    expected = np.full((n, k), 1 / k)
    expected[np.arange(n), labels] -= 1
    assert np.all(np.abs(grad - expected / n) <= 4 * U)


def test_cross_entropy_gradient_matches_jax():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    rng = np.random.default_rng(0)
    z = 3 * rng.standard_normal((6, 10))
    labels = rng.integers(0, 10, size=6)

    def loss_fn(logits):
        return -jnp.mean(jax.nn.log_softmax(logits)[jnp.arange(6), labels])

    loss, grad = softmax_cross_entropy(z, labels)
    jloss, jgrad = float(loss_fn(z)), np.asarray(jax.grad(loss_fn)(z))
    # Each entry is softmax (K exponentials, a sum of K terms, a division) minus 0 or 1,
    # over N: both sides are within gamma_{2K+4} of the exact value, relative to |p| + 1.
    bound = 2 * gamma(2 * 10 + 4, U) * (np.abs(jgrad) + 1 / 6)
    assert np.all(np.abs(grad - jgrad) <= bound)
    assert abs(loss - jloss) <= 2 * gamma(2 * 10 + 8, U) * (abs(jloss) + np.max(np.abs(z)))


@pytest.mark.parametrize(
    ("logits", "labels", "error"),
    [
        (np.zeros((3,)), np.array([0, 1, 2]), ValueError),  # 1-D logits
        (np.zeros((0, 3)), np.zeros(0, int), ValueError),  # empty batch
        (np.zeros((2, 3)), np.array([0, 3]), ValueError),  # label out of range
        (np.zeros((2, 3)), np.array([0, -1]), ValueError),
        (np.zeros((2, 3)), np.array([0, 1, 2]), ValueError),  # wrong length
        (np.zeros((2, 3)), np.array([0.0, 1.0]), TypeError),  # float labels
    ],
)
def test_cross_entropy_rejects_bad_input(logits, labels, error):
    with pytest.raises(error):
        softmax_cross_entropy(logits, labels)


def test_dense_layer_is_a_full_window_dot_product():
    rng = np.random.default_rng(1)
    layer = dense(rng, in_hw=(3, 4), in_channels=2, out_channels=5)
    layer.w = rng.integers(-4, 5, size=layer.w.shape).astype(np.float64)
    layer.b = rng.integers(-4, 5, size=5).astype(np.float64)
    x = rng.integers(-4, 5, size=(7, 3, 4, 2)).astype(np.float64)
    y = layer.forward(x)
    assert y.shape == (7, 1, 1, 5)
    # integer values: every sum is exact, whatever the order
    expected = np.einsum("nijk,ijkf->nf", x, layer.w) + layer.b  # (N, F)
    assert np.array_equal(y[:, 0, 0, :], expected)


def _integer_network(rng):
    def ints(*shape):
        return rng.integers(-2, 3, size=shape).astype(np.float64)

    layers = [
        Conv2D(ints(3, 3, 1, 3), ints(3), padding="same", activation="relu"),
        Conv2D(ints(2, 2, 3, 4), ints(4), stride=2, activation="relu"),
        Conv2D(ints(3, 3, 4, 5), ints(5)),
    ]
    return Sequential(layers)


def test_sequential_backward_equals_jax_exactly_on_integers():
    """The wiring of forward/backward through three layers, against JAX AD.

    All values are small integers, so every product and sum is exact in float64
    and both sides must agree bitwise.
    """
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    from jax import lax

    rng = np.random.default_rng(2)
    net = _integer_network(rng)
    x = rng.integers(-3, 4, size=(2, 7, 7, 1)).astype(np.float64)
    out = net.forward(x)
    assert out.shape == (2, 1, 1, 5)
    g = rng.integers(-3, 4, size=out.shape).astype(np.float64)
    dx = net.backward(g)

    def conv(a, w, b, stride, padding):
        return lax.conv_general_dilated(
            a, w, stride, padding, dimension_numbers=("NHWC", "HWIO", "NHWC"),
            precision=lax.Precision.HIGHEST,
        ) + b  # fmt: skip

    def loss(x, params):
        (w1, b1), (w2, b2), (w3, b3) = params
        h1 = jax.nn.relu(conv(x, w1, b1, (1, 1), "SAME"))
        h2 = jax.nn.relu(conv(h1, w2, b2, (2, 2), "VALID"))
        return (conv(h2, w3, b3, (1, 1), "VALID") * g).sum()

    params = [(layer.w, layer.b) for layer in net.layers]
    jdx, jparams = jax.grad(loss, argnums=(0, 1))(x, params)
    assert np.array_equal(dx, np.asarray(jdx))
    for layer, (jdw, jdb) in zip(net.layers, jparams, strict=True):
        assert np.array_equal(layer.dw, np.asarray(jdw))
        assert np.array_equal(layer.db, np.asarray(jdb))


def test_logits_need_a_one_by_one_output():
    rng = np.random.default_rng(3)
    net = Sequential([Conv2D.initialize(rng, kernel=2, in_channels=1, out_channels=3)])
    with pytest.raises(ValueError, match="1x1 output"):
        net.logits(np.zeros((2, 4, 4, 1)))


def test_sequential_rejects_empty_and_foreign_layers():
    with pytest.raises(ValueError):
        Sequential([])
    with pytest.raises(TypeError, match="layer 0"):
        Sequential([lambda x: x])


def test_step_is_the_note_gradient_step_on_every_layer():
    rng = np.random.default_rng(4)
    net = _integer_network(rng)
    x = rng.integers(-3, 4, size=(2, 7, 7, 1)).astype(np.float64)
    g = rng.integers(-3, 4, size=net.forward(x).shape).astype(np.float64)
    net.backward(g)
    before = [(layer.w.copy(), layer.b.copy(), layer.dw, layer.db) for layer in net.layers]
    net.step(0.5)  # a power of two: w - 0.5*dw is exact for these integers
    for layer, (w, b, dw, db) in zip(net.layers, before, strict=True):
        assert np.array_equal(layer.w, w - 0.5 * dw)
        assert np.array_equal(layer.b, b - 0.5 * db)


def _blobs(rng, n):
    """Two classes of 4x4 images: a bright top half or a bright bottom half, plus noise."""
    labels = rng.integers(0, 2, size=n)
    x = 0.1 * rng.standard_normal((n, 4, 4, 1))
    x[labels == 0, :2] += 1.0
    x[labels == 1, 2:] += 1.0
    return x, labels


def test_train_learns_a_separable_problem_and_records_history():
    rng = np.random.default_rng(5)
    x, labels = _blobs(rng, 64)
    xt, lt = _blobs(rng, 32)
    net = Sequential(
        [
            Conv2D.initialize(rng, kernel=2, in_channels=1, out_channels=3, activation="tanh"),
            dense(rng, in_hw=(3, 3), in_channels=3, out_channels=2),
        ]
    )
    history = train(net, x, labels, xt, lt, epochs=5, lr=0.2, batch_size=8, rng=rng)
    assert isinstance(history, History)
    assert len(history.loss) == len(history.train_accuracy) == len(history.test_accuracy) == 6
    assert history.loss[-1] < 0.5 * history.loss[0]
    assert history.test_accuracy[-1] == accuracy(net, xt, lt) == 1.0


def test_train_with_zero_learning_rate_changes_nothing():
    rng = np.random.default_rng(6)
    x, labels = _blobs(rng, 16)
    net = Sequential([dense(rng, in_hw=(4, 4), in_channels=1, out_channels=2)])
    w0, b0 = net.layers[0].w.copy(), net.layers[0].b.copy()
    history = train(net, x, labels, x, labels, epochs=2, lr=0.0, batch_size=4, rng=rng)
    assert np.array_equal(net.layers[0].w, w0) and np.array_equal(net.layers[0].b, b0)
    assert history.train_accuracy[0] == history.train_accuracy[-1]


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"epochs": -1, "lr": 0.1, "batch_size": 4}, ValueError),
        ({"epochs": 1, "lr": 0.1, "batch_size": 0}, ValueError),
        ({"epochs": 1, "lr": -0.1, "batch_size": 4}, ValueError),
        ({"epochs": 1.5, "lr": 0.1, "batch_size": 4}, ValueError),
        ({"epochs": 1, "lr": 0.1, "batch_size": 4, "lr_decay": 0.0}, ValueError),
        ({"epochs": 1, "lr": 0.1, "batch_size": 4, "lr_decay": 1.5}, ValueError),
    ],
)
def test_train_rejects_bad_settings(kwargs, error):
    rng = np.random.default_rng(7)
    x, labels = _blobs(rng, 8)
    net = Sequential([dense(rng, in_hw=(4, 4), in_channels=1, out_channels=2)])
    with pytest.raises(error):
        train(net, x, labels, x, labels, rng=rng, **kwargs)


def test_digits_split_is_stratified_scaled_and_reproducible():
    pytest.importorskip("sklearn")
    x_train, y_train, x_test, y_test = load_digits_split(test_fraction=0.25, seed=0)
    assert x_train.shape == (1347, 8, 8, 1) and x_test.shape == (450, 8, 8, 1)
    assert x_train.min() == 0.0 and x_train.max() == 1.0
    counts_train, counts_test = np.bincount(y_train, minlength=10), np.bincount(y_test, minlength=10)
    # stratified: every class is split in the same proportion, to within one image
    assert np.all(np.abs(counts_test - 0.25 * (counts_train + counts_test)) <= 1)
    again = load_digits_split(test_fraction=0.25, seed=0)
    assert all(np.array_equal(a, b) for a, b in zip((x_train, y_train, x_test, y_test), again, strict=True))
    with pytest.raises(ValueError):
        load_digits_split(test_fraction=1.0)


def test_digits_cnn_shapes():
    net = digits_cnn(np.random.default_rng(8))
    assert net.logits(np.zeros((3, 8, 8, 1))).shape == (3, 10)
    assert [layer.w.shape for layer in net.layers] == [(3, 3, 1, 16), (3, 3, 16, 32), (4, 4, 32, 10)]
