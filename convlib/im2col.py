"""Windows of the padded input: im2col and its adjoint col2im.

The forward pass ``y = sum_{i',j',k'} w[i',j',k',f] * x[i*s + i'*d, j*s + j'*d, k']``
reads, for one kernel offset ``(i', j')``, a strided slice of the padded input:
rows ``i'*d, i'*d + s, ..., i'*d + s*(OH-1)``.  Stacking those ``KH*KW`` slices
gives the im2col matrix, whose rows are the receptive fields, so the whole
convolution is one matrix product (see :mod:`convlib.conv`).

``col2im`` is the adjoint (transpose) of ``im2col``: where ``im2col`` copies
an input pixel into every window that contains it, ``col2im`` adds every
window's entry back onto that pixel.  That sum is the note's backward sum.
"""

from __future__ import annotations

import numpy as np

from .checks import ConvGeometry

__all__ = ["pad_input", "window", "im2col", "col2im"]


def pad_input(x: np.ndarray, geom: ConvGeometry, dtype: np.dtype) -> np.ndarray:
    """Zero-pad ``x`` (N, H, W, C) to (N, H+top+bottom, W+left+right, C) in ``dtype``.

    Returns ``x`` itself (never written to) when there is nothing to do.
    """
    (top, bottom), (left, right) = geom.padding
    if top == bottom == left == right == 0:
        return x.astype(dtype, copy=False)
    Hp, Wp = geom.padded_hw
    xp = np.zeros((geom.N, Hp, Wp, geom.C), dtype)  # (N, Hp, Wp, C)
    xp[:, top : top + geom.H, left : left + geom.W, :] = x
    return xp


def window(xp: np.ndarray, geom: ConvGeometry, a: int, c: int) -> np.ndarray:
    """View of the padded pixels that kernel offset ``(a, c)`` meets: (N, OH, OW, C).

    Output ``(i, j)`` reads padded pixel ``(i*sh + a*dh, j*sw + c*dw)``.
    """
    sh, sw = geom.stride
    dh, dw = geom.dilation
    r0, c0 = a * dh, c * dw
    return xp[:, r0 : r0 + sh * (geom.OH - 1) + 1 : sh, c0 : c0 + sw * (geom.OW - 1) + 1 : sw, :]


def im2col(xp: np.ndarray, geom: ConvGeometry) -> np.ndarray:
    """Receptive fields of every output: (N, OH, OW, KH, KW, C), a fresh array."""
    cols = np.empty((geom.N, geom.OH, geom.OW, geom.KH, geom.KW, geom.C), xp.dtype)
    for a in range(geom.KH):
        for c in range(geom.KW):
            cols[:, :, :, a, c, :] = window(xp, geom, a, c)  # (N, OH, OW, C)
    return cols


def col2im(dcols: np.ndarray, geom: ConvGeometry) -> np.ndarray:
    """Adjoint of :func:`im2col`: add each window entry back onto its pixel.

    ``dcols`` has shape (N, OH, OW, KH, KW, C); the result is (N, H, W, C), the
    padding cropped away.  Padded rows and columns that no window reads (the
    tail ``(H + pads - d*(K-1) - 1) % s``) receive exactly zero.
    """
    (top, _), (left, _) = geom.padding
    Hp, Wp = geom.padded_hw
    dxp = np.zeros((geom.N, Hp, Wp, geom.C), dcols.dtype)  # (N, Hp, Wp, C)
    for a in range(geom.KH):
        for c in range(geom.KW):
            window(dxp, geom, a, c)[...] += dcols[:, :, :, a, c, :]  # (N, OH, OW, C)
    return dxp[:, top : top + geom.H, left : left + geom.W, :]
