"""Markdown pages and report.json from the check results (byte-deterministic).

Math is written as ``$$ ... $$`` blocks on their own lines (GitHub renders
them); nothing here depends on time, machine or floating-point rounding.
"""

from __future__ import annotations

import json

import sympy as sp

from . import notation as nt
from .general_index import KINDS, derive
from .seed import NOTE_LATEX, PADDING_RULE_LATEX, corrected, seed

__all__ = ["latex", "formula_latex", "rule_latex", "report_records", "section_page", "index_page",
           "SECTION_FILES", "SECTION_TITLES"]

SECTION_FILES = {1: "s1_single_kernel.md", 2: "s2_multiple_kernels.md", 3: "s3_stride.md"}
SECTION_TITLES = {1: "Single kernel", 2: "Multiple kernels", 3: "Multiple kernels with stride"}

_SIZES = {nt.KH: "K_H", nt.KW: "K_W", nt.OH: "O_H", nt.OW: "O_W"}


def _names(kind: str) -> dict:
    """How the code's arrays print in a formula of this kind (the note's layer superscripts)."""
    if kind == "backward":
        arrays = {"x": "f^{l}", "w": "w^{l+1}", "g": r"\delta^{l+1}", "u": "y^{l}",
                  "delta": r"\delta^{l}"}
    elif kind == "forward":
        arrays = {"x": "f^{l-1}", "w": "w^{l}", "b": "b^{l}", "y": "y^{l}", "b0": "b^{l}"}
    else:
        arrays = {"x": "f^{l-1}", "w": "w^{l}", "b": "b^{l}", "g": r"\delta^{l}", "b0": "b^{l}"}
    out = {sp.Symbol(name): text for name, text in arrays.items()}
    out.update({sp.IndexedBase(name).label: text for name, text in arrays.items()})
    return out


def latex(expr, kind: str = "forward", iverson: bool = False) -> str:
    """LaTeX with the note's names (``i'`` for ``ip``, ``\\delta^{l+1}`` for ``g`` ...).

    ``iverson=True``: Kronecker deltas as Iverson brackets ``[a = b]`` (as on the pages).
    """
    if isinstance(expr, str):
        return expr
    return nt.to_latex(expr, _names(kind), iverson)


def formula_latex(lhs, rhs, kind: str) -> str:
    return f"{latex(lhs, kind)} = {latex(rhs, kind)}"


def rule_latex(rules: tuple, kind: str) -> str:
    """The zero rules of a transcription, in words and intervals."""
    parts = []
    for name, closed, bounds in rules:
        arr = latex(sp.IndexedBase(name)[sp.Symbol("p"), sp.Symbol("q")], kind).split("_{")[0]
        lo_hi = [latex(bd, kind) for bd in bounds]
        bracket = "]" if closed == "closed" else ")"
        parts.append(rf"{arr}_{{p,q,\ldots}} := 0 \quad \text{{if }} p \notin [0, {lo_hi[0]}{bracket}"
                     rf" \text{{ or }} q \notin [0, {lo_hi[1]}{bracket}")
    return r" \qquad ".join(parts)


def _block(text: str) -> str:
    return f"\n$$\n{text}\n$$\n\n"


def _counterexample(tally) -> dict | None:
    if tally.smallest is None:
        return None
    m = tally.smallest
    record = m.config.note_record()
    record.update({"index": list(m.index), "seed_value": m.value, "true_value": m.truth})
    return record


def report_records(tallies: dict) -> list[dict]:
    """The twelve records of report.json, in formula-id order."""
    records = []
    for section in (1, 2, 3):
        for kind in KINDS:
            fid = f"s{section}.{kind}"
            tally = tallies[(fid, "seed")]
            note_latex = NOTE_LATEX[fid] + (r" \quad\text{with}\quad " + PADDING_RULE_LATEX
                                            if seed(fid).rules else "")
            derivation = derive(fid)
            records.append({
                "id": fid, "section": section, "formula": kind,
                "seed_holds": tally.failed == 0,
                "configurations_checked": tally.checked,
                "counterexample": _counterexample(tally),
                "seed_latex": note_latex,
                "derived_latex": formula_latex(derivation.lhs, derivation.result, kind),
            })
    return records


def report_json(tallies: dict) -> str:
    return json.dumps(report_records(tallies), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _verdict_line(tally, what: str) -> str:
    if tally.failed == 0:
        return f"**{what} holds** on all {tally.checked} configurations of the grid."
    return (f"**{what} fails** on {tally.failed} of {tally.checked} configurations "
            "of the grid.")


def _mismatch_table(tally, index_names: str) -> str:
    m = tally.smallest
    cfg = m.config
    return (
        "| configuration | index | note's value | true value |\n|---|---|---|---|\n"
        f"| H={cfg.H} W={cfg.W} C={cfg.C} F={cfg.F} KH={cfg.KH} KW={cfg.KW} stride={cfg.stride} "
        f"| {index_names} = {list(m.index)} | `{m.value}` | `{m.truth}` |\n")


_INDEX_NAMES = {"forward": "(i, j, f)", "backward": "(i, j, f)", "weight_step": "(i, j, k, f)",
                "bias_step": "(f,)"}


def formula_section(fid: str, tallies: dict, ad: dict | None) -> str:
    section, kind = int(fid[1]), fid.split(".")[1]
    names = _INDEX_NAMES[kind]
    if section == 1:
        names = {"forward": "(i, j)", "backward": "(i, j)", "weight_step": "(i, j)",
                 "bias_step": "()"}[kind]
    note = seed(fid)
    derivation = derive(fid)
    out = [f"## `{fid}`\n\n"]
    out.append("As printed in the note:\n")
    out.append(_block(NOTE_LATEX[fid]))
    if note.rules:
        out.append("with *zero padding*:\n")
        out.append(_block(PADDING_RULE_LATEX))
    out.append("Transcribed literally (this is what is evaluated; a read of an entry that does "
               "not exist and that no rule zeroes is an *undefined* marker):\n")
    out.append(_block(formula_latex(note.lhs, note.rhs, kind)))
    if note.rules:
        out.append(_block(rule_latex(note.rules, kind)))
    out.append("Derived by SymPy from the forward pass (steps below):\n")
    out.append(_block(formula_latex(derivation.lhs, derivation.result, kind)))
    tally = tallies[(fid, "seed")]
    out.append(_verdict_line(tally, "The note's formula, read literally,") + "\n")
    if tally.failed:
        out.append("\nSmallest counterexample (fewest inputs, then fewest weights; first index "
                   "in row-major order; `g` is the upstream gradient, `u` the previous layer's "
                   "pre-activation, `h(u)` this layer's input):\n\n")
        out.append(_mismatch_table(tally, names))
    half = tallies.get((fid, "seed_half_open"))
    if half is not None:
        out.append("\nUnder the half-open reading of the zero-padding rule, "
                   r"$x \notin [0, \text{output height})$ (the evident intent): ")
        out.append(_verdict_line(half, "the formula") + "\n")
        if half.failed:
            out.append("\nSmallest counterexample under that reading:\n\n")
            out.append(_mismatch_table(half, names))
        for key, sub in sorted(tallies.items()):
            if key[:2] == (fid, "seed_half_open") and len(key) == 3:
                out.append(f"\nOn the sub-grid *{key[2]}* ({sub.checked} configurations): ")
                out.append(_verdict_line(sub, "the half-open reading") + "\n")
                if sub.failed:
                    out.append("\n" + _mismatch_table(sub, names))
    fixed = corrected(fid)
    if fixed is not None and tally.failed:
        out.append("\nCorrected formula, in the note's shape:\n\n")
        out.append(_block(formula_latex(fixed.lhs, fixed.rhs, kind)))
        if fixed.rules:
            out.append(_block(rule_latex(fixed.rules, kind)))
        out.append(_verdict_line(tallies[(fid, "corrected")], "The corrected formula") + "\n")
    derived_tally = tallies[(fid, "derived")]
    out.append("\n" + _verdict_line(derived_tally, "The derived formula") + "\n")
    if ad is not None and fid in ad:
        out.append("\n" + ad[fid] + "\n")
    out.append("\n### Derivation\n\n")
    for number, step in enumerate(derivation.steps, 1):
        tag = " *(stated; proved by the exhaustive check)*" if step.by == "stated" else ""
        out.append(f"{number}. {step.caption}{tag}\n")
        out.append(_block(latex(step.expr, kind, iverson=True)))
    for number, _ in enumerate(derivation.also_check):
        t = tallies[(fid, f"derived_step_{number}")]
        out.append(_verdict_line(t, "SymPy's own form (after eliminating the deltas, before "
                                    "re-indexing)") + "\n")
    return "".join(out)


def section_page(section: int, tallies: dict, ad: dict | None = None) -> str:
    head = [f"# Section {section}: {SECTION_TITLES[section]}\n\n",
            "*Generated by `convlib derive`; do not edit.* See [the index](README.md) for the "
            "notation, the grid and the reading of the zero-padding rule.\n\n"]
    body = [formula_section(f"s{section}.{kind}", tallies, ad) for kind in KINDS]
    return "".join(head) + "\n".join(body)


def verdict_table(records: list[dict]) -> str:
    """Plain-text table for the terminal: formula id, holds / fails, configurations checked."""
    lines = [f"{'formula':<16} {'verdict':<8} {'configurations':>14}"]
    for r in records:
        lines.append(f"{r['id']:<16} {'holds' if r['seed_holds'] else 'fails':<8} "
                     f"{r['configurations_checked']:>14}")
    return "\n".join(lines) + "\n"


def index_page(records: list[dict], grid_text: str, extra: str = "") -> str:
    out = ["# Derivations: the note's twelve formulas, derived and judged\n\n",
           "*Generated by `convlib derive`; do not edit. `convlib derive --check` fails when "
           "this folder is stale.*\n\n",
           "SymPy derives every formula of the 2017 note from its forward pass and a loss "
           r"$L = \sum \delta \cdot y$ (an arbitrary upstream gradient), then judges the "
           "note's own version, transcribed literally, on every configuration of a grid.\n\n",
           "| formula | note, read literally | configurations | smallest counterexample |\n",
           "|---|---|---|---|\n"]
    for r in records:
        page = SECTION_FILES[r["section"]]
        ce = r["counterexample"]
        where = ("" if ce is None else
                 f"H={ce['H']} W={ce['W']} C={ce['C']} F={ce['F']} KH={ce['KH']} KW={ce['KW']} "
                 f"stride={ce['stride']}, index {ce['index']}")
        out.append(f"| [`{r['id']}`]({page}) | {'holds' if r['seed_holds'] else '**fails**'} "
                   f"| {r['configurations_checked']} | {where} |\n")
    out.append("\nPages: " + ", ".join(f"[{SECTION_TITLES[s]}]({SECTION_FILES[s]})"
                                       for s in (1, 2, 3)))
    out.append(", and [the general layer](general_layer.md) (stride, padding, dilation, batch: "
               "beyond the note). Machine-readable verdicts: [report.json](report.json).\n\n")
    out.append(_NOTATION)
    out.append(_activation_section())
    out.append(grid_text)
    out.append(extra)
    return "".join(out)


_NOTATION = r"""## Notation

One layer at a time, channels-last, cross-correlation: input $f^{l-1}_{i,j,k}$ of size
$H \times W \times C$, weights $w_{i,j,k,f}$ ($K_H \times K_W \times C \times F$, $k$ the input
channel, $f$ the kernel), bias $b_f$, output $y_{i,j,f}$ of size $O_H \times O_W \times F$ with
$O_H = \lfloor (H - K_H)/s \rfloor + 1$. In the backward formulas the layer is the note's layer
$l+1$: its input is $f^{l} = h(y^{l})$, its weights $w^{l+1}$, its upstream gradient
$\delta^{l+1}$, and $\delta^{l} = \partial L / \partial y^{l}$. The weight and bias steps judge
$w - \alpha\,\partial L/\partial w$ and $b - \alpha\,\partial L/\partial b$ with a symbolic
$\alpha$. In counterexamples, `g[...]` is the upstream gradient $\delta$, `u[...]` the previous
pre-activation $y^{l}$, `h(u[...])` the layer input, `hprime(u[...])` is $h'$.

## How a verdict is reached

1. **General derivation** (`derivations/general_index.py`): `sympy.diff` of $L$ written with
   `IndexedBase`, `Sum` and `KroneckerDelta`; `Sum.doit` eliminates the deltas; a re-indexing
   brings the result into the note's shape. Steps SymPy cannot take (exchanging a range and a
   guard; the floor/modulo re-indexing of the stride; the divisibility guard of the general
   layer) are stated and marked, and proved by the next check.
2. **Exhaustive check** (`derivations/exhaustive.py`): for every configuration, the forward pass
   is built over arrays of SymPy symbols (with $f = h(u)$, $h$ undefined), the loss is
   differentiated with `sympy.diff`, and each formula -- the note's, the derived one, SymPy's
   intermediate form, the corrected one -- is evaluated on the same symbols and compared
   exactly (polynomials with integer coefficients).
3. **AD check** (`tests/test_derivations_ad.py`, run by the test suite in CI): on every
   configuration of these grids the derived formulas, evaluated numerically (`lambdify`), agree
   with JAX's reverse-mode gradient (`jax.vjp`, float64, activation tanh) and with
   `convlib.conv2d_backward` within the rounding bound $(2.02(K+1) + 8)\,u\,S$, $u = 2^{-53}$,
   $K$ the reduction length, $S$ the formula evaluated on absolute values.

In the derivation steps a Kronecker delta is written as an Iverson bracket $[a = i + i']$
(1 if equal, else 0), so that $\delta$ keeps the note's meaning.

## Reading of the zero-padding rule

The note writes $\delta^{l+1}_{x,y,z} := 0$ if $x \notin [0, \text{output height}]$: a
**closed** interval. Taken literally, $\delta^{l+1}_{O_H, \cdot, \cdot}$ is *not* zeroed, yet
$\delta^{l+1}$ has no entry there. The literal transcription therefore reads it as an
*undefined* marker (a symbol of its own), so any formula that needs it differs from the truth;
that is the verdict in `report.json`. Separately, each page states the verdict under the
half-open reading $[0, O_H)$, the evident intent. Nothing else is repaired: index order, the
bounds $\text{kernel height}/\text{stride} - 1$ (summing over the integers
$0 \le i' \le K_H/s - 1$, i.e. to $\lfloor K_H/s \rfloor - 1$; integer division gives the same)
and the index $i/\text{stride}$ (floor division) are as printed.

"""


def _activation_section() -> str:
    from .activations import derivative_table

    lines = ["## The activations and their derivatives\n\n",
             "The backward formulas carry $h'(y^{l})$. For the activations `convlib` offers, "
             "`sympy.diff` derives it (`derivations/activations.py`, checked equal to the closed "
             "form below, with $\\sigma(y) = 1/(1 + e^{-y})$, and numerically to `convlib.activations`):\n\n"]
    for name, h_tex, d_tex in derivative_table():
        lines.append(f"- `{name}`:\n\n$$\nh(y) = {h_tex}, \\qquad h'(y) = {d_tex}\n$$\n\n")
    return "".join(lines)
