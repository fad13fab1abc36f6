"""Running the im2col blocks of one pass on several threads.

Why not simply let BLAS parallelise each block's matrix product?  Measured on the
2-core benchmark machine (benchmarks/RESULTS.md): a block's product is small, so
every call wakes and joins the BLAS threads, and the im2col copy between products
runs on one core.  When the machine is busy with anything else, each join waits
for a descheduled BLAS thread, and a pass of a hundred blocks ran 3-8x slower
than one big product.  So instead ``T`` threads take blocks from a shared list as
they become free and do copy + product on their own, with BLAS single-threaded
while the pass runs (NumPy releases the GIL in ``copyto`` and ``matmul``).  A
thread that the operating system sets aside simply takes fewer blocks.

``T`` is the number of threads NumPy's BLAS is allowed (read with threadpoolctl),
so ``threadpoolctl.threadpool_limits(1)`` makes convlib serial as well.  With
little work (under 8 MB of im2col) the blocks run in the calling thread, BLAS
single-threaded too.  Without threadpoolctl installed the blocks run in the
calling thread and BLAS threads each product itself.

Which thread runs a block changes from call to call, so a block's work must not
depend on it: each block writes its own rows of the output, and ``dW`` keeps one
partial sum per block and adds them in block order, so repeated calls are bitwise
identical.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import numpy as np

from .im2col import Windows, block_spans

__all__ = ["blas_threads", "run_blocks"]

try:  # optional: without it convlib runs the blocks serially
    from threadpoolctl import ThreadpoolController
except ImportError:  # pragma: no cover - depends on the environment
    ThreadpoolController = None

_lock = threading.Lock()
_state = {"controller": None, "libs": [], "pool": None, "active": 0, "limiter": None}


def _after_fork_in_child() -> None:
    # A forked child has none of the parent's worker threads: start afresh.
    global _lock
    _lock = threading.Lock()
    _state.update(pool=None, active=0, limiter=None)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _numpy_blas():
    """threadpoolctl's controllers of the BLAS library NumPy uses (empty without threadpoolctl).

    Looked up once: NumPy's BLAS is loaded with NumPy and stays.
    """
    if ThreadpoolController is None:
        return []
    with _lock:
        if _state["controller"] is None:
            controller = ThreadpoolController().select(user_api="blas")
            numpy_dir = os.path.dirname(os.path.dirname(np.__file__))
            own = [
                lib
                for lib in controller.lib_controllers
                if "numpy" in os.path.relpath(lib.filepath, numpy_dir).split(os.sep)[0]
            ]
            _state["controller"] = controller
            _state["libs"] = own or controller.lib_controllers
    return _state["libs"]


def blas_threads() -> int:
    """Threads NumPy's BLAS may use now (1 if threadpoolctl cannot tell)."""
    libs = _numpy_blas()
    return max([1] + [lib.num_threads for lib in libs])


@contextmanager
def _single_threaded_blas():
    """BLAS on one thread while any pass runs its own threads; the first pass to
    enter sets it, the last to leave restores the previous setting."""
    with _lock:
        if _state["active"] == 0:
            _state["limiter"] = _state["controller"].limit(limits=1)
        _state["active"] += 1
    try:
        yield
    finally:
        with _lock:
            _state["active"] -= 1
            if _state["active"] == 0:
                _state["limiter"].restore_original_limits()


def _pool(workers: int) -> ThreadPoolExecutor:
    with _lock:
        pool = _state["pool"]
        if pool is None or pool._max_workers < workers:
            pool = _state["pool"] = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="convlib")
        return pool


Work = Callable[[slice, slice, np.ndarray], None]

# Below this much im2col data a pass runs in the calling thread: handing blocks to
# another thread costs tens of microseconds up to a scheduler time slice on a busy
# machine, more than such a pass gains from a second core (measured: the issue's
# 5 MB shape ran 1.3-1.8x faster on one thread while other processes were busy).
PARALLEL_MIN_BYTES = 8 << 20
# From this much on, a pass in the calling thread also keeps BLAS to that thread
# (smaller products OpenBLAS runs on one thread by itself).
SERIAL_BLAS_MIN_BYTES = 64 << 10
# Blocks per thread at least, so that the threads finish together.
BLOCKS_PER_THREAD = 4


def run_blocks(jobs: list[tuple[Windows, Work]], block_bytes: int | None = None) -> None:
    """Call ``work(ns, rs, cols)`` for every im2col block of every ``(windows, work)`` job.

    ``windows`` is a :class:`convlib.im2col.Windows` of shape (N, OH, OW, KH, KW, C);
    ``cols`` is its block ``[ns, rs]`` as a contiguous matrix (rows, KH*KW*C) in the
    running thread's own buffer (overwritten by its next block).  ``work`` must write only where no
    other block writes (its own output rows, or a partial sum of its own).  The
    blocks of all jobs go into one list, so several small jobs (the stride phases
    of ``dx``) also run in parallel.
    """
    total = max(1, sum(source.nbytes for source, _ in jobs))
    threads = blas_threads() if total >= PARALLEL_MIN_BYTES else 1
    # At least BLOCKS_PER_THREAD blocks per thread over all jobs together, shared out by
    # size: every block costs Python work under the GIL, so no more blocks than that.
    want = BLOCKS_PER_THREAD * threads if threads > 1 else 1
    tasks = [
        (source, work, ns, rs)
        for source, work in jobs
        for ns, rs in block_spans(
            source.shape, source.dtype.itemsize, block_bytes, min_blocks=-(-want * source.nbytes // total)
        )
    ]
    T = min(threads, len(tasks))
    if T == 0:
        return  # no block at all (N = 0)
    next_task = iter(range(len(tasks)))
    take = threading.Lock()

    def worker() -> None:
        scratch: dict[str, np.ndarray] = {}  # this thread's reused strip and im2col buffers
        while True:
            with take:
                i = next(next_task, None)
            if i is None:
                return
            source, work, ns, rs = tasks[i]
            work(ns, rs, source.block(ns, rs, scratch))  # cols: (rows, KH*KW*C)

    if T == 1:
        if total >= SERIAL_BLAS_MIN_BYTES and blas_threads() > 1:
            with _single_threaded_blas():
                worker()
        else:
            worker()
        return
    with _single_threaded_blas():
        futures = [_pool(T - 1).submit(worker) for _ in range(T - 1)]
        try:
            worker()  # the calling thread works too
        finally:
            for f in futures:
                f.result()  # waits, and re-raises an exception from a worker
