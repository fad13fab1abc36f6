# Notebook source (percent format), built by scripts/regenerate_notebooks.py.
# ruff: noqa: E501  (markdown cells keep long lines: tables and formulas)

# %% [markdown]
# # 02 · Multiple kernels over an input with depth (the note's section 2)
#
# Section 2 gives the input a depth (channels $k$) and the layer several kernels ($f$); each kernel spans
# all input channels and produces one output channel.
#
# | formula id | the note writes |
# |---|---|
# | `s2.forward` | $y_{i,j,f}^l = \sum_{i'=0}^{K_H-1} \sum_{j'=0}^{K_W-1} \sum_{k'=0}^{C-1} w_{i',j',k',f}^l\, f_{i+i',j+j',k'}^{l-1} + b_f^l$ |
# | `s2.backward` | $\delta_{i,j,f}^l = h'(y_{i,j,f}^l) \sum_{i'=0}^{K_H-1} \sum_{j'=0}^{K_W-1} \sum_{f'=0}^{F-1} w_{i',j',f',f}^{l+1}\, \delta_{i-i',j-j',f'}^{l+1}$ |
# | `s2.weight_step` | $w_{i,j,k,f}^l \leftarrow w_{i,j,k,f}^l - \alpha \sum_{i'=0}^{O_H-1} \sum_{j'=0}^{O_W-1} \delta_{i',j',f}^l\, f_{i+i',j+j',k}^{l-1}$ |
# | `s2.bias_step` | $b_f^l \leftarrow b_f^l - \alpha \sum_{i'=0}^{O_H-1} \sum_{j'=0}^{O_W-1} \delta_{i',j',f}^l$ |
#
# Read the weight indices with care.  In the forward pass the third index of $w$ is the **input channel**
# and the fourth the **kernel**.  In `s2.backward` the note writes $w^{l+1}_{i',j',f',f}$: the kernel $f'$
# of layer $l+1$ in the third place and the channel $f$ (of layer $l$'s output, i.e. layer $l+1$'s input)
# in the fourth, swapped with respect to its own forward pass.  This notebook uses the index order of the
# forward pass, $w^{l+1}_{i',j',f,f'}$, and shows why; notebook 04 makes the counterexample to the note's
# order visible.

# %%
import inspect

import numpy as np
from IPython.display import Markdown, Math, display

from convlib import conv2d_backward, conv2d_forward, reference
from convlib.bounds import backward_bounds, forward_bound, worst_ratio
from convlib.configurations import HARD_CONFIGS
from convlib.oracles import finite_difference_backward, finite_difference_bound, jax_conv2d_backward
from convlib.plots import grids, notebook_setup
from derivations import Config, derive, evaluate, latex, value_shape

plt = notebook_setup()  # matplotlib.pyplot, configured

# %% [markdown]
# ## Worked example: a 3×3 input with 2 channels, three 2×2 kernels
#
# Channels-last: `x[i, j, k]` is $f^{l-1}_{i,j,k}$, `w[i', j', k', f]` is $w^l_{i',j',k',f}$.

# %%
x = np.array(
    [[[1, 0], [2, -1], [0, 1]], [[-1, 2], [3, 0], [1, 1]], [[2, -2], [0, 1], [-2, 0]]], dtype=np.float64
)  # (H, W, C) = (3, 3, 2)
w = np.array(
    [[[[1, 0, -1], [0, 1, 1]], [[-1, 2, 0], [1, 0, 1]]], [[[2, -1, 1], [0, 0, -1]], [[1, 1, 0], [-1, 2, 1]]]],
    dtype=np.float64,
)  # (KH, KW, C, F) = (2, 2, 2, 3)
b = np.array([1.0, 0.0, -1.0])  # (F,)
y = conv2d_forward(x, w, b)  # (OH, OW, F) = (2, 2, 3)
assert y.shape == (2, 2, 3)
assert np.array_equal(y, reference.s2_forward(x[np.newaxis], w, b)[0])
terms = " + ".join(
    f"({w[a, c, k, 1]:+.0f})({x[a, c, k]:+.0f})" for a in range(2) for c in range(2) for k in range(2)
)
print(f"y[0,0,1] = {terms} + {b[1]:.0f} = {y[0, 0, 1]:.0f}")
assert (
    y[0, 0, 1] == sum(w[a, c, k, 1] * x[a, c, k] for a in range(2) for c in range(2) for k in range(2)) + b[1]
)
fig = grids(
    [x[:, :, 0], x[:, :, 1], *(y[:, :, f] for f in range(3))],
    ["x channel k=0", "x channel k=1", "y kernel f=0", "y kernel f=1", "y kernel f=2"],
)  # fmt: skip

# %% [markdown]
# ## Backward: every kernel sends gradient back to every input channel
#
# Input channel $k$ was read by all $F$ kernels, kernel $f'$ through its slice $w_{:,:,k,f'}$.  So the
# input gradient of channel $k$ is a sum over kernels of single-kernel backward passes (notebook 01), each
# a full correlation of $\delta_{:,:,f'}$ with the flipped slice $w_{:,:,k,f'}$:
#
# $$\frac{\partial L}{\partial f^{l-1}_{i,j,k}} = \sum_{f'=0}^{F-1} \sum_{i',j'} w_{i',j',k,f'}\, \delta_{i-i',j-j',f'}$$
#
# The panels show the three contributions to channel $k = 0$ and their sum.

# %%
delta = np.array([[[1, 0, -1], [2, 1, 0]], [[0, -2, 1], [1, 1, 1]]], dtype=np.float64)  # (OH, OW, F)
dx, dw, db = conv2d_backward(delta, x, w)
parts = [reference.s1_backward(delta[np.newaxis, :, :, f], w[:, :, 0, f], (3, 3))[0] for f in range(3)]
assert np.array_equal(sum(parts), dx[:, :, 0])
assert np.array_equal(dx, reference.s2_backward(delta[np.newaxis], w, (3, 3))[0])
print("input gradient, channel 0 =", dx[:, :, 0].astype(int).tolist())
print("sum over kernels of single-kernel passes == convlib == loop reference s2_backward")
fig = grids(
    [*parts, dx[:, :, 0]],
    ["from kernel f'=0", "from kernel f'=1", "from kernel f'=2", "sum = dL/dx[:, :, 0]"],
)

# %% [markdown]
# ## The derivation of `s2.backward`, step by step
#
# As in notebook 01: the loss over all outputs and kernels, `sympy.diff` by one input entry
# $f^l_{a,b,c}$, `Sum.doit` on the Kronecker deltas, re-indexing.  Watch the weight's indices in the last
# line: the input channel $c$ stays in the **third** place, where the forward pass put it.

# %%
derivation = derive("s2.backward")
for number, step in enumerate(derivation.steps, 1):
    who = "SymPy" if step.by == "sympy" else "stated, proved on the grid"
    display(Markdown(f"**{number}.** [{who}] {step.caption}"))
    display(Math(latex(step.expr, "backward")))
assert [step.by for step in derivation.steps].count("sympy") >= 3

# %%
cfg = Config(H=3, W=3, C=2, F=3, KH=2, KW=2)
arrays = {"x": x, "w": w, "b": b, "g": delta, "u": np.zeros_like(x)}
derived = evaluate(
    derivation.result,
    derivation.indices,
    (),
    cfg,
    arrays,
    value_shape("s2.backward", cfg),
    0.5,
    symbolic=False,
)
assert np.array_equal(derived, dx)
print("SymPy's derived s2.backward on the worked example == convlib's input gradient, all 18 entries")

# %% [markdown]
# ## Weight and bias gradients
#
# The slice $w_{:,:,k,f}$ meets only input channel $k$ and output channel $f$, so its gradient is the
# single-kernel weight gradient of that pair (the correlation of channel $k$ of the input with
# $\delta_{:,:,f}$); the bias of kernel $f$ collects all of $\delta_{:,:,f}$.

# %%
for k in range(2):
    for f in range(3):
        pair = conv2d_forward(
            x[np.newaxis, :, :, k : k + 1], delta[:, :, np.newaxis, f : f + 1]
        )  # (1, 2, 2, 1)
        assert np.array_equal(dw[:, :, k, f], pair[0, :, :, 0])
assert np.array_equal(db, delta.sum(axis=(0, 1)))
lr = 0.25
assert np.array_equal(reference.s2_weight_step(w, x[np.newaxis], delta[np.newaxis], lr), w - lr * dw)
assert np.array_equal(reference.s2_bias_step(b, delta[np.newaxis], lr), b - lr * db)
print(
    "dL/dw[:, :, k, f] = input channel k correlated with delta[:, :, f], for all 6 pairs; dL/db = sums of delta"
)
print("s2 weight and bias steps (loop reference) == w - lr*dw, b - lr*db with convlib's gradients")

# %% [markdown]
# ## Against JAX and finite differences
#
# The note's section-2 geometry from the verification grid (batch 2, 5×5×3 input, two 3×3 kernels), on
# random floats.

# %%
cfg = next(c for c in HARD_CONFIGS if c.label.startswith("note s2"))
rng = np.random.default_rng(12)
xr, wr, br = cfg.arrays(rng)
yr = conv2d_forward(xr, wr, br)
assert worst_ratio(yr, reference.s2_forward(xr, wr, br), forward_bound(xr, wr, br)) <= 1
g = rng.standard_normal(yr.shape)
ours = conv2d_backward(g, xr, wr)
bounds = backward_bounds(g, xr, wr)
fd_bound = finite_difference_bound(g, xr, wr, br)
for name, o, j, f, bd in zip(
    ("dx", "dw", "db"),
    ours,
    jax_conv2d_backward(g, xr, wr),
    finite_difference_backward(g, xr, wr, br),
    bounds,
    strict=True,
):
    assert worst_ratio(o, j, bd) <= 1, name
    assert worst_ratio(o, f, bd / 2 + fd_bound) <= 1, name
print(f"{cfg.label}: convlib == JAX AD == finite differences, each within its rounding bound")

# %% [markdown]
# ## The code
#
# The loop reference for `s2.backward`, with the channel index where the forward pass puts it:

# %%
print(inspect.getsource(reference.s2_backward))
