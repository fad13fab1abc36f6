# Notebook source (percent format), built by scripts/regenerate_notebooks.py.
# ruff: noqa: E501  (markdown cells keep long lines: tables and formulas)

# %% [markdown]
# # 07 · Vectorization: the note's sums as one matrix product
#
# The note writes every formula as nested sums.  Run as Python loops
# ([`convlib/reference.py`](../convlib/reference.py), one function per formula id) they are easy to check
# and far too slow to use.  This notebook shows, step by step and with shapes, how convlib turns the same
# sums into a single matrix product, and asserts at every step that nothing changed.
#
# Everything is integer-valued, so every sum is exact in float64 and the comparisons are `==`, not
# "close".
#
# | step | forward (`s3.forward`) | shapes |
# |---|---|---|
# | 1 | zero-pad the input | (N, H, W, C) → (N, Hp, Wp, C) |
# | 2 | one strided slice per kernel offset (i′, j′) | (N, OH, OW, C) each |
# | 3 | stack them: *im2col* | (N, OH, OW, KH, KW, C) → matrix (M, K), M = N·OH·OW, K = KH·KW·C |
# | 4 | one product with the reshaped kernels | (M, K) @ (K, F) → (M, F) → (N, OH, OW, F) |

# %%
import os
import timeit
from functools import partial

import jax
import numpy as np

from convlib import conv2d_backward, conv2d_forward, reference
from convlib.bounds import forward_bound, worst_ratio
from convlib.checks import resolve
from convlib.im2col import col2im, im2col, pad_input, window
from convlib.oracles import jax_conv2d_forward
from convlib.plots import grids, heatmap, notebook_setup, timings

plt = notebook_setup()  # matplotlib.pyplot, configured

# %% [markdown]
# ## A small layer
#
# One 5×5 input with one channel whose pixels are numbered 1…25 (pixel (i, j) holds 5i + j + 1), so that
# the im2col matrix shows *which* pixels each window holds and 0 can only mean padding; two 3×3 kernels,
# stride 2, padding 1.

# %%
x = np.arange(1.0, 26.0).reshape(1, 5, 5, 1)  # (N, H, W, C)
rng = np.random.default_rng(7)
w = rng.integers(-3, 4, size=(3, 3, 1, 2)).astype(np.float64)  # (KH, KW, C, F)
b = np.array([1.0, -2.0])
conv = {"stride": 2, "padding": 1}

x4, unbatched, g = resolve(x, w, conv["stride"], conv["padding"], 1)
print(
    f"N={g.N} H={g.H} W={g.W} C={g.C} | KH={g.KH} KW={g.KW} F={g.F} | stride={g.stride} padding={g.padding}"
)
print(f"output OH = (H + top + bottom - KH) // stride + 1 = ({g.H} + 1 + 1 - {g.KH}) // 2 + 1 = {g.OH}")
assert (g.OH, g.OW) == (3, 3)

# %% [markdown]
# ## Steps 1 and 2: pad, then one strided slice per kernel offset
#
# For kernel offset (i′, j′), output (i, j) reads padded pixel (i·s + i′, j·s + j′): for all outputs at
# once that is the slice `xp[i′ : i′ + s·(OH−1) + 1 : s, j′ : … : s]`.  Below, the padded input and the
# three slices of the kernel's first row (0 is padding).

# %%
xp = pad_input(x4, g, np.float64)  # (N, Hp, Wp, C) = (1, 7, 7, 1)
print("padded input", xp.shape)
slices = [window(xp, g, 0, c)[0, :, :, 0] for c in range(3)]  # 3 x (OH, OW)
fig = grids(
    [xp[0, :, :, 0], *slices],
    ["padded input", "offset (0,0)", "offset (0,1)", "offset (0,2)"],
    symmetric=False,
    cmap="Greys",
)
# output (0,0), tap (0,1) reads padding; output (1,1), tap (0,2) reads padded (2,4) = input (1,3)
assert slices[1][0, 0] == 0 and slices[2][1, 1] == x[0, 1, 3, 0]

# %% [markdown]
# ## Step 3: im2col
#
# Stacking the KH·KW slices gives an array of shape (N, OH, OW, KH, KW, C); reshaped, each **row** is the
# receptive field of one output, M = N·OH·OW rows and K = KH·KW·C columns.

# %%
cols = im2col(xp, g)  # (N, OH, OW, KH, KW, C)
M, K = g.N * g.OH * g.OW, g.KH * g.KW * g.C
X = cols.reshape(M, K)  # (M, K) = (N*OH*OW, KH*KW*C)
print("im2col", cols.shape, "-> matrix X", X.shape)
fig, ax = plt.subplots(figsize=(5.5, 4))
heatmap(ax, X, title="X: one row per output, one column per kernel tap (0 = padding)", cmap="Greys",
        symmetric=False, row_labels=[f"y{i}{j}" for i in range(3) for j in range(3)],
        col_labels=[f"w{a}{c}" for a in range(3) for c in range(3)])  # fmt: skip
assert np.array_equal(X[4], xp[0, 2:5, 2:5, 0].ravel())  # output (1,1): rows 2..4, columns 2..4 of xp

# %% [markdown]
# ## Step 4: one matrix product
#
# The kernels reshape to Wm of shape (K, F) in the same (i′, j′, k′) order, and
# $y = X W_m + b$ is the note's `s3.forward` sum for every output and kernel at once.

# %%
Wm = w.reshape(K, g.F)  # (KH*KW*C, F)
Y = X @ Wm + b  # (M, K) @ (K, F) -> (M, F)
y = Y.reshape(g.N, g.OH, g.OW, g.F)  # (N, OH, OW, F)
print("X", X.shape, "@ Wm", Wm.shape, "->", Y.shape, "->", y.shape)
assert np.array_equal(y, conv2d_forward(x, w, b, **conv))
assert np.array_equal(y, reference.s3_forward(x, w, b, **conv))
print("matrix product == convlib.conv2d_forward == loop reference s3_forward: exactly")

# %% [markdown]
# ## The backward pass: the same matrices, transposed
#
# With `dY` the upstream gradient as an (M, F) matrix:
#
# | gradient | product | shapes | formula id |
# |---|---|---|---|
# | weights | dW = Xᵀ dY | (K, M) @ (M, F) → (K, F) | `s3.weight_step` (the sum) |
# | bias | db = Σ_rows dY | (M, F) → (F,) | `s3.bias_step` |
# | input | dX = dY Wmᵀ, then **col2im** | (M, F) @ (F, K) → (M, K) → (N, H, W, C) | `s3.backward` |
#
# *col2im* is the adjoint of im2col: every entry of dX goes back to the pixel it was copied from, and
# entries for the same pixel add up.  That addition *is* the note's backward sum over every output whose
# window covers the pixel.

# %%
dy = rng.integers(-3, 4, size=y.shape).astype(np.float64)  # (N, OH, OW, F)
dY = dy.reshape(M, g.F)  # (M, F)
dW = (X.T @ dY).reshape(w.shape)  # (K, M) @ (M, F) -> (K, F) -> (KH, KW, C, F)
db = dY.sum(axis=0)  # (F,)
dX = dY @ Wm.T  # (M, F) @ (F, K) -> (M, K)
dx = col2im(dX.reshape(cols.shape), g)  # (N, OH, OW, KH, KW, C) -> (N, H, W, C)
print("dW", dW.shape, "db", db.shape, "dX", dX.shape, "-> dx", dx.shape)

cdx, cdw, cdb = conv2d_backward(dy, x, w, **conv)
assert np.array_equal(dx, cdx) and np.array_equal(dW, cdw) and np.array_equal(db, cdb)
assert np.array_equal(dx, reference.s3_backward(dy, w, (5, 5), **conv))
assert np.array_equal(dW, reference.s3_weight_step(np.zeros_like(w), x, dy, -1.0, **conv))
assert np.array_equal(db, reference.s3_bias_step(np.zeros(2), dy, -1.0))
print("transposed products == convlib.conv2d_backward == loop reference s3_*: exactly")

# %% [markdown]
# How many windows does each pixel sit in?  col2im of a matrix of ones counts them: that is the number
# of (output, tap) pairs in each pixel's backward sum.  With stride 2 and a 3×3 kernel the counts are
# uneven: pixels on odd rows/columns of the padded grid are read by one window per axis, the others by
# two.

# %%
coverage = col2im(np.ones(cols.shape), g)[0, :, :, 0]  # (H, W)
fig = grids([coverage], ["windows covering each pixel"], symmetric=False, cmap="Blues", size=2.8)
assert coverage.sum() == np.count_nonzero(X)  # each copy of a pixel counted once, copies of padding dropped
assert set(np.unique(coverage)) == {1.0, 2.0, 4.0}

# %% [markdown]
# ## What `conv2d_forward` and `conv2d_backward` actually run
#
# The steps above are the algorithm; [`convlib/conv.py`](../convlib/conv.py) runs the same products in a
# faster order.  The im2col matrix X is never built whole: its rows are independent, so the forward pass
# and dW take X one cache-sized block of rows at a time (`convlib.im2col.block_spans`), spread over the
# threads BLAS may use.  And dx is not `col2im(dY @ Wm.T)`, whose scatter-add is slow (worst with
# stride): it is split into s_h·s_w *stride phases* ([`convlib/phases.py`](../convlib/phases.py)), the
# pixel classes whose term counts notebook 03 draws, and each phase is a dense stride-1 correlation of δ
# with a flipped sub-kernel, again im2col and one matrix product.  Every entry is still the sum of the same
# products, only in another order: that is why the integer comparisons above are exact, and why the
# rounding bounds of notebook 06 hold for floats.

# %% [markdown]
# ## Speed
#
# The loop reference, convlib and JAX (`lax.conv_general_dilated` under `jax.jit`, float64, compiled
# before timing) on the CPU.  This is an illustration, not a benchmark: the benchmark with its methodology
# is `convlib bench`.  **The timings differ from machine to machine and run to run, so this cell is tagged
# `nbval-ignore-output` and its output is the one recorded when the notebook was last regenerated with
# `--refresh-timings`.**  Nothing about speed is asserted here; the cell only asserts that the three
# agree.

# %% tags=["nbval-ignore-output"]
rng = np.random.default_rng(0)
small = {"x": rng.standard_normal((2, 12, 12, 3)), "w": rng.standard_normal((3, 3, 3, 4))}
large = {"x": rng.standard_normal((32, 32, 32, 16)), "w": rng.standard_normal((3, 3, 16, 32))}
assert (
    worst_ratio(conv2d_forward(**small), reference.s3_forward(**small, b=np.zeros(4)), forward_bound(**small))
    <= 1
)
assert worst_ratio(conv2d_forward(**large), jax_conv2d_forward(**large), forward_bound(**large)) <= 1

jitted = jax.jit(partial(jax.lax.conv_general_dilated, window_strides=(1, 1), padding="VALID",
                         dimension_numbers=("NHWC", "HWIO", "NHWC")))  # fmt: skip
jitted(large["x"], large["w"]).block_until_ready()  # compile once, outside the timing
seconds = {
    "loop reference, small": "reference.s3_forward(small['x'], small['w'], np.zeros(4))",
    "convlib, small": "conv2d_forward(small['x'], small['w'])",
    "JAX jit, small": "jitted(small['x'], small['w']).block_until_ready()",
    "convlib, large": "conv2d_forward(large['x'], large['w'])",
    "JAX jit, large": "jitted(large['x'], large['w']).block_until_ready()",
}
jitted(small["x"], small["w"]).block_until_ready()
for name, statement in seconds.items():
    seconds[name] = min(
        timeit.repeat(statement, globals=globals(), number=1, repeat=3 if "loop" in name else 10)
    )
print(f"{os.cpu_count()} CPU cores; small = (2,12,12,3) * (3,3,3,4), large = (32,32,32,16) * (3,3,16,32)")
for name, sec in seconds.items():
    print(f"{name:24s} {sec * 1e3:10.3f} ms")
fig = timings(seconds, title="forward pass, best of several runs")
