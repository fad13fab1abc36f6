"""The rounding bounds (convlib.bounds) and the oracle helpers (convlib.oracles): valid,
tight enough to catch a bug, and the premise of the exact tier."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import assert_bitwise, assert_within, jax_forward_backward, resolved, tap_oracle

from convlib import conv2d_backward, conv2d_forward
from convlib.bounds import backward_bounds, forward_bound, gamma, unit_roundoff, worst_ratio
from convlib.configurations import HARD_CONFIGS
from convlib.oracles import (
    finite_difference_backward,
    finite_difference_bound,
    jax_conv2d_backward,
    jax_conv2d_forward,
)


def test_unit_roundoff():
    assert unit_roundoff(np.float64) == 2.0**-53
    assert unit_roundoff(np.float32) == 2.0**-24
    assert unit_roundoff(np.dtype("float32")) == 2.0**-24


def test_gamma():
    u = 2.0**-53
    assert gamma(0, u) == 0
    assert gamma(10, u) == 10 * u / (1 - 10 * u)
    assert gamma(3, 0.25) == 3.0  # 0.75 / 0.25
    with pytest.raises(ValueError, match=r"reduction length 4 is too long for unit roundoff 0.25"):
        gamma(4, 0.25)


def test_worst_ratio_semantics():
    assert worst_ratio(np.array([1.0, 2.0]), np.array([1.0, 2.5]), np.array([1.0, 1.0])) == 0.5
    assert worst_ratio(np.array([1.0]), np.array([1.0]), np.array([0.0])) == 0.0  # exact, bound 0
    assert worst_ratio(np.array([1.0]), np.array([1.0 + 2**-52]), np.array([0.0])) == np.inf
    assert worst_ratio(np.array([np.nan, 1.0]), np.array([np.nan, 1.0]), 0.0) == 0.0  # NaNs match
    assert worst_ratio(np.array([np.nan]), np.array([1.0]), 1e300) == np.inf  # NaN vs number
    assert worst_ratio(np.zeros((0, 3)), np.zeros((0, 3)), 1.0) == 0.0
    assert worst_ratio(2.0, 1.0, 4.0) == 0.25  # scalars (the adjoint identity)
    with pytest.raises(ValueError, match=r"shapes differ: \(2,\) vs \(3,\)"):
        worst_ratio(np.zeros(2), np.zeros(3), 1.0)


UNSTRINGED = [c for c in HARD_CONFIGS if not isinstance(c.padding, str)]


@pytest.mark.parametrize("cfg", UNSTRINGED, ids=[c.label for c in UNSTRINGED])
def test_the_exact_tier_premise(cfg):
    # |x|, |w| <= 8 and reduction lengths up to 64*3*3: every partial sum is an integer
    # below 2**53, so float64 computes it exactly, in any order.
    rng = np.random.default_rng(1)
    x, w, _ = cfg.arrays(rng, integer=True)
    x4 = x if x.ndim == 4 else x[np.newaxis]
    geom = resolved(x4.shape, w.shape, **cfg.kwargs)
    exact = tap_oracle(x4, w, np.zeros(geom.out_shape), geom.stride, geom.padding, geom.dilation)[0]  # int64
    y = conv2d_forward(x4, w, **cfg.kwargs)
    assert np.abs(exact).max(initial=0) < 2**53
    assert_bitwise(y, exact.astype(np.float64), cfg.label)


def _adversarial(rng, shape):
    """Large values of both signs that cancel: a relative tolerance would fail here."""
    return rng.choice([-1e8, 1e8], size=shape) + rng.standard_normal(shape)


@pytest.mark.parametrize("cfg", HARD_CONFIGS, ids=[c.label for c in HARD_CONFIGS])
def test_float32_errors_are_within_the_bounds(cfg):
    rng = np.random.default_rng(2)
    x32 = _adversarial(rng, cfg.x_shape).astype(np.float32)
    w32 = rng.standard_normal(cfg.w_shape).astype(np.float32)
    b32 = rng.standard_normal(cfg.F).astype(np.float32)
    x, w, b = (a.astype(np.float64) for a in (x32, w32, b32))
    y = conv2d_forward(x, w, b, **cfg.kwargs)  # error ~1e-16 relative: the exact value here
    dy = rng.standard_normal(y.shape)
    assert_within(
        conv2d_forward(x32, w32, b32, **cfg.kwargs), y, forward_bound(x, w, b, dtype=np.float32, **cfg.kwargs)
    )
    got = conv2d_backward(dy.astype(np.float32), x32, w32, **cfg.kwargs)
    want = conv2d_backward(dy.astype(np.float32).astype(np.float64), x, w, **cfg.kwargs)
    bounds = backward_bounds(dy.astype(np.float32), x, w, dtype=np.float32, **cfg.kwargs)
    for g, e, bd, name in zip(got, want, bounds, ("dx", "dw", "db"), strict=True):
        assert_within(g, e, bd, name)


def test_bounds_grow_with_the_reduction_length():
    x, w = np.ones((1, 5, 5, 64)), np.ones((3, 3, 64, 1))
    b64 = forward_bound(x, w, padding=1)
    b1 = forward_bound(x[..., :1], w[:, :, :1], padding=1)
    # Same structure, magnitudes x64 and gamma x~64: about 64**2 larger.
    assert np.all(b64 > 60**2 * b1)


FLIPPABLE = [c for c in HARD_CONFIGS if c.KH > 1 and c.KW > 1 and c.N != 0]


@pytest.mark.parametrize("cfg", FLIPPABLE, ids=[c.label for c in FLIPPABLE])
def test_bounds_catch_a_flipped_kernel(cfg):
    rng = np.random.default_rng(4)
    x, w, b = cfg.arrays(rng)
    wrong = conv2d_forward(x, w[::-1, ::-1], b, **cfg.kwargs)
    right = conv2d_forward(x, w, b, **cfg.kwargs)
    # A bug changes results by O(1); the bound is O(n u) = 1e-14: ratio >> 1e6.
    assert worst_ratio(wrong, right, forward_bound(x, w, b, **cfg.kwargs)) > 1e6


# --------------------------------------------------------------------------- convlib.oracles


@pytest.mark.parametrize("cfg", HARD_CONFIGS[::6], ids=[c.label for c in HARD_CONFIGS[::6]])
def test_oracle_module_agrees_with_the_test_oracle(cfg):
    """convlib.oracles (used by `convlib verify`) against the test suite's own JAX oracle."""
    rng = np.random.default_rng(5)
    x, w, b = cfg.arrays(rng)
    x4 = x if x.ndim == 4 else x[np.newaxis]
    dy = rng.standard_normal(resolved(x4.shape, w.shape, **cfg.kwargs).out_shape)
    jy, jdx, jdw, jdb = jax_forward_backward(x4, w, b, dy, **cfg.kwargs)
    # Same library, same float64 HIGHEST precision, same shapes: the results are equal up to
    # XLA's choice of summation order, so within the rounding bounds.
    assert_within(jax_conv2d_forward(x4, w, b, **cfg.kwargs), jy, forward_bound(x4, w, b, **cfg.kwargs))
    ours = jax_conv2d_backward(dy, x4, w, **cfg.kwargs)
    for g, e, bd in zip(ours, (jdx, jdw, jdb), backward_bounds(dy, x4, w, **cfg.kwargs), strict=True):
        assert_within(g, e, bd)


def test_finite_differences_are_within_their_bound_of_jax():
    cfg = next(c for c in HARD_CONFIGS if c.label == "stride 2 does not divide K=3")
    rng = np.random.default_rng(6)
    x, w, b = cfg.arrays(rng)
    dy = rng.standard_normal(conv2d_forward(x, w, b, **cfg.kwargs).shape)
    fd = finite_difference_backward(dy, x, w, b, **cfg.kwargs)
    bound = finite_difference_bound(dy, x, w, b, **cfg.kwargs)
    _, jdx, jdw, jdb = jax_forward_backward(x, w, b, dy, **cfg.kwargs)
    jb = backward_bounds(dy, x, w, **cfg.kwargs)
    for g, e, bd in zip(fd, (jdx, jdw, jdb), jb, strict=True):
        assert_within(g, e, bound + bd / 2)
    # The bound is tight enough to judge: relative to the gradient scale it is below the
    # 1e-7 that VERIFICATION.md names as the line above which a gradient is wrong.
    scale = max(np.abs(jdx).max(), np.abs(jdw).max(), np.abs(jdb).max())
    assert bound < 1e-7 * scale


def test_finite_differences_do_not_write_their_arguments():
    rng = np.random.default_rng(7)
    x, w, b, dy = (
        rng.standard_normal((1, 4, 4, 2)),
        rng.standard_normal((2, 2, 2, 1)),
        np.ones(1),
        np.ones((1, 3, 3, 1)),
    )
    copies = [a.copy() for a in (x, w, b, dy)]
    finite_difference_backward(dy, x, w, b)
    for a, c in zip((x, w, b, dy), copies, strict=True):
        assert_bitwise(a, c)


def test_worst_ratio_infinities_must_match():
    big = np.finfo(np.float64).max
    assert worst_ratio(np.array([np.inf]), np.array([big]), 1.0) == np.inf  # not "equal"
    assert worst_ratio(np.array([np.inf]), np.array([-np.inf]), 1.0) == np.inf
    assert worst_ratio(np.array([-np.inf, 1.0]), np.array([-np.inf, 1.5]), 1.0) == 0.5
    assert worst_ratio(np.array([big]), np.array([-big]), 1.0) == np.inf  # overflowing difference
