"""The contestants: each turns a (shape, dtype) into one zero-argument callable per pass.

Passes (the same four for every peer):

- ``forward``: ``y = conv(x, w) + b``
- ``input grad``: ``dx`` from ``dy``
- ``weight grad``: ``dw`` and ``db`` from ``dy``
- ``all``: forward, then every gradient (what one training step of the layer costs)

Every callable waits for its result (JAX dispatches asynchronously).  A peer
that is not installed raises :class:`Unavailable`; its columns read ``n/a``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .. import reference
from ..checks import check_output_grad, resolve
from ..conv import _input_grad, _weight_grad, conv2d_backward, conv2d_forward
from .shapes import Shape

__all__ = ["PASSES", "PEERS", "Unavailable", "peer_passes"]

PASSES = ("forward", "input grad", "weight grad", "all")
PEERS = ("convlib", "PyTorch", "JAX", "GEMM ceiling", "loop reference")

Passes = dict[str, Callable[[], object]]


class Unavailable(Exception):
    """The peer cannot run here (not installed, or not meant for this shape/dtype)."""


def convlib_passes(s: Shape, dtype) -> Passes:
    x, w, b, dy = s.arrays(dtype)
    conv = {"stride": s.stride, "padding": s.pad}

    def input_grad():
        x4, unbatched, g = resolve(x, w, s.stride, s.pad, 1)
        return _input_grad(check_output_grad(dy, g, unbatched), w, g, dy.dtype)

    def weight_grad():
        x4, unbatched, g = resolve(x, w, s.stride, s.pad, 1)
        return _weight_grad(check_output_grad(dy, g, unbatched), x4, g, dy.dtype)

    def everything():
        return conv2d_forward(x, w, b, **conv), conv2d_backward(dy, x, w, **conv)

    # The forward pass through the public function; validation costs microseconds.
    return {"forward": lambda: conv2d_forward(x, w, b, **conv), "input grad": input_grad,
            "weight grad": weight_grad, "all": everything}  # fmt: skip


def gemm_passes(s: Shape, dtype) -> Passes:
    """``np.matmul`` of matrices of the sizes of each pass's im2col formulation, into
    preallocated outputs: the speed of the arithmetic alone, without building im2col."""
    rng = np.random.default_rng(1)
    M, K, F = s.M, s.reduction, s.F
    X = rng.standard_normal((M, K)).astype(dtype)  # im2col matrix (N*OH*OW, KH*KW*C)
    Wm = rng.standard_normal((K, F)).astype(dtype)  # (KH*KW*C, F)
    WmT = np.ascontiguousarray(Wm.T)  # (F, KH*KW*C)
    dY = rng.standard_normal((M, F)).astype(dtype)  # (N*OH*OW, F)
    Y, dX, dW = np.empty((M, F), dtype), np.empty((M, K), dtype), np.empty((K, F), dtype)

    def forward():
        return np.matmul(X, Wm, out=Y)  # (M, K) (K, F) -> (M, F)

    def input_grad():
        return np.matmul(dY, WmT, out=dX)  # (M, F) (F, K) -> (M, K)

    def weight_grad():
        return np.matmul(X.T, dY, out=dW)  # (K, M) (M, F) -> (K, F)

    def everything():
        return forward(), input_grad(), weight_grad()

    return {"forward": forward, "input grad": input_grad, "weight grad": weight_grad, "all": everything}


def torch_passes(s: Shape, dtype, threads: int) -> Passes:
    try:
        import torch
    except ImportError as exc:
        raise Unavailable("torch is not installed") from exc
    torch.set_num_threads(threads)
    x, w, b, dy = s.arrays(dtype)
    xt = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))  # (N, C, H, W)
    wt = torch.from_numpy(np.ascontiguousarray(w.transpose(3, 2, 0, 1)))  # (F, C, KH, KW)
    bt = torch.from_numpy(b)
    dyt = torch.from_numpy(np.ascontiguousarray(dy.transpose(0, 3, 1, 2)))  # (N, F, OH, OW)
    stride, pad = [s.stride] * 2, [s.pad] * 2
    conv_backward = torch.ops.aten.convolution_backward

    def backward(mask):
        # What autograd calls for F.conv2d; the mask picks (dx, dw, db).
        return conv_backward(dyt, xt, wt, [s.F], stride, pad, [1, 1], False, [0, 0], 1, mask)

    def forward():
        return torch.nn.functional.conv2d(xt, wt, bt, stride=s.stride, padding=s.pad)

    def everything():
        return forward(), backward([True, True, True])

    with torch.no_grad():
        return {"forward": forward, "input grad": lambda: backward([True, False, False]),
                "weight grad": lambda: backward([False, True, True]), "all": everything}  # fmt: skip


def jax_passes(s: Shape, dtype) -> Passes:
    try:
        import jax
        from jax import lax
    except ImportError as exc:
        raise Unavailable("jax is not installed") from exc
    jax.config.update("jax_enable_x64", True)
    x, w, b, dy = (jax.device_put(a) for a in s.arrays(dtype))

    def conv(x, w, b):
        y = lax.conv_general_dilated(
            x, w, window_strides=(s.stride, s.stride), padding=[(s.pad, s.pad)] * 2,
            dimension_numbers=("NHWC", "HWIO", "NHWC"), precision=lax.Precision.HIGHEST,
        )  # fmt: skip
        return y + b  # (N, OH, OW, F)

    forward = jax.jit(conv)
    input_grad = jax.jit(lambda x, w, b, dy: jax.vjp(lambda x: conv(x, w, b), x)[1](dy))
    weight_grad = jax.jit(lambda x, w, b, dy: jax.vjp(lambda w, b: conv(x, w, b), w, b)[1](dy))

    @jax.jit
    def everything(x, w, b, dy):
        y, vjp = jax.vjp(conv, x, w, b)
        return y, vjp(dy)

    def run(fn, *args):
        return lambda: jax.block_until_ready(fn(*args))

    return {"forward": run(forward, x, w, b), "input grad": run(input_grad, x, w, b, dy),
            "weight grad": run(weight_grad, x, w, b, dy), "all": run(everything, x, w, b, dy)}  # fmt: skip


def loop_passes(s: Shape, dtype) -> Passes:
    """The loop reference (convlib.reference.s3_*), always float64: float64 rows only."""
    if not s.loop:
        raise Unavailable("loop reference: small shapes only")
    if np.dtype(dtype) != np.float64:
        raise Unavailable("loop reference: computes in float64 only")
    x, w, b, dy = s.arrays(np.float64)
    conv = {"stride": s.stride, "padding": s.pad}

    def forward():
        return reference.s3_forward(x, w, b, **conv)

    def input_grad():
        return reference.s3_backward(dy, w, (s.H, s.W), **conv)

    def weight_grad():
        # A step from zero with learning rate -1 returns the gradient sums themselves.
        dw = reference.s3_weight_step(np.zeros_like(w), x, dy, -1.0, **conv)
        return dw, reference.s3_bias_step(np.zeros_like(b), dy, -1.0)

    def everything():
        return forward(), input_grad(), weight_grad()

    return {"forward": forward, "input grad": input_grad, "weight grad": weight_grad, "all": everything}


def peer_passes(peer: str, s: Shape, dtype, threads: int) -> Passes:
    if peer == "convlib":
        return convlib_passes(s, dtype)
    if peer == "PyTorch":
        return torch_passes(s, dtype, threads)
    if peer == "JAX":
        return jax_passes(s, dtype)
    if peer == "GEMM ceiling":
        return gemm_passes(s, dtype)
    if peer == "loop reference":
        return loop_passes(s, dtype)
    raise ValueError(f"unknown peer {peer!r}; expected one of {PEERS}")
