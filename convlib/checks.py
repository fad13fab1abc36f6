"""Validation of a convolution's arguments, shared by every public entry point.

Bad input gets a ``TypeError`` (wrong kind of object or dtype) or a
``ValueError`` (wrong shape or value) whose message names the offending
values.  Nothing here writes into an argument.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np

from .geometry import (
    PaddingSpec,
    Pair,
    dilated_size,
    normalize_padding,
    normalize_pair,
    output_size,
)

__all__ = [
    "ConvGeometry",
    "as_float_array",
    "check_bias",
    "check_learning_rate",
    "check_output_grad",
    "check_weight",
    "resolve",
    "result_dtype",
]


@dataclass(frozen=True)
class ConvGeometry:
    """Every size of one convolution, resolved to ints.

    ``padding`` is ``((top, bottom), (left, right))``; ``stride`` and
    ``dilation`` are ``(vertical, horizontal)``.
    """

    N: int
    H: int
    W: int
    C: int
    KH: int
    KW: int
    F: int
    stride: Pair
    padding: tuple[Pair, Pair]
    dilation: Pair
    OH: int
    OW: int

    @property
    def padded_hw(self) -> Pair:
        (top, bottom), (left, right) = self.padding
        return (self.H + top + bottom, self.W + left + right)

    @property
    def out_shape(self) -> tuple[int, int, int, int]:
        return (self.N, self.OH, self.OW, self.F)

    @property
    def in_shape(self) -> tuple[int, int, int, int]:
        return (self.N, self.H, self.W, self.C)


def as_float_array(value: object, name: str) -> np.ndarray:
    """Return ``value`` as a float32 or float64 ndarray without copying when possible.

    float32 and float64 keep their dtype, float16 becomes float32, integers
    become float64 (never computed in a wrapping integer type).  ``None``,
    bool, complex, object, string and other dtypes get a ``TypeError``.
    """
    if value is None:
        raise TypeError(f"{name} must be an array of real numbers, got None")
    if isinstance(value, (str, bytes)):
        raise TypeError(f"{name} must be an array of real numbers, got a {type(value).__name__}")
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError) as exc:  # ragged nested lists, for example
        raise TypeError(f"{name} could not be read as an array of real numbers: {exc}") from exc
    kind = arr.dtype.kind
    if kind == "f":
        if arr.dtype == np.float16:
            return arr.astype(np.float32)
        if arr.dtype in (np.float32, np.float64):
            return arr
    elif kind in "iu":
        return arr.astype(np.float64)
    raise TypeError(
        f"{name} has dtype {arr.dtype}; expected float32 or float64 "
        "(integers are promoted to float64; bool, complex, object and strings are rejected)"
    )


def result_dtype(*arrays: np.ndarray | None) -> np.dtype:
    """The common float dtype of the arrays (float32 only if all are float32)."""
    return np.result_type(*[a.dtype for a in arrays if a is not None])


def check_weight(w: np.ndarray) -> None:
    """A weight must be 4-D (KH, KW, C, F) with no zero-sized dimension."""
    if w.ndim != 4:
        raise ValueError(f"weight must be 4-D (KH, KW, C, F), got {w.ndim}-D with shape {w.shape}")
    if 0 in w.shape:
        raise ValueError(f"weight must have no zero-sized dimension, got shape {w.shape}")


def _batched(x: np.ndarray) -> tuple[np.ndarray, bool]:
    """Return ``(x4, unbatched)`` with ``x4`` of shape (N, H, W, C)."""
    if x.ndim == 3:
        return x[np.newaxis], True  # (1, H, W, C)
    if x.ndim == 4:
        return x, False
    raise ValueError(f"input must be 3-D (H, W, C) or 4-D (N, H, W, C), got {x.ndim}-D with shape {x.shape}")


def resolve(
    x: np.ndarray,
    w: np.ndarray,
    stride: object,
    padding: PaddingSpec,
    dilation: object,
) -> tuple[np.ndarray, bool, ConvGeometry]:
    """Check shapes and hyper-parameters; return ``(x4, unbatched, geometry)``."""
    x4, unbatched = _batched(x)
    check_weight(w)
    stride_hw = normalize_pair(stride, "stride", minimum=1)
    dilation_hw = normalize_pair(dilation, "dilation", minimum=1)
    N, H, W, C = x4.shape
    KH, KW, wC, F = w.shape
    if wC != C:
        raise ValueError(
            f"weight expects {wC} input channels (shape {w.shape}), "
            f"got input with {C} channels (shape {x.shape})"
        )
    pad = normalize_padding(padding, (H, W), (KH, KW), stride_hw, dilation_hw)
    out = []
    for axis, (size, k, s, d, (lo, hi)) in enumerate(
        zip((H, W), (KH, KW), stride_hw, dilation_hw, pad, strict=True)
    ):
        n_out = output_size(size, k, s, d, lo, hi)
        if n_out < 1:
            which = "height" if axis == 0 else "width"
            raise ValueError(
                f"kernel {which} {k} (dilation {d}, spanning {dilated_size(k, d)}) is larger "
                f"than the padded input {which} {size + lo + hi} ({size} + padding {lo} + {hi})"
            )
        out.append(n_out)
    geom = ConvGeometry(N, H, W, C, KH, KW, F, stride_hw, pad, dilation_hw, out[0], out[1])
    return x4, unbatched, geom


def check_bias(b: object, F: int) -> np.ndarray | None:
    """Return the bias as a float array of shape (F,), or None."""
    if b is None:
        return None
    barr = as_float_array(b, "bias")
    if barr.shape != (F,):
        raise ValueError(f"bias must have shape ({F},) to match the weight's F={F}, got {barr.shape}")
    return barr


def check_output_grad(dy: np.ndarray, geom: ConvGeometry, unbatched: bool) -> np.ndarray:
    """Return ``dy`` as (N, OH, OW, F), checking it matches the forward output."""
    expected = geom.out_shape[1:] if unbatched else geom.out_shape
    if dy.shape != expected:
        raise ValueError(f"dy must have the forward output's shape {expected}, got {dy.shape}")
    return dy[np.newaxis] if unbatched else dy  # (N, OH, OW, F)


def check_learning_rate(lr: object) -> float:
    """A learning rate must be a finite real number >= 0."""
    if isinstance(lr, bool) or not isinstance(lr, numbers.Real):
        raise TypeError(f"learning rate must be a real number, got {lr!r} ({type(lr).__name__})")
    value = float(lr)
    if not math.isfinite(value) or value < 0:
        raise ValueError(
            f"learning rate must be finite and >= 0, got {lr}"
        )  # str: -inf, not np.float64(-inf)
    return value
