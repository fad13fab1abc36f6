# Notebook source (percent format), built by scripts/regenerate_notebooks.py.
# ruff: noqa: E501  (markdown cells keep long lines: tables and formulas)

# %% [markdown]
# # 03 · Multiple kernels with stride (the note's section 3)
#
# With stride $s$ the windows start every $s$ pixels.  The forward pass and the weight step change in the
# obvious way; the backward pass changes in a less obvious one, because an input pixel is now read by a
# number of windows that depends on where it sits.
#
# | formula id | the note writes |
# |---|---|
# | `s3.forward` | $y_{i,j,f}^l = \sum_{i'=0}^{K_H-1} \sum_{j'=0}^{K_W-1} \sum_{k'=0}^{C-1} w_{i',j',k',f}^l\, f_{i s + i', j s + j', k'}^{l-1} + b_f^l$ |
# | `s3.backward` | $\delta_{i,j,f}^l = h'(y_{i,j,f}^l) \sum_{i'=0}^{K_H/s-1} \sum_{j'=0}^{K_W/s-1} \sum_{f'=0}^{F-1} w_{i \% s + i' s,\; j \% s + j' s,\; f, f'}^{l+1}\, \delta_{i/s - i',\; j/s - j',\; f'}^{l+1}$ |
# | `s3.weight_step` | $w_{i,j,k,f}^l \leftarrow w_{i,j,k,f}^l - \alpha \sum_{i'=0}^{O_H-1} \sum_{j'=0}^{O_W-1} \delta_{i',j',f}^l\, f_{i + i' s,\; j + j' s,\; k}^{l-1}$ |
# | `s3.bias_step` | $b_f^l \leftarrow b_f^l - \alpha \sum_{i'=0}^{O_H-1} \sum_{j'=0}^{O_W-1} \delta_{i',j',f}^l$ |
#
# (Here the weight indices follow the forward pass: channel third, kernel fourth.)  The note's
# `s3.backward` is right when the stride divides the kernel, and drops terms when it does not; this
# notebook shows *why* with pictures, and notebook 04 shows the counterexample.

# %%
import inspect

import numpy as np
from IPython.display import Markdown, Math, display

from convlib import conv2d_backward, conv2d_forward, reference
from convlib.bounds import backward_bounds, forward_bound, worst_ratio
from convlib.configurations import HARD_CONFIGS
from convlib.oracles import (
    finite_difference_backward,
    finite_difference_bound,
    jax_conv2d_backward,
    jax_conv2d_forward,
)
from convlib.plots import grids, notebook_setup
from derivations import Config, derive, evaluate, latex, value_shape

plt = notebook_setup()  # matplotlib.pyplot, configured

# %% [markdown]
# ## How many terms does each input pixel's gradient have?
#
# The input gradient of pixel $(i, j)$ has one term per (window, kernel tap) pair that reads it.  Back-
# propagating a gradient of ones through a kernel of ones counts exactly those pairs, with convlib's own
# backward pass.  Three cases along each axis:
#
# - **stride divides the kernel** ($K = 4$, $s = 2$): away from the border every pixel has
#   $(K/s)^2 = 4$ terms: the note's sum from $i' = 0$ to $K/s - 1$ has exactly that many;
# - **stride does not divide the kernel** ($K = 3$, $s = 2$): pixels on even rows get $\lceil 3/2 \rceil
#   = 2$ terms per axis, on odd rows $\lfloor 3/2 \rfloor = 1$, so the count depends on the pixel's
#   *phase* $i \bmod s$: the note's fixed range $K/s = 1.5$ cannot be right for both;
# - **kernel smaller than the stride** ($K = 2$, $s = 3$): every third row and column is read by no
#   window at all (zero terms), while the note's range $K/s - 1 < 0$ would give every pixel zero.

# %%
cases = [(4, 2, 10), (3, 2, 9), (2, 3, 9)]  # (K, s, H): windows start at 0, s, 2s, ...
counts = {}
for K, s, H in cases:
    x_shape, w_ones = (1, H, H, 1), np.ones((K, K, 1, 1))
    dy_ones = np.ones(conv2d_forward(np.zeros(x_shape), w_ones, stride=s).shape)
    dx, _, _ = conv2d_backward(dy_ones, np.zeros(x_shape), w_ones, stride=s)
    counts[(K, s)] = dx[0, :, :, 0]

assert np.all(counts[(4, 2)][2:-2, 2:-2] == 4)  # interior: (K/s)^2 = 4 everywhere
inner = counts[(3, 2)][2:-2, 2:-2]  # rows and columns 2..6
assert np.all(inner[::2, ::2] == 4) and np.all(inner[1::2, 1::2] == 1)  # even phase 2x2, odd phase 1x1
assert set(np.unique(counts[(2, 3)])) == {0.0, 1.0} and np.all(counts[(2, 3)][2::3, :] == 0)
for (K, s), c in counts.items():
    print(f"K={K} stride={s}: term counts {sorted(set(c.astype(int).ravel().tolist()))}")
fig = grids(
    list(counts.values()),
    ["K=4, s=2: s divides K", "K=3, s=2: s does not divide K", "K=2, s=3: K smaller than s"],
    cmap="Blues",
    symmetric=False,
    size=3.0,
)

# %% [markdown]
# ## The corrected backward sum
#
# Tap $i'$ of output row $o$ reads input row $o s + i'$.  So input row $i$ receives tap $i'$ exactly when
# $i - i'$ is a multiple of $s$, from output $o = (i - i')/s$, if that is a valid output row.  Along one
# axis:
#
# $$\frac{\partial L}{\partial f_{i}} = \sum_{\substack{0 \le i' < K \\ i' \equiv i \pmod s}} w_{i'}\; \delta_{(i - i')/s},
# \qquad \delta_o := 0 \text{ unless } 0 \le o < O .$$
#
# Writing $i' = i \bmod s + t s$ recovers the note's indexing, $\delta_{\lfloor i/s \rfloor - t}$ and
# $w_{i \% s + t s}$, but with $t$ running while $i \bmod s + t s < K$, i.e.
# $0 \le t < \lceil (K - i \bmod s)/s \rceil$: a range that depends on the phase $i \bmod s$.  It equals
# the note's $K/s$ for every phase exactly when $s$ divides $K$.

# %% [markdown]
# ## Stride as zeros between the deltas
#
# The same sum is a stride-1 backward pass (notebook 01) over a δ with $s - 1$ zeros inserted between its
# entries: pad that by $K - 1$, correlate with the flipped kernel, and the rows no window reads (at the end,
# when $s$ does not divide $H - K$) get zero.  A worked example with exact numbers, $K = 3$, $s = 2$, a 6×6
# input (so the last row and column are never read):

# %%
rng = np.random.default_rng(3)
x = rng.integers(-3, 4, size=(1, 6, 6, 1)).astype(np.float64)
w = rng.integers(-2, 3, size=(3, 3, 1, 1)).astype(np.float64)
y = conv2d_forward(x, w, stride=2)
delta = rng.integers(-3, 4, size=y.shape).astype(np.float64)  # (1, 2, 2, 1)
dx, dw, db = conv2d_backward(delta, x, w, stride=2)

spread = np.zeros((1, 3, 3, 1))
spread[:, ::2, ::2, :] = delta  # s - 1 = 1 zero between neighbours: (1, 2*(2-1)+1, ., 1)
padded = np.pad(spread, ((0, 0), (2, 2), (2, 2), (0, 0)))  # K - 1 = 2 zeros around
full = conv2d_forward(padded, w[::-1, ::-1])  # (1, 5, 5, 1): rows 0..4 are read by some window
expected = np.zeros_like(dx)
expected[:, :5, :5, :] = full  # row and column 5 are never read
assert np.array_equal(dx, expected)
assert np.array_equal(dx, reference.s3_backward(delta, w, (6, 6), stride=2))
assert np.all(dx[0, 5, :, 0] == 0) and np.all(dx[0, :, 5, 0] == 0)
print("convlib == loop reference s3_backward == full correlation of the spread delta with the flipped kernel")
print("the unread last row and column get exactly zero gradient")
fig = grids(
    [padded[0, :, :, 0], w[::-1, ::-1, 0, 0], dx[0, :, :, 0]],
    ["delta spread by s, padded by K-1", "kernel flipped", "input gradient (6x6)"],
    size=2.6,
)

# %% [markdown]
# ## The derivation of `s3.backward`, step by step
#
# SymPy differentiates the strided forward pass and eliminates the Kronecker deltas; the re-indexing by
# floor division and modulo (output row $\lfloor a/s \rfloor - i'$, kernel row $a \bmod s + i' s$) is a step
# SymPy cannot take, so it is stated and proved on every configuration of the grid.  Note where $i'$ stops:
# $\lceil K_H/s \rceil - 1$, with the guard $a \bmod s + i' s < K_H$.

# %%
derivation = derive("s3.backward")
for number, step in enumerate(derivation.steps, 1):
    who = "SymPy" if step.by == "sympy" else "stated, proved on the grid"
    display(Markdown(f"**{number}.** [{who}] {step.caption}"))
    display(Math(latex(step.expr, "backward")))
assert [step.by for step in derivation.steps].count("sympy") >= 3

# %%
cfg = Config(H=6, W=6, C=1, F=1, KH=3, KW=3, sh=2, sw=2)
arrays = {"x": x[0], "w": w, "b": np.zeros(1), "g": delta[0], "u": np.zeros_like(x[0])}
derived = evaluate(
    derivation.result,
    derivation.indices,
    (),
    cfg,
    arrays,
    value_shape("s3.backward", cfg),
    0.5,
    symbolic=False,
)
assert np.array_equal(derived, dx[0])
print("SymPy's derived s3.backward on the 6x6, K = 3, stride 2 example == convlib's input gradient")

# %% [markdown]
# ## Weight and bias steps
#
# The note's `s3.weight_step`, $\sum_{i',j'} \delta_{i',j',f} f_{i + i' s, j + j' s, k}$, reads the input
# with the stride on the *output* index: it is right.  Checked on the same example, with α = 1/2:

# %%
lr = 0.5
assert np.array_equal(reference.s3_weight_step(w, x, delta, lr, stride=2), w - lr * dw)
assert np.array_equal(reference.s3_bias_step(np.zeros(1), delta, lr), -lr * db)
for a in range(3):
    for c in range(3):
        assert dw[a, c, 0, 0] == np.sum(delta[0, :, :, 0] * x[0, a : a + 3 : 2, c : c + 3 : 2, 0])
print("dL/dw[i, j] = sum_{i',j'} delta[i', j'] * x[i + 2 i', j + 2 j']: loop reference == convlib, exactly")

# %% [markdown]
# ## Against JAX and finite differences
#
# Every strided geometry of the verification grid: stride dividing the kernel, not dividing it, kernel
# smaller than the stride, remainder rows, asymmetric strides, 1×1 kernels, dilation with stride, `'same'`.

# %%
strided = [c for c in HARD_CONFIGS if c.stride != 1 and c.N]  # batched, non-empty
for number, cfg in enumerate(strided):
    rng = np.random.default_rng(100 + number)
    xr, wr, br = cfg.arrays(rng)
    yr = conv2d_forward(xr, wr, br, **cfg.kwargs)
    assert (
        worst_ratio(yr, jax_conv2d_forward(xr, wr, br, **cfg.kwargs), forward_bound(xr, wr, br, **cfg.kwargs))
        <= 1
    )
    g = rng.standard_normal(yr.shape)
    ours = conv2d_backward(g, xr, wr, **cfg.kwargs)
    bounds = backward_bounds(g, xr, wr, **cfg.kwargs)
    theirs = jax_conv2d_backward(g, xr, wr, **cfg.kwargs)
    fd = finite_difference_backward(g, xr, wr, br, **cfg.kwargs)
    fd_bound = finite_difference_bound(g, xr, wr, br, **cfg.kwargs)
    for name, o, j, f, bd in zip(("dx", "dw", "db"), ours, theirs, fd, bounds, strict=True):
        assert worst_ratio(o, j, bd) <= 1, (cfg.label, name)
        assert worst_ratio(o, f, bd / 2 + fd_bound) <= 1, (cfg.label, name)
print(
    f"{len(strided)} strided geometries: forward and all three gradients within bound of JAX AD and finite differences"
)
print("\n".join(cfg.label for cfg in strided))

# %% [markdown]
# ## The code
#
# The loop reference for `s3.backward` skips the taps that never land on a pixel (`ri % sh`), so it is
# right for every stride:

# %%
print(inspect.getsource(reference.s3_backward))
