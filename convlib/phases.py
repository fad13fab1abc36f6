"""Stride phases: the input gradient of a strided convolution as dense stride-1 correlations.

Integer arithmetic only, per spatial axis, kept apart from the array code so it
can be read and tested on its own (``tests/test_fast_paths.py``).

The identity, along one axis
----------------------------
Output ``o`` reads, with kernel tap ``a``, the padded row ``o*s + a*d``; padded
row ``r`` is input row ``i = r - top``.  So the input gradient is::

    dx[i] = sum over taps a, outputs o with o*s + a*d = i + top  of  w[a] * dy[o]

For a given ``i`` only the taps with ``(i + top - a*d) % s == 0`` appear, and
that condition depends on ``i`` only through its *phase* ``rho = i % s``.  Write
``i = s*q + rho``; for a tap ``a`` of phase ``rho`` the output is
``o = q - t_a`` with the integer ``t_a = (a*d - rho - top) / s``::

    dx[s*q + rho] = sum_{a in taps(rho)} w[a] * dy[q - t_a]       (dy = 0 outside [0, OH))

That is a dense stride-1 correlation of ``dy`` with the sub-kernel
``w[taps(rho)]`` flipped: the taps of one phase are ``a0, a0 + s/g, a0 + 2s/g, ...``
with ``g = gcd(d, s)``, so consecutive ``t_a`` differ by ``d/g`` and, reading the
taps backwards (``j = 0`` is the last tap)::

    dx[s*q + rho] = sum_j w[taps[-1-j]] * dy[start + q + j*step],
    start = -t_(last tap),  step = d/g

No zero is inserted into ``dy`` and nothing is scattered: the ``s`` phases (``sh*sw``
in 2-D) partition the input rows, each phase is one im2col matrix product, and the
products together do exactly the multiplications of ``dy @ W.T`` (no zeros).
A phase with no tap (kernel smaller than the stride, or rows never read) is zero.
With ``s = 1`` there is one phase and this is the familiar "full correlation of
``dy`` with the flipped kernel".
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["AxisPhase", "axis_phases", "dy_padding"]


@dataclass(frozen=True)
class AxisPhase:
    """The input rows ``rho, rho + s, rho + 2s, ...`` of one axis and the taps that reach them.

    ``count`` rows ``i = s*q + rho`` (``q < count``); ``taps`` ascending; row ``q``
    reads ``dy[start + q + j*step]`` with tap ``taps[-1-j]``.
    """

    rho: int
    count: int
    taps: tuple[int, ...]
    start: int
    step: int

    def reads(self) -> tuple[int, int]:
        """The lowest and highest ``dy`` index this phase reads (``start > stop`` if none)."""
        if not self.taps or self.count == 0:
            return (0, -1)
        return (self.start, self.start + self.count - 1 + (len(self.taps) - 1) * self.step)


def axis_phases(size: int, kernel: int, stride: int, dilation: int, pad_lo: int) -> tuple[AxisPhase, ...]:
    """The ``stride`` phases of one axis of the input gradient (see the module docstring).

    >>> [(p.rho, p.taps, p.start) for p in axis_phases(7, 3, 2, 1, 0)]  # K=3, s=2
    [(0, (0, 2), -1), (1, (1,), 0)]
    >>> axis_phases(8, 2, 3, 1, 0)[2].taps   # K=2 < s=3: rows 2, 5 feed no output
    ()
    """
    step = dilation // math.gcd(dilation, stride)
    phases = []
    for rho in range(stride):
        count = len(range(rho, size, stride))
        taps = tuple(a for a in range(kernel) if (rho + pad_lo - a * dilation) % stride == 0)
        start = -((taps[-1] * dilation - rho - pad_lo) // stride) if taps else 0  # exact division
        phases.append(AxisPhase(rho, count, taps, start, step))
    return tuple(phases)


def dy_padding(phases: tuple[AxisPhase, ...], out_size: int) -> tuple[int, int]:
    """Zeros to put before and after ``dy`` (length ``out_size``) so every phase reads inside it."""
    lo = hi = 0
    for p in phases:
        first, last = p.reads()
        if first <= last:
            lo, hi = max(lo, -first), max(hi, last - (out_size - 1))
    return lo, hi
