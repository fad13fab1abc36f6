"""How a formula reads an array entry: the note's zero-padding rule, and "undefined".

A formula is evaluated by ``lambdify``; its ``x[i + i', j + j']`` becomes an
item lookup on one of these wrappers.  An index outside the stored entries is
never wrapped around (NumPy would read ``x[-1]`` as the last row): unless a
zero rule covers it, it yields an *undefined marker*, a distinct symbol
``undefined(g[2,0,0])``, so any formula that reads a missing entry gets a value
that differs from the truth and is reported, never silently repaired.

Rules (one per array, stated on the generated pages):

* :class:`Strict` -- the stored entries only.
* :class:`ZeroOutside` -- 0 when the first two indices leave a box.  ``closed=True``
  is the note's literal rule ``delta := 0 if x not in [0, output height]``: the
  index ``output height`` itself is *not* zeroed and, having no entry, is
  undefined.  ``closed=False`` is the half-open reading ``[0, output height)``.
"""

from __future__ import annotations

import numbers

import numpy as np
import sympy as sp

from .polynomial import Poly, atom

__all__ = ["Strict", "ZeroOutside", "undefined", "is_undefined"]


def undefined(name: str, index: tuple) -> Poly:
    """The marker of a read of the missing entry ``name[index]``: an atom of its own."""
    return atom(f"undefined({name}[{','.join(map(str, index))}])")


def is_undefined(value) -> bool:
    return isinstance(value, Poly) and any(a.startswith("undefined(") for a in value.atoms())


def _as_int(value):
    if type(value) is int:
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, sp.Integer):
        return int(value)
    raise TypeError(f"non-integer index {value!r}")


class Strict:
    """Entries of ``array``; anything else is undefined."""

    def __init__(self, name: str, array: np.ndarray):
        self.name, self.array = name, array
        self.shape = array.shape
        self.items = array.tolist() if array.ndim else None  # nested lists: fast reads

    def __getitem__(self, index):
        index = tuple(_as_int(v) for v in (index if type(index) is tuple else (index,)))
        if len(index) == len(self.shape):
            for v, size in zip(index, self.shape, strict=True):
                if not 0 <= v < size:
                    break
            else:
                item = self.items
                for v in index:
                    item = item[v]
                return item
        return self.zero_or_undefined(index)

    def zero_or_undefined(self, index):
        if self.array.dtype != object:
            return np.nan  # numeric evaluation: a missing entry poisons the value
        return undefined(self.name, index)


class ZeroOutside(Strict):
    """0 outside ``[lo, hi]`` (closed) or ``[lo, hi)`` on the leading axes ``offset..``."""

    def __init__(self, name: str, array: np.ndarray, bounds: tuple, closed: bool, offset: int = 0):
        super().__init__(name, array)
        self.bounds, self.closed, self.offset = bounds, closed, offset

    def __getitem__(self, index):
        index = tuple(_as_int(v) for v in (index if type(index) is tuple else (index,)))
        for axis, hi in enumerate(self.bounds):
            v = index[self.offset + axis]
            inside = 0 <= v <= hi if self.closed else 0 <= v < hi
            if not inside:
                return 0
        return super().__getitem__(index)
