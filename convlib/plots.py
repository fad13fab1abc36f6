"""Matplotlib pictures for the notebooks: small grids of numbers, maps and curves.

matplotlib is an extra (``pip install 'convlib[plot]'``); it is imported inside
each function, so ``import convlib.plots`` works without it.  Every function
draws and returns the figure (or axes); none computes anything a test should
trust: the numbers shown are computed by the library in the notebook and
checked there with ``assert``.

Deterministic output for nbval: PNG only (SVG embeds a date), no random
jitter, fixed sizes and resolution (:func:`notebook_setup`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import numpy as np

__all__ = [
    "notebook_setup",
    "heatmap",
    "grids",
    "outputs_feeding_inputs",
    "difference_map",
    "ratio_plot",
    "error_vs_bound",
    "training_curves",
    "kernels",
    "timings",
]


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("convlib.plots needs matplotlib: pip install 'convlib[plot]'") from exc
    return plt


def notebook_setup(dpi: int = 80):
    """Quiet, reproducible figures: PNG only, fixed resolution, no font-cache chatter.

    Returns ``matplotlib.pyplot``.  Call it before anything imports matplotlib:
    matplotlib logs a warning ("building the font cache", "created a temporary
    cache directory") on first use in a fresh environment; in a notebook it
    lands in stderr, which nbval compares, so matplotlib's logger is set to
    ERROR before pyplot is imported.
    """
    logging.getLogger("matplotlib").setLevel(logging.ERROR)
    plt = _pyplot()
    plt.rcParams.update(
        {
            "figure.dpi": dpi,
            "savefig.dpi": dpi,
            "figure.max_open_warning": 0,
            "font.size": 9,
            "axes.titlesize": 9,
        }
    )
    try:  # inside IPython: inline PNG figures only
        from matplotlib_inline.backend_inline import set_matplotlib_formats

        set_matplotlib_formats("png")
    except ImportError:  # pragma: no cover - plain Python
        pass
    return plt


def _text_colour(value: float, lo: float, hi: float, symmetric: bool) -> str:
    # light text on dark cells: both ends of a diverging map, the top of a sequential one
    if hi == lo:
        return "black"
    t = (value - lo) / (hi - lo)
    dark = (t < 0.2 or t > 0.8) if symmetric else t > 0.6
    return "white" if dark else "black"


def heatmap(
    ax,
    a: np.ndarray,
    *,
    title: str = "",
    annotate: bool = True,
    fmt: str = "{:g}",
    cmap: str = "RdBu_r",
    highlight: np.ndarray | None = None,
    symmetric: bool = True,
    row_labels: Sequence[str] | None = None,
    col_labels: Sequence[str] | None = None,
    limits: tuple[float, float] | None = None,
):
    """Draw a 2-D array as coloured cells with its values written in them.

    ``highlight`` (bool array like ``a``) outlines the chosen cells.  With
    ``symmetric`` the colour scale is centred on zero; ``limits=(lo, hi)`` fixes
    it (to share one scale between panels).
    """
    a = np.asarray(a, dtype=np.float64)
    if a.ndim != 2:
        raise ValueError(f"heatmap draws a 2-D array, got shape {a.shape}")
    finite = a[np.isfinite(a)]
    big = float(np.max(np.abs(finite))) if finite.size else 1.0
    lo, hi = ((-big, big) if symmetric else (float(finite.min()), float(finite.max()))) if big else (-1, 1)
    if limits is not None:
        lo, hi = limits
    ax.imshow(a, cmap=cmap, vmin=lo, vmax=hi)
    if annotate:
        for (r, c), v in np.ndenumerate(a):
            if not np.isfinite(v):  # an undefined entry (NaN) is drawn blank and marked
                ax.text(c, r, "?", ha="center", va="center", fontsize=9, color="crimson")
                continue
            ax.text(
                c,
                r,
                fmt.format(v),
                ha="center",
                va="center",
                fontsize=8,
                color=_text_colour(v, lo, hi, symmetric),
            )
    if highlight is not None:
        hl = np.asarray(highlight, dtype=bool)
        if hl.shape != a.shape:
            raise ValueError(f"highlight has shape {hl.shape}, the array {a.shape}")
        for r, c in zip(*np.nonzero(hl), strict=True):
            ax.add_patch(_rectangle((c - 0.5, r - 0.5), 1, 1, fill=False, edgecolor="gold", linewidth=2.5))
    ax.set_xticks(range(a.shape[1]), col_labels if col_labels is not None else range(a.shape[1]))
    ax.set_yticks(range(a.shape[0]), row_labels if row_labels is not None else range(a.shape[0]))
    ax.tick_params(length=0, labelsize=7)
    ax.set_title(title)
    return ax


def _rectangle(*args, **kwargs):
    from matplotlib.patches import Rectangle

    return Rectangle(*args, **kwargs)


def grids(
    arrays: Sequence[np.ndarray],
    titles: Sequence[str],
    *,
    suptitle: str = "",
    size: float = 2.2,
    **heatmap_kwargs,
):
    """Several 2-D arrays side by side, each a :func:`heatmap`; returns the figure."""
    if len(arrays) != len(titles):
        raise ValueError(f"got {len(arrays)} arrays but {len(titles)} titles")
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(arrays), figsize=(size * len(arrays), size + 0.4), squeeze=False)
    for ax, a, t in zip(axes[0], arrays, titles, strict=True):
        heatmap(ax, a, title=t, **heatmap_kwargs)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def outputs_feeding_inputs(feeds: np.ndarray, *, title: str = "", size: float = 1.3):
    """For every input pixel ``(i, j)``, the outputs ``(o, p)`` whose window reads it.

    ``feeds`` is a (H, W, OH, OW) array: ``feeds[i, j, o, p]`` is the kernel tap
    label (any nonzero number, e.g. ``1 + tap index``) through which output
    ``(o, p)`` reads input ``(i, j)``, or 0 if it does not.  One small panel per
    input pixel shows the output grid with the feeding outputs coloured.
    """
    feeds = np.asarray(feeds)
    if feeds.ndim != 4:
        raise ValueError(f"feeds must be (H, W, OH, OW), got shape {feeds.shape}")
    H, W, OH, OW = feeds.shape
    plt = _pyplot()
    fig, axes = plt.subplots(H, W, figsize=(size * W, size * H + 0.3), squeeze=False)
    for i in range(H):
        for j in range(W):
            ax = axes[i, j]
            ax.imshow(feeds[i, j] > 0, cmap="Blues", vmin=0, vmax=1.6)
            for (o, p), tap in np.ndenumerate(feeds[i, j]):
                if tap:
                    ax.text(p, o, f"w{int(tap) - 1}", ha="center", va="center", fontsize=7)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(f"input ({i},{j})", fontsize=7)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def difference_map(
    expected: np.ndarray, actual: np.ndarray, *, labels: tuple[str, str] = ("true", "note"), title: str = ""
):
    """Two 2-D maps and the cells where they differ (outlined), side by side."""
    expected, actual = np.asarray(expected, np.float64), np.asarray(actual, np.float64)
    if expected.shape != actual.shape or expected.ndim != 2:
        raise ValueError(f"need two 2-D arrays of one shape, got {expected.shape} and {actual.shape}")
    differ = expected != actual
    plt = _pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(7.5, 2.9))
    heatmap(axes[0], expected, title=labels[0])
    heatmap(axes[1], actual, title=labels[1], highlight=differ)
    heatmap(axes[2], actual - expected, title=f"{labels[1]} - {labels[0]}", highlight=differ)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def ratio_plot(
    ratios: Mapping[str, Sequence[float]], labels: Sequence[str], *, title: str = "", floor: float = 1e-6
):
    """error/bound per configuration (log scale), one marker series per witness.

    A ratio of 0 (exact agreement) is drawn at ``floor``, NaN (not run) is not
    drawn; the line at 1 is the bound: every marker below it passes.
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 0.28 * len(labels) + 1.2))
    markers = "os^vD"
    for number, (name, values) in enumerate(ratios.items()):
        values = np.asarray(values, dtype=np.float64)
        if values.shape != (len(labels),):
            raise ValueError(f"{name}: {values.shape[0]} ratios for {len(labels)} labels")
        shown = np.maximum(values, floor)
        ax.scatter(shown, np.arange(len(labels)), label=name, marker=markers[number % len(markers)], s=22)
    ax.axvline(1.0, color="crimson", linewidth=1.2, label="bound (ratio 1)")
    ax.set_xscale("log")
    ax.set_yticks(range(len(labels)), labels)
    ax.invert_yaxis()
    ax.set_xlabel(f"worst |error| / rounding bound (0 drawn at {floor:g})")
    ax.legend(loc="lower right", fontsize=7)
    ax.set_title(title)
    fig.tight_layout()
    return fig


def error_vs_bound(
    pairs: Mapping[str, tuple[np.ndarray, np.ndarray]], *, title: str = "", floor: float = 1e-20
):
    """Scatter of every entry's ``|error|`` against its rounding bound (log-log), per quantity.

    ``pairs`` maps a label to ``(errors, bounds)`` (same shape).  Points on or
    below the diagonal are within their bound; exact agreement (error 0) is drawn
    at ``floor``.
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(4.6, 4.2))
    lo, hi = np.inf, 0.0
    markers = "os^vD"
    for number, (name, (err, bound)) in enumerate(pairs.items()):
        err, bound = np.ravel(np.abs(err)), np.ravel(bound)
        if err.shape != bound.shape:
            raise ValueError(f"{name}: {err.size} errors for {bound.size} bounds")
        keep = bound > 0
        ax.scatter(bound[keep], np.maximum(err[keep], floor), s=8, alpha=0.6, label=name,
                   marker=markers[number % len(markers)])  # fmt: skip
        if keep.any():
            lo, hi = min(lo, float(bound[keep].min())), max(hi, float(bound[keep].max()))
    if hi > 0:
        ax.plot([lo, hi], [lo, hi], color="crimson", linewidth=1, label="error = bound")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("rounding bound of the entry")
    ax.set_ylabel(f"|error| (0 drawn at {floor:g})")
    ax.legend(fontsize=7)
    ax.set_title(title)
    fig.tight_layout()
    return fig


def training_curves(loss: Sequence[float], train_acc: Sequence[float], test_acc: Sequence[float]):
    """Loss and accuracy per epoch (epoch 0 = before training), two panels."""
    plt = _pyplot()
    epochs = np.arange(len(loss))
    fig, (left, right) = plt.subplots(1, 2, figsize=(8, 2.8))
    left.plot(epochs, loss, marker="o", markersize=3)
    left.set_yscale("log")
    left.set_xlabel("epoch")
    left.set_ylabel("mean cross-entropy (training)")
    right.plot(epochs, train_acc, marker="o", markersize=3, label="training")
    right.plot(epochs, test_acc, marker="s", markersize=3, label="held-out test")
    right.axhline(0.95, color="grey", linestyle="--", linewidth=1, label="95%")
    right.set_xlabel("epoch")
    right.set_ylabel("accuracy")
    right.set_ylim(0, 1.02)
    right.legend(fontsize=7, loc="lower right")
    right.set_title(f"final: training {train_acc[-1]:.1%}, test {test_acc[-1]:.1%}")
    fig.tight_layout()
    return fig


def kernels(w: np.ndarray, *, channel: int = 0, title: str = "", size: float = 1.1, columns: int = 8):
    """The F kernels ``w[:, :, channel, f]`` of a (KH, KW, C, F) weight, ``columns`` images per row."""
    w = np.asarray(w, dtype=np.float64)
    if w.ndim != 4:
        raise ValueError(f"w must be (KH, KW, C, F), got shape {w.shape}")
    F = w.shape[3]
    ncols = min(F, columns)
    nrows = -(-F // ncols)
    plt = _pyplot()
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows + 0.4), squeeze=False)
    big = float(np.max(np.abs(w[:, :, channel, :]))) or 1.0
    for number, ax in enumerate(axes.ravel()):
        ax.set_xticks([])
        ax.set_yticks([])
        if number >= F:
            ax.set_axis_off()
            continue
        ax.imshow(w[:, :, channel, number], cmap="RdBu_r", vmin=-big, vmax=big)
        ax.set_title(f"f={number}", fontsize=7)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def timings(seconds: Mapping[str, float], *, title: str = ""):
    """Horizontal bars of run times (log scale), one per implementation."""
    plt = _pyplot()
    names = list(seconds)
    values = [seconds[n] for n in names]
    fig, ax = plt.subplots(figsize=(7, 0.4 * len(names) + 1.0))
    ax.barh(range(len(names)), values, color="steelblue")
    ax.set_yticks(range(len(names)), names)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel("seconds per call")
    ax.set_title(title)
    fig.tight_layout()
    return fig
