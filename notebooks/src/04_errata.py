# Notebook source (percent format), built by scripts/regenerate_notebooks.py.
# ruff: noqa: E501  (markdown cells keep long lines: tables and formulas)

# %% [markdown]
# # 04 · Errata: where the note is wrong, made visible
#
# The note is the project's material, not its truth.  Each of its twelve formulas was transcribed
# *literally* into SymPy (`derivations/seed.py`: index order, summation bounds, integer division and the
# zero-padding rule as printed) and compared with the gradient that `sympy.diff` takes of the forward
# pass, exhaustively on a grid of small geometries.  Three backward formulas fail.  For each, this
# notebook evaluates the note's formula *numerically* on a small example, shows it next to the true
# gradient with the differing pixels outlined, and gives the corrected formula.
#
# The true gradient here is convlib's `conv2d_backward`, which notebooks 01–03 and 06 tie to SymPy, JAX and
# finite differences; all numbers are small integers, so "differs" means differs exactly.  The factor
# $h'(y^l)$ is set to 1 throughout (it multiplies both sides alike).

# %%
import json
from pathlib import Path

import numpy as np
from IPython.display import Markdown, Math, display

from convlib import conv2d_backward
from convlib.plots import difference_map, grids, notebook_setup
from derivations import Config, corrected, evaluate, latex, section_arrays, seed, value_shape

plt = notebook_setup()  # matplotlib.pyplot, configured
rng = np.random.default_rng(4)

# %% [markdown]
# ## The verdicts, and the smallest counterexamples
#
# `derivations/report.json` (written by `convlib derive`) records, for each formula, whether the note's
# literal text equals SymPy's gradient on every configuration of the grid, and if not, the smallest
# configuration where it fails with the two symbolic values (`g` is the upstream gradient δ, `u` the
# previous layer's pre-activation, `undefined(...)` a read of an entry that does not exist).

# %%
records = {r["id"]: r for r in json.loads((Path.cwd().parent / "derivations" / "report.json").read_text())}
failing = [fid for fid, r in records.items() if not r["seed_holds"]]
assert failing == ["s1.backward", "s2.backward", "s3.backward"], failing
for fid in failing:
    cx = records[fid]["counterexample"]
    assert cx["seed_value"] != cx["true_value"]
    display(Markdown(f"**`{fid}`**: fails; smallest of {records[fid]['configurations_checked']} configurations checked is "
                     f"H={cx['H']}, W={cx['W']}, C={cx['C']}, F={cx['F']}, kernel {cx['KH']}×{cx['KW']}, stride {cx['stride']}, "
                     f"entry {tuple(cx['index'])}.  The note, as printed:"))  # fmt: skip
    display(Math(seed(fid).note))
    display(
        Markdown(
            f"| | value at that entry |\n|---|---|\n| the note | `{cx['seed_value']}` |\n| the truth | `{cx['true_value']}` |"
        )
    )

# %% [markdown]
# ## 1. `s1.backward`: the zero padding names an entry that does not exist
#
# The note pads δ with zeros "if $x \notin [0, \text{output height}]$": a **closed** interval.  Read
# literally, $\delta^{l+1}_{O_H, j}$ is *inside* the interval, so it is not set to zero, and δ has no such
# entry (its rows are $0 … O_H-1$).  Every input pixel whose sum reaches that row gets an undefined value
# (`?` below).  The evident intent, the half-open $[0, O_H)$, is exactly right.

# %%
cfg = Config(H=4, W=4, C=1, F=1, KH=2, KW=2)
x = rng.integers(-3, 4, size=(4, 4, 1)).astype(np.float64)
w = rng.integers(-3, 4, size=(2, 2, 1, 1)).astype(np.float64)
g = rng.integers(-3, 4, size=(cfg.OH, cfg.OW, 1)).astype(np.float64)  # delta^{l+1}
arrays = section_arrays(1, {"x": x, "w": w, "b": np.zeros(1), "g": g, "u": np.zeros_like(x)})
shape = value_shape("s1.backward", cfg)
literal = seed("s1.backward")
half_open = seed("s1.backward", "half-open")
note = evaluate(literal.rhs, literal.indices, literal.rules, cfg, arrays, shape, 0.5, symbolic=False)
intent = evaluate(half_open.rhs, half_open.indices, half_open.rules, cfg, arrays, shape, 0.5, symbolic=False)
true = conv2d_backward(g, x, w)[0][:, :, 0]
undefined = np.isnan(note)
assert undefined.any() and not undefined[:-1, :-1].any()  # only the last row and column reach delta[O_H]
assert np.array_equal(note[~undefined], true[~undefined])  # wherever it is defined, it is right
assert np.array_equal(intent, true)
print(
    f"literal s1.backward: undefined at {undefined.sum()} of {undefined.size} pixels (last row and column), right elsewhere"
)
print("half-open reading [0, O_H): equal to the true gradient at every pixel")
fig = difference_map(
    true, note, labels=("true gradient", "note, literal"), title="s1.backward on a 4x4 input, 2x2 kernel"
)

# %% [markdown]
# ## 2. `s2.backward`: input and output channel swapped
#
# The forward pass (`s2.forward`) multiplies $w_{i',j',k',f}$ with input channel $k'$: the third index is
# the input channel, the fourth the kernel.  The note's backward sum uses $w^{l+1}_{i',j',f',f}$: the kernel
# $f'$ third and the channel $f$ fourth.  With as many channels as kernels this reads the wrong weights;
# with different numbers it reads weights that do not exist.  (Half-open padding is used here, so that
# only the swap shows.)

# %%
cfg = Config(H=4, W=4, C=2, F=2, KH=2, KW=2)
x = rng.integers(-3, 4, size=(4, 4, 2)).astype(np.float64)
w = rng.integers(-3, 4, size=(2, 2, 2, 2)).astype(np.float64)
g = rng.integers(-3, 4, size=(cfg.OH, cfg.OW, 2)).astype(np.float64)
arrays = section_arrays(2, {"x": x, "w": w, "b": np.zeros(2), "g": g, "u": np.zeros_like(x)})
shape = value_shape("s2.backward", cfg)
swapped = seed("s2.backward", "half-open")
fixed = corrected("s2.backward")
note = evaluate(swapped.rhs, swapped.indices, swapped.rules, cfg, arrays, shape, 0.5, symbolic=False)
right = evaluate(fixed.rhs, fixed.indices, fixed.rules, cfg, arrays, shape, 0.5, symbolic=False)
true = conv2d_backward(g, x, w)[0]
assert np.array_equal(right, true)
assert not np.array_equal(note, true)
# the swap is invisible exactly when every kernel slice is symmetric in (channel, kernel):
symmetric = (w + w.transpose(0, 1, 3, 2)) / 2
arrays_sym = dict(arrays, w=symmetric)
assert np.array_equal(
    evaluate(swapped.rhs, swapped.indices, swapped.rules, cfg, arrays_sym, shape, 0.5, symbolic=False),
    conv2d_backward(g, x, symmetric)[0],
)
print(
    f"note's s2.backward: wrong at {(note != true).sum()} of {true.size} entries; corrected: right everywhere"
)
print(
    "with w[:, :, k, f] == w[:, :, f, k] the swap goes unnoticed: why a symmetric test kernel would miss it"
)
fig = difference_map(
    true[:, :, 0],
    note[:, :, 0],
    labels=("true, channel 0", "note, channel 0"),
    title="s2.backward, C = F = 2",
)

# %% [markdown]
# The corrected formula, as SymPy prints it (weights in the forward pass's index order):

# %%
display(Math(latex(fixed.lhs, "backward") + " = " + latex(fixed.rhs, "backward")))

# %% [markdown]
# ## 3. `s3.backward`: the sum stops at $K/s - 1$
#
# The note's stride backward pass sums $i'$ from $0$ to $K_H/s - 1$, reading kernel row
# $i \bmod s + i' s$ and output row $\lfloor i/s \rfloor - i'$.  When $s$ divides $K_H$ that visits every
# kernel row of the pixel's phase exactly once.  When it does not, the rows $i \bmod s + i' s$ with
# $i' \ge \lfloor K_H/s \rfloor$ that are still inside the kernel are **dropped**; when the kernel is smaller
# than the stride the sum is empty and every gradient is zero.  (Half-open padding and the forward pass's
# index order, as the note itself uses in section 3, so only the bound shows.)
#
# The number of terms in each pixel's sum, the note's against the truth, for the three cases of notebook 03
# (each entry of $w$ and $\delta$ set to 1, so each sum counts its terms):

# %%
note_s3 = seed("s3.backward", "half-open")
fixed_s3 = corrected("s3.backward")
count_maps, titles = [], []
for K, s, H in [(4, 2, 10), (3, 2, 9), (2, 3, 9)]:
    cfg = Config(H=H, W=H, C=1, F=1, KH=K, KW=K, sh=s, sw=s)
    ones = {"x": np.ones((H, H, 1)), "w": np.ones((K, K, 1, 1)), "b": np.zeros(1),
            "g": np.ones((cfg.OH, cfg.OW, 1)), "u": np.zeros((H, H, 1))}  # fmt: skip
    shape = value_shape("s3.backward", cfg)
    note_count = evaluate(note_s3.rhs, note_s3.indices, note_s3.rules, cfg, ones, shape, 0.5, symbolic=False)[
        :, :, 0
    ]
    true_count = conv2d_backward(ones["g"], ones["x"], ones["w"], stride=s)[0][:, :, 0]
    if K % s == 0:
        assert np.array_equal(note_count, true_count)  # s divides K: the note is right
    else:
        assert np.all(note_count <= true_count) and np.any(
            note_count < true_count
        )  # terms dropped, never added
    count_maps += [true_count, note_count]
    titles += [f"K={K}, s={s}: true", f"K={K}, s={s}: note"]
assert np.all(count_maps[-1] == 0)  # K < s: the note's sum is empty everywhere
print("s divides K: the note's counts are right; s does not divide K: terms dropped; K < s: no terms at all")
fig = grids(count_maps, titles, cmap="Blues", symmetric=False, size=2.4, limits=(0, 4))

# %% [markdown]
# On values: a 7×7 input, a 3×3 kernel, stride 2, two channels and two kernels.

# %%
cfg = Config(H=7, W=7, C=2, F=2, KH=3, KW=3, sh=2, sw=2)
x = rng.integers(-3, 4, size=(7, 7, 2)).astype(np.float64)
w = rng.integers(-3, 4, size=(3, 3, 2, 2)).astype(np.float64)
g = rng.integers(-3, 4, size=(cfg.OH, cfg.OW, 2)).astype(np.float64)
arrays = {"x": x, "w": w, "b": np.zeros(2), "g": g, "u": np.zeros_like(x)}
shape = value_shape("s3.backward", cfg)
note = evaluate(note_s3.rhs, note_s3.indices, note_s3.rules, cfg, arrays, shape, 0.5, symbolic=False)
right = evaluate(fixed_s3.rhs, fixed_s3.indices, fixed_s3.rules, cfg, arrays, shape, 0.5, symbolic=False)
true = conv2d_backward(g, x, w, stride=2)[0]
assert np.array_equal(right, true)
wrong = note != true
assert wrong.any() and not wrong[1::2, 1::2].any()
print(
    f"note's s3.backward: wrong at {wrong.sum()} of {wrong.size} entries; only where the row or the column has"
)
print("phase 0 (two kernel taps reach it, the note's sum takes one); corrected: right everywhere")
fig = difference_map(
    true[:, :, 0],
    note[:, :, 0],
    labels=("true, channel 0", "note, channel 0"),
    title="s3.backward, K = 3, stride 2",
)

# %% [markdown]
# The corrected formula keeps the note's shape: $i'$ runs to $\lceil K_H/s \rceil - 1$, and a kernel row
# $i \bmod s + i' s \ge K_H$ (which the longer range can reach) reads zero.

# %%
display(Math(latex(fixed_s3.lhs, "backward") + " = " + latex(fixed_s3.rhs, "backward")))
