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
one run.  :class:`Windows` copies that view block by block into one small
buffer that stays in the CPU cache and is reused; the caller multiplies each
block right away (:mod:`convlib.parallel` runs the blocks on several threads).
A full im2col matrix (``N*OH*OW*KH*KW*C`` numbers, often 50-500 MB) is never
built, so there is no page-faulting on a fresh buffer and the peak extra memory
is one block per thread.

Nor is the padded input built: a block's windows read only a strip of input rows,
so :meth:`Windows.block` zero-pads just that strip into a second small buffer
(or reads ``x`` directly when the strip needs no padding).  A padded copy of the
whole input is one more trip through main memory, on one thread, before any
product starts: 1-2 ms of a 10 ms pass on the issue's shapes (benchmarks/RESULTS.md).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from numpy.lib.stride_tricks import as_strided

from .checks import ConvGeometry

__all__ = [
    "BLOCK_BYTES",
    "Windows",
    "block_spans",
    "col2im",
    "im2col",
    "im2col_blocks",
    "input_windows",
    "pad_input",
    "window",
    "window_view",
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
    rows, cols = r0 + sh * (OH - 1) + dh * (KH - 1) + 1, c0 + sw * (OW - 1) + dw * (KW - 1) + 1
    if min(r0, c0) < 0 or rows > a.shape[1] or cols > a.shape[2]:
        raise ValueError(f"windows up to row {rows}, column {cols} from {start} do not fit {a.shape}")
    # The formula above as strides: moving one output row is sh input rows, one
    # kernel row dh input rows; likewise for columns.  (What sliding_window_view
    # gives, sliced by stride and dilation, without its per-call cost.)
    sN, sH, sW, sC = a.strides
    return as_strided(
        a[:, r0:rows, c0:cols, :],
        shape=(a.shape[0], OH, OW, KH, KW, a.shape[3]),  # (N, OH, OW, KH, KW, C)
        strides=(sN, sh * sH, sw * sW, dh * sH, dw * sW, sC),
        writeable=False,
    )


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


def block_spans(
    view_shape: tuple[int, ...], itemsize: int, block_bytes: int | None = None, min_blocks: int = 1
) -> list[tuple[slice, slice]]:
    """Split the outputs (N, OH) of a window view of shape (N, OH, OW, KH, KW, C) into
    blocks whose im2col matrix takes about ``block_bytes`` (default :data:`BLOCK_BYTES`),
    and into at least ``min_blocks`` blocks when there are that many output rows.

    A block is ``(ns, rs)``: several whole samples (``rs`` all rows), or some rows of
    one sample.  Either way the block's outputs ``y[ns, rs]`` of a C-contiguous
    (N, OH, OW, F) array are themselves C-contiguous, so a matrix product can write
    into them in place.
    """
    N, OH, OW, KH, KW, C = view_shape
    block_bytes = BLOCK_BYTES if block_bytes is None else block_bytes
    rows = block_bytes // max(1, OW * KH * KW * C * itemsize)  # output rows per block
    rows = max(1, min(rows, -(-N * OH // min_blocks)))  # ceil division
    if rows >= OH:
        per = rows // OH  # whole samples per block
        return [(slice(n, min(N, n + per)), slice(0, OH)) for n in range(0, N, per)]
    return [(slice(n, n + 1), slice(i, min(OH, i + rows))) for n in range(N) for i in range(0, OH, rows)]


@dataclass(frozen=True)
class Windows:
    """Every window of ``a`` (N, H, W, C) on an infinite plane of zeros, read block by block.

    ``view[n, i, j, p, q, k] = a[n, r0 + i*sh + p*dh, c0 + j*sw + q*dw, k]``, or 0 where
    that row or column lies outside ``a``, for ``(r0, c0) = first`` (negative for
    padding), ``i < OH``, ``j < OW``: :func:`window_view` of ``a`` zero-padded enough,
    without building the padded array.  Blocks come out in ``dtype``.
    """

    a: np.ndarray  # (N, H, W, C), any float dtype
    first: tuple[int, int]  # row and column of a[:, 0, 0] seen from the first window: (r0, c0)
    out_hw: tuple[int, int]
    stride: tuple[int, int]
    kernel: tuple[int, int]
    dilation: tuple[int, int]
    dtype: np.dtype

    @property
    def shape(self) -> tuple[int, int, int, int, int, int]:
        """(N, OH, OW, KH, KW, C), the shape of the view and of im2col before reshaping."""
        return (self.a.shape[0], *self.out_hw, *self.kernel, self.a.shape[3])

    @property
    def nbytes(self) -> int:
        """Size of the whole im2col matrix of these windows, in bytes."""
        return math.prod(self.shape) * self.dtype.itemsize

    def _reach(self, rs: slice) -> tuple[int, int, int, int]:
        """Rows ``[row_lo, row_hi)`` and columns ``[col_lo, col_hi)`` of ``a`` (extended by
        zeros) that the windows of output rows ``rs`` read."""
        (r0, c0), (OH, OW), (sh, sw), (KH, KW), (dh, dw) = (
            self.first, self.out_hw, self.stride, self.kernel, self.dilation
        )  # fmt: skip
        first, last = range(OH)[rs][0], range(OH)[rs][-1]
        row_lo, row_hi = r0 + first * sh, r0 + last * sh + dh * (KH - 1) + 1
        return row_lo, row_hi, c0, c0 + sw * (OW - 1) + dw * (KW - 1) + 1

    def _within_a(self, rs: slice) -> bool:
        """True when the windows of output rows ``rs`` read no zero outside ``a``."""
        row_lo, row_hi, col_lo, col_hi = self._reach(rs)
        return 0 <= row_lo and row_hi <= self.a.shape[1] and 0 <= col_lo and col_hi <= self.a.shape[2]

    @cached_property
    def _inside(self) -> np.ndarray | None:
        """All the windows as one view of ``a`` when none reaches outside it, else None."""
        if self.out_hw[0] == 0 or not self._within_a(slice(None)):
            return None
        return window_view(self.a, self.first, self.out_hw, self.stride, self.kernel, self.dilation)

    def block(self, ns: slice, rs: slice, scratch: dict[str, np.ndarray]) -> np.ndarray:
        """im2col of the windows ``[ns, rs]``: a contiguous matrix (rows, KH*KW*C).

        ``scratch`` holds the calling thread's reusable buffers; the matrix is a view
        of one of them, overwritten by the next call with the same ``scratch``.
        """
        N, _, _, C = self.a.shape
        (_, OW), (KH, KW) = self.out_hw, self.kernel
        n, r = len(range(N)[ns]), len(range(self.out_hw[0])[rs])
        if self._inside is not None:  # no padding anywhere: slice the one view of `a`
            view = self._inside[ns, rs]  # (n, r, OW, KH, KW, C)
        else:
            row_lo, row_hi, col_lo, col_hi = self._reach(rs)
            if self._within_a(rs):
                src, origin = self.a[ns], (row_lo, col_lo)  # no padding in reach: read `a` itself
            else:
                strip = _buffer(scratch, "strip", n * (row_hi - row_lo) * (col_hi - col_lo) * C, self.dtype)
                src = strip.reshape(n, row_hi - row_lo, col_hi - col_lo, C)  # (n, rows, cols, C)
                _fill_strip(src, self.a[ns], row_lo, col_lo)
                origin = (0, 0)
            view = window_view(src, origin, (r, OW), self.stride, self.kernel, self.dilation)
        cols = _buffer(scratch, "cols", view.size, self.dtype).reshape(view.shape)  # (n, r, OW, KH, KW, C)
        np.copyto(cols, view)
        return cols.reshape(n * r * OW, KH * KW * C)  # (rows, KH*KW*C)


def _buffer(scratch: dict[str, np.ndarray], key: str, size: int, dtype) -> np.ndarray:
    """A 1-D buffer of at least ``size`` numbers from ``scratch``, grown when too small."""
    buf = scratch.get(key)
    if buf is None or buf.size < size or buf.dtype != dtype:
        buf = scratch[key] = np.empty(size, dtype)
    return buf[:size]


def _fill_strip(strip: np.ndarray, a: np.ndarray, row_lo: int, col_lo: int) -> None:
    """``strip[:, i, j] = a[:, row_lo + i, col_lo + j]`` where that is inside ``a``, else 0."""
    _, rows, cols, _ = strip.shape
    H, W = a.shape[1:3]
    i0, i1 = min(max(0, -row_lo), rows), max(0, min(rows, H - row_lo))  # strip rows inside `a`
    j0, j1 = min(max(0, -col_lo), cols), max(0, min(cols, W - col_lo))
    if i0 >= i1 or j0 >= j1:
        strip[...] = 0
        return
    strip[:, :i0] = 0
    strip[:, i1:] = 0
    strip[:, i0:i1, :j0] = 0
    strip[:, i0:i1, j1:] = 0
    strip[:, i0:i1, j0:j1] = a[:, row_lo + i0 : row_lo + i1, col_lo + j0 : col_lo + j1]


def input_windows(x: np.ndarray, geom: ConvGeometry, dtype) -> Windows:
    """The forward pass's receptive fields of ``x`` (N, H, W, C), padding included."""
    (top, _), (left, _) = geom.padding
    return Windows(x, (-top, -left), (geom.OH, geom.OW), geom.stride, (geom.KH, geom.KW), geom.dilation,
                   np.dtype(dtype))  # fmt: skip


def im2col_blocks(
    source: Windows, block_bytes: int | None = None
) -> Iterator[tuple[slice, slice, np.ndarray]]:
    """im2col of ``source``, one cache-sized block at a time, in the calling thread.

    Yields ``(ns, rs, cols)`` for every block of :func:`block_spans`, ``cols`` the
    matrix (rows, KH*KW*C) in one reused buffer (overwritten by the next block).
    :func:`convlib.parallel.run_blocks` does the same on several threads.
    """
    scratch: dict[str, np.ndarray] = {}
    for ns, rs in block_spans(source.shape, source.dtype.itemsize, block_bytes):
        yield ns, rs, source.block(ns, rs, scratch)
