# Notebook source (percent format), built by scripts/regenerate_notebooks.py.
# ruff: noqa: E501  (markdown cells keep long lines: tables and formulas)

# %% [markdown]
# # 05 · Beyond the note: padding, dilation, batch, the transposed convolution, receptive fields
#
# The note's three sections cover one sample, no padding (except the zero padding of δ in the backward
# formulas), no dilation.  convlib generalises every formula id to all of these; this notebook shows what
# each generalisation *means* and asserts it with exact integer arithmetic, so `==` is the right test.
#
# The general forward pass, with padding `(top, left)`, stride `s` and dilation `d`:
#
# $$y_{n,i,j,f} = \sum_{i'=0}^{K_H-1}\sum_{j'=0}^{K_W-1}\sum_{k'=0}^{C-1}
#   w_{i',j',k',f}\; x^{\text{pad}}_{n,\; i s_h + i' d_h,\; j s_w + j' d_w,\; k'} + b_f,
# \qquad O_H = \left\lfloor \frac{H + p_t + p_b - d_h (K_H-1) - 1}{s_h} \right\rfloor + 1$$

# %%
import numpy as np
from IPython.display import Markdown, Math, display

from convlib import conv2d_backward, conv2d_forward
from convlib.bounds import backward_bounds, forward_bound, worst_ratio
from convlib.geometry import output_size, same_padding
from convlib.oracles import jax_conv2d_backward, jax_conv2d_forward
from convlib.plots import grids, heatmap, notebook_setup
from derivations import general_derivations, latex

plt = notebook_setup()  # matplotlib.pyplot, configured
rng = np.random.default_rng(5)

# %% [markdown]
# ## Padding is the note's zero padding, made explicit
#
# Padding by `p` is the same as convolving the input surrounded by `p` rows and columns of zeros, so
# the backward pass of a padded layer is the backward pass of the larger input, cropped back.

# %%
x = rng.integers(-4, 5, size=(1, 4, 4, 1)).astype(np.float64)  # (N, H, W, C)
w = rng.integers(-3, 4, size=(3, 3, 1, 2)).astype(np.float64)  # (KH, KW, C, F)
xp = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))  # (1, 6, 6, 1)
y = conv2d_forward(x, w, padding=1)
assert np.array_equal(y, conv2d_forward(xp, w))
dy = rng.integers(-3, 4, size=y.shape).astype(np.float64)
dx, dw, _ = conv2d_backward(dy, x, w, padding=1)
dxp, dwp, _ = conv2d_backward(dy, xp, w)
assert np.array_equal(dx, dxp[:, 1:-1, 1:-1, :]) and np.array_equal(dw, dwp)
print("padding=1 == explicit zeros, forward and backward (the padded border's gradient is cropped away)")

# %% [markdown]
# ### `'same'`
#
# `'same'` (as TensorFlow and JAX define it) chooses the padding so that the output has
# ⌈H / stride⌉ rows; when the total is odd, the extra row goes at the **bottom** (and the extra column at
# the right).  convlib's `'same'` is checked against JAX's own `'SAME'`, not against a copy of its rule.

# %%
for H, K, s in [(5, 3, 1), (6, 4, 1), (7, 4, 2), (8, 3, 3), (4, 5, 2)]:
    lo, hi = same_padding(H, K, s, 1)
    assert output_size(H, K, s, 1, lo, hi) == -(-H // s)  # ceil(H / s)
    print(f"H={H} K={K} stride={s}: pad ({lo}, {hi}) -> {-(-H // s)} outputs")

x = rng.standard_normal((2, 7, 6, 2))
w = rng.standard_normal((4, 3, 2, 3))
y = conv2d_forward(x, w, stride=2, padding="same")
assert y.shape == (2, 4, 3, 3)
assert (
    worst_ratio(
        y, jax_conv2d_forward(x, w, stride=2, padding="same"), forward_bound(x, w, stride=2, padding="same")
    )
    <= 1
)
dy = rng.standard_normal(y.shape)
ours = conv2d_backward(dy, x, w, stride=2, padding="same")
theirs = jax_conv2d_backward(dy, x, w, stride=2, padding="same")
bounds = backward_bounds(dy, x, w, stride=2, padding="same")
assert all(worst_ratio(a, t, bd) <= 1 for a, t, bd in zip(ours, theirs, bounds, strict=True))
print("'same', stride 2, odd total padding: forward and gradients agree with JAX within the rounding bound")

# %%
ones = np.ones((1, 7, 7, 1))
(top, bottom), (left, right) = same_padding(7, 4, 2, 1), same_padding(7, 4, 2, 1)
padded = np.pad(ones[0, :, :, 0], ((top, bottom), (left, right)))
fig = grids(
    [padded],
    [f"7x7 input, K=4, stride 2, 'same': pad top {top}, bottom {bottom}"],
    cmap="Greys",
    symmetric=False,
    size=3.2,
    highlight=padded == 0,
)

# %% [markdown]
# ## Dilation is a kernel with holes
#
# Dilation `d` places tap `i'` at offset `i'·d`: the same as a dense kernel of size `d(K−1)+1` with
# zeros between the taps.  The weight gradient of the dilated layer is the holey kernel's gradient read
# at the taps.

# %%
x = rng.integers(-4, 5, size=(2, 9, 8, 2)).astype(np.float64)
w = rng.integers(-3, 4, size=(3, 2, 2, 2)).astype(np.float64)
holey = np.zeros((5, 4, 2, 2))  # (d*(KH-1)+1, d*(KW-1)+1... ) with d = (2, 3)
holey[::2, ::3] = w
y = conv2d_forward(x, w, dilation=(2, 3))
assert np.array_equal(y, conv2d_forward(x, holey))
dy = rng.integers(-3, 4, size=y.shape).astype(np.float64)
dx, dw, _ = conv2d_backward(dy, x, w, dilation=(2, 3))
hdx, hdw, _ = conv2d_backward(dy, x, holey)
assert np.array_equal(dx, hdx) and np.array_equal(dw, hdw[::2, ::3])
print("dilation (2, 3) == dense kernel with zeros between the taps, forward and backward")
fig = grids([w[:, :, 0, 0], holey[:, :, 0, 0]], ["3x2 kernel", "as dilated by (2, 3)"], size=2.6)

# %% [markdown]
# ## The general input gradient, derived
#
# With stride, dilation and padding together, input row $a$ receives tap $i'$ from output row
# $o = (a + p_t - i' d_h)/s_h$, **if that is an integer** in $[0, O_H)$.  SymPy derives this from the
# general forward pass (`derivations/general_layer.py`), and its own Kronecker-delta elimination shows a
# trap worth knowing: `Sum.doit` returns $\delta_{(a + p_t - i' d_h)/s_h}$ and *forgets* the divisibility
# condition.  The final step keeps the guard $s_h \mid a + p_t - i' d_h$; it is stated, and checked on the
# general grid of the derivations and bitwise on the verification grid in notebook 06.

# %%
steps, formula, indices = general_derivations()["input"]
for number, step in enumerate(steps, 1):
    who = "SymPy" if step.by == "sympy" else "stated, proved on the grid"
    display(Markdown(f"**{number}.** [{who}] {step.caption}"))
    display(Math(latex(step.expr, "backward")))
assert steps[-1].by == "stated" and "Mod" in str(formula)  # the divisibility guard is in the result

# %% [markdown]
# ## A batch is a stack of samples
#
# The forward pass of a batch is the stack of the samples' forward passes; the input gradient is the
# stack of their input gradients; the weight and bias gradients are the **sums** of the per-sample ones
# (the note's `s*.weight_step` sum gains an index n).

# %%
x = rng.integers(-4, 5, size=(3, 6, 5, 2)).astype(np.float64)
w = rng.integers(-3, 4, size=(3, 3, 2, 4)).astype(np.float64)
b = rng.integers(-3, 4, size=4).astype(np.float64)
y = conv2d_forward(x, w, b, stride=2, padding=1)
dy = rng.integers(-3, 4, size=y.shape).astype(np.float64)
dx, dw, db = conv2d_backward(dy, x, w, stride=2, padding=1)
per_sample = [conv2d_backward(dy[n], x[n], w, stride=2, padding=1) for n in range(3)]
assert np.array_equal(y, np.stack([conv2d_forward(x[n], w, b, stride=2, padding=1) for n in range(3)]))
assert np.array_equal(dx, np.stack([p[0] for p in per_sample]))
assert np.array_equal(dw, sum(p[1] for p in per_sample)) and np.array_equal(db, sum(p[2] for p in per_sample))
print("batch of 3 == 3 samples: outputs and input gradients stacked, weight and bias gradients summed")

# %% [markdown]
# ## The transposed convolution is the adjoint of the forward pass
#
# For fixed weights the forward pass is a linear map of the input: $y = A x$ for a matrix $A$ with one
# row per output and one column per input pixel.  Feeding it the unit vectors gives $A$ column by
# column.  The input gradient is $A^\top \delta$: the backward pass (`s*.backward` before the factor
# $h'$) **is** the "transposed convolution" that upsampling layers use.  With stride 2 it stamps a copy of
# the kernel at every second pixel.

# %%
w1 = rng.integers(1, 4, size=(3, 3, 1, 1)).astype(np.float64)
H = W = 5
units = np.eye(H * W).reshape(H * W, H, W, 1)  # every unit input at once, as a batch of 25
A = conv2d_forward(units, w1, stride=2).reshape(H * W, -1).T  # (OH*OW, H*W) = (4, 25)
delta = rng.integers(-3, 4, size=(1, 2, 2, 1)).astype(np.float64)
dx, _, _ = conv2d_backward(delta, np.zeros((1, H, W, 1)), w1, stride=2)
assert np.array_equal(dx.ravel(), A.T @ delta.ravel())
x = rng.integers(-4, 5, size=(1, H, W, 1)).astype(np.float64)
assert np.sum(conv2d_forward(x, w1, stride=2) * delta) == np.sum(x * dx)  # <Ax, delta> = <x, A^T delta>
print("backward(delta) == A^T delta, and <A x, delta> == <x, A^T delta>, exactly")

one_hot = np.zeros((1, 2, 2, 1))
one_hot[0, 1, 1, 0] = 1
stamp, _, _ = conv2d_backward(one_hot, np.zeros((1, H, W, 1)), w1, stride=2)
assert np.array_equal(stamp[0, 2:5, 2:5, 0], w1[:, :, 0, 0])  # the kernel, placed at 2 * (1, 1)
fig, axes = plt.subplots(1, 2, figsize=(8.5, 2.6), gridspec_kw={"width_ratios": [3.2, 1]})
heatmap(axes[0], A, title="A: rows = the 4 outputs, columns = the 25 pixels", cmap="Blues", symmetric=False)
heatmap(axes[1], stamp[0, :, :, 0], title="A^T of a one-hot delta at (1, 1)", cmap="Blues", symmetric=False)
fig.tight_layout()

# %% [markdown]
# ## Receptive fields
#
# Which input pixels can change one output of a stack of layers?  Back-propagate a one-hot gradient
# through the stack with every weight set to 1: a pixel's value is the number of paths from it to that
# output, and the non-zero pixels are the receptive field.  Its size follows the familiar rule
#
# $$r = 1 + \sum_l (K_l - 1)\, d_l \prod_{m<l} s_m .$$
#
# Here: 3×3 (stride 1), then 3×3 with stride 2, then 3×3 with dilation 2, on a 15×15 input.

# %%
stack = [
    {"kernel": 3, "stride": 1, "dilation": 1},
    {"kernel": 3, "stride": 2, "dilation": 1},
    {"kernel": 3, "stride": 1, "dilation": 2},
]
shapes = [(1, 15, 15, 1)]
for layer in stack:
    ones_w = np.ones((layer["kernel"], layer["kernel"], 1, 1))
    shapes.append(
        conv2d_forward(np.zeros(shapes[-1]), ones_w, stride=layer["stride"], dilation=layer["dilation"]).shape
    )
print("feature map sizes:", [s[1] for s in shapes])

grad = np.zeros(shapes[-1])
grad[0, 0, 0, 0] = 1  # one output of the last layer
maps = [grad[0, :, :, 0]]
for layer, shape in zip(reversed(stack), reversed(shapes[:-1]), strict=True):
    ones_w = np.ones((layer["kernel"], layer["kernel"], 1, 1))
    grad, _, _ = conv2d_backward(
        grad, np.zeros(shape), ones_w, stride=layer["stride"], dilation=layer["dilation"]
    )
    maps.append(grad[0, :, :, 0])

rows, cols = np.nonzero(maps[-1])
size = 1 + sum(
    (layer["kernel"] - 1) * layer["dilation"] * int(np.prod([m["stride"] for m in stack[:n]]))
    for n, layer in enumerate(stack)
)
assert (rows.max() - rows.min() + 1, cols.max() - cols.min() + 1) == (size, size) == (13, 13)
print(f"receptive field of output (0, 0): {size}x{size} input pixels, as the rule predicts")
fig = grids(
    maps[::-1],
    ["input (paths per pixel)", "after layer 1", "after layer 2", "one output of layer 3"],
    cmap="Blues",
    symmetric=False,
    annotate=False,
    size=2.6,
)
