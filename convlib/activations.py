"""Activations ``h`` and their derivatives ``h'``, as the note's ``f = h(y)`` uses them.

Each :class:`Activation` keeps the function and its derivative side by side;
both take the pre-activation ``y`` and return an array of its shape and dtype.
The derivatives are checked against SymPy (``derivations``) and against central
differences (``tests/test_activations.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = ["Activation", "ACTIVATIONS", "get_activation"]


@dataclass(frozen=True)
class Activation:
    """An activation ``h`` with its derivative ``dh = h'``, both elementwise in ``y``."""

    name: str
    fn: Callable[[np.ndarray], np.ndarray]
    derivative: Callable[[np.ndarray], np.ndarray]

    def __call__(self, y: np.ndarray) -> np.ndarray:
        return self.fn(y)


def _identity(y: np.ndarray) -> np.ndarray:
    return np.array(y, copy=True)


def _ones(y: np.ndarray) -> np.ndarray:
    return np.ones_like(y)


def _relu(y: np.ndarray) -> np.ndarray:
    return np.maximum(y, 0)


def _relu_derivative(y: np.ndarray) -> np.ndarray:
    # The derivative at y = 0 is taken as 0 (the usual subgradient choice).  A NaN
    # stays NaN (y > 0 is False for NaN, which would silently zero its delta).
    return np.where(np.isnan(y), y, (y > 0).astype(y.dtype))


def _leaky_relu(y: np.ndarray, slope: float = 0.01) -> np.ndarray:
    return np.where(y > 0, y, y * y.dtype.type(slope))


def _leaky_relu_derivative(y: np.ndarray, slope: float = 0.01) -> np.ndarray:
    # NaN stays NaN, as for relu.
    return np.where(np.isnan(y), y, np.where(y > 0, y.dtype.type(1), y.dtype.type(slope)))


def _sigmoid(y: np.ndarray) -> np.ndarray:
    # 1 / (1 + exp(-y)) overflows exp for y << 0; exp(y) / (1 + exp(y)) does for
    # y >> 0.  With e = exp(-|y|) <= 1 both branches are safe:
    #   y >= 0:  1 / (1 + e)        y < 0:  e / (1 + e)
    e = np.exp(-np.abs(y))
    return np.where(y >= 0, 1 / (1 + e), e / (1 + e)).astype(y.dtype, copy=False)


def _sigmoid_derivative(y: np.ndarray) -> np.ndarray:
    # s * (1 - s) loses all relative accuracy for y >> 0: s rounds towards 1 and
    # 1 - s cancels (y = 30: ~1e-3 relative error; y > 37: exactly 0).  With
    # e = exp(-|y|) <= 1, sigma'(y) = e / (1 + e)^2 for either sign of y, a few
    # roundings from the exact value everywhere.
    e = np.exp(-np.abs(y))
    return (e / ((1 + e) * (1 + e))).astype(y.dtype, copy=False)


def _tanh_derivative(y: np.ndarray) -> np.ndarray:
    # 1 - tanh(y)^2 cancels for |y| >> 0 the same way; with e = exp(-2|y|),
    # tanh'(y) = 1 / cosh(y)^2 = 4e / (1 + e)^2, without cancellation or overflow.
    e = np.exp(-2 * np.abs(y))
    return (4 * e / ((1 + e) * (1 + e))).astype(y.dtype, copy=False)


def _softplus(y: np.ndarray) -> np.ndarray:
    # log(1 + exp(y)) = max(y, 0) + log1p(exp(-|y|)), never overflowing.  Written out
    # rather than np.logaddexp(0, y), which warns "invalid value" on a NaN input.
    return (np.maximum(y, 0) + np.log1p(np.exp(-np.abs(y)))).astype(y.dtype, copy=False)


ACTIVATIONS: dict[str, Activation] = {
    a.name: a
    for a in (
        Activation("identity", _identity, _ones),
        Activation("relu", _relu, _relu_derivative),
        Activation("leaky_relu", _leaky_relu, _leaky_relu_derivative),
        Activation("sigmoid", _sigmoid, _sigmoid_derivative),
        Activation("tanh", np.tanh, _tanh_derivative),
        Activation("softplus", _softplus, _sigmoid),
    )
}


def get_activation(h: str | Activation) -> Activation:
    """Look up an activation by name (``'identity'``, ``'relu'``, ...) or pass one through."""
    if isinstance(h, Activation):
        return h
    if not isinstance(h, str):
        raise TypeError(f"activation must be a name or an Activation, got {type(h).__name__}")
    try:
        return ACTIVATIONS[h]
    except KeyError:
        raise ValueError(f"unknown activation {h!r}; choose one of {sorted(ACTIVATIONS)}") from None
