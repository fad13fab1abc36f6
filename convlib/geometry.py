"""Integer arithmetic of a convolution's geometry: output sizes and padding.

Everything here is pure integer arithmetic on Python ints, kept apart from the
array code so that it can be read and tested on its own (see
``tests/test_geometry.py``).

Notation, per spatial axis: input size ``H``, kernel size ``K``, stride ``s``,
dilation ``d`` (``d = 1`` means none), padding ``p_lo`` before and ``p_hi``
after.  The dilated kernel spans ``d*(K-1) + 1`` input positions, so the number
of outputs is the number of window starts ``0, s, 2s, ...`` that fit in the
padded input (floor division)::

    OH = (H + p_lo + p_hi - d*(K-1) - 1) // s + 1

The padded rows ``(H + p_lo + p_hi - d*(K-1) - 1) % s`` at the end are never
read by the forward pass; their input gradient is exactly zero.
"""

from __future__ import annotations

import numbers

Pair = tuple[int, int]
PaddingSpec = int | tuple | list | str

__all__ = [
    "Pair",
    "PaddingSpec",
    "dilated_size",
    "output_size",
    "same_padding",
    "normalize_pair",
    "normalize_padding",
    "unread_tail",
]


def _is_int(value: object) -> bool:
    # bool is an int subclass; True as a stride is a bug, not a 1.
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def normalize_pair(value: object, name: str, *, minimum: int) -> Pair:
    """Return ``value`` (an int or a pair of ints) as a pair ``(vertical, horizontal)``.

    Raises ``TypeError`` for a non-integer (bools included) and ``ValueError`` for
    a sequence of the wrong length or an entry below ``minimum``.

    >>> normalize_pair(2, "stride", minimum=1)
    (2, 2)
    >>> normalize_pair((1, 3), "stride", minimum=1)
    (1, 3)
    """
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(
                f"{name} must be an int or a pair of ints, got a sequence of length {len(value)}: {value!r}"
            )
        items = tuple(value)
    else:
        items = (value, value)
    for item in items:
        if not _is_int(item):
            raise TypeError(
                f"{name} must be an int or a pair of ints, got {value!r} "
                f"(an entry of type {type(item).__name__})"
            )
        if item < minimum:
            raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
    return (int(items[0]), int(items[1]))


def dilated_size(kernel: int, dilation: int) -> int:
    """Number of input positions one dilated kernel spans: ``d*(K-1) + 1``."""
    return dilation * (kernel - 1) + 1


def output_size(size: int, kernel: int, stride: int, dilation: int, pad_lo: int, pad_hi: int) -> int:
    """Output length along one axis (floor division), or -1 if the kernel does not fit.

    >>> output_size(3, 2, 1, 1, 0, 0)    # the note's 3x3 input, 2x2 kernel
    2
    >>> output_size(7, 3, 2, 1, 0, 0)    # windows start at 0, 2, 4
    3
    >>> output_size(2, 3, 1, 1, 0, 0)    # kernel larger than input
    -1
    """
    span = size + pad_lo + pad_hi - dilated_size(kernel, dilation)
    if span < 0:
        return -1
    return span // stride + 1


def unread_tail(size: int, kernel: int, stride: int, dilation: int, pad_lo: int, pad_hi: int) -> int:
    """Number of trailing padded positions that no output window reads.

    >>> unread_tail(8, 3, 2, 1, 0, 0)    # windows cover 0..6; row 7 is never read
    1
    """
    span = size + pad_lo + pad_hi - dilated_size(kernel, dilation)
    return span % stride if span >= 0 else 0


def same_padding(size: int, kernel: int, stride: int, dilation: int) -> Pair:
    """Padding ``(lo, hi)`` of ``'same'`` as TensorFlow and JAX define it.

    The output length is ``ceil(size / stride)``; the total padding is what that
    needs, never negative; an odd total puts the extra row at the end (bottom or
    right).

    >>> same_padding(5, 3, 1, 1)
    (1, 1)
    >>> same_padding(6, 4, 1, 1)     # total 3: one before, two after
    (1, 2)
    >>> same_padding(7, 3, 2, 1)     # ceil(7/2) = 4 outputs need 9 rows: 2 padded
    (1, 1)
    """
    out = -(-size // stride)  # ceil division
    total = max((out - 1) * stride + dilated_size(kernel, dilation) - size, 0)
    return (total // 2, total - total // 2)


def normalize_padding(
    padding: PaddingSpec, in_hw: Pair, kernel_hw: Pair, stride: Pair, dilation: Pair
) -> tuple[Pair, Pair]:
    """Return padding as ``((top, bottom), (left, right))``.

    Accepts an int, a pair ``(vertical, horizontal)``, a pair of pairs
    ``((top, bottom), (left, right))``, ``'valid'`` (no padding) or ``'same'``
    (see :func:`same_padding`).
    """
    if isinstance(padding, str):
        mode = padding.lower()
        if mode == "valid":
            return ((0, 0), (0, 0))
        if mode == "same":
            return tuple(  # type: ignore[return-value]
                same_padding(in_hw[a], kernel_hw[a], stride[a], dilation[a]) for a in range(2)
            )
        raise ValueError(f"padding must be 'valid' or 'same' when a string, got {padding!r}")
    if isinstance(padding, (tuple, list)):
        if len(padding) != 2:
            raise ValueError(
                "padding must be an int, a pair, a pair of pairs ((top, bottom), (left, right)), "
                f"'valid' or 'same'; got a sequence of length {len(padding)}: {padding!r}"
            )
        if all(isinstance(p, (tuple, list)) for p in padding):
            top_bottom = normalize_pair(padding[0], "padding", minimum=0)
            left_right = normalize_pair(padding[1], "padding", minimum=0)
            return (top_bottom, left_right)
        if any(isinstance(p, (tuple, list)) for p in padding):
            raise ValueError(f"padding mixes ints and pairs: {padding!r}; give two ints or two pairs")
    vertical, horizontal = normalize_pair(padding, "padding", minimum=0)
    return ((vertical, vertical), (horizontal, horizontal))
