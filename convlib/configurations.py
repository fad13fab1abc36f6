"""Named geometries that hide conv-backward bugs, shared by ``convlib verify`` and the tests.

Each entry exercises a case listed in ``VERIFICATION.md``: stride not dividing
the kernel, kernel smaller than stride, remainder rows never read, asymmetric
everything, 1x1 kernels, a kernel as large as the padded input, padding of at
least half the kernel, dilation with and without stride, N = 0 and unbatched
input.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["Config", "HARD_CONFIGS"]


@dataclass(frozen=True)
class Config:
    """One convolution geometry; ``N = None`` means a 3-D (unbatched) input."""

    label: str
    N: int | None
    H: int
    W: int
    C: int
    F: int
    KH: int
    KW: int
    stride: object = 1
    padding: object = 0
    dilation: object = 1
    kwargs: dict = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "kwargs", {"stride": self.stride, "padding": self.padding, "dilation": self.dilation}
        )

    @property
    def x_shape(self) -> tuple[int, ...]:
        return (self.H, self.W, self.C) if self.N is None else (self.N, self.H, self.W, self.C)

    @property
    def w_shape(self) -> tuple[int, int, int, int]:
        return (self.KH, self.KW, self.C, self.F)

    def arrays(self, rng: np.random.Generator, *, integer: bool = False, dtype=np.float64):
        """Random ``(x, w, b)``; ``integer=True`` draws integers in [-8, 8] (the exact tier)."""

        def draw(shape):
            if integer:
                return rng.integers(-8, 9, size=shape).astype(dtype)
            return rng.standard_normal(shape).astype(dtype)

        return draw(self.x_shape), draw(self.w_shape), draw((self.F,))


HARD_CONFIGS: tuple[Config, ...] = (
    Config("note s1: 3x3 input, 2x2 kernel", 1, 3, 3, 1, 1, 2, 2),
    Config("note s2: depth 3, 2 kernels", 2, 5, 5, 3, 2, 3, 3),
    Config("note s3: stride 2 divides K=2", 2, 6, 6, 2, 2, 2, 2, stride=2),
    Config("stride 2 does not divide K=3", 2, 7, 7, 2, 3, 3, 3, stride=2),
    Config("stride 2, K=5, remainder row", 1, 10, 9, 1, 2, 5, 5, stride=2),
    Config("kernel 2 smaller than stride 3", 2, 8, 8, 2, 2, 2, 2, stride=3),
    Config("unread tail rows and columns", 1, 8, 9, 2, 2, 3, 2, stride=(2, 3)),
    Config("asymmetric stride (1, 3)", 1, 7, 10, 2, 3, 2, 3, stride=(1, 3)),
    Config("asymmetric stride (3, 1)", 1, 10, 7, 2, 3, 3, 2, stride=(3, 1)),
    Config("non-square padding ((2,0),(1,3))", 2, 6, 5, 2, 2, 3, 2, padding=((2, 0), (1, 3))),
    Config("1x1 kernel, stride 2", 2, 5, 6, 3, 4, 1, 1, stride=2),
    Config("kernel == padded input (1x1 out)", 2, 4, 3, 2, 3, 6, 5, padding=1),
    Config("padding >= half the kernel", 1, 4, 4, 2, 2, 3, 3, padding=2),
    Config("dilation 2, stride 1", 2, 9, 8, 2, 2, 3, 2, dilation=2),
    Config("dilation (2, 3) with stride 2", 1, 11, 12, 2, 2, 3, 2, stride=2, dilation=(2, 3)),
    Config("'same', stride 2, odd total", 2, 7, 6, 2, 3, 4, 3, stride=2, padding="same"),
    Config("'same', stride 1, even kernel", 1, 5, 6, 1, 2, 2, 4, padding="same"),
    Config("'valid'", 1, 6, 5, 2, 2, 3, 2, padding="valid"),
    Config("N = 0", 0, 5, 5, 2, 2, 3, 3, stride=2, padding=1),
    Config("unbatched 3-D input", None, 6, 7, 2, 3, 3, 3, stride=2, padding=1),
    Config("C = 1, F = 1", 3, 6, 6, 1, 1, 3, 3, stride=2, padding=1),
    Config("large reduction C=64, 3x3", 1, 5, 5, 64, 2, 3, 3, padding=1),
)
