"""Activations h and their derivatives h': central differences, jax.grad, high precision,
and behaviour at the extremes."""

from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp
import mpmath
import numpy as np
import pytest
from conftest import assert_bitwise

from convlib import ACTIVATIONS, get_activation
from convlib.activations import Activation

U = 2.0**-53
NAMES = sorted(ACTIVATIONS)

JAX_FN = {
    "identity": lambda y: y,
    "relu": jax.nn.relu,
    "leaky_relu": lambda y: jax.nn.leaky_relu(y, negative_slope=0.01),
    "sigmoid": jax.nn.sigmoid,
    "tanh": jnp.tanh,
    "softplus": jax.nn.softplus,
}
# sup |h'''| on the real line, for the truncation error of the central difference.
THIRD = {"identity": 0.0, "relu": 0.0, "leaky_relu": 0.0, "sigmoid": 1 / 8, "tanh": 2.0, "softplus": 0.0962}

# Points away from the kink of relu/leaky_relu at 0 (farther than the step h).
Y = np.concatenate([np.linspace(-6, 6, 241), [-30.0, -12.5, 12.5, 30.0]])
Y = Y[np.abs(Y) > 1e-3]


def test_the_table_is_complete():
    assert set(ACTIVATIONS) == set(JAX_FN)
    assert all(isinstance(a, Activation) and get_activation(n) is a for n, a in ACTIVATIONS.items())
    assert get_activation(ACTIVATIONS["tanh"]) is ACTIVATIONS["tanh"]


@pytest.mark.parametrize("name", NAMES)
def test_function_matches_jax(name):
    h = ACTIVATIONS[name]
    ours, theirs = h(Y), np.asarray(JAX_FN[name](Y))
    # Each side within a few ulp of the exact value: libm functions are within 1 ulp and
    # the stable sigmoid/softplus formulas add at most 3 roundings.
    assert np.all(np.abs(ours - theirs) <= 8 * U * np.abs(theirs) + 1e-300)


@pytest.mark.parametrize("name", NAMES)
def test_derivative_against_central_differences(name):
    h = ACTIVATIONS[name]
    step = 2.0**-17
    fd = (h(Y + step) - h(Y - step)) / (2 * step)  # Y +- step exact: step is a power of 2 >= ulp(Y)
    # Truncation h^2 * sup|h'''| / 6 plus the rounding of the two values (a few ulp each)
    # divided by 2*step.
    bound = step**2 * THIRD[name] / 6 + 8 * U * (np.abs(h(Y + step)) + np.abs(h(Y - step))) / (2 * step)
    assert np.all(np.abs(h.derivative(Y) - fd) <= bound)


@pytest.mark.parametrize("name", NAMES)
def test_derivative_against_jax_grad(name):
    ours = ACTIVATIONS[name].derivative(Y)
    theirs = np.asarray(jax.vmap(jax.grad(JAX_FN[name]))(Y))
    # Both are a few roundings from the exact derivative, except that JAX evaluates
    # sigma'(y) = s*(1 - s) and tanh'(y) = 1 - t^2, which cancel: their absolute error is
    # a few u (|s|, |t| <= 1), ours is relative.  So: few u absolute plus few u relative.
    assert np.all(np.abs(ours - theirs) <= 8 * U * (1 + np.abs(theirs)))


@pytest.mark.parametrize(
    ("name", "exact"),
    [
        ("sigmoid", lambda y: mpmath.exp(-abs(y)) / (1 + mpmath.exp(-abs(y))) ** 2),
        ("tanh", lambda y: 1 / mpmath.cosh(y) ** 2),
        ("softplus", lambda y: 1 / (1 + mpmath.exp(-y))),
    ],
)
def test_derivative_relative_accuracy_in_the_tails(name, exact):
    # s*(1 - s) and 1 - tanh^2 return 0 or lose most digits for |y| > ~20; the note's
    # delta = h'(y) * g should not.  Reference: mpmath at 50 digits.
    mpmath.mp.dps = 50
    ys = np.array(
        [-700.0, -300.0, -40.0, -30.0, -20.0, -5.0, -0.5, 0.0, 0.5, 5.0, 20.0, 30.0, 40.0, 300.0, 700.0]
    )
    ours = ACTIVATIONS[name].derivative(ys)
    for y, d in zip(ys, ours, strict=True):
        e = exact(mpmath.mpf(y))
        if e < np.finfo(np.float64).tiny:  # the exact value underflows: 0 or subnormal
            assert abs(d) < np.finfo(np.float64).tiny
        else:
            assert abs(mpmath.mpf(d) - e) <= 8 * U * e, (y, d, e)


@pytest.mark.parametrize("name", NAMES)
def test_extremes_do_not_overflow(name):
    h = ACTIVATIONS[name]
    y = np.array([-1000.0, -710.0, 710.0, 1000.0])  # exp(710) overflows; underflow to 0 is fine
    with warnings.catch_warnings(), np.errstate(over="raise", divide="raise", invalid="raise"):
        warnings.simplefilter("error")
        f, d = h(y), h.derivative(y)
    assert np.all(np.isfinite(f)) and np.all(np.isfinite(d))
    assert np.all(d >= 0)


def test_limits():
    y = np.array([-1000.0, 1000.0])
    assert_bitwise(ACTIVATIONS["sigmoid"](y), np.array([0.0, 1.0]))
    assert_bitwise(ACTIVATIONS["sigmoid"].derivative(y), np.array([0.0, 0.0]))
    assert_bitwise(ACTIVATIONS["tanh"](y), np.array([-1.0, 1.0]))
    assert_bitwise(ACTIVATIONS["softplus"](y), np.array([0.0, 1000.0]))
    assert_bitwise(ACTIVATIONS["softplus"].derivative(y), np.array([0.0, 1.0]))
    assert_bitwise(ACTIVATIONS["relu"](y), np.array([0.0, 1000.0]))
    assert_bitwise(ACTIVATIONS["leaky_relu"](y), np.array([-10.0, 1000.0]))
    assert_bitwise(ACTIVATIONS["sigmoid"](np.array([0.0])), np.array([0.5]))
    assert_bitwise(ACTIVATIONS["tanh"].derivative(np.array([0.0])), np.array([1.0]))


def test_kink_conventions():
    zero = np.array([0.0])
    assert ACTIVATIONS["relu"].derivative(zero)[0] == 0.0  # the subgradient choice at 0
    assert ACTIVATIONS["leaky_relu"].derivative(zero)[0] == 0.01


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_and_shape_are_kept(name, dtype):
    h = ACTIVATIONS[name]
    y = np.linspace(-3, 3, 24).reshape(2, 3, 4).astype(dtype)
    y_copy = y.copy()
    for out in (h(y), h.derivative(y)):
        assert out.dtype == dtype and out.shape == y.shape
        assert not np.shares_memory(out, y)
    assert_bitwise(y, y_copy, "input unchanged")


@pytest.mark.parametrize("name", NAMES)
def test_nan_propagates_through_h_and_h_prime(name):
    h = ACTIVATIONS[name]
    y = np.array([np.nan, -1.0, 2.0])
    assert np.isnan(h(y)[0]) and np.all(np.isfinite(h(y)[1:]))
    d = h.derivative(y)
    if name == "identity":  # h' = 1 everywhere, NaN or not: delta = g carries the NaN
        assert_bitwise(d, np.ones(3))
    else:  # a NaN pre-activation must not become a zero delta
        assert np.isnan(d[0]) and np.all(np.isfinite(d[1:]))


@pytest.mark.parametrize("name", NAMES)
def test_nan_and_inf_raise_no_warning(name):
    h = ACTIVATIONS[name]
    y = np.array([np.nan, np.inf, -np.inf, 0.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        h(y), h.derivative(y)
