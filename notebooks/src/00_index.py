# Notebook source (percent format), built by scripts/regenerate_notebooks.py.
# ruff: noqa: E501  (markdown cells keep long lines: tables and formulas)

# %% [markdown]
# # 00 · convlib: the backpropagation of convolutional layers, derived and verified
#
# A short note (Maik Schmidt, *Convolutional Layer Backpropagation*, 2017) states twelve formulas: the
# forward pass, the backward (δ) pass and the gradient steps for weights and bias, for (1) a single
# kernel, (2) several kernels over an input with depth, (3) several kernels with stride.  This project
# follows each formula from the note to
#
# - its **derivation**: SymPy derives it from the forward pass alone and judges the note's literal text on
#   an exhaustive grid of small geometries (`derivations/`);
# - its **code**: a loop reference that reads like the note and the vectorized NumPy layer (`convlib/`);
# - its **tests**: against JAX's automatic differentiation, finite differences and the loop reference, with
#   tolerances derived from rounding-error bounds, never tuned (`tests/`);
# - its **notebook**: a short chapter with an exact worked example and pictures (`notebooks/`).
#
# Where the note is wrong, the project says so, shows the counterexample and gives the corrected formula
# (notebook 04).  Every notebook is a test: CI runs them under strict nbval, and every check in them is an
# `assert`.
#
# | notebook | what it shows |
# |---|---|
# | [01 · single kernel](01_single_kernel.ipynb) | section 1 on the note's 3×3 input and 2×2 kernel; which outputs feed each pixel; the flipped-kernel full correlation; SymPy steps |
# | [02 · multiple kernels](02_multiple_kernels.ipynb) | section 2: depth and several kernels; every kernel sends gradient to every channel |
# | [03 · stride](03_stride.ipynb) | section 3: per-pixel term counts for stride dividing the kernel, not dividing it, kernel smaller than stride |
# | [04 · errata](04_errata.ipynb) | the note's three wrong backward formulas next to the truth, and their corrections |
# | [05 · beyond the note](05_beyond_the_note.ipynb) | padding and `'same'`, dilation, batch, the transposed convolution as adjoint, receptive fields |
# | [06 · verification](06_verification.ipynb) | SymPy, JAX AD, finite differences across hard geometries; errors against rounding bounds |
# | [07 · vectorization and speed](07_vectorization_and_speed.ipynb) | im2col and one matrix product, step by step with shapes; timings |
# | [08 · training](08_training.ipynb) | a CNN of convlib layers trained with the note's gradient step on 8×8 digits |

# %%
import json
import re
from pathlib import Path

import numpy as np
from IPython.display import Markdown, display

import convlib
from convlib import reference
from convlib.plots import notebook_setup

plt = notebook_setup()  # matplotlib.pyplot, configured
ROOT = Path.cwd().parent  # the kernel runs in notebooks/

# %% [markdown]
# ## One formula, followed through
#
# For each formula id: the derivation page, the convlib code, the tests that judge it and the notebook
# that explains it.  The table is built from a list that this cell checks: every page, function, test and
# notebook named in it exists, so the map cannot silently rot.

# %%
pages = {
    1: "derivations/s1_single_kernel.md",
    2: "derivations/s2_multiple_kernels.md",
    3: "derivations/s3_stride.md",
}
vectorized = {  # what the table says, and the object it names (a renamed function fails here)
    "forward": [("conv2d_forward", convlib.conv2d_forward)],
    "backward": [("conv2d_backward → dx", convlib.conv2d_backward)],
    "weight_step": [("conv2d_backward → dw", convlib.conv2d_backward), ("Conv2D.step", convlib.Conv2D.step)],
    "bias_step": [("conv2d_backward → db", convlib.conv2d_backward), ("Conv2D.step", convlib.Conv2D.step)],
}
notebooks = {1: "01_single_kernel.ipynb", 2: "02_multiple_kernels.ipynb", 3: "03_stride.ipynb"}
tests = {  # per section; the derivation tests are parametrized over formula ids or sections
    section: [
        f"tests/test_reference.py::test_s{section}_exact_against_vectorized",
        f"tests/test_reference.py::test_s{section}_against_jax",
        "tests/test_derivations_core.py::test_derived_formula_matches_truth_on_hard_geometries",
        "tests/test_derivations_ad.py::test_derived_formulas_agree_with_jax_and_convlib_on_the_whole_grid",
    ]
    for section in (1, 2, 3)
}
rows = [
    "| formula id | derivation | loop reference | vectorized | tests | notebook |",
    "|---|---|---|---|---|---|",
]
for section in (1, 2, 3):
    for kind in ("forward", "backward", "weight_step", "bias_step"):
        fid = f"s{section}.{kind}"
        page, function, book = pages[section], f"s{section}_{kind}", notebooks[section]
        assert (ROOT / page).exists(), page
        assert fid in (ROOT / page).read_text(), (fid, page)
        assert callable(getattr(reference, function)) and fid in getattr(reference, function).__doc__
        assert all(callable(obj) for _, obj in vectorized[kind])
        assert (ROOT / "notebooks" / book).exists() and fid in (ROOT / "notebooks" / book).read_text()
        for test in tests[section]:
            file, name = test.split("::")
            assert re.search(rf"^def {name}\(", (ROOT / file).read_text(), re.MULTILINE), test
        extra = ", [04](04_errata.ipynb)" if kind == "backward" else ""
        rows.append(
            f"| `{fid}` | [{page.split('/')[1]}](../{page}) | `reference.{function}` "
            f"| {'<br>'.join(f'`{label}`' for label, _ in vectorized[kind])} "
            f"| {'<br>'.join(f'`{t}`' for t in tests[section])} | [{book[:2]}]({book}){extra} |"
        )
display(Markdown("\n".join(rows)))

# %% [markdown]
# ## The verdicts
#
# `derivations/report.json` is written by `convlib derive`: one record per formula id, saying whether the
# note's formula, read literally, equals SymPy's gradient on every configuration of the grid, how many
# configurations were checked, and the smallest counterexample if not.

# %%
records = json.loads((ROOT / "derivations" / "report.json").read_text())
assert [r["id"] for r in records] == [
    f"s{s}.{k}" for s in (1, 2, 3) for k in ("forward", "backward", "weight_step", "bias_step")
]
for r in records:
    assert r["configurations_checked"] > 0
    assert (r["counterexample"] is None) == r["seed_holds"], r["id"]
failing = [r["id"] for r in records if not r["seed_holds"]]
rows = [
    "| formula id | the note's formula | configurations checked | smallest counterexample |",
    "|---|---|---|---|",
]
for r in records:
    cx = r["counterexample"]
    where = (
        ""
        if cx is None
        else f"H={cx['H']} W={cx['W']} C={cx['C']} F={cx['F']} K={cx['KH']}x{cx['KW']} stride={cx['stride']}, at {tuple(cx['index'])}"
    )
    rows.append(
        f"| `{r['id']}` | {'holds' if r['seed_holds'] else '**fails**'} | {r['configurations_checked']} | {where} |"
    )
display(Markdown("\n".join(rows)))
print("the note's formulas that fail:", ", ".join(failing))

# %%
sections = ["s1", "s2", "s3"]
kinds = ["forward", "backward", "weight_step", "bias_step"]
verdict = np.array(
    [[next(r["seed_holds"] for r in records if r["id"] == f"{s}.{k}") for k in kinds] for s in sections]
)
fig, ax = plt.subplots(figsize=(5.2, 2.2))
ax.imshow(verdict, cmap="RdYlGn", vmin=-0.3, vmax=1.3)
for (row, col), holds in np.ndenumerate(verdict):
    ax.text(col, row, "holds" if holds else "fails", ha="center", va="center", fontsize=9)
ax.set_xticks(range(4), kinds)
ax.set_yticks(range(3), sections)
ax.set_title("the note's twelve formulas, read literally")
fig.tight_layout()
