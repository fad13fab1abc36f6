"""What the numbers depend on: machine, BLAS library and kernel, threads, load."""

from __future__ import annotations

import os
import platform

import numpy as np

__all__ = ["OPENBLAS_WORKAROUNDS", "describe", "limit_threads"]

# Old workarounds for OpenBLAS bugs; a current NumPy runs 1.3-2.5x slower with them.
OPENBLAS_WORKAROUNDS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def schedulable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def limit_threads(threads: int):
    """Limit NumPy's BLAS to ``threads`` (a threadpoolctl context manager)."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=threads, user_api="blas")


def describe(threads: int) -> list[str]:
    """Lines describing the environment, for the report's header."""
    from threadpoolctl import threadpool_info

    lines = [
        f"machine: {_cpu_model()}, {schedulable_cpus()} schedulable CPUs, "
        f"{platform.system()} {platform.release()}, Python {platform.python_version()}",
        f"threads: {threads} for every contestant (NumPy BLAS via threadpoolctl, "
        f"torch.set_num_threads; JAX/XLA sizes its CPU pool to the {schedulable_cpus()} schedulable CPUs)",
    ]
    blas = [i for i in threadpool_info() if i.get("user_api") == "blas"]
    for info in blas:
        lines.append(
            f"NumPy {np.__version__} BLAS: {info.get('internal_api')} {info.get('version')}, "
            f"kernel {info.get('architecture')}, threading {info.get('threading_layer')}, "
            f"{info.get('num_threads')} threads now"
        )
    if not blas:
        lines.append(f"NumPy {np.__version__} BLAS: not reported by threadpoolctl")
    try:
        import torch

        lines.append(
            f"PyTorch {torch.__version__}: {torch.get_num_threads()} threads, "
            f"oneDNN (mkldnn) {'on' if torch.backends.mkldnn.is_available() else 'off'}"
        )
    except ImportError:
        lines.append("PyTorch: not installed (its columns read n/a)")
    try:
        import jax

        lines.append(f"JAX {jax.__version__}: backend {jax.default_backend()}")
    except ImportError:
        lines.append("JAX: not installed (its columns read n/a)")
    set_vars = {k: os.environ[k] for k in OPENBLAS_WORKAROUNDS if k in os.environ}
    if set_vars:
        lines.append(
            f"WARNING: {set_vars} is set; it slows a current NumPy by 1.3-2.5x. For the benchmark "
            "only, run: env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE convlib bench"
        )
    else:
        lines.append("OPENBLAS_CORETYPE, OPENBLAS_L2_SIZE: unset")
    lines.append("load average (1, 5, 15 min) at start: " + ", ".join(f"{v:.2f}" for v in os.getloadavg()))
    return lines
