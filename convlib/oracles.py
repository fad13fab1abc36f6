"""Independent witnesses for the vectorized code: JAX automatic differentiation and
central finite differences.

JAX is an optional extra (``pip install convlib[ad]``); importing this module
without it raises ``ImportError`` with that hint.  Importing it switches JAX to
float64 (``jax_enable_x64``): the oracles are only useful at full precision.
"""

from __future__ import annotations

import numpy as np

from .conv import conv2d_forward
from .geometry import normalize_pair

__all__ = [
    "finite_difference_backward",
    "finite_difference_bound",
    "jax_conv2d_backward",
    "jax_conv2d_forward",
]


def _jax():
    try:
        import jax
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("the JAX oracle needs JAX: pip install 'convlib[ad]'") from exc
    jax.config.update("jax_enable_x64", True)
    return jax


def _jax_padding(padding):
    """JAX's own spelling: 'SAME'/'VALID' are passed through, so that its definition
    of 'same' checks ours; numbers become ((top, bottom), (left, right))."""
    if isinstance(padding, str):
        return padding.upper()
    if isinstance(padding, (tuple, list)) and all(isinstance(p, (tuple, list)) for p in padding):
        return [tuple(int(v) for v in p) for p in padding]
    ph, pw = normalize_pair(padding, "padding", minimum=0)
    return [(ph, ph), (pw, pw)]


def _jax_forward_fn(stride, padding, dilation):
    jax = _jax()
    from jax import lax

    def forward(x, w, b):
        y = lax.conv_general_dilated(
            x, w,
            window_strides=normalize_pair(stride, "stride", minimum=1),
            padding=_jax_padding(padding),
            rhs_dilation=normalize_pair(dilation, "dilation", minimum=1),
            dimension_numbers=("NHWC", "HWIO", "NHWC"),
            precision=lax.Precision.HIGHEST,
        )  # fmt: skip
        return y + b

    return jax, forward


def jax_conv2d_forward(x, w, b=None, *, stride=1, padding=0, dilation=1) -> np.ndarray:
    """``lax.conv_general_dilated`` in float64 with NHWC/HWIO/NHWC dimension numbers."""
    jax, forward = _jax_forward_fn(stride, padding, dilation)
    x, w = np.asarray(x, np.float64), np.asarray(w, np.float64)
    b = np.zeros(w.shape[3]) if b is None else np.asarray(b, np.float64)
    return np.asarray(forward(x, w, b))


def jax_conv2d_backward(dy, x, w, *, stride=1, padding=0, dilation=1):
    """``(dx, dw, db)`` by reverse-mode AD: ``jax.vjp`` of the forward pass at ``dy``."""
    jax, forward = _jax_forward_fn(stride, padding, dilation)
    x, w, dy = (np.asarray(a, np.float64) for a in (x, w, dy))
    _, vjp = jax.vjp(forward, x, w, np.zeros(w.shape[3]))
    return tuple(np.asarray(g) for g in vjp(dy))


def finite_difference_backward(dy, x, w, b=None, *, eps=2.0**-10, **conv):
    """``(dx, dw, db)`` by central differences of ``L = sum(dy * conv2d_forward(x, w, b))``.

    ``L`` is linear in each entry separately, so the central difference has no
    truncation error: only rounding remains.  Dividing by the perturbation that
    actually happened, ``(v + eps) - (v - eps)`` as stored, removes the rounding
    of ``v +- eps`` as well; what is left is the rounding of the two values of
    ``L`` divided by about ``2*eps``.
    """
    x, w, dy = (np.array(a, np.float64) for a in (x, w, dy))
    b = np.zeros(w.shape[3]) if b is None else np.array(b, np.float64)

    def loss(xa, wa, ba):
        return float(np.sum(dy * conv2d_forward(xa, wa, ba, **conv)))

    grads = []
    for arr in (x, w, b):
        grad = np.zeros_like(arr)
        for idx in np.ndindex(arr.shape):
            v = arr[idx]
            plus, minus = v + eps, v - eps
            arr[idx] = plus
            lp = loss(x, w, b)
            arr[idx] = minus
            lm = loss(x, w, b)
            arr[idx] = v
            grad[idx] = (lp - lm) / (plus - minus)
        grads.append(grad)
    return tuple(grads)


def finite_difference_bound(dy, x, w, b=None, *, eps=2.0**-10, **conv) -> float:
    """Bound on ``|finite_difference_backward - exact gradient|`` for every entry.

    Each value of ``L`` is a sum of ``n = N*OH*OW*F`` outputs times ``dy``, each
    output a sum of ``KH*KW*C`` products plus the bias, so its rounding error is
    at most ``gamma_{KH*KW*C + 2 + n} * S`` with ``S = sum |dy| * conv(|x|+eps,
    |w|+eps, |b|+eps)`` (every entry perturbed by at most ``eps``).  Two values of
    ``L`` over a step of about ``2*eps``, plus one rounding of the quotient::

        |fd - exact| <= 2 * gamma * S / (2*eps * (1 - u)) + u * |fd|
    """
    from .bounds import gamma, unit_roundoff

    x, w, dy = (np.abs(np.asarray(a, np.float64)) for a in (x, w, dy))
    b = np.zeros(w.shape[3]) if b is None else np.abs(np.asarray(b, np.float64))
    mag = conv2d_forward(x + eps, w + eps, b + eps, **conv)
    S = float(np.sum(dy * mag))
    KH, KW, C, _ = w.shape
    u = unit_roundoff(np.float64)
    g = gamma(KH * KW * C + 2 + dy.size, u)
    return 2 * g * S / (2 * eps * (1 - u)) * (1 + 4 * u)
