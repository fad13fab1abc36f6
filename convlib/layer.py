"""A convolutional layer object: forward, the note's backward, and its gradient step.

One layer ``l`` of the note::

    y^l = conv(f^{l-1}, w^l) + b^l          (s*.forward)
    f^l = h(y^l)

and its backward pass, split the way the layers meet::

    delta^l = h'(y^l) * g^l                 g^l = dL/df^l, from the layer above
    g^{l-1} = sum_{i',j',f'} w^l ... delta^l  the input gradient (s*.backward, before h')
    dw^l, db^l = the sums of s*.weight_step and s*.bias_step

The note writes the backward formula as
``delta^l = h'(y^l) * sum w^{l+1} delta^{l+1}``: the sum is computed by layer
``l+1`` (it owns ``w^{l+1}``) and the factor ``h'(y^l)`` by layer ``l`` (it owns
``h`` and ``y^l``).  So :meth:`Conv2D.backward` takes ``g^l`` (for the top layer,
the loss gradient with respect to its output), forms the note's ``delta^l``
including ``h'`` (kept as :attr:`Conv2D.delta`), and returns ``g^{l-1}``, which
the layer below turns into its own ``delta^{l-1}`` by its own ``h'``.
"""

from __future__ import annotations

import numpy as np

from .activations import Activation, get_activation
from .checks import as_float_array, check_bias, check_learning_rate, check_weight
from .conv import IntOrPair, conv2d_backward, conv2d_forward
from .geometry import PaddingSpec, normalize_padding, normalize_pair

__all__ = ["Conv2D"]


class Conv2D:
    """A 2-D convolutional layer ``f = h(conv(x, w) + b)`` with the note's gradient step.

    Parameters
    ----------
    w : (KH, KW, C, F) array; copied, the caller's array is never written to
    b : (F,) array or None (zeros)
    stride, padding, dilation : as for :func:`convlib.conv2d_forward`
    activation : name (``'identity'``, ``'relu'``, ``'sigmoid'``, ``'tanh'``, ...)
        or an :class:`~convlib.activations.Activation`

    Attributes after :meth:`backward`: ``delta`` (the note's ``delta^l``, shape of
    ``y``), ``dw`` (KH, KW, C, F), ``db`` (F,).

    >>> rng = np.random.default_rng(0)
    >>> layer = Conv2D.initialize(rng, kernel=(2, 2), in_channels=1, out_channels=3)
    >>> layer.forward(np.ones((4, 3, 3, 1))).shape
    (4, 2, 2, 3)
    """

    def __init__(
        self,
        w: np.ndarray,
        b: np.ndarray | None = None,
        *,
        stride: IntOrPair = 1,
        padding: PaddingSpec = 0,
        dilation: IntOrPair = 1,
        activation: str | Activation = "identity",
    ) -> None:
        w = as_float_array(w, "weight")
        check_weight(w)  # the same message as conv2d_forward's, zero-sized weights included
        self.w = np.array(w, copy=True)
        bias = check_bias(b, w.shape[3])
        self.b = (
            np.zeros(w.shape[3], self.w.dtype)
            if bias is None
            else np.array(bias, dtype=self.w.dtype, copy=True)
        )
        self.stride = normalize_pair(stride, "stride", minimum=1)
        self.dilation = normalize_pair(dilation, "dilation", minimum=1)
        # Checked now, so that a bad spec fails at construction; resolved to
        # numbers per input in forward, since 'same' depends on the input size.
        normalize_padding(padding, (1, 1), (1, 1), self.stride, self.dilation)
        self.padding = padding
        self.h = get_activation(activation)
        self._x: np.ndarray | None = None
        self._y: np.ndarray | None = None
        self.delta: np.ndarray | None = None
        self.dw: np.ndarray | None = None
        self.db: np.ndarray | None = None

    @classmethod
    def initialize(
        cls,
        rng: np.random.Generator,
        *,
        kernel: IntOrPair,
        in_channels: int,
        out_channels: int,
        dtype: type = np.float64,
        **kwargs: object,
    ) -> Conv2D:
        """A layer with He-normal weights (std ``sqrt(2 / (KH*KW*C))``) and zero bias."""
        kh, kw = normalize_pair(kernel, "kernel", minimum=1)
        in_channels = normalize_pair(in_channels, "in_channels", minimum=1)[0]
        out_channels = normalize_pair(out_channels, "out_channels", minimum=1)[0]
        fan_in = kh * kw * in_channels
        w = rng.normal(0.0, np.sqrt(2.0 / fan_in), size=(kh, kw, in_channels, out_channels))
        return cls(w.astype(dtype), None, **kwargs)  # type: ignore[arg-type]

    def _conv_args(self) -> dict:
        return {"stride": self.stride, "padding": self.padding, "dilation": self.dilation}

    def forward(self, x: np.ndarray) -> np.ndarray:
        """``f^l = h(conv(x, w) + b)``; keeps ``x`` and ``y`` for :meth:`backward`."""
        y = conv2d_forward(x, self.w, self.b, **self._conv_args())
        # A copy: backward must see the input of this forward pass even if the caller
        # reuses (writes into) its buffer in between, or dw would be silently wrong.
        self._x = np.array(as_float_array(x, "input"), copy=True)
        self._y = y
        self.delta = self.dw = self.db = None
        return self.h(y)

    def backward(self, grad: np.ndarray) -> np.ndarray:
        """From ``g^l = dL/df^l`` to ``g^{l-1} = dL/df^{l-1}`` (for the layer below).

        Forms the note's ``delta^l = h'(y^l) * g^l`` (stored as :attr:`delta`),
        the gradient sums :attr:`dw` and :attr:`db`, and returns the backward sum
        ``sum w^l delta^l`` (``s*.backward`` before the layer below's ``h'``).
        """
        if self._x is None or self._y is None:
            raise RuntimeError("Conv2D.backward called before forward")
        grad = as_float_array(grad, "grad")
        if grad.shape != self._y.shape:
            raise ValueError(f"grad must have the layer output's shape {self._y.shape}, got {grad.shape}")
        self.delta = self.h.derivative(self._y) * grad
        dx, self.dw, self.db = conv2d_backward(self.delta, self._x, self.w, **self._conv_args())
        return dx

    def step(self, lr: float) -> None:
        """The note's gradient step: ``w <- w - lr * dw`` and ``b <- b - lr * db``."""
        lr = check_learning_rate(lr)
        if self.dw is None or self.db is None:
            raise RuntimeError("Conv2D.step called before backward")
        self.w = self.w - lr * self.dw.astype(self.w.dtype, copy=False)
        self.b = self.b - lr * self.db.astype(self.b.dtype, copy=False)

    def __repr__(self) -> str:
        kh, kw, c, f = self.w.shape
        return (
            f"Conv2D(kernel=({kh}, {kw}), in_channels={c}, out_channels={f}, "
            f"stride={self.stride}, padding={self.padding!r}, dilation={self.dilation}, "
            f"activation={self.h.name!r})"
        )
