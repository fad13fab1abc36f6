"""Configurations of one conv layer, their output sizes, and the grids checked.

Kept apart from ``convlib.geometry`` on purpose: this package is a witness of
the library, so it computes sizes itself (floor division, stated once)::

    O = (size + pad_lo + pad_hi - dilation*(kernel - 1) - 1) // stride + 1
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

__all__ = ["Config", "out_size", "axis_cases", "note_grid", "general_grid", "CHANNELS"]


def out_size(size: int, kernel: int, stride: int = 1, dilation: int = 1,
             pad_lo: int = 0, pad_hi: int = 0) -> int:
    """Output length along one axis, floor division; <= 0 means "kernel does not fit"."""
    span = size + pad_lo + pad_hi - dilation * (kernel - 1) - 1
    return span // stride + 1 if span >= 0 else 0


@dataclass(frozen=True)
class Config:
    """One layer geometry.  The note's sections use only H, W, C, F, KH, KW, stride."""

    H: int
    W: int
    C: int
    F: int
    KH: int
    KW: int
    sh: int = 1
    sw: int = 1
    dh: int = 1
    dw: int = 1
    pt: int = 0
    pb: int = 0
    pl: int = 0
    pr: int = 0
    N: int = 0  # 0: unbatched (3-D input); >= 1: batch of N
    extra: tuple = field(default=(), compare=False, repr=False)

    @property
    def OH(self) -> int:
        return out_size(self.H, self.KH, self.sh, self.dh, self.pt, self.pb)

    @property
    def OW(self) -> int:
        return out_size(self.W, self.KW, self.sw, self.dw, self.pl, self.pr)

    @property
    def stride(self) -> int:
        """The note's single stride (sections s1-s3 use equal strides on both axes)."""
        assert self.sh == self.sw
        return self.sh

    def size_key(self) -> tuple:
        """Order used to pick the *smallest* counterexample: fewest inputs, then weights."""
        return (max(self.N, 1) * self.H * self.W * self.C, self.KH * self.KW * self.C * self.F,
                self.sh, self.sw, self.H, self.W, self.C, self.F, self.KH, self.KW,
                self.dh, self.dw, self.pt, self.pb, self.pl, self.pr, self.N)

    def note_record(self) -> dict:
        """The configuration keys of report.json (the note has no padding: 0)."""
        return {"H": self.H, "W": self.W, "C": self.C, "F": self.F,
                "KH": self.KH, "KW": self.KW, "stride": self.stride, "padding": 0}

    def label(self) -> str:
        text = (f"H={self.H} W={self.W} C={self.C} F={self.F} KH={self.KH} KW={self.KW} "
                f"stride={(self.sh, self.sw) if self.sh != self.sw else self.sh}")
        if (self.dh, self.dw) != (1, 1):
            text += f" dilation={(self.dh, self.dw)}"
        if (self.pt, self.pb, self.pl, self.pr) != (0, 0, 0, 0):
            text += f" padding={((self.pt, self.pb), (self.pl, self.pr))}"
        if self.N:
            text += f" N={self.N}"
        return text


# Per-axis cases: input size 1..7, kernel 1..4 no larger than the input.
MAX_SIZE = 7
MAX_KERNEL = 4
NOTE_MAX_SIZE_WITH_CHANNELS = 6
STRIDES = (1, 2, 3)
GENERAL_MAX_SIZE = 4
# All nine (C, F) pairs; each spatial case gets one, cycling, so that every
# pair meets every stride and both C < F, C = F and C > F occur throughout.
CHANNELS = tuple(itertools.product((1, 2, 3), (1, 2, 3)))


def axis_cases(max_size: int = MAX_SIZE) -> list[tuple[int, int]]:
    """(size, kernel) pairs of one spatial axis: 22 of them up to size 7, 18 up to 6."""
    return [(size, kernel) for size in range(1, max_size + 1)
            for kernel in range(1, MAX_KERNEL + 1) if kernel <= size]


def note_grid(section: int) -> list[Config]:
    """The exhaustive grid of a note section.

    s1: every (H, KH) x (W, KW) pair of :func:`axis_cases` (sizes 1..7, kernels
        1..4), C = F = 1, stride 1 (484 configurations).
    s2: every pair with sizes 1..6 (324), stride 1, with (C, F) cycling through
        all nine pairs.  (Sizes up to 6 keep ``convlib derive`` under a minute.)
    s3: the s2 cases for each stride 1, 2, 3 (972): strides that do not divide
        the kernel (K=3 s=2), kernels smaller than the stride (K=2 s=3), and
        sizes with (H - K) % s != 0, whose last rows no window reads, all occur.
    """
    cases = axis_cases(MAX_SIZE if section == 1 else NOTE_MAX_SIZE_WITH_CHANNELS)
    spatial = list(itertools.product(cases, cases))
    strides = {1: (1,), 2: (1,), 3: STRIDES}[section]
    grid = []
    for stride in strides:
        for number, ((H, KH), (W, KW)) in enumerate(spatial):
            C, F = (1, 1) if section == 1 else CHANNELS[number % len(CHANNELS)]
            grid.append(Config(H, W, C, F, KH, KW, sh=stride, sw=stride))
    return grid


def general_grid() -> list[Config]:
    """Grid of the general layer (stride, padding, dilation, batch; per-axis values).

    Each axis case (size 1..4, kernel 1..3, stride 1..3, dilation 1..2, padding
    (lo, hi) in {(0,0), (1,0), (0,2), (2,1)}, whenever the dilated kernel fits
    the padded input) appears once as the vertical axis, paired with the
    horizontal case ``(5*n + 37) mod count`` (non-square, mixed strides).  Batch N
    cycles 0 (unbatched), 1, 2; channels cycle through the nine (C, F) pairs.
    """
    pads = ((0, 0), (1, 0), (0, 2), (2, 1))
    axis = [(size, kernel, stride, dil, pad)
            for size in range(1, GENERAL_MAX_SIZE + 1) for kernel in range(1, 4)
            for stride in (1, 2, 3)
            for dil in (1, 2) for pad in pads
            if out_size(size, kernel, stride, dil, *pad) >= 1]
    grid = []
    shift = 37
    for number, first in enumerate(axis):
        second = axis[(number * 5 + shift) % len(axis)]
        (H, KH, sh, dh, (pt, pb)), (W, KW, sw, dw, (pl, pr)) = first, second
        C, F = CHANNELS[number % len(CHANNELS)]
        grid.append(Config(H, W, C, F, KH, KW, sh=sh, sw=sw, dh=dh, dw=dw,
                           pt=pt, pb=pb, pl=pl, pr=pr, N=number % 3))
    return grid
