"""The Conv2D layer: forward, the note's delta, the gradient step, and a two-layer chain
checked against JAX autodiff of the composed function."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import assert_bitwise, assert_within
from jax import lax

from convlib import ACTIVATIONS, Conv2D, conv2d_backward, conv2d_forward
from convlib.bounds import gamma, unit_roundoff

U = unit_roundoff(np.float64)
CONV = {"stride": (2, 1), "padding": ((1, 0), (2, 1)), "dilation": (1, 2)}


def _setup(seed=0, activation="tanh", dtype=np.float64, **conv):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((3, 7, 8, 2)).astype(dtype)
    w = rng.standard_normal((3, 2, 2, 4)).astype(dtype)
    b = rng.standard_normal(4).astype(dtype)
    layer = Conv2D(w, b, activation=activation, **(conv or CONV))
    return rng, x, w, b, layer


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_forward_backward_are_the_conv_functions_with_h(activation):
    rng, x, w, b, layer = _setup(activation=activation)
    h = ACTIVATIONS[activation]
    f = layer.forward(x)
    y = conv2d_forward(x, w, b, **CONV)
    assert_bitwise(f, h.fn(y), "f = h(y)")
    g = rng.standard_normal(f.shape)
    dx = layer.backward(g)
    # The note's delta^l includes h'(y^l): delta = h'(y) * g.
    assert_bitwise(layer.delta, h.derivative(y) * g, "delta includes h'")
    edx, edw, edb = conv2d_backward(layer.delta, x, w, **CONV)
    assert_bitwise(dx, edx, "returned gradient is conv2d_backward's dx of delta")
    assert_bitwise(layer.dw, edw, "dw")
    assert_bitwise(layer.db, edb, "db")
    if activation != "identity":  # h' is not constant: delta differs from g
        assert not np.array_equal(layer.delta, g)


def test_step_with_zero_learning_rate_changes_nothing():
    rng, x, w, b, layer = _setup()
    layer.backward(rng.standard_normal(layer.forward(x).shape))
    before = layer.w.copy(), layer.b.copy()
    layer.step(0.0)
    assert_bitwise(layer.w, before[0], "w")
    assert_bitwise(layer.b, before[1], "b")
    assert np.any(layer.dw != 0)  # a nonzero gradient was there to be ignored


@pytest.mark.parametrize("lr", [0.5, 1e-3, 3])
def test_step_is_w_minus_lr_dw(lr):
    rng, x, w, b, layer = _setup(1)
    layer.backward(rng.standard_normal(layer.forward(x).shape))
    dw, db = layer.dw.copy(), layer.db.copy()
    layer.step(lr)
    assert_bitwise(layer.w, w - lr * dw, "w' = w - lr*dw")
    assert_bitwise(layer.b, b - lr * db, "b' = b - lr*db")


def test_step_keeps_float32():
    rng, x, w, b, layer = _setup(2, dtype=np.float32)
    f = layer.forward(x)
    assert f.dtype == np.float32
    layer.backward(rng.standard_normal(f.shape).astype(np.float32))
    layer.step(0.1)
    assert layer.w.dtype == np.float32 and layer.b.dtype == np.float32


@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "softplus", "identity"])
def test_small_step_decreases_the_loss_by_lr_g_squared(activation):
    rng, x, w, b, layer = _setup(3, activation=activation)
    target = rng.standard_normal(layer.forward(x).shape)

    def loss():
        return 0.5 * float(np.sum((layer.forward(x) - target) ** 2))

    before = loss()
    layer.backward(layer.forward(x) - target)  # dL/df for L = |f - t|^2 / 2
    g2 = float(np.sum(layer.dw**2) + np.sum(layer.db**2))
    for lr in (1e-4, 1e-5):
        trial = Conv2D(layer.w, layer.b, activation=activation, **CONV)
        trial.dw, trial.db = layer.dw, layer.db
        trial.step(lr)
        after = 0.5 * float(np.sum((trial.forward(x) - target) ** 2))
        # L(w - lr g) = L(w) - lr |g|^2 + O(lr^2): the relative second-order term is
        # lr * |g^T H g| / (2 |g|^2), below 1e-2 for lr <= 1e-4 on this O(1) problem;
        # a wrong gradient (sign, flip, missing h') misses lr*|g|^2 by O(1).
        assert after < before
        assert (before - after) / (lr * g2) == pytest.approx(1.0, abs=1e-2)


def test_callers_arrays_are_never_written():
    rng = np.random.default_rng(4)
    x, w, b = rng.standard_normal((2, 6, 6, 2)), rng.standard_normal((3, 3, 2, 3)), rng.standard_normal(3)
    for a in (x, w, b):
        a.setflags(write=False)  # any write raises
    copies = [a.copy() for a in (x, w, b)]
    layer = Conv2D(w, b, padding=1, activation="relu")
    g = rng.standard_normal(layer.forward(x).shape)
    g_copy = g.copy()
    layer.backward(g)
    layer.step(0.3)
    for a, c in zip((x, w, b, g), (*copies, g_copy), strict=True):
        assert_bitwise(a, c, "caller's array")
    assert not np.array_equal(layer.w, w)  # the layer's own copy moved
    assert not np.shares_memory(layer.w, w) and not np.shares_memory(layer.b, b)


def test_backward_uses_the_input_of_the_forward_pass():
    # A caller reusing its input buffer between forward and backward must not change dw.
    rng, x, w, b, layer = _setup(5)
    buffer = x.copy()
    g = rng.standard_normal(layer.forward(buffer).shape)
    buffer[...] = rng.standard_normal(x.shape)
    layer.backward(g)
    expected = conv2d_backward(layer.delta, x, w, **CONV)[1]
    assert_bitwise(layer.dw, expected, "dw from the forward pass's input")


def test_backward_before_forward_raises():
    _, _, _, _, layer = _setup()
    with pytest.raises(RuntimeError, match="backward called before forward"):
        layer.backward(np.zeros((3, 4, 4, 4)))


def test_initialize_is_he_normal_with_zero_bias():
    layer = Conv2D.initialize(np.random.default_rng(0), kernel=(5, 4), in_channels=16, out_channels=32)
    assert layer.w.shape == (5, 4, 16, 32) and np.all(layer.b == 0)
    # std sqrt(2 / fan_in) with fan_in = 320; 10240 draws give the std within ~2%.
    assert np.std(layer.w) == pytest.approx(np.sqrt(2 / 320), rel=0.05)
    with pytest.raises(ValueError, match="in_channels must be >= 1, got 0"):
        Conv2D.initialize(np.random.default_rng(0), kernel=3, in_channels=0, out_channels=2)


# --------------------------------------------------------------------------- two-layer chain

# Layer 1: stride 2, padding 1, tanh.  Layer 2: 'same' (odd total), dilation 1, sigmoid.
L1 = {"stride": 2, "padding": 1, "dilation": 1}
L2 = {"stride": 1, "padding": "same", "dilation": 1}
# Derivative bounds: sup|h'| and sup|h''| (tanh: 1 and 4/(3 sqrt 3); sigmoid: 1/4 and 1/(6 sqrt 3)).
TANH, SIGMOID = (1.0, 4 / (3 * np.sqrt(3))), (0.25, 1 / (6 * np.sqrt(3)))
# libm's tanh/exp are within 1 ulp; the stable sigmoid and h' add a few operations.
# 8u per activation evaluation covers both.
EVAL = 8 * U


def _jax_chain(x, w1, b1, w2, b2, t):
    def conv(x, w, b, stride, padding):
        y = lax.conv_general_dilated(
            x, w, stride, padding, dimension_numbers=("NHWC", "HWIO", "NHWC"), precision=lax.Precision.HIGHEST
        )
        return y + b

    def loss(x, w1, b1, w2, b2):
        f1 = jnp.tanh(conv(x, w1, b1, (2, 2), [(1, 1), (1, 1)]))
        f2 = jax.nn.sigmoid(conv(f1, w2, b2, (1, 1), "SAME"))
        return 0.5 * jnp.sum((f2 - t) ** 2)

    return [np.asarray(g) for g in jax.grad(loss, argnums=(0, 1, 2, 3, 4))(x, w1, b1, w2, b2)]


def _chain_bounds(x, l1, l2, t, g1):
    """First-order bounds on |computed - exact| of (dx, dw1, db1, dw2, db2), propagated.

    Each conv output is within gamma_n * conv(|inputs|, |w|) of its exact value, plus
    the propagated errors of its inputs; an activation maps an error e in y to at most
    sup|h'| e in f and sup|h''| e in h'(y).  Both our chain and JAX's obey the bound,
    so they differ by at most twice it (1% headroom for second-order terms).
    """
    a = np.abs
    w1, b1, w2, b2 = l1.w, l1.b, l2.w, l2.b
    y1, y2 = l1._y, l2._y
    f1 = np.tanh(y1)
    K1, K2 = np.prod(w1.shape[:3]), np.prod(w2.shape[:3])
    e_y1 = gamma(K1 + 1, U) * (conv2d_forward(a(x), a(w1), a(b1), **L1))
    e_f1 = TANH[0] * e_y1 + EVAL * a(f1)
    e_y2 = gamma(K2 + 1, U) * conv2d_forward(a(f1), a(w2), a(b2), **L2) + conv2d_forward(e_f1, a(w2), **L2)
    f2 = ACTIVATIONS["sigmoid"](y2)
    g2 = f2 - t
    e_g2 = SIGMOID[0] * e_y2 + EVAL * a(f2) + U * a(g2)
    d2 = l2.delta
    e_d2 = SIGMOID[0] * e_g2 + SIGMOID[1] * e_y2 * a(g2) + EVAL * a(d2)
    M2, M1 = np.prod(y2.shape[:3]), np.prod(y1.shape[:3])
    KF2, KF1 = np.prod(w2.shape[:2]) * w2.shape[3], np.prod(w1.shape[:2]) * w1.shape[3]
    m_g1, m_dw2, m_db2 = conv2d_backward(a(d2), a(f1), a(w2), **L2)
    p_g1, p_dw2a, p_db2 = conv2d_backward(e_d2, a(f1), a(w2), **L2)
    p_dw2b = conv2d_backward(a(d2), e_f1, a(w2), **L2)[1]
    e_dw2 = gamma(M2, U) * m_dw2 + p_dw2a + p_dw2b
    e_db2 = gamma(M2, U) * m_db2 + p_db2
    e_g1 = gamma(KF2, U) * m_g1 + p_g1
    d1 = l1.delta
    e_d1 = TANH[0] * e_g1 + TANH[1] * e_y1 * a(g1) + EVAL * a(d1)
    m_dx, m_dw1, m_db1 = conv2d_backward(a(d1), a(x), a(w1), **L1)
    p_dx, p_dw1, p_db1 = conv2d_backward(e_d1, a(x), a(w1), **L1)
    bounds = (
        gamma(KF1, U) * m_dx + p_dx,
        gamma(M1, U) * m_dw1 + p_dw1,
        gamma(M1, U) * m_db1 + p_db1,
        e_dw2,
        e_db2,
    )
    return [2 * 1.01 * bd for bd in bounds]


def test_two_layer_chain_against_jax_autodiff():
    rng = np.random.default_rng(6)
    x = rng.standard_normal((2, 9, 8, 3))
    l1 = Conv2D(rng.standard_normal((3, 3, 3, 4)) / 3, rng.standard_normal(4), activation="tanh", **L1)
    l2 = Conv2D(rng.standard_normal((4, 3, 4, 2)) / 4, rng.standard_normal(2), activation="sigmoid", **L2)
    w1, b1, w2, b2 = l1.w.copy(), l1.b.copy(), l2.w.copy(), l2.b.copy()
    f2 = l2.forward(l1.forward(x))
    t = rng.random(f2.shape)
    g1 = l2.backward(f2 - t)  # dL/df2 for L = |f2 - t|^2 / 2
    dx = l1.backward(g1)
    jdx, jdw1, jdb1, jdw2, jdb2 = _jax_chain(x, w1, b1, w2, b2, t)
    bounds = _chain_bounds(x, l1, l2, t, g1)
    ours = (dx, l1.dw, l1.db, l2.dw, l2.db)
    theirs = (jdx, jdw1, jdb1, jdw2, jdb2)
    for a, j, bound, name in zip(ours, theirs, bounds, ("dx", "dw1", "db1", "dw2", "db2"), strict=True):
        assert_within(a, j, bound, name)
    # The bounds are tight enough to matter: dropping layer 1's h' is caught.
    wrong = conv2d_backward(g1, x, w1, **L1)[1]
    assert np.max(np.abs(wrong - jdw1) / bounds[1]) > 1e6


def test_nan_reaches_delta_through_relu():
    # relu'(NaN) used to be 0: a NaN pre-activation vanished from delta, dw and dx.
    rng, x, w, b, layer = _setup(7, activation="relu")
    x = x.copy()
    x[0, 3, 3, 0] = np.nan
    f = layer.forward(x)
    layer.backward(np.ones_like(f))
    assert np.array_equal(np.isnan(layer.delta), np.isnan(layer._y))
    assert np.any(np.isnan(layer.dw))
