"""A small network of convlib layers, trained only with the note's gradient step.

Everything here is built from :class:`convlib.Conv2D`.  A *dense* (fully
connected) layer is a ``Conv2D`` whose kernel covers the whole feature map::

    x (N, H, W, C)  *  w (H, W, C, F)  ->  y (N, 1, 1, F)

so its single output per kernel is ``sum_{i',j',k'} w[i',j',k',f] * x[n,i',j',k'] + b[f]``:
the ``s2.forward`` sum with one window.  A classifier ends in such a layer;
its ``(N, 1, 1, K)`` output, reshaped to ``(N, K)``, are the logits.

Training is plain stochastic gradient descent, layer by layer the note's
``s*.weight_step`` and ``s*.bias_step``: ``w <- w - alpha * dL/dw``,
``b <- b - alpha * dL/db`` (:meth:`Conv2D.step`), with no momentum, no weight
decay and no other optimizer state.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .checks import as_float_array, check_learning_rate
from .layer import Conv2D

__all__ = [
    "History",
    "Sequential",
    "accuracy",
    "dense",
    "digits_cnn",
    "load_digits_split",
    "softmax",
    "softmax_cross_entropy",
    "train",
]


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax of ``logits`` (N, K) -> (N, K), without overflow.

    ``softmax(z) = exp(z - max z) / sum exp(z - max z)``: subtracting the row
    maximum changes nothing mathematically and keeps every ``exp`` <= 1.
    """
    z = as_float_array(logits, "logits")
    if z.ndim != 2:
        raise ValueError(f"logits must be 2-D (N, K), got shape {z.shape}")
    e = np.exp(z - z.max(axis=1, keepdims=True))  # (N, K)
    return e / e.sum(axis=1, keepdims=True)


def _check_labels(labels: object, n: int, k: int) -> np.ndarray:
    lab = np.asarray(labels)
    if lab.dtype.kind not in "iu":
        raise TypeError(f"labels must be integers, got dtype {lab.dtype}")
    if lab.shape != (n,):
        raise ValueError(f"labels must have shape ({n},) to match the logits, got {lab.shape}")
    if n and (lab.min() < 0 or lab.max() >= k):
        raise ValueError(f"labels must lie in [0, {k}), got values from {lab.min()} to {lab.max()}")
    return lab


def softmax_cross_entropy(logits: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean cross-entropy of ``softmax(logits)`` against integer ``labels``, and its gradient.

    ``L = -(1/N) sum_n log softmax(z_n)[labels_n]``, computed as
    ``logsumexp(z_n) - z_n[labels_n]`` (no log of a rounded-to-zero probability).
    Its gradient is ``dL/dz = (softmax(z) - onehot(labels)) / N``.

    Parameters
    ----------
    logits : (N, K) array, N >= 1
    labels : (N,) integers in [0, K)

    Returns
    -------
    (loss, dlogits) with ``dlogits`` of shape (N, K).
    """
    z = as_float_array(logits, "logits")
    if z.ndim != 2 or z.shape[0] == 0:
        raise ValueError(f"logits must be 2-D (N, K) with N >= 1, got shape {z.shape}")
    n, k = z.shape
    lab = _check_labels(labels, n, k)
    zmax = z.max(axis=1, keepdims=True)  # (N, 1)
    logsumexp = zmax[:, 0] + np.log(np.exp(z - zmax).sum(axis=1))  # (N,)
    loss = float(np.mean(logsumexp - z[np.arange(n), lab]))
    grad = softmax(z)  # (N, K)
    grad[np.arange(n), lab] -= 1
    return loss, grad / n


def dense(
    rng: np.random.Generator,
    *,
    in_hw: tuple[int, int],
    in_channels: int,
    out_channels: int,
    activation: str = "identity",
) -> Conv2D:
    """A fully connected layer as a ``Conv2D`` whose kernel is the whole (H, W) map.

    Maps (N, H, W, C) to (N, 1, 1, F) with ``F = out_channels``.
    """
    return Conv2D.initialize(
        rng, kernel=in_hw, in_channels=in_channels, out_channels=out_channels, activation=activation
    )


class Sequential:
    """Layers applied in order: ``f^l = layer_l(f^{l-1})``; backward in reverse order.

    ``backward`` hands each layer ``g^l = dL/df^l`` and passes the returned
    ``g^{l-1}`` down, so every layer forms its own ``delta^l = h'(y^l) * g^l``
    (see :mod:`convlib.layer`).
    """

    def __init__(self, layers: Sequence[Conv2D]) -> None:
        layers = list(layers)
        if not layers:
            raise ValueError("a Sequential network needs at least one layer")
        for number, layer in enumerate(layers):
            if not isinstance(layer, Conv2D):
                raise TypeError(f"layer {number} must be a convlib.Conv2D, got {type(layer).__name__}")
        self.layers = layers

    def forward(self, x: np.ndarray) -> np.ndarray:
        """(N, H, W, C) -> the last layer's output (N, OH, OW, F)."""
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def logits(self, x: np.ndarray) -> np.ndarray:
        """The last layer's (N, 1, 1, K) output as (N, K) logits."""
        out = self.forward(x)
        if out.shape[1:3] != (1, 1):
            raise ValueError(
                f"the last layer must give a 1x1 output to be read as logits, got shape {out.shape}; "
                "end the network with convlib.training.dense(...)"
            )
        return out.reshape(out.shape[0], out.shape[3])  # (N, 1, 1, K) -> (N, K)

    def backward(self, grad: np.ndarray) -> np.ndarray:
        """From ``dL/d(output)`` to ``dL/d(input)``; each layer keeps its ``dw``, ``db``.

        ``grad`` may be (N, K) logits gradients for a 1x1 output; it is reshaped
        to (N, 1, 1, K).
        """
        grad = as_float_array(grad, "grad")
        if grad.ndim == 2:
            grad = grad.reshape(grad.shape[0], 1, 1, grad.shape[1])  # (N, K) -> (N, 1, 1, K)
        for layer in reversed(self.layers):
            grad = layer.backward(grad)
        return grad

    def step(self, lr: float) -> None:
        """The note's gradient step on every layer: ``w -= lr * dw``, ``b -= lr * db``."""
        lr = check_learning_rate(lr)
        for layer in self.layers:
            layer.step(lr)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Class labels (N,): the index of the largest logit."""
        return np.argmax(self.logits(x), axis=1)

    def __repr__(self) -> str:
        inner = ",\n  ".join(repr(layer) for layer in self.layers)
        return f"Sequential([\n  {inner},\n])"


def accuracy(net: Sequential, x: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of samples whose predicted class equals the label."""
    pred = net.predict(x)
    lab = _check_labels(labels, pred.shape[0], np.iinfo(np.int64).max)
    return float(np.mean(pred == lab))


def digits_cnn(rng: np.random.Generator, *, channels: tuple[int, int] = (16, 32)) -> Sequential:
    """The small CNN for 8x8 digits (10 classes)::

    (N, 8, 8, 1)  --3x3 'same', relu-->            (N, 8, 8, c1)
                  --3x3 stride 2 'same', relu-->   (N, 4, 4, c2)
                  --dense 4x4-->                   (N, 1, 1, 10)  logits
    """
    c1, c2 = channels
    return Sequential(
        [
            Conv2D.initialize(
                rng, kernel=3, in_channels=1, out_channels=c1, padding="same", activation="relu"
            ),
            Conv2D.initialize(
                rng, kernel=3, in_channels=c1, out_channels=c2, stride=2, padding="same", activation="relu"
            ),
            dense(rng, in_hw=(4, 4), in_channels=c2, out_channels=10),
        ]
    )


@dataclass
class History:
    """Per-epoch record of a training run (epoch 0 is before the first step)."""

    loss: list[float] = field(default_factory=list)  # mean training loss over the epoch's batches
    train_accuracy: list[float] = field(default_factory=list)
    test_accuracy: list[float] = field(default_factory=list)


def train(
    net: Sequential,
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    *,
    epochs: int,
    lr: float,
    batch_size: int,
    rng: np.random.Generator,
    lr_decay: float = 1.0,
) -> History:
    """Mini-batch SGD with the note's gradient step; returns the :class:`History`.

    Each epoch shuffles the training set with ``rng``, and for every batch runs
    forward, :func:`softmax_cross_entropy`, backward and :meth:`Sequential.step`
    with learning rate ``lr * lr_decay**epoch`` (epoch 0, 1, ...): the step is
    the note's ``w <- w - alpha * dw`` with a step size that shrinks per epoch.
    ``x_*`` are (N, H, W, C), ``y_*`` integer labels (N,).  Entry 0 of the
    history is the untrained network (its loss on the whole training set).
    """
    lr = check_learning_rate(lr)
    if isinstance(lr_decay, bool) or not isinstance(lr_decay, (int, float)) or not 0 < lr_decay <= 1:
        raise ValueError(f"lr_decay must be a number in (0, 1], got {lr_decay!r}")
    if not isinstance(epochs, int) or epochs < 0:
        raise ValueError(f"epochs must be an int >= 0, got {epochs!r}")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
    x_train = as_float_array(x_train, "x_train")
    if x_train.ndim != 4 or x_train.shape[0] == 0:
        raise ValueError(f"x_train must be (N, H, W, C) with N >= 1, got shape {x_train.shape}")
    n = x_train.shape[0]
    history = History()

    def record(loss: float) -> None:
        history.loss.append(loss)
        history.train_accuracy.append(accuracy(net, x_train, y_train))
        history.test_accuracy.append(accuracy(net, x_test, y_test))

    record(softmax_cross_entropy(net.logits(x_train), y_train)[0])
    for epoch in range(epochs):
        alpha = lr * lr_decay**epoch
        order = rng.permutation(n)
        total, seen = 0.0, 0
        # Full batches only: a short last batch would weigh each of its samples
        # more in the mean loss (a larger step per sample).
        for start in range(0, n - batch_size + 1, batch_size):
            batch = order[start : start + batch_size]
            loss, dlogits = softmax_cross_entropy(net.logits(x_train[batch]), y_train[batch])
            net.backward(dlogits)
            net.step(alpha)
            total += loss * len(batch)
            seen += len(batch)
        record(total / seen if seen else float("nan"))
    return history


def load_digits_split(
    test_fraction: float = 0.25, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """scikit-learn's bundled 8x8 digits (1797 images), split stratified by class.

    Pixel values 0..16 are scaled to [0, 1].  Returns
    ``(x_train, y_train, x_test, y_test)`` with images (N, 8, 8, 1) and labels (N,).
    Needs scikit-learn (``pip install 'convlib[notebooks]'``).
    """
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must lie strictly between 0 and 1, got {test_fraction!r}")
    try:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("the digits data set needs scikit-learn: pip install 'convlib[notebooks]'") from exc
    digits = load_digits()
    images = (digits.images / 16.0)[..., np.newaxis]  # (1797, 8, 8) -> (1797, 8, 8, 1)
    x_train, x_test, y_train, y_test = train_test_split(
        images, digits.target, test_size=test_fraction, random_state=seed, stratify=digits.target
    )
    return x_train, y_train.astype(np.int64), x_test, y_test.astype(np.int64)
