"""Timing (warm-up, then the median of interleaved repeats) and peak extra memory."""

from __future__ import annotations

import os
import time
import tracemalloc
from collections.abc import Callable

import numpy as np

__all__ = ["CpuWatch", "peak_extra_bytes", "time_round_robin", "wait_until_quiet"]


def time_round_robin(
    fns: dict[str, Callable[[], object]],
    *,
    warmup: int,
    repeats: int,
    slow: set[str] = frozenset(),
    settle: float = 0.0,
) -> dict[str, float]:
    """Median seconds per call of each function.

    Each function runs ``warmup`` times untimed (JIT compilation, first-touch page
    faults, BLAS thread start-up), then the functions take turns, one call each per
    round, for ``repeats`` rounds: a burst of load from elsewhere on the machine then
    hits every contestant alike instead of one of them.  Functions named in ``slow``
    (the loop reference) run once, untimed warm-up skipped.

    ``settle`` seconds pass before each timed call: after a multi-threaded call,
    OpenBLAS's worker threads keep spinning for about 2**28 cycles (~0.1 s) and
    OpenMP's for a while too, taking a core from whoever runs next (measured: a
    convlib pass right after a two-thread ``np.matmul`` took 1.5x as long).  The
    pause leaves the CPU caches cold (on a shared host other guests evict them), so
    after it each function makes one untimed call before its timed one: measured on
    the benchmark machine, a pass straight after a 0.12 s pause took 1.3-2.5x as long
    as the same pass called again right away, the shortest passes most.
    """
    for name, fn in fns.items():
        for _ in range(0 if name in slow else warmup):
            fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for round_ in range(repeats):
        for name, fn in fns.items():
            if name in slow and round_ > 0:
                continue
            if settle > 0:
                time.sleep(settle)
                if name not in slow:
                    fn()  # warm the caches again after the pause; untimed
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


class CpuWatch:
    """Share of the machine's CPU time used by *other* processes between two readings.

    Linux only (``/proc/stat``); elsewhere :meth:`share` is None.  Busy time of the
    whole machine minus this process's own CPU time, over wall time x CPUs.
    """

    def __init__(self) -> None:
        self._start = self._read()

    @staticmethod
    def _read():
        try:
            with open("/proc/stat") as fh:
                fields = [int(v) for v in fh.readline().split()[1:]]
        except (OSError, ValueError):
            return None
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
        busy = (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")  # user..steal, seconds
        own = os.times()
        return time.monotonic(), busy, own.user + own.system

    def share(self) -> float | None:
        end = self._read()
        if self._start is None or end is None:
            return None
        (t0, b0, o0), (t1, b1, o1) = self._start, end
        if t1 - t0 <= 0:
            return None
        return max(0.0, ((b1 - b0) - (o1 - o0)) / ((t1 - t0) * (os.cpu_count() or 1)))


def wait_until_quiet(max_seconds: float, threshold: float = 0.1, probe: float = 0.5) -> float | None:
    """Wait (up to ``max_seconds``) until other processes use under ``threshold`` of the
    CPUs over a ``probe``-second window; returns the last share measured."""
    deadline = time.monotonic() + max_seconds
    while True:
        watch = CpuWatch()
        time.sleep(probe)
        share = watch.share()
        if share is None or share < threshold or time.monotonic() >= deadline:
            return share
