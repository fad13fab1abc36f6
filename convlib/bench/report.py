"""The benchmark's table, the issue's targets checked against it, and the plot."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from .peers import PASSES
from .shapes import LARGER, Shape

__all__ = ["Row", "COLUMNS", "format_table", "check_targets", "plot"]

MB = 1 << 20


@dataclass
class Row:
    """One (shape, dtype, pass): seconds per peer (None: not run) and convlib's memory."""

    shape: Shape
    dtype: str
    pass_: str
    seconds: dict[str, float | None] = field(default_factory=dict)
    peak_bytes: int | None = None
    others_cpu: float | None = None  # CPU share other processes used meanwhile

    def t(self, peer: str) -> float | None:
        return self.seconds.get(peer)

    def ratio(self, num: str, den: str) -> float | None:
        a, b = self.t(num), self.t(den)
        return None if a is None or b is None or b == 0 else a / b

    @property
    def gflops(self) -> float | None:
        t = self.t("convlib")
        n = self.shape.flops * (3 if self.pass_ == "all" else 1)
        return None if not t else n / t / 1e9

    @property
    def im2col_bytes(self) -> int:
        return self.shape.im2col_bytes(self.dtype)


COLUMNS = (
    "shape (N,C,H,W,F,K,s,p)", "dtype", "pass", "convlib ms", "GFLOP/s", "% of GEMM",
    "t / PyTorch", "t / JAX", "loop / t", "PyTorch ms", "JAX ms", "GEMM ms", "loop ms",
    "peak extra MB", "/ im2col", "others' CPU",
)  # fmt: skip


def _ms(v: float | None) -> str:
    return "n/a" if v is None else f"{v * 1e3:.3g}" if v * 1e3 < 100 else f"{v * 1e3:.0f}"


def _x(v: float | None, digits: int = 2) -> str:
    return "n/a" if v is None else f"{v:.{digits}f}"


def _cells(r: Row) -> list[str]:
    share = r.ratio("GEMM ceiling", "convlib")
    loop = r.ratio("loop reference", "convlib")
    return [
        f"{r.shape.label} {r.shape.tuple}".replace(" ", " ", 1), r.dtype, r.pass_,
        _ms(r.t("convlib")), "n/a" if r.gflops is None else f"{r.gflops:.3g}",
        "n/a" if share is None else f"{share:.0%}",
        _x(r.ratio("convlib", "PyTorch")), _x(r.ratio("convlib", "JAX")),
        "n/a" if loop is None else f"{loop:,.0f}",
        _ms(r.t("PyTorch")), _ms(r.t("JAX")), _ms(r.t("GEMM ceiling")), _ms(r.t("loop reference")),
        "n/a" if r.peak_bytes is None else f"{r.peak_bytes / MB:.2f}",
        "n/a" if r.peak_bytes is None else f"{r.peak_bytes / r.im2col_bytes:.2f}",
        "n/a" if r.others_cpu is None else f"{r.others_cpu:.0%}",
    ]  # fmt: skip


def format_table(rows: list[Row]) -> str:
    """A Markdown table, one line per (shape, dtype, pass)."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(_cells(r)) + " |" for r in rows]
    return "\n".join(lines)


def check_targets(rows: list[Row]) -> list[tuple[bool | None, str]]:
    """The issue's targets, each ``(met, text with the numbers)``; ``met`` None if not measured."""
    out: list[tuple[bool | None, str]] = []
    issue = [r for r in rows if r.shape.label.startswith("issue")]
    for dtype, limit in (("float64", 0.7), ("float32", 2.0)):
        alls = [r for r in issue if r.dtype == dtype and r.pass_ == "all"]
        ratios = [(r.shape.label, r.ratio("convlib", "PyTorch")) for r in alls]
        if not alls or any(v is None for _, v in ratios):
            out.append((None, f"{dtype}: forward + both gradients <= {limit}x PyTorch: not measured"))
            continue
        worst = max(v for _, v in ratios)
        out.append((worst <= limit, f"{dtype}: forward + both gradients <= {limit}x PyTorch's time: "
                    + ", ".join(f"{label} {v:.2f}x" for label, v in ratios)))  # fmt: skip
    large = [r for r in rows if r.shape.label in LARGER and r.pass_ != "all"]
    shares = [(r, r.ratio("GEMM ceiling", "convlib")) for r in large]
    shares = [(r, v) for r, v in shares if v is not None]
    text = "every pass >= 70% of the GEMM ceiling on the three larger shapes: "
    if shares:
        low = [f"{r.shape.label} {r.dtype} {r.pass_} {v:.0%}" for r, v in shares if v < 0.7]
        r, v = min(shares, key=lambda rv: rv[1])
        lowest = f"all {len(shares)} met (lowest {r.shape.label} {r.dtype} {r.pass_} {v:.0%})"
        out.append((not low, text + ("below: " + "; ".join(low) if low else lowest)))
    else:
        out.append((None, text + "the larger shapes were not run"))
    mnist = [r for r in rows if r.shape.label == "MNIST-like" and r.ratio("loop reference", "convlib")]
    if mnist:
        speedups = [(r.pass_, r.ratio("loop reference", "convlib")) for r in mnist]
        out.append((min(v for _, v in speedups) >= 1000, ">= 1000x the loop reference on MNIST-like: "
                    + ", ".join(f"{p} {v:,.0f}x" for p, v in speedups)))  # fmt: skip
    else:
        out.append((None, "loop-reference target: MNIST-like float64 not run"))
    # Memory on the issue's shapes: on tiny arrays fixed costs (the padded copy, the
    # result) outweigh an im2col buffer of a few kilobytes.
    mem = [r for r in issue if r.pass_ != "all" and r.peak_bytes is not None]
    text = "peak extra memory of a pass <= 1.5x one im2col buffer (the issue's shapes): "
    if mem:
        over = [f"{r.shape.label} {r.dtype} {r.pass_} {r.peak_bytes / r.im2col_bytes:.2f}x"
                for r in mem if r.peak_bytes > 1.5 * r.im2col_bytes]  # fmt: skip
        r = max(mem, key=lambda r: r.peak_bytes / r.im2col_bytes)
        highest = f"all {len(mem)} met (highest {r.shape.label} {r.dtype} {r.pass_} "
        highest += f"{r.peak_bytes / r.im2col_bytes:.2f}x)"
        out.append((not over, text + ("over: " + "; ".join(over) if over else highest)))
    else:
        out.append((None, text + "not run"))
    return out


def plot(rows: list[Row], path: str, title: str) -> None:
    """Two rows of panels: GFLOP/s of forward + both gradients per peer (log scale), and
    convlib's share of the GEMM ceiling per pass, float64 left, float32 right."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    dtypes = [d for d in ("float64", "float32") if any(r.dtype == d for r in rows)]
    fig, axes = plt.subplots(2, len(dtypes), figsize=(7 * len(dtypes), 8), squeeze=False)
    peers = ("convlib", "PyTorch", "JAX", "GEMM ceiling", "loop reference")
    for col, dtype in enumerate(dtypes):
        alls = [r for r in rows if r.dtype == dtype and r.pass_ == "all"]
        labels = [r.shape.label for r in alls]
        ax = axes[0, col]
        width = 0.8 / len(peers)
        for k, peer in enumerate(peers):
            vals = [r.shape.flops * 3 / r.t(peer) / 1e9 if r.t(peer) else math.nan for r in alls]
            ax.bar([i + k * width for i in range(len(alls))], vals, width, label=peer)
        ax.set_yscale("log")
        ax.set_ylabel("GFLOP/s, forward + both gradients")
        ax.set_title(f"{dtype}")
        ax.set_xticks([i + 0.4 - width / 2 for i in range(len(alls))], labels, rotation=20, fontsize=8)
        ax.legend(fontsize=7)
        ax = axes[1, col]
        # The issue's shapes only: on small ones the "ceiling" is itself overhead.
        big = [lab for lab in labels if lab.startswith("issue")]
        passes = [p for p in PASSES if p != "all"]
        width = 0.8 / len(passes)
        for k, p in enumerate(passes):
            sel = [next(r for r in rows if r.dtype == dtype and r.pass_ == p and r.shape.label == lab)
                   for lab in big]  # fmt: skip
            vals = [100 * (r.ratio("GEMM ceiling", "convlib") or math.nan) for r in sel]
            xs = [i + k * width for i in range(len(sel))]
            ax.bar(xs, [min(v, 150) for v in vals], width, label=p)
            for xpos, v in zip(xs, vals, strict=True):
                ax.text(xpos, min(v, 150) + 2, f"{v:.0f}", ha="center", fontsize=6)
        ax.axhline(70, color="k", lw=0.8, ls="--")
        ax.set_ylim(0, 165)
        ax.set_ylabel("convlib, % of the GEMM ceiling (cut at 150)")
        ax.set_xticks([i + 0.4 - width / 2 for i in range(len(big))], big, rotation=20, fontsize=8)
        ax.legend(fontsize=7)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
