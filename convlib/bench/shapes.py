"""The benchmark's shapes, written as the issue writes them: (N, C, H, W, F, K, stride, pad).

convlib is channels-last, so a shape gives ``x`` (N, H, W, C) and ``w`` (K, K, C, F);
the PyTorch peer gets the same numbers as NCHW / OIHW.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..geometry import output_size

__all__ = ["Shape", "SHAPES", "TINY_SHAPES", "LARGER"]


@dataclass(frozen=True)
class Shape:
    """One square convolution: ``x`` (N, H, W, C), ``w`` (K, K, C, F), zero padding ``pad``."""

    label: str
    N: int
    C: int
    H: int
    W: int
    F: int
    K: int
    stride: int
    pad: int
    loop: bool = False  # also time the loop reference (small shapes only)

    @property
    def OH(self) -> int:
        return output_size(self.H, self.K, self.stride, 1, self.pad, self.pad)

    @property
    def OW(self) -> int:
        return output_size(self.W, self.K, self.stride, 1, self.pad, self.pad)

    @property
    def M(self) -> int:
        """Rows of the im2col matrix: one per output pixel, N*OH*OW."""
        return self.N * self.OH * self.OW

    @property
    def reduction(self) -> int:
        """Columns of the im2col matrix, the forward's reduction length KH*KW*C."""
        return self.K * self.K * self.C

    @property
    def flops(self) -> int:
        """``2*N*OH*OW*F*KH*KW*C``: the multiply-adds of one pass, counted twice."""
        return 2 * self.M * self.F * self.reduction

    def im2col_bytes(self, dtype) -> int:
        """Size of one im2col matrix (M, KH*KW*C) of this pass, in bytes."""
        return self.M * self.reduction * np.dtype(dtype).itemsize

    @property
    def tuple(self) -> tuple[int, ...]:
        return (self.N, self.C, self.H, self.W, self.F, self.K, self.stride, self.pad)

    def arrays(self, dtype, seed: int = 0):
        """Standard-normal ``(x, w, b, dy)``, channels-last, in ``dtype``."""
        rng = np.random.default_rng(seed)
        shapes = ((self.N, self.H, self.W, self.C), (self.K, self.K, self.C, self.F), (self.F,),
                  (self.N, self.OH, self.OW, self.F))  # fmt: skip
        return [rng.standard_normal(s).astype(dtype) for s in shapes]


SHAPES: tuple[Shape, ...] = (
    Shape("small", 2, 3, 8, 8, 4, 3, 1, 1, loop=True),
    Shape("MNIST-like", 8, 1, 28, 28, 8, 5, 1, 0, loop=True),
    Shape("issue 1", 32, 16, 32, 32, 32, 3, 1, 1),
    Shape("issue 2 (stride 2)", 32, 32, 32, 32, 64, 3, 2, 1),
    Shape("issue 3 (large)", 8, 64, 56, 56, 64, 3, 1, 1),
    Shape("issue 4 (K=5, s=2)", 16, 8, 31, 31, 8, 5, 2, 0),
)

# The three larger shapes of the table: the GEMM-ceiling target applies to them.
LARGER = ("issue 1", "issue 2 (stride 2)", "issue 3 (large)")

# For the smoke test: one tiny strided, padded shape, every peer, in seconds.
TINY_SHAPES: tuple[Shape, ...] = (Shape("tiny", 2, 2, 7, 7, 3, 3, 2, 1, loop=True),)
