"""Shared oracles, tolerances and hypothesis settings for the convlib core tests.

JAX is a test dependency (``convlib[test]``): it is imported here unconditionally,
so a missing JAX fails the whole suite instead of skipping the oracle tests.

Helpers are plain functions, imported by the test modules with
``from conftest import ...`` (``tests/`` has no ``__init__.py``, so pytest puts it
on ``sys.path``).
"""

from __future__ import annotations

import contextlib
import functools
import os

import jax
import numpy as np
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from jax import lax

from convlib.bounds import backward_bounds, forward_bound, worst_ratio
from convlib.checks import resolve
from convlib.configurations import Config
from convlib.geometry import dilated_size

jax.config.update("jax_enable_x64", True)
# Every new shape compiles; XLA's optimizations cost more compile time than they save
# on these tiny arrays.  The arithmetic is still IEEE float64 (HIGHEST precision).
jax.config.update("jax_disable_most_optimizations", True)

# Reproducible in CI (derandomize), no per-example deadline (the first JAX call of a
# shape compiles), and few enough examples that the suite stays well under 2 minutes
# on 2 cores.  CONVLIB_HYPOTHESIS_PROFILE=thorough runs ten times as many.
settings.register_profile(
    "convlib",
    deadline=None,
    derandomize=True,
    max_examples=25,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
)
settings.register_profile("thorough", parent=settings.get_profile("convlib"), max_examples=250)
settings.load_profile(os.environ.get("CONVLIB_HYPOTHESIS_PROFILE", "convlib"))


# --------------------------------------------------------------------------- geometry


def resolved(x_shape, w_shape, **conv):
    """The library's resolved geometry for these shapes (used only to size test arrays)."""
    _, _, geom = resolve(np.zeros(x_shape), np.zeros(w_shape), conv.get("stride", 1),
                         conv.get("padding", 0), conv.get("dilation", 1))  # fmt: skip
    return geom


def read_rows(size: int, kernel: int, stride: int, dilation: int, pad_lo: int, n_out: int) -> set[int]:
    """Input positions (unpadded indices) that some output window reads, by enumeration."""
    return {
        o * stride + t * dilation - pad_lo
        for o in range(n_out)
        for t in range(kernel)
        if 0 <= o * stride + t * dilation - pad_lo < size
    }


@st.composite
def geometries(draw, max_size=10):
    """A random geometry that fits: padding drawn in every accepted spelling."""
    KH, KW = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    stride = draw(st.sampled_from([1, 2, 3, (1, 2), (3, 1), (2, 3)]))
    dilation = draw(st.sampled_from([1, 1, 2, (1, 2), (3, 1)]))
    padding = draw(
        st.one_of(
            st.integers(0, 3),
            st.tuples(st.integers(0, 3), st.integers(0, 3)),
            st.tuples(
                st.tuples(st.integers(0, 3), st.integers(0, 3)),
                st.tuples(st.integers(0, 3), st.integers(0, 3)),
            ),
            st.sampled_from(["same", "valid"]),
        )
    )
    probe = resolved((1, 50, 50, 1), (KH, KW, 1, 1), stride=stride, padding=padding, dilation=dilation)
    # Smallest input that still fits the dilated kernel into the padded input.
    d = probe.dilation
    pads = [sum(probe.padding[0]), sum(probe.padding[1])] if padding != "same" else [10**9, 10**9]
    H = draw(st.integers(max(1, dilated_size(KH, d[0]) - pads[0]), max_size + 4))
    W = draw(st.integers(max(1, dilated_size(KW, d[1]) - pads[1]), max_size + 4))
    N = draw(st.sampled_from([None, 0, 1, 2, 3]))
    C, F = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    return Config("hypothesis", N, H, W, C, F, KH, KW, stride=stride, padding=padding, dilation=dilation)


# --------------------------------------------------------------------------- JAX oracle


def _jax_padding(padding, geom):
    """JAX spells 'same' itself ('SAME'), so its definition checks ours; numbers are resolved."""
    if isinstance(padding, str):
        return padding.upper()
    return tuple(tuple(p) for p in geom.padding)


@functools.partial(jax.jit, static_argnames=("stride", "padding", "dilation"))
def _jax_forward_vjp(x, w, b, dy, *, stride, padding, dilation):
    def forward(x, w, b):
        y = lax.conv_general_dilated(
            x, w,
            window_strides=stride,
            padding=padding if isinstance(padding, str) else list(padding),
            rhs_dilation=dilation,
            dimension_numbers=("NHWC", "HWIO", "NHWC"),
            precision=lax.Precision.HIGHEST,
        )  # fmt: skip
        return y + b  # (N, OH, OW, F) + (F,)

    y, vjp = jax.vjp(forward, x, w, b)
    return (y, *vjp(dy))


def jax_forward_backward(x, w, b, dy, *, stride=1, padding=0, dilation=1):
    """``(y, dx, dw, db)`` by JAX in float64: ``lax.conv_general_dilated`` and ``jax.vjp``.

    A 3-D ``x`` (and ``dy``) are treated as one sample and the results unbatched,
    as convlib does.  ``dy`` may be None (zeros: only ``y`` is wanted).
    """
    x = np.asarray(x, np.float64)
    w = np.asarray(w, np.float64)
    unbatched = x.ndim == 3
    x4 = x[np.newaxis] if unbatched else x  # (N, H, W, C)
    geom = resolved(x4.shape, w.shape, stride=stride, padding=padding, dilation=dilation)
    b = np.zeros(w.shape[3]) if b is None else np.asarray(b, np.float64)
    if dy is None:
        dy4 = np.zeros(geom.out_shape)
    else:
        dy = np.asarray(dy, np.float64)
        dy4 = dy[np.newaxis] if unbatched else dy  # (N, OH, OW, F)
    y, dx, dw, db = (
        np.asarray(a)
        for a in _jax_forward_vjp(
            x4, w, b, dy4, stride=geom.stride, padding=_jax_padding(padding, geom), dilation=geom.dilation
        )
    )
    if unbatched:
        y, dx = y[0], dx[0]
    return y, dx, dw, db


# --------------------------------------------------------------------------- tolerances


def assert_within(actual, expected, bound, what: str = "") -> None:
    """``|actual - expected| <= bound`` elementwise (bound from convlib.bounds), NaNs matching."""
    actual = np.asarray(actual)
    expected = np.asarray(expected)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    ratio = worst_ratio(actual, expected, bound)
    assert ratio <= 1.0, f"{what}: error/bound = {ratio:.3g} (> 1)"


def assert_bitwise(actual, expected, what: str = "") -> None:
    actual = np.asarray(actual)
    expected = np.asarray(expected)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    assert actual.dtype == expected.dtype, f"{what}: dtype {actual.dtype} != {expected.dtype}"
    assert np.array_equal(actual, expected, equal_nan=True), (
        f"{what}: not bitwise equal; max |diff| = {np.nanmax(np.abs(actual - expected), initial=0.0)}"
    )


def check_against_jax(x, w, b, dy, y, dx, dw, db, *, what="", **conv) -> None:
    """Our ``(y, dx, dw, db)`` against JAX within the float64 rounding bounds.

    Both sides are float64 sums of the same products in different orders; each is
    within gamma_n * conv(|x|, |w|) of the exact value (convlib.bounds), so they
    differ by at most twice that, elementwise.
    """
    jy, jdx, jdw, jdb = jax_forward_backward(x, w, b, dy, **conv)
    assert_within(y, jy, forward_bound(x, w, b, **conv), f"{what} y")
    bdx, bdw, bdb = backward_bounds(dy, x, w, **conv)
    assert_within(dx, jdx, bdx, f"{what} dx")
    assert_within(dw, jdw, bdw, f"{what} dw")
    assert_within(db, jdb, bdb, f"{what} db")


def check_zero_pattern(dx, geom, what: str = "") -> None:
    """``dx`` is exactly zero at input pixels no window reads and nonzero at every other.

    Meant for random standard-normal ``dy`` and ``w``: a read pixel's gradient is a sum of
    random products, zero only with probability 0.  The rows (columns) right before an
    unread tail are read, so they must be nonzero: an off-by-one there is caught.
    """
    dx4 = dx if dx.ndim == 4 else dx[np.newaxis]  # (N, H, W, C)
    (top, _), (left, _) = geom.padding
    rows = read_rows(geom.H, geom.KH, geom.stride[0], geom.dilation[0], top, geom.OH)
    cols = read_rows(geom.W, geom.KW, geom.stride[1], geom.dilation[1], left, geom.OW)
    read = np.zeros((geom.H, geom.W), bool)
    read[np.ix_(sorted(rows), sorted(cols))] = True
    if dx4.shape[0] == 0:
        return
    unread_values = dx4[:, ~read, :]
    assert np.all(unread_values == 0), f"{what}: pixels never read have nonzero gradient"
    assert np.all(dx4[:, read, :] != 0), f"{what}: a pixel that is read has exactly zero gradient"


def check_adjoint(x, w, g, what: str = "", **conv) -> None:
    """``<conv(x, w), g> == <x, dx(g)> == <w, dw(g)>`` within the rounding bound.

    All three are sums of the same products ``x*w*g`` in different orders.  Each side
    is within ``gamma_n * S`` of the exact value, ``S = <conv(|x|, |w|), |g|>``, with
    ``n`` its longest chain of additions: the inner reduction plus the outer dot product.
    """
    from convlib import conv2d_backward, conv2d_forward
    from convlib.bounds import gamma, unit_roundoff

    y = conv2d_forward(x, w, **conv)
    dx, dw, _ = conv2d_backward(g, x, w, **conv)
    lhs = float(np.sum(y * g))
    S = float(np.sum(np.abs(g) * conv2d_forward(np.abs(x), np.abs(w), **conv)))
    KH, KW, C, F = w.shape
    u = unit_roundoff(np.float64)
    n_y = gamma(KH * KW * C + g.size, u)
    n_x = gamma(KH * KW * F + x.size, u)
    n_w = gamma(g.size // F + w.size, u)
    assert_within(lhs, float(np.sum(x * dx)), (n_y + n_x) * S, f"{what} <y,g> = <x,dx>")
    assert_within(lhs, float(np.sum(w * dw)), (n_y + n_w) * S, f"{what} <y,g> = <w,dw>")


def tap_oracle(x, w, dy, stride, padding, dilation=(1, 1)):
    """Exact ``(y, dx, dw, db)`` in int64 arithmetic, one kernel tap at a time.

    Independent of convlib's array code: for tap ``(a, c)`` the outputs read the strided
    slice ``xp[a*d : a*d + s*(OH-1) + 1 : s, c*d : ...]`` of the padded input, so
    ``y += slice @ w[a, c]``, ``dxp[slice] += dy @ w[a, c].T`` and
    ``dw[a, c] = sum over (n, i, j) of slice^T dy``.  Integers: no rounding at all.
    """
    x, w, dy = (np.asarray(a).astype(np.int64) for a in (x, w, dy))
    (top, bottom), (left, right) = padding
    xp = np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)))  # (N, Hp, Wp, C)
    KH, KW, C, F = w.shape
    N, OH, OW, _ = dy.shape
    sh, sw = stride
    dh, dw_ = dilation
    y = np.zeros((N, OH, OW, F), np.int64)
    dxp = np.zeros_like(xp)
    dw = np.zeros_like(w)
    for a in range(KH):
        for c in range(KW):
            r0, c0 = a * dh, c * dw_
            rows, cols = slice(r0, r0 + sh * (OH - 1) + 1, sh), slice(c0, c0 + sw * (OW - 1) + 1, sw)
            window = xp[:, rows, cols]  # (N, OH, OW, C)
            y += window @ w[a, c]  # (N, OH, OW, C) @ (C, F)
            dxp[:, rows, cols] += dy @ w[a, c].T  # (N, OH, OW, F) @ (F, C)
            dw[a, c] = np.tensordot(window, dy, axes=([0, 1, 2], [0, 1, 2]))  # (C, F)
    dx = dxp[:, top : top + x.shape[1], left : left + x.shape[2]]  # (N, H, W, C)
    return y, dx, dw, dy.sum(axis=(0, 1, 2))


@contextlib.contextmanager
def blocked_passes(block_bytes: int = 512):
    """Force convlib's blocked, multi-threaded passes on small arrays.

    convlib.conv runs a pass whose im2col matrix is at most BLOCK_BYTES / 2 as the textbook
    im2col + one product (+ col2im for dx), and only larger passes in cache-sized blocks on
    several threads, with dx by stride phases.  The test geometries are small, so without
    this they would only ever see the textbook path.  With 512-byte blocks and no threshold
    for threads, almost every pass is split into many blocks of a row or less.
    """
    import convlib.im2col
    import convlib.parallel

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(convlib.im2col, "BLOCK_BYTES", block_bytes)
        mp.setattr(convlib.parallel, "PARALLEL_MIN_BYTES", 0)
        yield


def integer_arrays(rng: np.random.Generator, *shapes, low: int = -8, high: int = 8):
    """Integer-valued float64 arrays (the exact tier: every partial sum is representable)."""
    return [rng.integers(low, high + 1, size=s).astype(np.float64) for s in shapes]
