"""Rounding bounds that justify every floating-point tolerance in the project.

A sum of ``n`` products computed in floating point, in any order, satisfies
(Higham, *Accuracy and Stability of Numerical Algorithms*, 2nd ed., §3.1)::

    |computed - exact| <= gamma_n * sum |terms|,    gamma_n = n*u / (1 - n*u)

with ``u`` the unit roundoff (2**-53 for float64, 2**-24 for float32).  Two
implementations that each obey it differ by at most twice that.  The
magnitudes ``sum |terms|`` are the same convolution evaluated on absolute
values, so every bound here is elementwise, not a single relative tolerance
(which fails near cancellation).

Reduction lengths ``n`` (products per entry):

- forward ``y``:   ``KH*KW*C`` products plus the bias
- input grad ``dx``: at most ``KH*KW*F``
- weight grad ``dw`` and bias grad ``db``: ``N*OH*OW``
"""

from __future__ import annotations

import numpy as np

from .conv import conv2d_backward, conv2d_forward

__all__ = ["unit_roundoff", "gamma", "forward_bound", "backward_bounds", "worst_ratio"]


def unit_roundoff(dtype: np.dtype | type) -> float:
    """``u = eps / 2``: 2**-53 for float64, 2**-24 for float32."""
    return float(np.finfo(dtype).eps) / 2


def gamma(n: int, u: float) -> float:
    """Higham's ``gamma_n = n*u / (1 - n*u)``."""
    if n * u >= 1:
        raise ValueError(f"reduction length {n} is too long for unit roundoff {u}")
    return n * u / (1 - n * u)


def forward_bound(x, w, b=None, *, dtype=np.float64, **conv) -> np.ndarray:
    """Elementwise bound on the difference of two computations of ``conv2d_forward``."""
    x, w = np.abs(np.asarray(x, np.float64)), np.abs(np.asarray(w, np.float64))
    mag = conv2d_forward(x, w, None if b is None else np.abs(np.asarray(b, np.float64)), **conv)
    KH, KW, C, _ = w.shape
    # (1 + 2u) covers the rounding of the magnitude itself (all terms >= 0).
    return (
        2
        * gamma(KH * KW * C + 1, unit_roundoff(dtype))
        * mag
        * (1 + 2 * unit_roundoff(np.float64) * KH * KW * C)
    )


def backward_bounds(dy, x, w, *, dtype=np.float64, **conv) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Elementwise bounds on the differences of two computations of ``(dx, dw, db)``."""
    dy, x, w = (np.abs(np.asarray(a, np.float64)) for a in (dy, x, w))
    mdx, mdw, mdb = conv2d_backward(dy, x, w, **conv)
    KH, KW, _, F = w.shape
    M = int(np.prod(dy.shape[:-1]))  # N*OH*OW outputs per kernel
    u = unit_roundoff(dtype)
    slack = 1 + 2 * unit_roundoff(np.float64) * max(KH * KW * F, M, 1)
    return (
        2 * gamma(KH * KW * F, u) * mdx * slack,
        2 * gamma(max(M, 1), u) * mdw * slack,
        2 * gamma(max(M, 1), u) * mdb * slack,
    )


def worst_ratio(actual: np.ndarray, expected: np.ndarray, bound: np.ndarray) -> float:
    """``max |actual - expected| / bound`` (<= 1 passes); where the bound is 0, any
    difference gives ``inf`` (exact agreement required).  NaNs and infinities (with
    their signs) must sit at the same places; only the finite entries are compared."""
    actual, expected = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    if actual.shape != expected.shape:
        raise ValueError(f"shapes differ: {actual.shape} vs {expected.shape}")
    if not np.array_equal(np.isnan(actual), np.isnan(expected)):
        return float("inf")
    # An infinity must meet the same infinity: not a huge finite number (nan_to_num would
    # turn inf into the largest float and call them equal) nor the opposite sign.
    if not np.array_equal(np.isinf(actual), np.isinf(expected)) or np.any(
        np.isinf(actual) & (actual != expected)
    ):
        return float("inf")
    finite = np.isfinite(actual)
    bound = np.broadcast_to(np.asarray(bound, np.float64), actual.shape)
    if actual.size == 0:
        return 0.0
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):  # over: err itself may be inf
        err = np.abs(np.where(finite, actual, 0.0) - np.where(finite, expected, 0.0))
        ratio = np.where(err == 0, 0.0, err / bound)
    return float(ratio.max())
