"""The vectorized convolution: forward pass and its three gradients.

Shapes (channels-last, as the note indexes them)::

    x  (N, H, W, C)     w  (KH, KW, C, F)     b  (F,)     y, dy  (N, OH, OW, F)

A 3-D ``x`` of shape (H, W, C) is one unbatched sample and gives unbatched
results.  ``OH = (H + top + bottom - dh*(KH-1) - 1) // sh + 1`` (see
:mod:`convlib.geometry`).

The identity behind all three passes
------------------------------------
With ``cols = im2col(x)`` reshaped to a matrix ``X`` of shape (M, K), where
``M = N*OH*OW`` outputs and ``K = KH*KW*C`` is the reduction length, and the
weights reshaped to ``Wm`` (K, F)::

    forward:          Y  = X @ Wm + b          (M, K) (K, F) -> (M, F)
    weight gradient:  dW = X.T @ dY            (K, M) (M, F) -> (K, F)
    bias gradient:    db = dY summed over M                 -> (F,)
    input gradient:   dX = dY @ Wm.T           (M, F) (F, K) -> (M, K)
                      dx = col2im(dX)          add each window back onto its pixels

``dW`` and ``dX`` are the transposes of the forward's matrix product.  The last
line is where the note's backward sum comes from: input pixel ``x[i, j]`` sits
in every window that covers it, so its gradient collects one term per
(window, kernel offset) pair that reads it.  For stride 1 without padding this is
the full correlation of ``dy`` with the flipped kernel, i.e. the note's
``sum_{i',j'} w[i',j'] * delta[i-i', j-j']`` with zero padding of ``delta``.

How the code runs it fast (issue 5)
-----------------------------------
- ``X`` is never built whole: rows of ``X`` are independent, so the forward pass
  and ``dW`` take ``X`` one cache-sized block of rows at a time
  (:func:`convlib.im2col.block_spans`): ``Y[block] = X[block] @ Wm`` written in
  place, and ``dW = sum over blocks of X[block].T @ dY[block]``.  The blocks are
  shared out to as many threads as BLAS may use (:mod:`convlib.parallel`).
- ``dx`` is not computed as ``col2im(dY @ Wm.T)``: the scatter-add of ``col2im``
  runs far below matrix-product speed, worst with stride > 1.  Instead ``dx`` is
  split into ``sh*sw`` stride phases, each a dense stride-1 correlation of ``dy``
  with a flipped sub-kernel, i.e. again im2col and one matrix product per block
  (:mod:`convlib.phases`).  Every product of ``dY @ Wm.T`` is done once, no zero
  is multiplied, nothing is scattered.

Each entry is still a sum of the same products (``KH*KW*C`` for ``y``, at most
``KH*KW*F`` for ``dx``, ``N*OH*OW`` for ``dw``, ``db``), only in a different order,
so the rounding bounds of :mod:`convlib.bounds` hold, and integer-valued inputs
give the loop reference's results bit for bit.
"""

from __future__ import annotations

import numpy as np

from . import im2col as _im2col
from .checks import ConvGeometry, as_float_array, check_bias, check_output_grad, resolve, result_dtype
from .geometry import PaddingSpec
from .im2col import Windows, col2im, im2col, input_windows, pad_input, pad_spatial
from .parallel import run_blocks
from .phases import axis_phases, dy_padding

__all__ = ["conv2d_forward", "conv2d_backward"]

IntOrPair = int | tuple[int, int]


def conv2d_forward(
    x: np.ndarray,
    w: np.ndarray,
    b: np.ndarray | None = None,
    *,
    stride: IntOrPair = 1,
    padding: PaddingSpec = 0,
    dilation: IntOrPair = 1,
) -> np.ndarray:
    """Cross-correlate ``x`` with ``w`` and add ``b``: formulas ``s1/s2/s3.forward``.

    ``y[n, i, j, f] = sum_{i', j', k'} w[i', j', k', f] * xp[n, i*sh + i'*dh, j*sw + j'*dw, k'] + b[f]``
    where ``xp`` is ``x`` zero-padded by ``padding``.

    Parameters
    ----------
    x : (N, H, W, C) or (H, W, C) array
    w : (KH, KW, C, F) array
    b : (F,) array or None
    stride, dilation : int or (vertical, horizontal), each >= 1
    padding : int, (vertical, horizontal), ((top, bottom), (left, right)),
        ``'valid'`` or ``'same'`` (TensorFlow/JAX: output ``ceil(H / stride)``,
        any odd padding at the bottom/right)

    Returns
    -------
    y : (N, OH, OW, F), or (OH, OW, F) for a 3-D ``x``; float32 if every
        argument is float32, else float64.

    >>> x = np.arange(9.0).reshape(3, 3, 1)        # the note's 3x3 input
    >>> w = np.array([[1.0, 0.0], [0.0, -1.0]]).reshape(2, 2, 1, 1)
    >>> conv2d_forward(x, w, np.array([10.0]))[..., 0]
    array([[6., 6.],
           [6., 6.]])
    """
    x = as_float_array(x, "input")
    w = as_float_array(w, "weight")
    x4, unbatched, g = resolve(x, w, stride, padding, dilation)
    bias = check_bias(b, g.F)
    dtype = result_dtype(x4, w, bias)
    y = _forward(x4, w, bias, g, dtype)  # (N, OH, OW, F)
    return y[0] if unbatched else y


def conv2d_backward(
    dy: np.ndarray,
    x: np.ndarray,
    w: np.ndarray,
    *,
    stride: IntOrPair = 1,
    padding: PaddingSpec = 0,
    dilation: IntOrPair = 1,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of ``L = sum(dy * y)``: ``(dx, dw, db)`` in argument order.

    - ``dx = dL/dx`` is the sum of formulas ``s1/s2/s3.backward`` *before* the
      ``h'`` factor: ``dx[n,i,j,k] = sum w[i',j',k,f] * dy[n,o,p,f]`` over every
      output ``(o, p)`` and offset ``(i', j')`` with ``o*sh + i'*dh = i + top`` and
      ``p*sw + j'*dw = j + left``.
    - ``dw`` is the sum in ``s1/s2/s3.weight_step``:
      ``dw[i,j,k,f] = sum_{n,i',j'} dy[n,i',j',f] * xp[n, i'*sh + i*dh, j'*sw + j*dw, k]``.
    - ``db`` is the sum in ``s1/s2/s3.bias_step``: ``db[f] = sum_{n,i',j'} dy[n,i',j',f]``.

    ``x`` is needed for ``dw`` and for its shape: with stride > 1 several input
    sizes give the same output size, so ``dy`` alone cannot tell it.

    Shapes: ``dy`` (N, OH, OW, F) as returned by :func:`conv2d_forward` with the
    same arguments; ``dx`` like ``x``; ``dw`` (KH, KW, C, F); ``db`` (F,).
    """
    x = as_float_array(x, "input")
    w = as_float_array(w, "weight")
    dy = as_float_array(dy, "dy")
    x4, unbatched, g = resolve(x, w, stride, padding, dilation)
    dy4 = check_output_grad(dy, g, unbatched)  # (N, OH, OW, F)
    dtype = result_dtype(x4, w, dy4)
    dx = _input_grad(dy4, w, g, dtype)  # (N, H, W, C)
    dw, db = _weight_grad(dy4, x4, g, dtype)  # (KH, KW, C, F), (F,)
    return (dx[0] if unbatched else dx), dw, db


# --------------------------------------------------------------------------- the three passes
# Each takes validated 4-D arrays, the resolved geometry and the result dtype.
# The benchmark (convlib.bench) times them one by one.


def _small(g: ConvGeometry, dtype) -> bool:
    """True when the whole im2col matrix (N*OH*OW, KH*KW*C) is at most half a block.

    Such a pass takes well under a millisecond, much of it Python overhead: the
    textbook formulation (whole im2col matrix, one product; col2im for ``dx``) makes
    fewer NumPy calls than blocks, threads and phases.  Measured on the MNIST-like
    shape of the benchmark (0.9 MB of im2col in float64): forward 0.46 ms against
    0.65 ms blocked, ``dx`` 0.66 against 1.5 ms (with ``C = 1`` each phase product
    has a single output column), ``dw`` 0.66 against 0.85 ms; at 5 MB (the issue's
    K=5 shape) the blocked passes are 1.6-2.3x faster.  Same products per entry, so
    the same rounding bounds and the same exact tier.  (Tied to the block size so
    that tests which shrink the blocks also exercise the blocked code on small arrays.)
    """
    return g.N * g.OH * g.OW * g.KH * g.KW * g.C * np.dtype(dtype).itemsize <= _im2col.BLOCK_BYTES // 2


def _forward(x4: np.ndarray, w: np.ndarray, bias: np.ndarray | None, g: ConvGeometry, dtype) -> np.ndarray:
    """``Y = X @ Wm + b``, one block of im2col rows at a time: (N, OH, OW, F)."""
    K = g.KH * g.KW * g.C
    wm = w.astype(dtype, copy=False).reshape(K, g.F)  # (KH*KW*C, F)
    b = None if bias is None else bias.astype(dtype, copy=False)  # (F,)
    if _small(g, dtype):  # the textbook three lines: im2col, reshape, one product
        y = im2col(pad_input(x4, g, dtype), g).reshape(-1, K) @ wm  # (N*OH*OW, F)
        if b is not None:
            y += b
        return y.reshape(g.out_shape)  # (N, OH, OW, F)
    y = np.empty(g.out_shape, dtype)  # (N, OH, OW, F)

    def block(ns: slice, rs: slice, cols: np.ndarray) -> None:  # cols: (rows, KH*KW*C)
        out = y[ns, rs].reshape(-1, g.F)  # (rows, F), a view: blocks are whole output rows
        np.matmul(cols, wm, out=out)
        if b is not None:
            out += b

    run_blocks([(input_windows(x4, g, dtype), block)])  # windows (N, OH, OW, KH, KW, C), padded per block
    return y


def _weight_grad(dy4: np.ndarray, x4: np.ndarray, g: ConvGeometry, dtype) -> tuple[np.ndarray, np.ndarray]:
    """``dW = X.T @ dY`` summed block by block, and ``db = sum of dY``: (KH, KW, C, F), (F,)."""
    K = g.KH * g.KW * g.C
    dy4 = np.ascontiguousarray(dy4, dtype)  # (N, OH, OW, F)
    if _small(g, dtype):  # the textbook: dW = X.T @ dY with the whole im2col matrix X
        cols = im2col(pad_input(x4, g, dtype), g).reshape(-1, K)  # (N*OH*OW, KH*KW*C)
        dw = cols.T @ dy4.reshape(-1, g.F)  # (K, M) (M, F) -> (K, F)
        return dw.reshape(g.KH, g.KW, g.C, g.F), dy4.sum(axis=(0, 1, 2))  # (KH, KW, C, F), (F,)
    partial: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}  # each block's X.T @ dY, sum of dY

    def block(ns: slice, rs: slice, cols: np.ndarray) -> None:  # cols: (rows, KH*KW*C)
        dyb = dy4[ns, rs].reshape(-1, g.F)  # (rows, F)
        partial[ns.start, rs.start] = (cols.T @ dyb, dyb.sum(axis=0))  # (K, rows) (rows, F) -> (K, F); (F,)

    run_blocks([(input_windows(x4, g, dtype), block)])  # windows (N, OH, OW, KH, KW, C), padded per block
    dw = np.zeros((K, g.F), dtype)  # (KH*KW*C, F)
    db = np.zeros(g.F, dtype)
    for key in sorted(partial):  # block order, whichever thread ran it: the same bits every call
        dw += partial[key][0]
        db += partial[key][1]
    return dw.reshape(g.KH, g.KW, g.C, g.F), db  # (K, F) -> (KH, KW, C, F)


def _input_grad(dy4: np.ndarray, w: np.ndarray, g: ConvGeometry, dtype) -> np.ndarray:
    """``dx`` by stride phases, each a stride-1 correlation of ``dy``: (N, H, W, C).

    Identity (see :mod:`convlib.phases`): input row ``i = sh*q + rho`` is reached
    only by the kernel rows ``a`` with ``(rho + top - a*dh) % sh == 0``, from output
    row ``q - t_a``; likewise for columns.  So the input pixels of one phase
    ``(rho_h, rho_w)`` form a grid ``dx[:, rho_h::sh, rho_w::sw]`` that is the
    stride-1 correlation of the zero-padded ``dy`` with that phase's taps of ``w``,
    flipped and with ``C`` and ``F`` swapped -- a forward pass, so the same im2col
    blocks and one matrix product each: ``(rows, JH*JW*F) @ (JH*JW*F, C)``.
    """
    K = g.KH * g.KW * g.C
    if _small(g, dtype):  # the textbook: dX = dY @ Wm.T, then col2im
        dym = np.ascontiguousarray(dy4, dtype).reshape(-1, g.F)  # (N*OH*OW, F)
        wm = w.astype(dtype, copy=False).reshape(K, g.F)  # (KH*KW*C, F)
        dcols = (dym @ wm.T).reshape(g.N, g.OH, g.OW, g.KH, g.KW, g.C)  # (M, K) -> 6-D
        return np.ascontiguousarray(col2im(dcols, g))  # (N, H, W, C)
    sh, sw = g.stride
    dh, dw = g.dilation
    (top, _), (left, _) = g.padding
    rows_ph = axis_phases(g.H, g.KH, sh, dh, top)
    cols_ph = axis_phases(g.W, g.KW, sw, dw, left)
    # One zero-padded copy of dy, shared by the phases (padding each block's strip of dy
    # instead, as the forward pass does with x, pads it once per phase: measured 2-15% slower).
    pad_h, pad_w = dy_padding(rows_ph, g.OH), dy_padding(cols_ph, g.OW)
    dyp = pad_spatial(dy4, pad_h, pad_w, dtype)  # (N, pad + OH + pad, pad + OW + pad, F)
    w = w.astype(dtype, copy=False)
    dx = np.empty(g.in_shape, dtype)  # (N, H, W, C); every phase is written below
    jobs = []  # one im2col job per phase with taps, all run together
    for ph in rows_ph:
        for pw in cols_ph:
            grid = dx[:, ph.rho :: sh, pw.rho :: sw, :]  # (N, count_h, count_w, C), this phase's pixels
            if grid.size == 0:
                continue
            if not ph.taps or not pw.taps:
                grid[...] = 0  # no kernel tap lands on these pixels
                continue
            JH, JW = len(ph.taps), len(pw.taps)
            sub = w[list(ph.taps[::-1])][:, list(pw.taps[::-1])]  # (JH, JW, C, F), taps flipped
            wm = sub.transpose(0, 1, 3, 2).reshape(JH * JW * g.F, g.C)  # (JH*JW*F, C)
            # (N, count_h, count_w, JH, JW, F): row q reads dy rows start + q + j*step, inside dyp
            view = Windows(dyp, (pad_h[0] + ph.start, pad_w[0] + pw.start), (ph.count, pw.count), (1, 1),
                           (JH, JW), (ph.step, pw.step), np.dtype(dtype))  # fmt: skip
            jobs.append((view, _phase_block(dx, grid, wm, direct=(sh == sw == 1))))
    run_blocks(jobs)
    return dx


def _phase_block(dx: np.ndarray, grid: np.ndarray, wm: np.ndarray, *, direct: bool):
    """The work on one im2col block of a phase: ``grid[block] = cols @ wm``."""
    C = dx.shape[3]

    def block(ns: slice, rs: slice, cols: np.ndarray) -> None:  # cols: (rows, JH*JW*F)
        if direct:  # stride 1: one phase, the grid is dx itself, write in place
            np.matmul(cols, wm, out=dx[ns, rs].reshape(-1, C))  # (rows, C)
        else:  # a strided grid: multiply, then copy into place
            part = grid[ns, rs]  # (n, r, count_w, C), strided view of dx
            part[...] = (cols @ wm).reshape(part.shape)  # (rows, C) -> (n, r, count_w, C)

    return block
