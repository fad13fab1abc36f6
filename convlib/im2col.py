"""Windows of the padded input: im2col, its adjoint col2im, and im2col in blocks.

The forward pass ``y = sum_{i',j',k'} w[i',j',k',f] * x[i*s + i'*d, j*s + j'*d, k']``
reads, for one kernel offset ``(i', j')``, a strided slice of the padded input:
rows ``i'*d, i'*d + s, ..., i'*d + s*(OH-1)``.  Stacking those ``KH*KW`` slices
gives the im2col matrix, whose rows are the receptive fields, so the whole
convolution is one matrix product (see :mod:`convlib.conv`).

``col2im`` is the adjoint (transpose) of ``im2col``: where ``im2col`` copies
an input pixel into every window that contains it, ``col2im`` adds every
window's entry back onto that pixel.  That sum is the note's backward sum.

Speed (issue 5)
---------------
All the windows together are one strided *view* of the padded input,
:func:`window_view`, with no copy.  Channels-last makes the copy cheap: for one
output pixel and one kernel row ``i'``, the ``KW*C`` numbers ``(j', k')`` are
consecutive in memory when the horizontal dilation is 1, and NumPy copies them as
one run.  :func:`im2col_blocks` copies that view block by block into one small
buffer that stays in the CPU cache and is reused; the caller multiplies each
block right away.  A full im2col matrix (``N*OH*OW*KH*KW*C`` numbers, often
50-500 MB) is never built, so there is no page-faulting on a fresh buffer and the
peak extra memory is one block.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .checks import ConvGeometry

__all__ = [
    "BLOCK_BYTES",
    "col2im",
    "im2col",
    "im2col_blocks",
    "pad_input",
    "window",
    "window_view",
    "windows",
]

# Size of the reused im2col block buffer.  Measured on a 2-core AMD EPYC with
# OpenBLAS (benchmarks/RESULTS.md): 1-4 MB blocks run the matrix products at the
# speed of one big product; much smaller blocks pay per-call overhead, much larger
# ones fall out of the cache.
BLOCK_BYTES = 2 << 20


def pad_input(x: np.ndarray, geom: ConvGeometry, dtype: np.dtype) -> np.ndarray:
    """Zero-pad ``x`` (N, H, W, C) to (N, H+top+bottom, W+left+right, C) in ``dtype``.

    Returns ``x`` itself (never written to) when there is nothing to do.
    """
    (top, bottom), (left, right) = geom.padding
    return pad_spatial(x, (top, bottom), (left, right), dtype)


def pad_spatial(a: np.ndarray, rows: tuple[int, int], cols: tuple[int, int], dtype: np.dtype) -> np.ndarray:
    """Zero-pad the two middle axes of ``a`` (N, H, W, C) by ``rows=(top, bottom)`` and
    ``cols=(left, right)``; returns ``a`` itself (as ``dtype``, never written to) for no padding."""
    (top, bottom), (left, right) = rows, cols
    if top == bottom == left == right == 0:
        return a.astype(dtype, copy=False)
    N, H, W, C = a.shape
    ap = np.zeros((N, H + top + bottom, W + left + right, C), dtype)  # (N, Hp, Wp, C)
    ap[:, top : top + H, left : left + W, :] = a
    return ap


def window(xp: np.ndarray, geom: ConvGeometry, a: int, c: int) -> np.ndarray:
    """View of the padded pixels that kernel offset ``(a, c)`` meets: (N, OH, OW, C).

    Output ``(i, j)`` reads padded pixel ``(i*sh + a*dh, j*sw + c*dw)``.
    """
    sh, sw = geom.stride
    dh, dw = geom.dilation
    r0, c0 = a * dh, c * dw
    return xp[:, r0 : r0 + sh * (geom.OH - 1) + 1 : sh, c0 : c0 + sw * (geom.OW - 1) + 1 : sw, :]


def window_view(
    a: np.ndarray,
    start: tuple[int, int],
    out_hw: tuple[int, int],
    stride: tuple[int, int],
    kernel: tuple[int, int],
    dilation: tuple[int, int],
) -> np.ndarray:
    """Every window of ``a`` (N, H, W, C) as one read-only view (N, OH, OW, KH, KW, C), no copy.

    ``view[n, i, j, p, q, k] = a[n, r0 + i*sh + p*dh, c0 + j*sw + q*dw, k]`` with
    ``(r0, c0) = start`` and ``(OH, OW) = out_hw``; every index must lie inside ``a``.
    """
    (r0, c0), (OH, OW), (sh, sw), (KH, KW), (dh, dw) = start, out_hw, stride, kernel, dilation
    span_h, span_w = dh * (KH - 1) + 1, dw * (KW - 1) + 1
    rows, cols = r0 + sh * (OH - 1) + span_h, c0 + sw * (OW - 1) + span_w
    if min(r0, c0) < 0 or rows > a.shape[1] or cols > a.shape[2]:
        raise ValueError(f"windows up to row {rows}, column {cols} from {start} do not fit {a.shape}")
    sub = a[:, r0:rows, c0:cols, :]  # (N, sh*(OH-1) + span_h, sw*(OW-1) + span_w, C)
    v = sliding_window_view(sub, (span_h, span_w), axis=(1, 2))  # (N, ., ., C, span_h, span_w)
    v = v[:, ::sh, ::sw, :, ::dh, ::dw]  # (N, OH, OW, C, KH, KW)
    return v.transpose(0, 1, 2, 4, 5, 3)  # (N, OH, OW, KH, KW, C)


def windows(xp: np.ndarray, geom: ConvGeometry) -> np.ndarray:
    """The receptive fields of the forward pass as a view of ``xp``: (N, OH, OW, KH, KW, C)."""
    return window_view(xp, (0, 0), (geom.OH, geom.OW), geom.stride, (geom.KH, geom.KW), geom.dilation)


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


def im2col_blocks(
    view: np.ndarray, block_bytes: int | None = None
) -> Iterator[tuple[slice, slice, np.ndarray]]:
    """im2col of a window view, one cache-sized block at a time.

    ``view`` is (N, OH, OW, KH, KW, C) as from :func:`window_view`.  Yields
    ``(ns, rs, cols)``: the block covers samples ``ns`` and output rows ``rs``
    (several whole samples, or some rows of one sample), and ``cols`` is
    ``view[ns, rs]`` copied into a reused buffer and reshaped to the matrix
    (len(ns)*len(rs)*OW, KH*KW*C).  The buffer is overwritten by the next block.
    ``block_bytes`` defaults to the module's :data:`BLOCK_BYTES` at call time.

    The blocks are whole output rows in order, so ``y[ns, rs]`` of a C-contiguous
    (N, OH, OW, F) array is itself C-contiguous and a matrix product can write into it.
    """
    N, OH, OW, KH, KW, C = view.shape
    K = KH * KW * C
    block_bytes = BLOCK_BYTES if block_bytes is None else block_bytes
    rows = max(1, block_bytes // max(1, OW * K * view.dtype.itemsize))  # output rows per block
    if rows >= OH:
        per = rows // OH  # whole samples per block
        spans = [(slice(n, min(N, n + per)), slice(0, OH)) for n in range(0, N, per)]
    else:
        spans = [(slice(n, n + 1), slice(i, min(OH, i + rows))) for n in range(N) for i in range(0, OH, rows)]
    if not spans:
        return
    largest = max((ns.stop - ns.start) * (rs.stop - rs.start) for ns, rs in spans)
    buf = np.empty(largest * OW * K, view.dtype)  # reused by every block
    for ns, rs in spans:
        src = view[ns, rs]  # (n, r, OW, KH, KW, C), strided
        cols = buf[: src.size].reshape(src.shape)  # (n, r, OW, KH, KW, C), contiguous
        np.copyto(cols, src)
        yield ns, rs, cols.reshape(-1, K)  # (n*r*OW, KH*KW*C)
