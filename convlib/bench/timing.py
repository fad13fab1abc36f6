"""Timing (warm-up, then the median of interleaved repeats) and peak extra memory."""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Callable

import numpy as np

__all__ = ["time_round_robin", "peak_extra_bytes"]


def time_round_robin(
    fns: dict[str, Callable[[], object]], *, warmup: int, repeats: int, slow: set[str] = frozenset()
) -> dict[str, float]:
    """Median seconds per call of each function.

    Each function runs ``warmup`` times untimed (JIT compilation, first-touch page
    faults, BLAS thread start-up), then the functions take turns, one call each per
    round, for ``repeats`` rounds: a burst of load from elsewhere on the machine then
    hits every contestant alike instead of one of them.  Functions named in ``slow``
    (the loop reference) run once, untimed warm-up skipped.
    """
    for name, fn in fns.items():
        for _ in range(0 if name in slow else warmup):
            fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for round_ in range(repeats):
        for name, fn in fns.items():
            if name in slow and round_ > 0:
                continue
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return {name: float(np.median(ts)) for name, ts in times.items()}


def peak_extra_bytes(fn: Callable[[], object]) -> int:
    """Peak memory allocated during one call of ``fn`` beyond what was allocated before,
    results included, as traced by :mod:`tracemalloc` (NumPy reports its array buffers
    to it).  Run after a warm-up call so that no one-time allocation is counted."""
    fn()
    was_tracing = tracemalloc.is_tracing()
    if not was_tracing:
        tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before, _ = tracemalloc.get_traced_memory()
        result = fn()
        _, peak = tracemalloc.get_traced_memory()
        del result
    finally:
        if not was_tracing:
            tracemalloc.stop()
    return peak - before
