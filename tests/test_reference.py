"""The loop reference (convlib.reference): all twelve formula functions, judged by JAX and
by the vectorized code.

Two witnesses per function:

- JAX (float64, standard-normal inputs): independent of convlib, within the rounding
  bounds of convlib.bounds;
- conv2d_forward / conv2d_backward (integer-valued inputs, |v| <= 8): bitwise equal,
  since every partial sum is an exactly representable integer.

The step functions are run with a nonzero learning rate lr = 0.375 (a dyadic
fraction, so ``lr * integer`` and the subtraction stay exact in the integer tier).
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import assert_bitwise, assert_within, integer_arrays, jax_forward_backward, resolved

from convlib import conv2d_backward, conv2d_forward, reference
from convlib.bounds import backward_bounds, forward_bound, unit_roundoff
from convlib.configurations import HARD_CONFIGS

LR = 0.375
U = unit_roundoff(np.float64)

# (label, N, H, W, KH, KW, padding, dilation) for the single-map section s1.
S1_CASES = [
    ("note: 3x3 input, 2x2 kernel", 1, 3, 3, 2, 2, 0, 1),
    ("non-square", 2, 5, 7, 3, 2, 0, 1),
    ("padding 1", 2, 4, 5, 3, 3, 1, 1),
    ("asymmetric padding", 1, 5, 4, 2, 3, ((2, 0), (1, 3)), 1),
    ("same, even kernel", 1, 5, 6, 2, 4, "same", 1),
    ("dilation (2, 1)", 2, 7, 5, 3, 2, 0, (2, 1)),
    ("1x1 kernel", 3, 4, 3, 1, 1, 0, 1),
    ("kernel == padded input", 1, 3, 4, 5, 6, 1, 1),
    ("N = 0", 0, 4, 4, 2, 2, 0, 1),
]
S1_IDS = [c[0] for c in S1_CASES]

STRIDE1 = [c for c in HARD_CONFIGS if c.stride == 1]
ALL = list(HARD_CONFIGS)


def _batched(cfg, *arrays):
    return [a if cfg.N is not None else a[np.newaxis] for a in arrays]


def _step_bound(w, lr, bound_dw, dw):
    """|(w - lr*dw_a) - (w - lr*dw_b)| with |dw_a - dw_b| <= bound_dw: lr*bound_dw, plus one
    rounding of the product and of the difference on each side (u * magnitude each)."""
    return lr * bound_dw + 4 * U * (np.abs(w) + lr * np.abs(dw)) + 4 * U * lr * bound_dw


# --------------------------------------------------------------------------- section 1


def _s1_arrays(case, rng, integer):
    _, N, H, W, KH, KW, padding, dilation = case
    if integer:
        x, w, b = integer_arrays(rng, (N, H, W), (KH, KW), ())
    else:
        x, w, b = rng.standard_normal((N, H, W)), rng.standard_normal((KH, KW)), rng.standard_normal(())
    conv = {"padding": padding, "dilation": dilation}
    geom = resolved((N, H, W, 1), (KH, KW, 1, 1), **conv)
    delta = (
        integer_arrays(rng, (N, geom.OH, geom.OW))[0]
        if integer
        else rng.standard_normal((N, geom.OH, geom.OW))
    )
    dh = integer_arrays(rng, (N, H, W))[0] if integer else rng.random((N, H, W))
    return x, w, float(b), delta, dh, conv


@pytest.mark.parametrize("case", S1_CASES, ids=S1_IDS)
def test_s1_exact_against_vectorized(case):
    rng = np.random.default_rng(11)
    x, w, b, delta, dh, conv = _s1_arrays(case, rng, integer=True)
    H, W = x.shape[1:]
    x4, w4, d4 = x[..., None], w[:, :, None, None], delta[..., None]  # (N,H,W,1) (KH,KW,1,1) (N,OH,OW,1)
    y = conv2d_forward(x4, w4, np.array([b]), **conv)[..., 0]  # (N, OH, OW)
    dx, dw, db = conv2d_backward(d4, x4, w4, **conv)
    assert_bitwise(reference.s1_forward(x, w, b, **conv), y, "s1.forward")
    assert_bitwise(reference.s1_backward(delta, w, (H, W), **conv), dx[..., 0], "s1.backward")
    assert_bitwise(reference.s1_backward(delta, w, (H, W), dh=dh, **conv), dh * dx[..., 0], "s1.backward h'")
    assert_bitwise(
        reference.s1_weight_step(w, x, delta, LR, **conv), w - LR * dw[:, :, 0, 0], "s1.weight_step"
    )
    assert reference.s1_bias_step(b, delta, LR) == b - LR * db[0]


@pytest.mark.parametrize("case", S1_CASES, ids=S1_IDS)
def test_s1_against_jax(case):
    rng = np.random.default_rng(12)
    x, w, b, delta, dh, conv = _s1_arrays(case, rng, integer=False)
    H, W = x.shape[1:]
    x4, w4, d4 = x[..., None], w[:, :, None, None], delta[..., None]  # (N,H,W,1) (KH,KW,1,1) (N,OH,OW,1)
    jy, jdx, jdw, jdb = jax_forward_backward(x4, w4, np.array([b]), d4, **conv)
    by = forward_bound(x4, w4, np.array([b]), **conv)[..., 0]
    bdx, bdw, bdb = backward_bounds(d4, x4, w4, **conv)
    assert_within(reference.s1_forward(x, w, b, **conv), jy[..., 0], by, "s1.forward")
    assert_within(reference.s1_backward(delta, w, (H, W), **conv), jdx[..., 0], bdx[..., 0], "s1.backward")
    # dh * g: one more rounding of the product, u * |dh * g|.
    ref = reference.s1_backward(delta, w, (H, W), dh=dh, **conv)
    assert_within(
        ref, dh * jdx[..., 0], dh * bdx[..., 0] + 2 * U * np.abs(dh * jdx[..., 0]), "s1.backward h'"
    )
    jdw2 = jdw[:, :, 0, 0]
    assert_within(
        reference.s1_weight_step(w, x, delta, LR, **conv),
        w - LR * jdw2,
        _step_bound(w, LR, bdw[:, :, 0, 0], jdw2),
        "s1.weight_step",
    )
    assert_within(
        reference.s1_bias_step(b, delta, LR),
        b - LR * jdb[0],
        _step_bound(b, LR, bdb[0], jdb[0]),
        "s1.bias_step",
    )


def test_s1_reference_rejects_a_delta_of_the_wrong_size():
    with pytest.raises(ValueError, match=r"delta has output size \(2, 3\), the forward pass gives \(2, 2\)"):
        reference.s1_backward(np.zeros((1, 2, 3)), np.ones((2, 2)), (3, 3))


# --------------------------------------------------------------------------- sections 2 and 3


def _case(cfg, rng, integer):
    if integer:
        x, w, b = cfg.arrays(rng, integer=True)
    else:
        x, w, b = cfg.arrays(rng)
    x4 = _batched(cfg, x)[0]
    geom = resolved(x4.shape, w.shape, **cfg.kwargs)
    delta = integer_arrays(rng, geom.out_shape)[0] if integer else rng.standard_normal(geom.out_shape)
    dh = integer_arrays(rng, x4.shape)[0] if integer else rng.random(x4.shape)
    return x4, w, b, delta, dh


@pytest.mark.parametrize("cfg", STRIDE1, ids=[c.label for c in STRIDE1])
def test_s2_exact_against_vectorized(cfg):
    rng = np.random.default_rng(21)
    x, w, b, delta, dh = _case(cfg, rng, integer=True)
    conv = {"padding": cfg.padding, "dilation": cfg.dilation}
    y = conv2d_forward(x, w, b, **conv)
    dx, dw, db = conv2d_backward(delta, x, w, **conv)
    assert_bitwise(reference.s2_forward(x, w, b, **conv), y, "s2.forward")
    assert_bitwise(reference.s2_backward(delta, w, x.shape[1:3], **conv), dx, "s2.backward")
    assert_bitwise(reference.s2_backward(delta, w, x.shape[1:3], dh=dh, **conv), dh * dx, "s2.backward h'")
    assert_bitwise(reference.s2_weight_step(w, x, delta, LR, **conv), w - LR * dw, "s2.weight_step")
    assert_bitwise(reference.s2_bias_step(b, delta, LR), b - LR * db, "s2.bias_step")


@pytest.mark.parametrize("cfg", ALL, ids=[c.label for c in ALL])
def test_s3_exact_against_vectorized(cfg):
    rng = np.random.default_rng(31)
    x, w, b, delta, dh = _case(cfg, rng, integer=True)
    y = conv2d_forward(x, w, b, **cfg.kwargs)
    dx, dw, db = conv2d_backward(delta, x, w, **cfg.kwargs)
    assert_bitwise(reference.s3_forward(x, w, b, **cfg.kwargs), y, "s3.forward")
    assert_bitwise(reference.s3_backward(delta, w, x.shape[1:3], **cfg.kwargs), dx, "s3.backward")
    assert_bitwise(
        reference.s3_backward(delta, w, x.shape[1:3], dh=dh, **cfg.kwargs), dh * dx, "s3.backward h'"
    )
    assert_bitwise(reference.s3_weight_step(w, x, delta, LR, **cfg.kwargs), w - LR * dw, "s3.weight_step")
    assert_bitwise(reference.s3_bias_step(b, delta, LR), b - LR * db, "s3.bias_step")


def _against_jax(section, cfg, conv, rng):
    x, w, b, delta, dh = _case(cfg, rng, integer=False)
    H, W = x.shape[1:3]
    jy, jdx, jdw, jdb = jax_forward_backward(x, w, b, delta, **cfg.kwargs)
    by = forward_bound(x, w, b, **cfg.kwargs)
    bdx, bdw, bdb = backward_bounds(delta, x, w, **cfg.kwargs)
    names = ("forward", "backward", "weight_step", "bias_step")
    fwd, bwd, wstep, bstep = (getattr(reference, f"{section}_{n}") for n in names)
    assert_within(fwd(x, w, b, **conv), jy, by, f"{section}.forward")
    assert_within(bwd(delta, w, (H, W), **conv), jdx, bdx, f"{section}.backward")
    assert_within(
        bwd(delta, w, (H, W), dh=dh, **conv),
        dh * jdx,
        dh * bdx + 2 * U * np.abs(dh * jdx),
        f"{section}.backward h'",
    )
    assert_within(
        wstep(w, x, delta, LR, **conv), w - LR * jdw, _step_bound(w, LR, bdw, jdw), f"{section}.weight_step"
    )
    assert_within(bstep(b, delta, LR), b - LR * jdb, _step_bound(b, LR, bdb, jdb), f"{section}.bias_step")


@pytest.mark.parametrize("cfg", STRIDE1, ids=[c.label for c in STRIDE1])
def test_s2_against_jax(cfg):
    _against_jax("s2", cfg, {"padding": cfg.padding, "dilation": cfg.dilation}, np.random.default_rng(22))


@pytest.mark.parametrize("cfg", ALL, ids=[c.label for c in ALL])
def test_s3_against_jax(cfg):
    _against_jax("s3", cfg, cfg.kwargs, np.random.default_rng(32))


@pytest.mark.parametrize("section", ["s2", "s3"])
def test_backward_reference_rejects_a_delta_of_the_wrong_size(section):
    backward = getattr(reference, f"{section}_backward")
    with pytest.raises(ValueError, match=r"delta has output size \(3, 3\), the forward pass gives \(2, 2\)"):
        backward(np.zeros((1, 3, 3, 2)), np.ones((2, 2, 1, 2)), (3, 3))


@pytest.mark.parametrize("section", ["s1", "s2", "s3"])
def test_backward_reference_rejects_a_misshaped_dh(section):
    backward = getattr(reference, f"{section}_backward")
    delta, w = (
        (np.zeros((1, 2, 2)), np.ones((2, 2)))
        if section == "s1"
        else (np.zeros((1, 2, 2, 1)), np.ones((2, 2, 1, 1)))
    )
    good = np.ones((1, 3, 3) if section == "s1" else (1, 3, 3, 1))
    assert backward(delta, w, (3, 3), dh=good).shape == good.shape
    with pytest.raises(ValueError, match=r"dh \(h'\(y\^l\)\) must have the input's shape"):
        backward(delta, w, (3, 3), dh=np.ones(3))  # would broadcast silently


def test_reference_rejects_a_kernel_larger_than_the_padded_input():
    with pytest.raises(ValueError, match=r"kernel \(4, 2\) does not fit the padded input \(3, 3\)"):
        reference.s3_forward(np.zeros((1, 3, 3, 1)), np.ones((4, 2, 1, 1)), np.zeros(1))


def test_steps_do_not_write_their_arguments():
    rng = np.random.default_rng(5)
    x, w, b = integer_arrays(rng, (2, 5, 5, 2), (3, 3, 2, 2), (2,))
    delta = integer_arrays(rng, (2, 3, 3, 2))[0]
    copies = [a.copy() for a in (x, w, b, delta)]
    new_w = reference.s3_weight_step(w, x, delta, LR)
    new_b = reference.s3_bias_step(b, delta, LR)
    for a, c in zip((x, w, b, delta), copies, strict=True):
        assert_bitwise(a, c)
    assert not np.array_equal(new_w, w) and not np.array_equal(new_b, b)
