"""conv2d_forward / conv2d_backward against independent oracles on hard geometries.

Oracles and tiers:

- JAX (``lax.conv_general_dilated`` forward, ``jax.vjp`` backward), float64 standard-normal
  inputs, within the elementwise rounding bounds of convlib.bounds;
- the loop reference ``reference.s3_*``, integer-valued inputs |v| <= 8: bitwise equal
  (every partial sum is an exactly representable integer, so the order does not matter);
- central finite differences of ``L = sum(dy * y)`` (convlib.oracles), within
  ``finite_difference_bound`` plus our own rounding bound;
- the exact zero pattern of ``dx``: pixels no window reads get exactly 0, all others not.

Geometries: convlib.configurations.HARD_CONFIGS, an explicit grid of our own
(``EXTRA_CONFIGS``), hypothesis-drawn geometries, and the dense sweep
H 13..23 x W 13..16 x K 2..4 x s 1..3 x p 0..2.
"""

from __future__ import annotations

import contextlib
import itertools

import numpy as np
import pytest
from conftest import (
    assert_bitwise,
    assert_within,
    blocked_passes,
    check_adjoint,
    check_against_jax,
    check_zero_pattern,
    geometries,
    integer_arrays,
    resolved,
    tap_oracle,
)
from hypothesis import given
from hypothesis import strategies as st

import convlib.conv
from convlib import conv2d_backward, conv2d_forward, reference
from convlib.bounds import backward_bounds
from convlib.configurations import HARD_CONFIGS, Config
from convlib.geometry import unread_tail
from convlib.oracles import finite_difference_backward, finite_difference_bound

EXTRA_CONFIGS: tuple[Config, ...] = (
    # PyTorch's float64 gradcheck cases (stride, padding, dilation).
    Config("torch gradcheck (2, 0, 1)", 2, 7, 6, 2, 3, 3, 2, stride=2, padding=0, dilation=1),
    Config("torch gradcheck (1, 1, 1)", 2, 5, 6, 2, 3, 3, 2, stride=1, padding=1, dilation=1),
    Config("torch gradcheck (2, 1, 1)", 2, 7, 6, 2, 3, 3, 2, stride=2, padding=1, dilation=1),
    Config("torch gradcheck (1, 0, 2)", 2, 7, 6, 2, 3, 3, 2, stride=1, padding=0, dilation=2),
    Config("K=5, s=2, remainder in width only", 1, 9, 10, 2, 2, 5, 5, stride=2),
    Config("K=3, s=2, even H and W: tails", 2, 8, 10, 1, 2, 3, 3, stride=2),
    Config("K=2 < s=3 both axes, tails", 1, 10, 11, 2, 2, 2, 2, stride=3),
    Config("1x1 kernel, stride 3, tails", 2, 7, 8, 3, 2, 1, 1, stride=3),
    Config("1x2 kernel, stride (2, 1)", 1, 5, 6, 2, 2, 1, 2, stride=(2, 1)),
    Config("kernel == padded input, asymmetric pad", 2, 3, 2, 2, 2, 5, 6, padding=((1, 1), (2, 2))),
    Config("kernel == input, 1 x W output", 1, 4, 7, 1, 1, 4, 3),
    Config(
        "'same', stride (2, 3), dilation 2", 1, 9, 10, 2, 2, 2, 3, stride=(2, 3), padding="same", dilation=2
    ),
    Config("'same', kernel 2 < stride 3", 2, 8, 7, 1, 2, 2, 2, stride=3, padding="same"),
    Config("'same', odd total both axes", 1, 6, 8, 2, 2, 4, 2, padding="same"),
    Config("dilation 3, stride 2, padding 2", 1, 12, 11, 2, 2, 3, 3, stride=2, padding=2, dilation=3),
    Config(
        "stride (3,1) pad (0,2) dil (1,2)",
        2,
        10,
        6,
        2,
        3,
        3,
        3,
        stride=(3, 1),
        padding=(0, 2),
        dilation=(1, 2),
    ),
    Config("pad ((0, 3), (3, 0)) > kernel", 1, 4, 5, 2, 2, 2, 3, padding=((0, 3), (3, 0))),
    Config("N = 0, 'same'", 0, 6, 5, 2, 3, 3, 2, padding="same"),
    Config("N = 0, unbatched-sized 1x1 out", 0, 3, 3, 1, 1, 3, 3),
    Config("unbatched, dilation 2, stride 2", None, 9, 8, 2, 2, 3, 2, stride=2, dilation=2),
    Config("F = 16 (long dx reduction)", 1, 6, 6, 3, 16, 3, 3, stride=2, padding=1),
    Config("C = 48, stride 2, 5x3, 'same'", 1, 5, 5, 48, 2, 5, 3, stride=2, padding="same"),
)

GRID = HARD_CONFIGS + EXTRA_CONFIGS
GRID_IDS = [c.label for c in GRID]


def _batched(x):
    return x if x.ndim == 4 else x[np.newaxis]  # (N, H, W, C)


def _float_case(cfg, seed):
    rng = np.random.default_rng(seed)
    x, w, b = cfg.arrays(rng)
    geom = resolved(_batched(x).shape, w.shape, **cfg.kwargs)
    dy = rng.standard_normal(geom.out_shape if cfg.N is not None else geom.out_shape[1:])
    return x, w, b, dy, geom


def _check_exact(x, w, b, dy, what="", **conv):
    """Integer-valued inputs: bitwise equality with the loop reference (s3.*)."""
    y = conv2d_forward(x, w, b, **conv)
    dx, dw, db = conv2d_backward(dy, x, w, **conv)
    x4, y4, dy4, dx4 = (_batched(a) for a in (x, y, dy, dx))
    assert_bitwise(y4, reference.s3_forward(x4, w, b, **conv), f"{what} y")
    assert_bitwise(dx4, reference.s3_backward(dy4, w, x4.shape[1:3], **conv), f"{what} dx")
    # The step functions return w - lr*sum; with w = 0 and lr = -1 that is the sum itself.
    assert_bitwise(dw, reference.s3_weight_step(np.zeros_like(w), x4, dy4, -1.0, **conv), f"{what} dw")
    assert_bitwise(db, reference.s3_bias_step(np.zeros_like(b), dy4, -1.0), f"{what} db")


# --------------------------------------------------------------------------- explicit grid


@pytest.mark.parametrize("cfg", GRID, ids=GRID_IDS)
def test_against_jax(cfg):
    x, w, b, dy, geom = _float_case(cfg, 1)
    y = conv2d_forward(x, w, b, **cfg.kwargs)
    dx, dw, db = conv2d_backward(dy, x, w, **cfg.kwargs)
    assert y.shape == dy.shape and dx.shape == x.shape and dw.shape == w.shape and db.shape == b.shape
    check_against_jax(x, w, b, dy, y, dx, dw, db, what=cfg.label, **cfg.kwargs)


@pytest.mark.parametrize("cfg", GRID, ids=GRID_IDS)
def test_exact_against_loop_reference(cfg):
    rng = np.random.default_rng(2)
    x, w, b = cfg.arrays(rng, integer=True)
    geom = resolved(_batched(x).shape, w.shape, **cfg.kwargs)
    dy = integer_arrays(rng, geom.out_shape if cfg.N is not None else geom.out_shape[1:])[0]
    _check_exact(x, w, b, dy, cfg.label, **cfg.kwargs)


@pytest.mark.parametrize("cfg", GRID, ids=GRID_IDS)
def test_against_finite_differences(cfg):
    x, w, b, dy, _ = _float_case(cfg, 3)
    dx, dw, db = conv2d_backward(dy, x, w, **cfg.kwargs)
    fdx, fdw, fdb = finite_difference_backward(dy, x, w, b, **cfg.kwargs)
    # |ours - fd| <= |ours - exact| + |fd - exact|: half of backward_bounds (which bounds
    # the difference of two computations) plus the finite-difference bound.  The layer is
    # bilinear, so the central difference has no truncation error, only rounding.
    fd = finite_difference_bound(dy, x, w, b, **cfg.kwargs)
    bdx, bdw, bdb = backward_bounds(dy, x, w, **cfg.kwargs)
    assert_within(dx, fdx, bdx / 2 + fd, f"{cfg.label} dx")
    assert_within(dw, fdw, bdw / 2 + fd, f"{cfg.label} dw")
    assert_within(db, fdb, bdb / 2 + fd, f"{cfg.label} db")


@pytest.mark.parametrize("cfg", GRID, ids=GRID_IDS)
def test_zero_gradient_exactly_where_nothing_is_read(cfg):
    x, w, _, dy, geom = _float_case(cfg, 4)
    dx, _, _ = conv2d_backward(dy, x, w, **cfg.kwargs)
    check_zero_pattern(dx, geom, cfg.label)


def test_grid_covers_the_hard_cases():
    """The grid really contains what VERIFICATION.md lists (guards against silent edits)."""
    geoms = [(c, resolved(_batched(np.zeros(c.x_shape)).shape, c.w_shape, **c.kwargs)) for c in GRID]
    has = {
        "stride does not divide kernel": any(g.KH % g.stride[0] and g.KH > g.stride[0] for _, g in geoms),
        "kernel smaller than stride": any(g.KH < g.stride[0] and g.KW < g.stride[1] for _, g in geoms),
        "unread input rows": any(
            unread_tail(g.H, g.KH, g.stride[0], g.dilation[0], *g.padding[0]) > g.padding[0][1]
            for _, g in geoms
        ),
        "asymmetric stride": any(g.stride[0] != g.stride[1] for _, g in geoms),
        "1x1 kernel": any(g.KH == g.KW == 1 for _, g in geoms),
        "kernel == padded input": any(g.OH == g.OW == 1 and g.padded_hw == (g.KH, g.KW) for _, g in geoms),
        "padding >= half the kernel": any(min(g.padding[0]) * 2 >= g.KH for _, g in geoms),
        "dilation with stride": any(max(g.dilation) > 1 and max(g.stride) > 1 for _, g in geoms),
        "dilation without stride": any(max(g.dilation) > 1 and g.stride == (1, 1) for _, g in geoms),
        "'same' with odd total": any(
            c.padding == "same" and (sum(g.padding[0]) % 2 or sum(g.padding[1]) % 2) for c, g in geoms
        ),
        "N = 0": any(c.N == 0 for c, _ in geoms),
        "N = 1 and several": any(c.N == 1 for c, _ in geoms) and any((c.N or 0) > 1 for c, _ in geoms),
        "unbatched": any(c.N is None for c, _ in geoms),
        "C = 1, F = 1": any(g.C == 1 and g.F == 1 for _, g in geoms),
        "C = 64": any(g.C >= 64 for _, g in geoms),
    }
    assert all(has.values()), [k for k, v in has.items() if not v]


# --------------------------------------------------------------------------- hypothesis


@given(geometries(), st.integers(0, 2**32 - 1))
def test_hypothesis_geometries_against_jax_and_reference(cfg, seed):
    # JAX, float64
    x, w, b, dy, geom = _float_case(cfg, seed)
    y = conv2d_forward(x, w, b, **cfg.kwargs)
    dx, dw, db = conv2d_backward(dy, x, w, **cfg.kwargs)
    check_against_jax(x, w, b, dy, y, dx, dw, db, what=repr(cfg), **cfg.kwargs)
    check_zero_pattern(dx, geom, repr(cfg))
    # loop reference, exact tier
    rng = np.random.default_rng(seed)
    xi, wi, bi = cfg.arrays(rng, integer=True)
    dyi = integer_arrays(rng, dy.shape)[0]
    _check_exact(xi, wi, bi, dyi, repr(cfg), **cfg.kwargs)
    # the blocked, multi-threaded passes on the same integers, exact against tap_oracle
    exact = tap_oracle(_batched(xi), wi, _batched(dyi), geom.stride, geom.padding, geom.dilation)
    with blocked_passes():
        ours = (conv2d_forward(xi, wi, **cfg.kwargs), *conv2d_backward(dyi, xi, wi, **cfg.kwargs))
    for a, ex, name in zip(ours, exact, ("y", "dx", "dw", "db"), strict=True):
        a4 = _batched(a) if name in ("y", "dx") else a
        assert_bitwise(a4, ex.astype(np.float64), f"{cfg!r} {name} (blocked path)")


# --------------------------------------------------------------------------- dense sweep

# H 13..23 x W 13..16 x K 2..4 x s 1..3 x p 0..2: 1188 geometries, dense in remainder
# cases (N=1, C=2, F=2).  Every one is checked in the exact tier against tap_oracle (int64
# arithmetic, one tap at a time), for the exact zero pattern of dx and for the adjoint
# identity.  Subsamples, because the other oracles cost more per geometry:
# - the loop reference (pure Python) sees every geometry with W == 13 + H % 4
#   (11 of the 44 (H, W) pairs for each (K, s, p): 297 geometries);
# - JAX (one compile per shape, 0.25-0.6 s) sees one geometry per (K, s), with padding
#   p = (K + s) % 3 (so every p appears) and the first (H, W) with the largest unread
#   tail in both axes (9 geometries).
SWEEP_H, SWEEP_W = range(13, 24), range(13, 17)


def _tails(H, W, K, s, p):
    return unread_tail(H, K, s, 1, p, p), unread_tail(W, K, s, 1, p, p)


@pytest.mark.parametrize(("K", "s"), list(itertools.product(range(2, 5), range(1, 4))))
def test_dense_sweep(K, s):
    rng = np.random.default_rng(100 * K + s)
    counts = {"all": 0, "loop reference": 0, "jax": 0}
    for p in range(3):
        conv = {"stride": s, "padding": p}
        pairs = list(itertools.product(SWEEP_H, SWEEP_W))
        jax_pick = max(pairs, key=lambda hw: min(_tails(*hw, K, s, p))) if p == (K + s) % 3 else None
        for H, W in pairs:
            x, w, b = integer_arrays(rng, (1, H, W, 2), (K, K, 2, 2), (2,))
            geom = resolved(x.shape, w.shape, **conv)
            dy = integer_arrays(rng, geom.out_shape)[0]
            what = f"H={H} W={W} K={K} s={s} p={p}"
            exact = tap_oracle(x, w, dy, geom.stride, geom.padding)
            for path in ("textbook", "blocked"):
                with blocked_passes() if path == "blocked" else contextlib.nullcontext():
                    ours = (conv2d_forward(x, w, **conv), *conv2d_backward(dy, x, w, **conv))
                for a, ex, name in zip(ours, exact, ("y", "dx", "dw", "db"), strict=True):
                    assert_bitwise(a, ex.astype(np.float64), f"{what} {name} ({path} path)")
            if W == 13 + H % 4:
                _check_exact(x, w, b, dy, what, **conv)
                counts["loop reference"] += 1

            xf, wf, dyf = (
                rng.standard_normal(x.shape),
                rng.standard_normal(w.shape),
                rng.standard_normal(dy.shape),
            )
            dx, dw, db = conv2d_backward(dyf, xf, wf, **conv)
            check_zero_pattern(dx, geom, what)
            check_adjoint(xf, wf, dyf, what, **conv)
            if (H, W) == jax_pick:
                yf = conv2d_forward(xf, wf, b, **conv)
                check_against_jax(xf, wf, b, dyf, yf, dx, dw, db, what=what, **conv)
                counts["jax"] += 1
            counts["all"] += 1
    assert counts == {"all": 3 * 44, "loop reference": 3 * 11, "jax": 1}


# --------------------------------------------------------------------------- blocks and threads

# convlib.conv runs small passes (im2col up to BLOCK_BYTES / 2) as textbook im2col + one
# product, larger ones in cache-sized blocks on several threads with dx by stride phases.
# The grid above runs the textbook path (the sweep and hypothesis run both); here every
# grid geometry runs blocked (conftest.blocked_passes), and three medium geometries take
# the blocked path with the real block size.


@pytest.mark.parametrize("cfg", GRID, ids=GRID_IDS)
def test_tiny_blocks_on_threads_exact(cfg):
    rng = np.random.default_rng(7)
    x, w, b = cfg.arrays(rng, integer=True)
    geom = resolved(_batched(x).shape, w.shape, **cfg.kwargs)
    dy = integer_arrays(rng, geom.out_shape if cfg.N is not None else geom.out_shape[1:])[0]
    with blocked_passes():
        _check_exact(x, w, b, dy, cfg.label, **cfg.kwargs)


MEDIUM = (
    Config("medium: stride 2, K=3, pad 1", 5, 37, 41, 8, 16, 3, 3, stride=2, padding=1),
    Config(
        "medium: 'same', K=(5, 4), dilation (1, 2)", 3, 29, 30, 6, 8, 5, 4, padding="same", dilation=(1, 2)
    ),
    Config("medium: stride (3, 2), K=2, tails", 6, 50, 45, 16, 4, 2, 2, stride=(3, 2)),
)


@pytest.mark.parametrize("cfg", MEDIUM, ids=[c.label for c in MEDIUM])
def test_medium_sizes_many_blocks(cfg):
    """Real multi-block, multi-threaded passes (im2col data above the textbook threshold of
    1 MB, several 2 MB blocks for the second), exact against tap_oracle / the loop reference
    and float against JAX."""
    rng = np.random.default_rng(8)
    x, w, b = cfg.arrays(rng, integer=True)
    geom = resolved(x.shape, w.shape, **cfg.kwargs)
    assert not convlib.conv._small(geom, np.float64), "too small for the blocked path"
    dy = integer_arrays(rng, geom.out_shape)[0]
    y, dx, dw, db = conv2d_forward(x, w, **cfg.kwargs), *conv2d_backward(dy, x, w, **cfg.kwargs)
    exact = tap_oracle(x, w, dy, geom.stride, geom.padding, geom.dilation)
    for ours, ex, name in zip((y, dx, dw, db), exact, ("y", "dx", "dw", "db"), strict=True):
        assert_bitwise(ours, ex.astype(np.float64), f"{cfg.label} {name}")
    x, w, b, dy, geom = _float_case(cfg, 9)
    first = (conv2d_forward(x, w, b, **cfg.kwargs), *conv2d_backward(dy, x, w, **cfg.kwargs))
    check_against_jax(x, w, b, dy, *first, what=cfg.label, **cfg.kwargs)
    check_zero_pattern(first[1], geom, cfg.label)
    # Blocks go to whichever thread is free: the bits must not depend on it.
    for _ in range(3):
        again = (conv2d_forward(x, w, b, **cfg.kwargs), *conv2d_backward(dy, x, w, **cfg.kwargs))
        for a, e in zip(again, first, strict=True):
            assert_bitwise(a, e, f"{cfg.label} repeated")
