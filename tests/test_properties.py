"""Metamorphic properties of conv2d_forward / conv2d_backward (VERIFICATION.md, "Properties").

Most properties are tested in the exact tier: integer-valued float64 inputs (|v| <= 8)
make every partial sum exactly representable, so two computations that sum the same
products in different orders must agree bitwise.  Float variants use the rounding bounds
of convlib.bounds.
"""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
from conftest import (
    assert_bitwise,
    assert_within,
    blocked_passes,
    check_adjoint,
    geometries,
    integer_arrays,
    jax_forward_backward,
    resolved,
)
from hypothesis import given
from hypothesis import strategies as st

from convlib import conv2d_backward, conv2d_forward, reference
from convlib.bounds import backward_bounds, forward_bound, gamma, unit_roundoff
from convlib.configurations import HARD_CONFIGS, Config

SEEDS = st.integers(0, 2**32 - 1)


def _batched(a):
    return a if a.ndim == 4 else a[np.newaxis]


def _int_case(cfg, seed, *, batched=True):
    """Integer-valued (x, w, b, dy) for ``cfg`` (an unbatched cfg gets N=1 if ``batched``)."""
    rng = np.random.default_rng(seed)
    x, w, b = cfg.arrays(rng, integer=True)
    if batched:
        x = _batched(x)
    geom = resolved(_batched(x).shape, w.shape, **cfg.kwargs)
    dy = integer_arrays(rng, geom.out_shape if x.ndim == 4 else geom.out_shape[1:])[0]
    return x, w, b, dy, geom


def _float_case(cfg, seed, dtype=np.float64):
    rng = np.random.default_rng(seed)
    x, w, b = cfg.arrays(rng, dtype=dtype)
    geom = resolved(_batched(x).shape, w.shape, **cfg.kwargs)
    dy = rng.standard_normal(geom.out_shape if x.ndim == 4 else geom.out_shape[1:]).astype(dtype)
    return x, w, b, dy, geom


def _all(x, w, b, dy, **conv):
    return (conv2d_forward(x, w, b, **conv), *conv2d_backward(dy, x, w, **conv))


# --------------------------------------------------------------------------- 1-3: bilinearity


@given(geometries(), SEEDS)
def test_adjoint_identity(cfg, seed):
    x, w, _, dy, _ = _float_case(cfg, seed)
    check_adjoint(x, w, dy, repr(cfg), **cfg.kwargs)


@pytest.mark.parametrize("cfg", HARD_CONFIGS, ids=[c.label for c in HARD_CONFIGS])
def test_adjoint_identity_on_hard_configs(cfg):
    x, w, _, dy, _ = _float_case(cfg, 7)
    check_adjoint(x, w, dy, cfg.label, **cfg.kwargs)


@given(geometries(), SEEDS)
def test_linearity_exact(cfg, seed):
    x1, w1, _, dy1, _ = _int_case(cfg, seed)
    x2, w2, _, dy2, _ = _int_case(cfg, seed + 1)
    conv = cfg.kwargs
    f = lambda x, w: conv2d_forward(x, w, **conv)  # noqa: E731
    bwd = lambda dy, x, w: conv2d_backward(dy, x, w, **conv)  # noqa: E731
    assert_bitwise(f(3 * x1 + x2, w1), 3 * f(x1, w1) + f(x2, w1), "forward linear in x")
    assert_bitwise(f(x1, 3 * w1 + w2), 3 * f(x1, w1) + f(x1, w2), "forward linear in w")
    dxa, dwa, dba = bwd(3 * dy1 + dy2, x1, w1)
    dx1, dw1, db1 = bwd(dy1, x1, w1)
    dx2, dw2, db2 = bwd(dy2, x1, w1)
    # gradient of a sum is the sum of gradients
    assert_bitwise(dxa, 3 * dx1 + dx2, "dx linear in dy")
    assert_bitwise(dwa, 3 * dw1 + dw2, "dw linear in dy")
    assert_bitwise(dba, 3 * db1 + db2, "db linear in dy")
    assert_bitwise(bwd(dy1, x1, 3 * w1 + w2)[0], 3 * dx1 + bwd(dy1, x1, w2)[0], "dx linear in w")
    assert_bitwise(bwd(dy1, 3 * x1 + x2, w1)[1], 3 * dw1 + bwd(dy1, x2, w1)[1], "dw linear in x")


@given(geometries(), SEEDS)
def test_bias_adds_b_and_db_is_the_sum_of_dy(cfg, seed):
    x, w, b, dy, _ = _int_case(cfg, seed)
    assert_bitwise(conv2d_forward(x, w, b, **cfg.kwargs), conv2d_forward(x, w, **cfg.kwargs) + b, "bias")
    _, _, db = conv2d_backward(dy, x, w, **cfg.kwargs)
    assert_bitwise(db, dy.sum(axis=(0, 1, 2)), "db == dy.sum")
    # The bias never reaches dx or dw: they do not depend on b at all (b is not an argument).
    xf, wf, bf, dyf, _ = _float_case(cfg, seed)
    y_b, y = conv2d_forward(xf, wf, bf, **cfg.kwargs), conv2d_forward(xf, wf, **cfg.kwargs)
    # Two computations of sum + b; one extra rounding of |sum + b| on top of forward_bound.
    bound = forward_bound(xf, wf, bf, **cfg.kwargs) + 2 * unit_roundoff(np.float64) * np.abs(y + bf)
    assert_within(y_b, y + bf, bound, "float bias")
    dbf = conv2d_backward(dyf, xf, wf, **cfg.kwargs)[2]
    M = int(np.prod(dyf.shape[:-1]))
    axes = tuple(range(dyf.ndim - 1))  # (N, OH, OW) or (OH, OW) unbatched
    assert_within(
        dbf, dyf.sum(axis=axes), 2 * gamma(max(M, 1), 2.0**-53) * np.abs(dyf).sum(axis=axes), "float db"
    )


# --------------------------------------------------------------------------- 4: batch independence


@given(geometries(), SEEDS)
def test_batch_is_the_concatenation_of_its_samples(cfg, seed):
    x, w, b, dy, _ = _int_case(cfg, seed)
    y, dx, dw, db = _all(x, w, b, dy, **cfg.kwargs)
    dw_sum, db_sum = np.zeros_like(dw), np.zeros_like(db)
    for n in range(x.shape[0]):
        yn, dxn, dwn, dbn = _all(x[n : n + 1], w, b, dy[n : n + 1], **cfg.kwargs)
        assert_bitwise(y[n : n + 1], yn, f"y sample {n}")
        assert_bitwise(dx[n : n + 1], dxn, f"dx sample {n}")
        dw_sum += dwn
        db_sum += dbn
    assert_bitwise(dw, dw_sum, "dw is the sum over samples")
    assert_bitwise(db, db_sum, "db is the sum over samples")


def test_batch_independence_float():
    cfg = Config("batch", 5, 7, 6, 3, 4, 3, 2, stride=2, padding=1)
    x, w, b, dy, _ = _float_case(cfg, 3)
    y, dx, dw, _ = _all(x, w, b, dy, **cfg.kwargs)
    dws = []
    for n in range(5):
        yn, dxn, dwn, _ = _all(x[n : n + 1], w, b, dy[n : n + 1], **cfg.kwargs)
        assert_within(y[n : n + 1], yn, forward_bound(x[n : n + 1], w, b, **cfg.kwargs), "y")
        bdx = backward_bounds(dy[n : n + 1], x[n : n + 1], w, **cfg.kwargs)[0]
        assert_within(dx[n : n + 1], dxn, bdx, "dx")
        dws.append(dwn)
    assert_within(dw, np.sum(dws, axis=0), backward_bounds(dy, x, w, **cfg.kwargs)[1], "dw")


# --------------------------------------------------------------------------- 5: translation


@given(
    st.integers(1, 3), st.integers(1, 3), st.integers(0, 3), st.integers(0, 3), st.sampled_from([1, 2]), SEEDS
)
def test_translation_equivariance_stride_1(KH, KW, a, c, dilation, seed):
    rng = np.random.default_rng(seed)
    H, W = 6 + dilation * KH + a, 5 + dilation * KW + c
    x, w = integer_arrays(rng, (2, H, W, 2), (KH, KW, 2, 3))
    y = conv2d_forward(x, w, dilation=dilation)
    # Shifting the input by (a, c) shifts the output by (a, c).
    assert_bitwise(conv2d_forward(x[:, a:, c:], w, dilation=dilation), y[:, a:, c:], "shift")
    dy = integer_arrays(rng, y.shape)[0]
    dx = conv2d_backward(dy, x, w, dilation=dilation)[0]
    dx_shift = conv2d_backward(dy[:, a:, c:], x[:, a:, c:], w, dilation=dilation)[0]
    # dx of the shifted problem equals dx of the full problem with the first a rows /
    # c columns of dy zeroed, restricted to the shifted input.
    dy0 = dy.copy()
    dy0[:, :a] = 0
    dy0[:, :, :c] = 0
    assert_bitwise(dx_shift, conv2d_backward(dy0, x, w, dilation=dilation)[0][:, a:, c:], "shift dx")
    assert dx.shape == x.shape


@pytest.mark.parametrize("stride", [(2, 2), (3, 1), (1, 3), (2, 3)])
def test_shift_by_stride_moves_output_by_one(stride):
    rng = np.random.default_rng(sum(stride))
    x, w = integer_arrays(rng, (2, 13, 14, 2), (3, 2, 2, 2))
    y = conv2d_forward(x, w, stride=stride, padding=1)
    sh, sw = stride
    # Dropping the first sh rows of the padded input drops the first output row.
    xp = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    assert_bitwise(conv2d_forward(xp[:, sh:, sw:], w, stride=stride), y[:, 1:, 1:], "shift by stride")


# --------------------------------------------------------------------------- 6: channel permutation


@given(geometries(), SEEDS)
def test_channel_permutation(cfg, seed):
    x, w, b, dy, _ = _int_case(cfg, seed)
    rng = np.random.default_rng(seed)
    pc, pf = rng.permutation(w.shape[2]), rng.permutation(w.shape[3])
    y, dx, dw, db = _all(x, w, b, dy, **cfg.kwargs)
    # Permuting input channels together with the weights' input channels changes nothing.
    yp, dxp, dwp, dbp = _all(x[..., pc], w[:, :, pc, :], b, dy, **cfg.kwargs)
    assert_bitwise(yp, y, "y")
    assert_bitwise(dxp, dx[..., pc], "dx")
    assert_bitwise(dwp, dw[:, :, pc, :], "dw")
    assert_bitwise(dbp, db, "db")
    # Permuting kernels permutes the output channels.
    yq, dxq, dwq, dbq = _all(x, w[..., pf], b[pf], dy[..., pf], **cfg.kwargs)
    assert_bitwise(yq, y[..., pf], "y kernels")
    assert_bitwise(dxq, dx, "dx kernels")
    assert_bitwise(dwq, dw[..., pf], "dw kernels")
    assert_bitwise(dbq, db[pf], "db kernels")


def test_channel_permutation_float():
    cfg = Config("perm", 2, 6, 6, 8, 3, 3, 3, padding=1)
    x, w, b, dy, _ = _float_case(cfg, 9)
    perm = np.random.default_rng(0).permutation(8)
    y, dx, dw, _ = _all(x, w, b, dy, **cfg.kwargs)
    yp, dxp, dwp, _ = _all(x[..., perm], w[:, :, perm], b, dy, **cfg.kwargs)
    assert_within(yp, y, forward_bound(x, w, b, **cfg.kwargs), "y")
    bdx, bdw, _ = backward_bounds(dy, x, w, **cfg.kwargs)
    assert_within(dxp, dx[..., perm], bdx[..., perm], "dx")
    assert_within(dwp, dw[:, :, perm], bdw[:, :, perm], "dw")


# --------------------------------------------------------------------------- 7: padding and stride


@given(geometries(), SEEDS)
def test_padding_equals_padding_the_input(cfg, seed):
    x, w, b, dy, geom = _int_case(cfg, seed)
    (top, bottom), (left, right) = geom.padding
    xp = np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)))  # (N, H+t+b, W+l+r, C)
    no_pad = {"stride": cfg.stride, "padding": 0, "dilation": cfg.dilation}
    y, dx, dw, db = _all(x, w, b, dy, **cfg.kwargs)
    yp, dxp, dwp, dbp = _all(xp, w, b, dy, **no_pad)
    assert_bitwise(y, yp, "y")
    assert_bitwise(dx, dxp[:, top : top + geom.H, left : left + geom.W], "dx = crop of the padded dx")
    assert_bitwise(dw, dwp, "dw")
    assert_bitwise(db, dbp, "db")


@given(geometries(), SEEDS)
def test_stride_equals_subsampling(cfg, seed):
    x, w, b, dy, geom = _int_case(cfg, seed)
    sh, sw = geom.stride
    # Stride 1 with the same explicit padding (resolved, so 'same' keeps its numbers).
    dense = {"stride": 1, "padding": geom.padding, "dilation": cfg.dilation}
    y1 = conv2d_forward(x, w, b, **dense)
    y, dx, dw, db = _all(x, w, b, dy, **cfg.kwargs)
    assert_bitwise(y, y1[:, ::sh, ::sw], "conv(x, s) == conv(x, 1)[::s, ::s]")
    # Backward: a strided dy is the dense dy with zeros between its entries.
    dy1 = np.zeros(y1.shape)
    dy1[:, ::sh, ::sw] = dy
    dx1, dw1, db1 = conv2d_backward(dy1, x, w, **dense)
    assert_bitwise(dx, dx1, "dx")
    assert_bitwise(dw, dw1, "dw")
    assert_bitwise(db, db1, "db")


# --------------------------------------------------------------------------- 9: inputs and calls


def _read_only(*arrays):
    out = []
    for a in arrays:
        a = a.copy()
        a.setflags(write=False)
        out.append(a)
    return out


def _path(path):
    """The textbook passes (what small arrays get) or the blocked, threaded ones."""
    return blocked_passes() if path == "blocked" else contextlib.nullcontext()


@pytest.mark.parametrize("path", ["textbook", "blocked"])
@pytest.mark.parametrize("cfg", HARD_CONFIGS, ids=[c.label for c in HARD_CONFIGS])
def test_inputs_are_never_mutated(cfg, path):
    x, w, b, dy, _ = _float_case(cfg, 5)
    copies = [a.copy() for a in (x, w, b, dy)]
    with _path(path):
        expected = _all(x, w, b, dy, **cfg.kwargs)
    for a, c in zip((x, w, b, dy), copies, strict=True):
        assert_bitwise(a, c, "argument changed")
    # Read-only arrays: any write raises ValueError; results are unchanged.
    with _path(path):
        got = _all(*_read_only(x, w, b, dy), **cfg.kwargs)
    for g, e in zip(got, expected, strict=True):
        assert_bitwise(g, e, "read-only inputs")
    # The results are fresh arrays, not views of the arguments.
    for r in got:
        for a in (x, w, b, dy):
            assert not np.shares_memory(r, a)


def _noncontiguous(a, how):
    if how == "fortran":
        out = np.asfortranarray(a)
    elif how == "transposed":
        out = np.ascontiguousarray(a.transpose(*reversed(range(a.ndim)))).transpose(*reversed(range(a.ndim)))
    elif how == "negative strides":
        flip = (slice(None, None, -1),) * a.ndim
        out = np.ascontiguousarray(a[flip])[flip]
    elif how == "strided slice":
        big = np.zeros(tuple(2 * s for s in a.shape))
        big[(slice(None, None, 2),) * a.ndim] = a
        out = big[(slice(None, None, 2),) * a.ndim]
    assert np.array_equal(out, a)
    assert a.ndim < 2 or a.size <= 1 or not out.flags.c_contiguous
    return out


@pytest.mark.parametrize("how", ["fortran", "transposed", "negative strides", "strided slice"])
@pytest.mark.parametrize("cfg", HARD_CONFIGS[:16:3], ids=[c.label for c in HARD_CONFIGS[:16:3]])
def test_noncontiguous_inputs(cfg, how):
    # Exact tier: same values, same results bitwise, whatever the memory layout and path.
    x, w, b, dy, _ = _int_case(cfg, 6)
    expected = _all(x, w, b, dy, **cfg.kwargs)
    for path in ("textbook", "blocked"):
        with _path(path):
            got = _all(*(_noncontiguous(a, how) for a in (x, w, b, dy)), **cfg.kwargs)
        for g, e, name in zip(got, expected, ("y", "dx", "dw", "db"), strict=True):
            assert_bitwise(g, e, f"{how} {name} ({path} path)")
    # Float inputs: within the rounding bound.
    x, w, b, dy, _ = _float_case(cfg, 6)
    expected = _all(x, w, b, dy, **cfg.kwargs)
    got = _all(*(_noncontiguous(a, how) for a in (x, w, b, dy)), **cfg.kwargs)
    bounds = (forward_bound(x, w, b, **cfg.kwargs), *backward_bounds(dy, x, w, **cfg.kwargs))
    for g, e, bd, name in zip(got, expected, bounds, ("y", "dx", "dw", "db"), strict=True):
        assert_within(g, e, bd, f"{how} {name}")


@pytest.mark.parametrize("cfg", HARD_CONFIGS, ids=[c.label for c in HARD_CONFIGS])
def test_repeated_calls_are_bitwise_identical(cfg):
    x, w, b, dy, _ = _float_case(cfg, 8)
    first = _all(x, w, b, dy, **cfg.kwargs)
    for _ in range(2):
        for g, e in zip(_all(x, w, b, dy, **cfg.kwargs), first, strict=True):
            assert_bitwise(g, e, "repeated call")


@given(geometries(), SEEDS)
def test_unbatched_equals_batched_with_n_1(cfg, seed):
    _, w, b, _, geom = _float_case(cfg, seed)
    x3 = np.random.default_rng(seed).standard_normal((geom.H, geom.W, geom.C))  # one sample
    y3 = conv2d_forward(x3, w, b, **cfg.kwargs)
    dy3 = np.random.default_rng(seed + 1).standard_normal(y3.shape)
    y4, dx4, dw4, db4 = _all(x3[np.newaxis], w, b, dy3[np.newaxis], **cfg.kwargs)
    dx3, dw3, db3 = conv2d_backward(dy3, x3, w, **cfg.kwargs)
    assert y3.ndim == 3 and dx3.shape == x3.shape
    assert_bitwise(y3, y4[0], "y")
    assert_bitwise(dx3, dx4[0], "dx")
    assert_bitwise(dw3, dw4, "dw")
    assert_bitwise(db3, db4, "db")


# --------------------------------------------------------------------------- dtypes


@pytest.mark.parametrize("cfg", HARD_CONFIGS, ids=[c.label for c in HARD_CONFIGS])
def test_float32_stays_float32_within_its_bound(cfg):
    x, w, b, dy, _ = _float_case(cfg, 10, dtype=np.float32)
    y, dx, dw, db = _all(x, w, b, dy, **cfg.kwargs)
    assert {a.dtype for a in (y, dx, dw, db)} == {np.dtype(np.float32)}
    # float64 on the same (float32) values is exact to ~1e-16 relative; float32 must be
    # within gamma_n(2**-24) * conv(|x|, |w|), n the reduction length of each quantity.
    x64, w64, b64, dy64 = (a.astype(np.float64) for a in (x, w, b, dy))
    y64, dx64, dw64, db64 = _all(x64, w64, b64, dy64, **cfg.kwargs)
    assert_within(y, y64, forward_bound(x64, w64, b64, dtype=np.float32, **cfg.kwargs), "y float32")
    bdx, bdw, bdb = backward_bounds(dy64, x64, w64, dtype=np.float32, **cfg.kwargs)
    assert_within(dx, dx64, bdx, "dx float32")
    assert_within(dw, dw64, bdw, "dw float32")
    assert_within(db, db64, bdb, "db float32")


def test_mixed_precision_promotes_to_float64():
    rng = np.random.default_rng(0)
    x, w, dy = (
        rng.standard_normal((1, 5, 5, 2)),
        rng.standard_normal((3, 3, 2, 2)),
        rng.standard_normal((1, 3, 3, 2)),
    )
    assert conv2d_forward(x.astype(np.float32), w).dtype == np.float64
    assert conv2d_forward(x, w.astype(np.float32)).dtype == np.float64
    assert conv2d_forward(x.astype(np.float32), w.astype(np.float32), np.zeros(2)).dtype == np.float64
    assert all(a.dtype == np.float64 for a in conv2d_backward(dy, x.astype(np.float32), w.astype(np.float32)))
    # float32 values are exact in float64, so mixing is the float64 computation on them.
    x32 = x.astype(np.float32)
    assert_bitwise(conv2d_forward(x32, w), conv2d_forward(x32.astype(np.float64), w), "mixed forward")
    for a, e in zip(conv2d_backward(dy, x32, w), conv2d_backward(dy, x32.astype(np.float64), w), strict=True):
        assert_bitwise(a, e, "mixed backward")


@pytest.mark.parametrize("dtype", [np.int8, np.uint8, np.int16, np.int32, np.int64])
def test_integers_are_promoted_to_float64(dtype):
    # Values whose products overflow int8/int16: a wrapping integer computation would differ.
    x = np.full((1, 4, 4, 3), 100, dtype=dtype)
    w = np.full((2, 2, 3, 2), 120, dtype=dtype)
    b = np.array([7, 5], dtype=dtype)
    dy = np.full((1, 3, 3, 2), 90, dtype=dtype)
    y, dx, dw, db = _all(x, w, b, dy)
    assert {a.dtype for a in (y, dx, dw, db)} == {np.dtype(np.float64)}
    expected = _all(*(a.astype(np.float64) for a in (x, w, b, dy)))
    for g, e in zip((y, dx, dw, db), expected, strict=True):
        assert_bitwise(g, e, f"{np.dtype(dtype)} promoted")
    assert y[0, 0, 0, 0] == 100 * 120 * 12 + 7


def test_float16_becomes_float32():
    x = np.arange(16, dtype=np.float16).reshape(1, 4, 4, 1)
    w = np.ones((2, 2, 1, 1), np.float16)
    y = conv2d_forward(x, w)
    assert y.dtype == np.float32
    assert_bitwise(y, conv2d_forward(x.astype(np.float32), w.astype(np.float32)))


# --------------------------------------------------------------------------- NaN and Inf


def _receptive_mask(geom, conv, pixel):
    """Outputs whose receptive field contains ``pixel`` (n, i, j), by the loop reference."""
    n, i, j = pixel
    ind = np.zeros((geom.N, geom.H, geom.W, 1))
    ind[n, i, j, 0] = 1.0
    hits = reference.s3_forward(ind, np.ones((geom.KH, geom.KW, 1, 1)), np.zeros(1), **conv)
    return hits[..., 0] > 0  # (N, OH, OW)


@pytest.mark.parametrize("path", ["textbook", "blocked"])
@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("cfg", [c for c in HARD_CONFIGS if c.N], ids=[c.label for c in HARD_CONFIGS if c.N])
def test_nonfinite_input_reaches_exactly_its_receptive_field(cfg, value, path):
    x, w, b, dy, geom = _float_case(cfg, 12)
    rng = np.random.default_rng(13)
    for _ in range(3):
        pixel = (rng.integers(geom.N), rng.integers(geom.H), rng.integers(geom.W))
        xb = x.copy()
        xb[pixel + (rng.integers(geom.C),)] = value
        with _path(path):
            y = conv2d_forward(xb, w, b, **cfg.kwargs)
        mask = _receptive_mask(geom, cfg.kwargs, pixel)
        bad = ~np.isfinite(y)
        assert np.array_equal(bad, np.broadcast_to(mask[..., None], y.shape)), f"{pixel} {value}"
        if np.isnan(value):
            assert np.all(np.isnan(y[bad]))


@pytest.mark.parametrize("cfg", [c for c in HARD_CONFIGS if c.N], ids=[c.label for c in HARD_CONFIGS if c.N])
def test_nan_in_dy_reaches_exactly_the_pixels_that_output_reads(cfg):
    x, w, _, dy, geom = _float_case(cfg, 14)
    rng = np.random.default_rng(15)
    n, i, j, f = (int(rng.integers(s)) for s in dy.shape)
    dyb = dy.copy()
    dyb[n, i, j, f] = np.nan
    dx, dw, db = conv2d_backward(dyb, x, w, **cfg.kwargs)
    with blocked_passes():  # the stride-phase dx and blocked dw must agree, NaN for NaN
        for a, e in zip(conv2d_backward(dyb, x, w, **cfg.kwargs), (dx, dw, db), strict=True):
            assert np.array_equal(np.isnan(a), np.isnan(e))
    # Pixels read by output (n, i, j): the adjoint of the receptive field, by the loop reference.
    delta = np.zeros((geom.N, geom.OH, geom.OW, 1))
    delta[n, i, j, 0] = 1.0
    reads = reference.s3_backward(delta, np.ones((geom.KH, geom.KW, 1, 1)), (geom.H, geom.W), **cfg.kwargs)
    expected = np.broadcast_to(reads > 0, dx.shape)
    assert np.array_equal(np.isnan(dx), expected)
    # Every weight of kernel f meets output (n, i, j) (padding zeros times NaN are NaN).
    assert np.all(np.isnan(dw[..., f])) and np.all(np.isfinite(np.delete(dw, f, axis=3)))
    assert np.isnan(db[f]) and np.all(np.isfinite(np.delete(db, f)))


def test_nan_in_a_weight_reaches_every_output_of_its_kernel():
    rng = np.random.default_rng(16)
    x, w = rng.standard_normal((2, 6, 5, 3)), rng.standard_normal((3, 2, 3, 4))
    w[1, 0, 2, 1] = np.nan
    y = conv2d_forward(x, w, stride=2, padding=1)
    assert np.all(np.isnan(y[..., 1])) and np.all(np.isfinite(np.delete(y, 1, axis=3)))


# --------------------------------------------------------------------------- JAX on properties' inputs


def test_hard_configs_in_float32_against_jax():
    """float32 results against JAX float64 on the same values: the float32 bound holds."""
    for cfg in HARD_CONFIGS[:6]:
        x, w, b, dy, _ = _float_case(cfg, 17, dtype=np.float32)
        y, dx, dw, db = _all(x, w, b, dy, **cfg.kwargs)
        jy, jdx, jdw, jdb = jax_forward_backward(x, w, b, dy, **cfg.kwargs)
        x64, w64, b64, dy64 = (a.astype(np.float64) for a in (x, w, b, dy))
        assert_within(y, jy, forward_bound(x64, w64, b64, dtype=np.float32, **cfg.kwargs), cfg.label)
        bdx, bdw, bdb = backward_bounds(dy64, x64, w64, dtype=np.float32, **cfg.kwargs)
        assert_within(dx, jdx, bdx, cfg.label)
        assert_within(dw, jdw, bdw, cfg.label)
        assert_within(db, jdb, bdb, cfg.label)
