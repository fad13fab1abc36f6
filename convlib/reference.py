"""The loop reference: the note's sums as plain Python loops, one function per formula id.

These functions are the readable witness beside the vectorized code in
:mod:`convlib.conv`.  Each reads like the note's formula, generalised to a
batch (index ``n``), zero padding and dilation (section 3 also has stride).
They are slow and meant for small arrays; tests compare them with the
vectorized code, with SymPy and with JAX.

Reading the sums
----------------
The note's input is ``f^{l-1}``; here it is ``x``.  Padding is read as the note
reads its zero padding: an index outside the array contributes zero (helpers
:func:`_x_at` and :func:`_delta_at`).  Dilation ``d`` places kernel tap ``i'`` at
input offset ``i'*d``.

Where the note is wrong (see ``derivations/``), these loops implement the
corrected formula and say so in the docstring; the note's literal versions are
transcribed in ``derivations/`` and judged there.

``*_backward`` functions return the note's ``delta^l``: the backward sum,
multiplied by ``h'(y^l)`` when ``dh`` (an array of ``h'(y^l)`` values shaped
like the input) is given, and the plain input gradient when ``dh`` is None.
``*_weight_step`` and ``*_bias_step`` return the updated arrays (never writing
into their arguments).
"""

from __future__ import annotations

import numpy as np

from .geometry import normalize_padding, normalize_pair, output_size

__all__ = [
    "s1_forward", "s1_backward", "s1_weight_step", "s1_bias_step",
    "s2_forward", "s2_backward", "s2_weight_step", "s2_bias_step",
    "s3_forward", "s3_backward", "s3_weight_step", "s3_bias_step",
]  # fmt: skip


# --------------------------------------------------------------------------- helpers


def _geometry(in_hw, kernel_hw, stride, padding, dilation):
    """Resolve ``(stride, dilation, (top, left), (OH, OW))`` with the library's rules."""
    s = normalize_pair(stride, "stride", minimum=1)
    d = normalize_pair(dilation, "dilation", minimum=1)
    pad = normalize_padding(padding, in_hw, kernel_hw, s, d)
    out = tuple(output_size(in_hw[a], kernel_hw[a], s[a], d[a], *pad[a]) for a in range(2))
    if min(out) < 1:
        raise ValueError(f"kernel {kernel_hw} does not fit the padded input {in_hw} {pad}")
    return s, d, (pad[0][0], pad[1][0]), out


def _x_at(x, n, r, c, k):
    """``x[n, r, c, k]`` with zero padding: 0 outside the array."""
    if 0 <= r < x.shape[1] and 0 <= c < x.shape[2]:
        return x[n, r, c, k]
    return 0.0


def _delta_at(delta, n, r, c, f):
    """The note's zero padding of delta: 0 unless ``0 <= r < OH`` and ``0 <= c < OW``."""
    if 0 <= r < delta.shape[1] and 0 <= c < delta.shape[2]:
        return delta[n, r, c, f]
    return 0.0


def _times_dh(g, dh):
    """The note's ``h'(y^l) * sum``: ``dh`` must have the input gradient's shape (no
    silent broadcasting of a wrongly shaped ``h'``)."""
    if dh is None:
        return g
    dh = np.asarray(dh, dtype=np.float64)
    if dh.shape != g.shape:
        raise ValueError(f"dh (h'(y^l)) must have the input's shape {g.shape}, got {dh.shape}")
    return dh * g


def _as4(a, name):
    a = np.asarray(a, dtype=np.float64)
    if a.ndim != 4:
        raise ValueError(f"{name} must be 4-D here, got shape {a.shape}")
    return a


def _single(x3):
    """(N, H, W) -> (N, H, W, 1): section 1 is section 2 with one channel and one kernel."""
    return np.asarray(x3, dtype=np.float64)[..., np.newaxis]  # (N, H, W, 1)


# --------------------------------------------------------------------------- section 3


def s3_forward(x, w, b, *, stride=1, padding=0, dilation=1):
    """``s3.forward``: multiple kernels with stride.

    ``y[n,i,j,f] = sum_{i'<KH} sum_{j'<KW} sum_{k'<C} w[i',j',k',f] * x[n, i*s + i'*d, j*s + j'*d, k']``
    ``+ b[f]``

    with ``x`` zero-padded.  ``x`` (N, H, W, C), ``w`` (KH, KW, C, F), ``b`` (F,).
    """
    x, w = _as4(x, "x"), _as4(w, "w")
    N, H, W, C = x.shape
    KH, KW, _, F = w.shape
    (sh, sw), (dh, dw), (top, left), (OH, OW) = _geometry((H, W), (KH, KW), stride, padding, dilation)
    y = np.zeros((N, OH, OW, F))
    for n in range(N):
        for i in range(OH):
            for j in range(OW):
                for f in range(F):
                    total = 0.0
                    for i_ in range(KH):
                        for j_ in range(KW):
                            for k_ in range(C):
                                r = i * sh + i_ * dh - top
                                c = j * sw + j_ * dw - left
                                total += w[i_, j_, k_, f] * _x_at(x, n, r, c, k_)
                    y[n, i, j, f] = total + b[f]
    return y


def s3_backward(delta, w, input_hw, *, stride=1, padding=0, dilation=1, dh=None):
    """``s3.backward``: ``delta^l`` from ``delta^{l+1}`` (shape (N, OH, OW, F)).

    For every input pixel, sum over the kernel taps ``(i', j')`` and kernels
    ``f'`` whose window covers it: tap ``i'`` of output row ``o`` reads padded row
    ``o*s + i'*d``, so input row ``i`` (padded row ``i + top``) gets the term when
    ``(i + top - i'*d)`` is a multiple of ``s`` and ``o = (i + top - i'*d) / s`` is
    an output row::

        delta^l[n,i,j,k] = h'(y^l)[n,i,j,k] * sum_{i',j',f'} w[i',j',k,f'] * delta[n, o, p, f']

    (zero where ``o``, ``p`` are not integers in range).  This is the corrected
    formula: the note's version runs ``i'`` only to ``KH/stride - 1`` and so drops
    terms when the stride does not divide the kernel (``derivations/``, ``s3``).
    """
    delta, w = _as4(delta, "delta"), _as4(w, "w")
    N, OH, OW, F = delta.shape
    KH, KW, C, _ = w.shape
    H, W = input_hw
    (sh, sw), (dh_, dw_), (top, left), out = _geometry((H, W), (KH, KW), stride, padding, dilation)
    if out != (OH, OW):
        raise ValueError(f"delta has output size {(OH, OW)}, the forward pass gives {out}")
    g = np.zeros((N, H, W, C))
    for n in range(N):
        for i in range(H):
            for j in range(W):
                for k in range(C):
                    total = 0.0
                    for i_ in range(KH):
                        for j_ in range(KW):
                            ri, rj = i + top - i_ * dh_, j + left - j_ * dw_
                            if ri % sh or rj % sw:
                                continue  # this tap never lands on pixel (i, j)
                            for f_ in range(F):
                                total += w[i_, j_, k, f_] * _delta_at(delta, n, ri // sh, rj // sw, f_)
                    g[n, i, j, k] = total
    return _times_dh(g, dh)


def s3_weight_step(w, x, delta, lr, *, stride=1, padding=0, dilation=1):
    """``s3.weight_step``: the note's gradient step for the weights.

    ``w[i,j,k,f] - lr * sum_{n,i',j'} delta[n,i',j',f] * x[n, i*d + i'*s, j*d + j'*s, k]``
    """
    x, w, delta = _as4(x, "x"), _as4(w, "w"), _as4(delta, "delta")
    N, H, W, C = x.shape
    KH, KW, _, F = w.shape
    (sh, sw), (dh, dw), (top, left), (OH, OW) = _geometry((H, W), (KH, KW), stride, padding, dilation)
    new = np.array(w, copy=True)
    for i in range(KH):
        for j in range(KW):
            for k in range(C):
                for f in range(F):
                    total = 0.0
                    for n in range(N):
                        for i_ in range(OH):
                            for j_ in range(OW):
                                r = i * dh + i_ * sh - top
                                c = j * dw + j_ * sw - left
                                total += delta[n, i_, j_, f] * _x_at(x, n, r, c, k)
                    new[i, j, k, f] = w[i, j, k, f] - lr * total
    return new


def s3_bias_step(b, delta, lr):
    """``s3.bias_step``: ``b[f] - lr * sum_{n,i',j'} delta[n,i',j',f]``."""
    delta = _as4(delta, "delta")
    N, OH, OW, F = delta.shape
    new = np.array(b, dtype=np.float64, copy=True)
    for f in range(F):
        total = 0.0
        for n in range(N):
            for i_ in range(OH):
                for j_ in range(OW):
                    total += delta[n, i_, j_, f]
        new[f] = b[f] - lr * total
    return new


# --------------------------------------------------------------------------- section 2


def s2_forward(x, w, b, *, padding=0, dilation=1):
    """``s2.forward``: multiple kernels over an input with depth (stride 1).

    ``y[n,i,j,f] = sum_{i',j',k'} w[i',j',k',f] * x[n, i + i'*d, j + j'*d, k'] + b[f]``
    """
    return s3_forward(x, w, b, stride=1, padding=padding, dilation=dilation)


def s2_backward(delta, w, input_hw, *, padding=0, dilation=1, dh=None):
    """``s2.backward`` (corrected): ``h'(y^l) * sum_{i',j',f'} w[i',j',k,f'] * delta[n, i-i'*d, j-j'*d, f']``.

    The note writes ``w_{i',j',f',f}``: input and output channel swapped with
    respect to its own forward pass, which is wrong unless the kernels happen to
    be symmetric in those two indices (``derivations/``, ``s2``).  Here the
    channel of layer ``l`` is the weight's third index, as in the forward pass.
    Zero padding of ``delta`` outside ``[0, OH) x [0, OW)``.
    """
    delta, w = _as4(delta, "delta"), _as4(w, "w")
    N, OH, OW, F = delta.shape
    KH, KW, C, _ = w.shape
    H, W = input_hw
    _, (dh_, dw_), (top, left), out = _geometry((H, W), (KH, KW), 1, padding, dilation)
    if out != (OH, OW):
        raise ValueError(f"delta has output size {(OH, OW)}, the forward pass gives {out}")
    g = np.zeros((N, H, W, C))
    for n in range(N):
        for i in range(H):
            for j in range(W):
                for k in range(C):
                    total = 0.0
                    for i_ in range(KH):
                        for j_ in range(KW):
                            for f_ in range(F):
                                o, p = i + top - i_ * dh_, j + left - j_ * dw_
                                total += w[i_, j_, k, f_] * _delta_at(delta, n, o, p, f_)
                    g[n, i, j, k] = total
    return _times_dh(g, dh)


def s2_weight_step(w, x, delta, lr, *, padding=0, dilation=1):
    """``s2.weight_step``: the note's gradient step for the weights (stride 1).

    ``w[i,j,k,f] - lr * sum_{n,i',j'} delta[n,i',j',f] * x[n, i*d + i', j*d + j', k]``
    """
    return s3_weight_step(w, x, delta, lr, stride=1, padding=padding, dilation=dilation)


def s2_bias_step(b, delta, lr):
    """``s2.bias_step``: ``b[f] - lr * sum_{n,i',j'} delta[n,i',j',f]``."""
    return s3_bias_step(b, delta, lr)


# --------------------------------------------------------------------------- section 1


def s1_forward(x, w, b, *, padding=0, dilation=1):
    """``s1.forward``: one kernel over a single-channel map.

    ``y[n,i,j] = sum_{i'<KH} sum_{j'<KW} w[i',j'] * x[n, i + i'*d, j + j'*d] + b``

    ``x`` (N, H, W), ``w`` (KH, KW), ``b`` a scalar; returns (N, OH, OW).
    """
    x, w = np.asarray(x, dtype=np.float64), np.asarray(w, dtype=np.float64)
    N, H, W = x.shape
    KH, KW = w.shape
    _, (dh, dw), (top, left), (OH, OW) = _geometry((H, W), (KH, KW), 1, padding, dilation)
    y = np.zeros((N, OH, OW))
    x4 = _single(x)  # (N, H, W, 1)
    for n in range(N):
        for i in range(OH):
            for j in range(OW):
                total = 0.0
                for i_ in range(KH):
                    for j_ in range(KW):
                        total += w[i_, j_] * _x_at(x4, n, i + i_ * dh - top, j + j_ * dw - left, 0)
                y[n, i, j] = total + b
    return y


def s1_backward(delta, w, input_hw, *, padding=0, dilation=1, dh=None):
    """``s1.backward``: ``delta^l[n,i,j] = h'(y^l)[n,i,j] * sum_{i',j'} w[i',j'] * delta[n, i-i'*d, j-j'*d]``.

    ``delta`` (N, OH, OW) is ``delta^{l+1}``, zero outside ``[0, OH) x [0, OW)``
    (the note writes the closed interval ``[0, output height]``; see
    ``derivations/``).  Returns (N, H, W).
    """
    delta, w = np.asarray(delta, dtype=np.float64), np.asarray(w, dtype=np.float64)
    N, OH, OW = delta.shape
    KH, KW = w.shape
    H, W = input_hw
    _, (dh_, dw_), (top, left), out = _geometry((H, W), (KH, KW), 1, padding, dilation)
    if out != (OH, OW):
        raise ValueError(f"delta has output size {(OH, OW)}, the forward pass gives {out}")
    d4 = _single(delta)  # (N, OH, OW, 1)
    g = np.zeros((N, H, W))
    for n in range(N):
        for i in range(H):
            for j in range(W):
                total = 0.0
                for i_ in range(KH):
                    for j_ in range(KW):
                        o, p = i + top - i_ * dh_, j + left - j_ * dw_
                        total += w[i_, j_] * _delta_at(d4, n, o, p, 0)
                g[n, i, j] = total
    return _times_dh(g, dh)


def s1_weight_step(w, x, delta, lr, *, padding=0, dilation=1):
    """``s1.weight_step``: ``w[i,j] - lr * sum_{n,i',j'} delta[n,i',j'] * x[n, i*d + i', j*d + j']``."""
    x, w = np.asarray(x, dtype=np.float64), np.asarray(w, dtype=np.float64)
    N, H, W = x.shape
    KH, KW = w.shape
    delta = np.asarray(delta, dtype=np.float64)
    _, (dh, dw), (top, left), (OH, OW) = _geometry((H, W), (KH, KW), 1, padding, dilation)
    new = np.array(w, copy=True)
    x4 = _single(x)  # (N, H, W, 1)
    for i in range(KH):
        for j in range(KW):
            total = 0.0
            for n in range(N):
                for i_ in range(OH):
                    for j_ in range(OW):
                        total += delta[n, i_, j_] * _x_at(x4, n, i * dh + i_ - top, j * dw + j_ - left, 0)
            new[i, j] = w[i, j] - lr * total
    return new


def s1_bias_step(b, delta, lr):
    """``s1.bias_step``: ``b - lr * sum_{n,i',j'} delta[n,i',j']``."""
    delta = np.asarray(delta, dtype=np.float64)
    total = 0.0
    for n in range(delta.shape[0]):
        for i_ in range(delta.shape[1]):
            for j_ in range(delta.shape[2]):
                total += delta[n, i_, j_]
    return float(b) - lr * total
