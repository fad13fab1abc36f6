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
"""

from __future__ import annotations

import numpy as np

from .checks import as_float_array, check_bias, check_output_grad, resolve, result_dtype
from .geometry import PaddingSpec
from .im2col import col2im, im2col, pad_input

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
    K = g.KH * g.KW * g.C
    cols = im2col(pad_input(x4, g, dtype), g)  # (N, OH, OW, KH, KW, C)
    wm = w.astype(dtype, copy=False).reshape(K, g.F)  # (KH*KW*C, F)
    y = cols.reshape(-1, K) @ wm  # (N*OH*OW, F)
    if bias is not None:
        y += bias.astype(dtype, copy=False)
    y = y.reshape(g.out_shape)  # (N, OH, OW, F)
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
    K = g.KH * g.KW * g.C
    dym = dy4.astype(dtype, copy=False).reshape(-1, g.F)  # (N*OH*OW, F)
    wm = w.astype(dtype, copy=False).reshape(K, g.F)  # (KH*KW*C, F)

    cols = im2col(pad_input(x4, g, dtype), g).reshape(-1, K)  # (N*OH*OW, KH*KW*C)
    dw = (cols.T @ dym).reshape(g.KH, g.KW, g.C, g.F)  # (K, F) -> (KH, KW, C, F)
    db = dy4.astype(dtype, copy=False).sum(axis=(0, 1, 2))  # (F,)

    dcols = (dym @ wm.T).reshape(g.N, g.OH, g.OW, g.KH, g.KW, g.C)  # (M, K) -> 6-D
    dx = col2im(dcols, g)  # (N, H, W, C)
    return (dx[0] if unbatched else dx), dw, db
