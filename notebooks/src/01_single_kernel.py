# Notebook source (percent format), built by scripts/regenerate_notebooks.py.
# ruff: noqa: E501  (markdown cells keep long lines: tables and formulas)

# %% [markdown]
# # 01 · One kernel over one map (the note's section 1)
#
# Section 1 of the note convolves a single-channel map $f^{l-1}$ with one kernel $w^l$ and a bias $b^l$.
# This notebook follows its four formulas through: the note's text, the SymPy derivation, convlib's code,
# an exact worked example on the note's own 3×3 input and 2×2 kernel, the pictures that explain the
# backward pass, and the check against JAX's automatic differentiation and finite differences.
#
# | formula id | the note writes |
# |---|---|
# | `s1.forward` | $y_{i,j}^l = \sum_{i'=0}^{K_H-1} \sum_{j'=0}^{K_W-1} w_{i',j'}^l\, f_{i+i',j+j'}^{l-1} + b^l$, $\;f_{i,j}^l = h(y_{i,j}^l)$ |
# | `s1.backward` | $\delta_{i,j}^l = h'(y_{i,j}^l) \sum_{i'=0}^{K_H-1} \sum_{j'=0}^{K_W-1} w_{i',j'}^{l+1}\, \delta_{i-i',j-j'}^{l+1}$, with $\delta^{l+1}_{x,y} := 0$ if $x \notin [0, \text{output height}]$ or $y \notin [0, \text{output width}]$ (closed, as printed: see notebook 04) |
# | `s1.weight_step` | $w_{i,j}^l \leftarrow w_{i,j}^l - \alpha \sum_{i'=0}^{O_H-1} \sum_{j'=0}^{O_W-1} \delta_{i',j'}^l\, f_{i+i',j+j'}^{l-1}$ |
# | `s1.bias_step` | $b^l \leftarrow b^l - \alpha \sum_{i'=0}^{O_H-1} \sum_{j'=0}^{O_W-1} \delta_{i',j'}^l$ |
#
# Convention (everywhere in convlib): "convolution" is cross-correlation, as in the note; arrays are
# channels-last, `x[n, i, j, k]` is the note's $f^{l-1}$ and `w[i, j, k, f]` its $w^l$; section 1 is the
# case of one channel and one kernel.

# %%
import inspect

import numpy as np
from IPython.display import Markdown, Math, display

from convlib import Conv2D, conv2d_backward, conv2d_forward, reference
from convlib.bounds import backward_bounds, forward_bound, worst_ratio
from convlib.checks import resolve
from convlib.im2col import im2col, pad_input
from convlib.oracles import finite_difference_backward, finite_difference_bound, jax_conv2d_backward
from convlib.plots import grids, notebook_setup, outputs_feeding_inputs
from derivations import Config, derive, evaluate, latex, section_arrays, value_shape

plt = notebook_setup()  # matplotlib.pyplot, configured

# %% [markdown]
# ## The worked example: the note's 3×3 input and 2×2 kernel
#
# Small integers, so every number below is exact and every comparison is `==`.

# %%
f_prev = np.array([[1.0, 2.0, 0.0], [-1.0, 3.0, 1.0], [2.0, 0.0, -2.0]])  # f^{l-1}, (H, W) = (3, 3)
w = np.array([[1.0, -1.0], [2.0, 1.0]])  # w^l, (KH, KW) = (2, 2)
b = 1.0

y = reference.s1_forward(f_prev[np.newaxis], w, b)[0]  # loop reference, (OH, OW) = (2, 2)
terms = " + ".join(f"({w[a, c]:+.0f})({f_prev[a, c]:+.0f})" for a in range(2) for c in range(2))
print(f"y[0,0] = {terms} + {b:.0f} = {y[0, 0]:.0f}")
assert y[0, 0] == 1 * 1 + (-1) * 2 + 2 * (-1) + 1 * 3 + 1
# convlib, with the channel axes the general layer uses: x (N, H, W, C), w (KH, KW, C, F)
y_convlib = conv2d_forward(
    f_prev[np.newaxis, :, :, np.newaxis], w[:, :, np.newaxis, np.newaxis], np.array([b])
)
assert np.array_equal(y_convlib[0, :, :, 0], y)
print("y =", y.astype(int).tolist(), "(loop reference == convlib.conv2d_forward)")
fig = grids([f_prev, w, y], ["f^{l-1} (input)", "w^l (kernel)", "y^l = f * w + b"])

# %% [markdown]
# ## Backward: which outputs feed each input pixel
#
# The loss depends on input pixel $(i, j)$ through every output whose window covers it: output $(o, p)$
# reads it with kernel tap $(i-o, j-p)$.  Each small panel below is the 2×2 output grid seen from one input
# pixel: coloured outputs read that pixel, and the label is the weight they read it with (taps numbered
# row by row, `w0 = w[0,0]`, `w1 = w[0,1]`, `w2 = w[1,0]`, `w3 = w[1,1]`).  The corner pixels are read by one
# output, the centre pixel by all four.  The map is computed from convlib's own im2col (every window's
# pixel ids), not drawn by hand.

# %%
ids = np.arange(9.0).reshape(1, 3, 3, 1)  # pixel (i, j) has id 3i + j
x4, _, geom = resolve(ids, np.zeros((2, 2, 1, 1)), 1, 0, 1)
windows = im2col(pad_input(x4, geom, np.float64), geom)[0, :, :, :, :, 0]  # (OH, OW, KH, KW) of pixel ids
feeds = np.zeros((3, 3, 2, 2))  # feeds[i, j, o, p] = 1 + tap through which output (o, p) reads pixel (i, j)
for (o, p, a, c), pixel in np.ndenumerate(windows):
    feeds[int(pixel) // 3, int(pixel) % 3, o, p] = 1 + 2 * a + c
assert (feeds > 0).sum(axis=(2, 3)).tolist() == [[1, 2, 1], [2, 4, 2], [1, 2, 1]]
fig = outputs_feeding_inputs(feeds, title="outputs (o, p) that read input (i, j), and through which weight")

# %% [markdown]
# So the gradient of the loss with respect to input pixel $(i, j)$ collects one term per coloured output:
# $\sum_{i',j'} w_{i',j'}\, \delta_{i-i',j-j'}$, where $\delta_{o,p} = \partial L / \partial y_{o,p}$ and the
# terms whose output index falls outside the 2×2 grid are zero.  That is the note's `s1.backward` sum (the
# note writes it for layer $l+1$, whose input is $f^l$).
#
# ## Backward as a full correlation with the flipped kernel
#
# Pad δ with $K-1$ zeros on every side and slide the kernel **flipped** in both directions over it: each
# position gives one input pixel's sum.  This is why the backward pass of a stride-1 convolution is again a
# convolution, and why the note's indices run *backwards* ($\delta_{i-i',j-j'}$).

# %%
delta = np.array([[2.0, -1.0], [0.0, 3.0]])  # delta^{l+1} = dL/dy, (OH, OW)
grad = reference.s1_backward(delta[np.newaxis], w, (3, 3))[0]  # the note's sum (before h'), (H, W)
padded = np.pad(delta, 1)  # K - 1 = 1 zero on every side, (4, 4)
flipped = w[::-1, ::-1]
full = conv2d_forward(padded[np.newaxis, :, :, np.newaxis], flipped[:, :, np.newaxis, np.newaxis])[0, :, :, 0]
assert np.array_equal(full, grad)
dx, _, _ = conv2d_backward(delta[np.newaxis, :, :, np.newaxis], f_prev[np.newaxis, :, :, np.newaxis],
                           w[:, :, np.newaxis, np.newaxis])  # fmt: skip
assert np.array_equal(dx[0, :, :, 0], grad)
print("input gradient =", grad.astype(int).tolist())
print("loop reference == full correlation of padded delta with the flipped kernel == convlib.conv2d_backward")
fig = grids(
    [padded, flipped, grad],
    ["delta, zero-padded by K-1", "kernel flipped", "input gradient (3x3)"],
)

# %% [markdown]
# ## Where `s1.backward` comes from: the derivation, step by step
#
# `derivations/` knows only the forward pass.  It writes the loss as $L = \sum_{i,j} \delta^{l+1}_{i,j}\,
# y^{l+1}_{i,j}$ for an arbitrary upstream gradient $\delta^{l+1}$, lets `sympy.diff` differentiate it by
# one input entry $f^l_{a,b}$ (Kronecker deltas appear), lets `Sum.doit` eliminate them, and re-indexes
# into the note's shape.  The one step SymPy cannot take by itself (exchanging a summation range with a
# guard) is *stated* and proved instead by the exhaustive check on every configuration of the grid.  The
# steps below are rendered from the derivation objects, not typed.

# %%
derivation = derive("s1.backward")
for number, step in enumerate(derivation.steps, 1):
    who = "SymPy" if step.by == "sympy" else "stated, proved on the grid"
    display(Markdown(f"**{number}.** [{who}] {step.caption}"))
    display(Math(latex(step.expr, "backward")))
assert [step.by for step in derivation.steps].count("sympy") >= 3

# %% [markdown]
# The derived formula, evaluated numerically on the worked example (`derivations.evaluate`, plain Python
# sums of the SymPy expression), reproduces the input gradient above exactly:

# %%
cfg = Config(H=3, W=3, C=1, F=1, KH=2, KW=2)
arrays = section_arrays(1, {"x": f_prev[:, :, None], "w": w[:, :, None, None], "b": np.array([b]),
                            "g": delta[:, :, None], "u": np.zeros((3, 3, 1))})  # fmt: skip
derived = evaluate(
    derivation.result,
    derivation.indices,
    (),
    cfg,
    arrays,
    value_shape("s1.backward", cfg),
    0.5,
    symbolic=False,
)
assert np.array_equal(derived, grad)
print(
    "SymPy's derived s1.backward on the example == loop reference == convlib:", derived.astype(int).tolist()
)

# %% [markdown]
# ## The factor $h'(y^l)$: who owns which part
#
# The note's $\delta^l$ multiplies the backward sum of layer $l+1$ by $h'(y^l)$ of layer $l$.  In convlib
# the sum is computed by layer $l+1$ (it owns $w^{l+1}$) and the factor by layer $l$ (it owns $h$ and
# $y^l$): `Conv2D.backward(g)` forms $\delta^l = h'(y^l) \cdot g$ and keeps it as `layer.delta`.  Two
# layers with ReLU in between, on integers (ReLU′ is 0 or 1, so the products stay exact):

# %%
rng = np.random.default_rng(1)
layer_l = Conv2D(rng.integers(-2, 3, size=(2, 2, 1, 1)).astype(np.float64), [1.0], activation="relu")
layer_next = Conv2D(w[:, :, np.newaxis, np.newaxis])  # layer l+1 uses the example kernel
x0 = rng.integers(-3, 4, size=(1, 4, 4, 1)).astype(np.float64)  # f^{l-1}
out = layer_next.forward(layer_l.forward(x0))  # f^l is 3x3, the example's input size
delta_next = np.array([[[[2.0], [-1.0]], [[0.0], [3.0]]]])  # delta^{l+1}, (1, 2, 2, 1)
layer_next.backward(delta_next)
layer_l.backward(layer_next.backward(delta_next))
y_l = conv2d_forward(x0, layer_l.w, layer_l.b)  # y^l, before the activation
hprime = layer_l.h.derivative(y_l)  # ReLU'(y^l): 1 where y^l > 0, else 0
expected = reference.s1_backward(delta_next[..., 0], w, (3, 3), dh=hprime[..., 0])
assert np.array_equal(layer_l.delta[..., 0], expected)
print(
    "layer l's delta == h'(y^l) * sum_{i',j'} w^{l+1}[i',j'] delta^{l+1}[i-i', j-j'] (loop reference), exactly"
)

# %% [markdown]
# ## Weight and bias steps
#
# The weight gradient $\sum_{i',j'} \delta_{i',j'} f_{i+i',j+j'}$ is the correlation of the *input* with
# δ used as a kernel; the bias gradient is the sum of δ.  With learning rate α = 1/2 (a power of two, so
# the step itself is exact):

# %%
lr = 0.5
new_w = reference.s1_weight_step(w, f_prev[np.newaxis], delta[np.newaxis], lr)
new_b = reference.s1_bias_step(b, delta[np.newaxis], lr)
dw_corr = conv2d_forward(f_prev[np.newaxis, :, :, np.newaxis], delta[:, :, np.newaxis, np.newaxis])[
    0, :, :, 0
]
assert np.array_equal(new_w, w - lr * dw_corr)
_, dw, db = conv2d_backward(delta[np.newaxis, :, :, np.newaxis], f_prev[np.newaxis, :, :, np.newaxis],
                            w[:, :, np.newaxis, np.newaxis])  # fmt: skip
assert np.array_equal(new_w, w - lr * dw[:, :, 0, 0]) and new_b == b - lr * db[0]
print("dL/dw =", dw_corr.astype(int).tolist(), " dL/db =", int(db[0]))
print("w <-", new_w.tolist(), " b <-", new_b)

# %% [markdown]
# The weight step, derived the same way: differentiate $L$ by $w_{a,b}$, eliminate the Kronecker deltas,
# take the step $w \leftarrow w - \alpha\, \partial L / \partial w$.

# %%
derivation = derive("s1.weight_step")
for number, step in enumerate(derivation.steps, 1):
    who = "SymPy" if step.by == "sympy" else "stated, proved on the grid"
    display(Markdown(f"**{number}.** [{who}] {step.caption}"))
    display(Math(latex(step.expr, "weight_step")))
assert [step.by for step in derivation.steps].count("sympy") >= 3

# %%
derived_w = evaluate(
    derivation.result,
    derivation.indices,
    (),
    cfg,
    dict(arrays, g=delta),
    value_shape("s1.weight_step", cfg),
    lr,
    symbolic=False,
)
assert np.array_equal(derived_w, new_w)
print("SymPy's derived s1.weight_step on the example, alpha = 1/2:", derived_w.tolist())

# %% [markdown]
# ## Against JAX and finite differences
#
# On random floats (a 6×7 map, a 3×2 kernel, a batch of 2), convlib's three gradients are compared with
# JAX's reverse-mode AD and with central finite differences, each within its derived rounding bound
# ([`convlib/bounds.py`](../convlib/bounds.py), notebook 06).

# %%
rng = np.random.default_rng(11)
x = rng.standard_normal((2, 6, 7, 1))
wr = rng.standard_normal((3, 2, 1, 1))
br = rng.standard_normal(1)
y = conv2d_forward(x, wr, br)
assert (
    worst_ratio(
        y[..., 0], reference.s1_forward(x[..., 0], wr[:, :, 0, 0], br[0]), forward_bound(x, wr, br)[..., 0]
    )
    <= 1
)
g = rng.standard_normal(y.shape)
ours = conv2d_backward(g, x, wr)
bounds = backward_bounds(g, x, wr)
jax_grads = jax_conv2d_backward(g, x, wr)
fd_grads = finite_difference_backward(g, x, wr, br)
fd_bound = finite_difference_bound(g, x, wr, br)
for name, o, j, f, bd in zip(("dx", "dw", "db"), ours, jax_grads, fd_grads, bounds, strict=True):
    assert worst_ratio(o, j, bd) <= 1, name
    assert worst_ratio(o, f, bd / 2 + fd_bound) <= 1, name
print("s1 gradients: convlib == JAX AD == finite differences, each within its rounding bound")

# %% [markdown]
# ## The code
#
# The loop reference reads like the note (it is what the worked example used), generalised to a batch,
# padding and dilation:

# %%
print(inspect.getsource(reference.s1_backward))
