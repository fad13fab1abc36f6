"""``convlib verify``: the verification matrix, configurations x witnesses.

For every geometry in :data:`convlib.configurations.HARD_CONFIGS` the
vectorized forward pass and gradients are compared with four witnesses:

=========================  ===========================================  ==================
witness                    what is compared                             passes when
=========================  ===========================================  ==================
loop reference (exact)     ``reference.s3_*`` on integer-valued inputs  bitwise equal
JAX AD (float64)           ``lax.conv_general_dilated`` and ``jax.vjp``  within rounding bound
finite differences         central differences of ``sum(dy * y)``        within rounding bound
adjoint identity           ``<y, g> = <x, dx(g)> = <w, dw(g)>``          within rounding bound
=========================  ===========================================  ==================

Each check reports ``error / bound`` (see :mod:`convlib.bounds`); a check
passes when the ratio is at most 1 (for the exact tier, when the error is 0).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from . import reference
from .bounds import backward_bounds, forward_bound, gamma, unit_roundoff, worst_ratio
from .configurations import HARD_CONFIGS, Config
from .conv import conv2d_backward, conv2d_forward

__all__ = ["CheckResult", "WITNESSES", "run_matrix", "format_table", "main"]


@dataclass(frozen=True)
class CheckResult:
    witness: str
    config: str
    quantity: str
    ratio: float  # error / bound; <= 1 passes

    @property
    def passed(self) -> bool:
        return self.ratio <= 1.0


def _batched(cfg: Config, *arrays: np.ndarray) -> list[np.ndarray]:
    return [a if cfg.N is not None else a[np.newaxis] for a in arrays]  # (1, ...) if unbatched


def _loop_reference(cfg: Config, rng: np.random.Generator) -> list[tuple[str, float]]:
    x, w, b = cfg.arrays(rng, integer=True)
    y = conv2d_forward(x, w, b, **cfg.kwargs)
    dy = rng.integers(-8, 9, size=y.shape).astype(np.float64)
    dx, dw, db = conv2d_backward(dy, x, w, **cfg.kwargs)
    x4, y4, dy4, dx4 = _batched(cfg, x, y, dy, dx)
    ref_y = reference.s3_forward(x4, w, b, **cfg.kwargs)
    ref_dx = reference.s3_backward(dy4, w, x4.shape[1:3], **cfg.kwargs)
    # The step functions return w - lr*sum; with w = 0 and lr = -1 that is the sum itself.
    ref_dw = reference.s3_weight_step(np.zeros_like(w), x4, dy4, -1.0, **cfg.kwargs)
    ref_db = reference.s3_bias_step(np.zeros_like(b), dy4, -1.0)
    exact = lambda a, r: 0.0 if np.array_equal(a, r) else float("inf")  # noqa: E731
    return [
        ("y", exact(y4, ref_y)),
        ("dx", exact(dx4, ref_dx)),
        ("dw", exact(dw, ref_dw)),
        ("db", exact(db, ref_db)),
    ]


def _float_case(cfg: Config, rng: np.random.Generator):
    x, w, b = cfg.arrays(rng)
    y = conv2d_forward(x, w, b, **cfg.kwargs)
    dy = rng.standard_normal(y.shape)
    return x, w, b, y, dy


def _jax_ad(cfg: Config, rng: np.random.Generator) -> list[tuple[str, float]]:
    from .oracles import jax_conv2d_backward, jax_conv2d_forward

    x, w, b, y, dy = _float_case(cfg, rng)
    dx, dw, db = conv2d_backward(dy, x, w, **cfg.kwargs)
    jy = jax_conv2d_forward(*_batched(cfg, x), w, b, **cfg.kwargs)
    jdx, jdw, jdb = jax_conv2d_backward(*_batched(cfg, dy, x), w, **cfg.kwargs)
    bdx, bdw, bdb = backward_bounds(dy, x, w, **cfg.kwargs)
    by = forward_bound(x, w, b, **cfg.kwargs)
    y4, dx4, by4, bdx4 = _batched(cfg, y, dx, by, bdx)
    return [
        ("y", worst_ratio(y4, jy, by4)),
        ("dx", worst_ratio(dx4, jdx, bdx4)),
        ("dw", worst_ratio(dw, jdw, bdw)),
        ("db", worst_ratio(db, jdb, bdb)),
    ]


def _finite_differences(cfg: Config, rng: np.random.Generator) -> list[tuple[str, float]]:
    from .oracles import finite_difference_backward, finite_difference_bound

    x, w, b, _, dy = _float_case(cfg, rng)
    dx, dw, db = conv2d_backward(dy, x, w, **cfg.kwargs)
    fdx, fdw, fdb = finite_difference_backward(dy, x, w, b, **cfg.kwargs)
    fd_bound = finite_difference_bound(dy, x, w, b, **cfg.kwargs)
    # |ours - fd| <= |ours - exact| + |fd - exact|; backward_bounds is twice the first.
    bdx, bdw, bdb = backward_bounds(dy, x, w, **cfg.kwargs)
    return [
        ("dx", worst_ratio(dx, fdx, bdx / 2 + fd_bound)),
        ("dw", worst_ratio(dw, fdw, bdw / 2 + fd_bound)),
        ("db", worst_ratio(db, fdb, bdb / 2 + fd_bound)),
    ]


def _adjoint(cfg: Config, rng: np.random.Generator) -> list[tuple[str, float]]:
    # The layer is bilinear: <conv(x, w), g> = <x, dx(g)> = <w, dw(g)>, each side
    # the same set of products x*w*g summed in a different order.  Each side is a
    # sum of at most n products, so each is within gamma_n * S of the exact value,
    # S = sum |x| |w| |g| = <conv(|x|, |w|), |g|>.
    x, w, _, _, g = _float_case(cfg, rng)
    y = conv2d_forward(x, w, **cfg.kwargs)
    dx, dw, _ = conv2d_backward(g, x, w, **cfg.kwargs)
    lhs = float(np.sum(y * g))
    S = float(np.sum(np.abs(g) * conv2d_forward(np.abs(x), np.abs(w), **cfg.kwargs)))
    KH, KW, C, F = w.shape
    u = unit_roundoff(np.float64)
    n_y = KH * KW * C + 1 + g.size
    n_x = KH * KW * F + 1 + x.size
    n_w = g.size // max(F, 1) + 1 + w.size
    bound_x = (gamma(n_y, u) + gamma(n_x, u)) * S
    bound_w = (gamma(n_y, u) + gamma(n_w, u)) * S
    return [
        ("<y,g>=<x,dx>", worst_ratio(lhs, float(np.sum(x * dx)), bound_x)),
        ("<y,g>=<w,dw>", worst_ratio(lhs, float(np.sum(w * dw)), bound_w)),
    ]


WITNESSES: dict[str, Callable[[Config, np.random.Generator], list[tuple[str, float]]]] = {
    "loop reference (exact)": _loop_reference,
    "JAX AD (float64)": _jax_ad,
    "finite differences": _finite_differences,
    "adjoint identity": _adjoint,
}


def _jax_available() -> bool:
    try:
        import jax  # noqa: F401
    except ImportError:
        return False
    return True


def run_matrix(
    configs: Iterable[Config] = HARD_CONFIGS,
    *,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
    witnesses: Iterable[str] | None = None,
) -> tuple[list[CheckResult], list[str]]:
    """Run every witness on every configuration; return ``(results, skipped witnesses)``."""
    names = list(WITNESSES if witnesses is None else witnesses)
    skipped = []
    if "JAX AD (float64)" in names and not _jax_available():
        names.remove("JAX AD (float64)")
        skipped.append("JAX AD (float64): JAX is not installed (pip install 'convlib[ad]')")
    configs = list(configs)
    results = []
    for number, cfg in enumerate(configs, 1):
        if progress:
            progress(f"[{number:2d}/{len(configs)}] {cfg.label}")
        for name in names:
            rng = np.random.default_rng([seed, number])
            for quantity, ratio in WITNESSES[name](cfg, rng):
                results.append(CheckResult(name, cfg.label, quantity, ratio))
    return results, skipped


def format_table(results: list[CheckResult]) -> str:
    """One row per witness: checks run, failures, the worst error/bound ratio."""
    rows = [("witness", "checks", "failed", "worst error/bound", "verdict")]
    for name in dict.fromkeys(r.witness for r in results):
        mine = [r for r in results if r.witness == name]
        worst = max(r.ratio for r in mine)
        failed = sum(not r.passed for r in mine)
        if name.endswith("(exact)"):
            shown = "bitwise equal" if worst == 0 else "DIFFERS"
        else:
            shown = f"{worst:.2e} (<= 1)"
        rows.append((name, str(len(mine)), str(failed), shown, "ok" if failed == 0 else "FAIL"))
    widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(
        prog="convlib verify",
        description="Check the vectorized conv layer against the loop reference, JAX AD, "
        "finite differences and the adjoint identity on a grid of hard geometries.",
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    args = parser.parse_args(argv)

    start = time.perf_counter()

    def show(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    results, skipped = run_matrix(seed=args.seed, progress=None if args.quiet else show)
    print(format_table(results))
    for line in skipped:
        print(f"skipped: {line}")
    failures = [r for r in results if not r.passed]
    for r in failures:
        print(f"FAIL {r.witness} | {r.config} | {r.quantity}: error/bound = {r.ratio:.3g}")
    n_configs = len({r.config for r in results})
    print(
        f"{len(results) - len(failures)} of {len(results)} checks passed on {n_configs} "
        f"configurations in {time.perf_counter() - start:.1f} s"
    )
    return 1 if failures or skipped else 0
