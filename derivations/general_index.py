"""SymPy derives every formula of the note from the forward pass alone.

For each section the loss is ``L = sum_{i,j,f} delta_{i,j,f} * y_{i,j,f}`` (an
arbitrary upstream gradient ``delta``, written ``g`` in code) with ``y`` the
section's forward formula, written with ``IndexedBase`` and ``Sum``.
``sympy.diff`` of ``L`` by ``f[a,b,c]``, ``w[a,b,c,d]`` or ``b[d]`` produces
Kronecker deltas; ``Sum.doit`` eliminates them into ``Piecewise`` guards;
guards implied by the index's own range are dropped (:func:`drop_implied`); a
change of summation index brings the result into the note's shape.

Steps SymPy cannot take are *stated* (``Step.by == "stated"``) and proved by
the exhaustive check instead (every configuration of the grid, on symbols):

* the exchange of a summation range and a guard after re-indexing,
  ``sum_{i=a-O_H+1}^{a} [0 <= i <= K_H-1] = sum_{i=0}^{K_H-1} [0 <= a-i <= O_H-1]``;
* the stride re-indexing ``o = a // s - i'`` (floor division and modulo);
* in the general layer, eliminating a Kronecker delta whose index has a
  coefficient other than 1 (stride or dilation): ``Sum.doit`` then returns
  ``w[(a - i*s + p)/d]`` *without* the divisibility condition ``d | a - i*s + p``
  (see ``tests/test_derivations_index.py``), so that step is written by hand.

Public API: :func:`derive` (one :class:`Derivation` per formula id) and
:func:`section_derivations`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import sympy as sp
from sympy import Piecewise, Sum

from .notation import (
    KH,
    KW,
    OH,
    OW,
    C,
    F,
    a,
    alpha,
    b,
    bi,
    c,
    d,
    f,
    fp,
    g,
    hprime,
    i,
    ip,
    j,
    jp,
    k,
    kp,
    s,
    u,
    w,
    x,
)

__all__ = ["Step", "Derivation", "derive", "section_derivations", "drop_implied",
           "forward_expr", "loss", "b0", "eliminate", "FORMULAS", "KINDS"]

KINDS = ("forward", "backward", "weight_step", "bias_step")
FORMULAS = tuple(f"s{sec}.{kind}" for sec in (1, 2, 3) for kind in KINDS)

# The single-kernel section has one scalar bias.
b0 = sp.Symbol("b0")


@dataclass(frozen=True)
class Step:
    """One step of a derivation: a caption, an expression (or LaTeX text), who took it."""

    caption: str
    expr: object  # sp.Basic or str (LaTeX)
    by: str = "sympy"  # "sympy": computed by SymPy; "stated": proved by the exhaustive check


@dataclass(frozen=True)
class Derivation:
    """The derivation of one formula id; ``result`` is the derived right-hand side.

    ``lhs`` is the left-hand side (``w_{i,j,k,f}`` for a weight step), ``indices``
    the free index symbols of ``result`` in array order, ``also_check`` other
    intermediate forms (with their free indices) that the exhaustive check
    evaluates too.
    """

    formula_id: str
    lhs: sp.Expr
    result: sp.Expr
    indices: tuple
    steps: tuple
    also_check: tuple = ()


def _section_indices(section: int):
    """(x index, forward summand, bias) of a section's forward formula."""
    if section == 1:
        return (w[ip, jp] * x[i + ip, j + jp], ((ip, 0, KH - 1), (jp, 0, KW - 1)), b0)
    stride = s if section == 3 else 1
    return (w[ip, jp, kp, f] * x[i * stride + ip, j * stride + jp, kp],
            ((ip, 0, KH - 1), (jp, 0, KW - 1), (kp, 0, C - 1)), b[f])


def forward_expr(section: int) -> sp.Expr:
    """The forward formula ``y`` of a section (ids ``s1.forward`` ... ``s3.forward``)."""
    summand, limits, bias = _section_indices(section)
    return Sum(summand, *limits) + bias


def loss(section: int) -> sp.Expr:
    """``L = sum over outputs of delta * y`` for a section."""
    out = (i, j) if section == 1 else (i, j, f)
    limits = [(i, 0, OH - 1), (j, 0, OW - 1)] + ([] if section == 1 else [(f, 0, F - 1)])
    return Sum(g[out] * forward_expr(section), *limits)


def drop_implied(expr: sp.Basic, ranges: dict) -> sp.Basic:
    """Replace guard relations implied by the index ranges ``{symbol: (lo, hi)}`` with True.

    A relation linear in one range symbol (and sizes) holds on the whole range
    if it holds at both ends; SymPy decides that with the sizes' assumptions
    (positive integers).
    """
    def implied(rel):
        names = rel.free_symbols & set(ranges)
        if len(names) != 1:
            return False
        (v,) = names
        if not all(sym in ranges or sym.is_positive for sym in rel.free_symbols):
            return False
        lo, hi = ranges[v]
        return all(sp.simplify(rel.subs(v, end)) is sp.true for end in (lo, hi))

    rels = [r for r in expr.atoms(sp.Rel) if implied(r)]
    out = expr.xreplace({r: sp.true for r in rels})
    # Piecewise((e, True), ...) -> e
    return out.replace(lambda e: isinstance(e, Piecewise) and e.args[0].cond is sp.true,
                       lambda e: e.args[0].expr)


def eliminate(total: sp.Expr, var: sp.Symbol) -> sp.Expr:
    """``Sum.doit`` over one index of a multiple sum (where its Kronecker delta is).

    ``Sum.doit`` works from the innermost limit out and stops at the first it
    cannot do, so the index is moved innermost first.
    """
    if not isinstance(total, Sum):
        return total
    rest = [lim for lim in total.limits if lim[0] != var]
    inner = Sum(total.function, *[lim for lim in total.limits if lim[0] == var]).doit()
    return Sum(inner, *rest) if rest else inner


def _guard(expr, *conds):
    return Piecewise((expr, sp.And(*conds)), (0, True))


def _rename(expr, mapping):
    # simultaneous renaming of index symbols
    return expr.xreplace(mapping)


@cache
def derive(formula_id: str) -> Derivation:
    """Derive one formula (id such as ``"s3.backward"``) from the forward pass; see module doc."""
    section, kind = int(formula_id[1]), formula_id.split(".")[1]
    return {"forward": _forward, "backward": _backward, "weight_step": _weight,
            "bias_step": _bias}[kind](section)


def section_derivations(section: int) -> list[Derivation]:
    """The four derivations of a section, in the note's order."""
    return [derive(f"s{section}.{kind}") for kind in KINDS]


# --- forward ---------------------------------------------------------------------------------

def _forward(section: int) -> Derivation:
    from .general_layer import general_forward, specialize_forward

    steps = [Step("General layer (batch n, stride s, dilation d, padding p; out of range x is 0)",
                  general_forward(), "sympy")]
    spec, spec_steps = specialize_forward(section)
    steps += spec_steps
    out = (i, j) if section == 1 else (i, j, f)
    lhs = sp.IndexedBase("y")[out]
    return Derivation(f"s{section}.forward", lhs, spec, out, tuple(steps))


# --- backward --------------------------------------------------------------------------------

def _backward(section: int) -> Derivation:
    L = loss(section)
    dims = 2 if section == 1 else 3
    target = x[(a, bi)] if dims == 2 else x[a, bi, c]
    steps = [Step(r"Loss: $L = \sum \delta^{l+1} \cdot y^{l+1}$ with the forward pass of layer l+1", L)]
    raw = sp.diff(L, target)
    steps.append(Step(r"$\partial L / \partial f^{l}_{a,b,c}$ by sympy.diff: Kronecker deltas", raw))
    done = raw.doit()
    steps.append(Step("Sum.doit eliminates the deltas over the kernel indices", done))
    ranges = {c: (0, C - 1)} if dims == 3 else {}
    done = drop_implied(done, ranges)
    steps.append(Step("Drop guards implied by the channel's own range", done))
    out = (a, bi) if dims == 2 else (a, bi, c)
    also = [(done, out)]
    if section in (1, 2):
        # substitute i = a - i', j = b - j' (SymPy: Sum.change_index), f -> f'
        summand = done.function if isinstance(done, Sum) else done
        moved = summand.xreplace({i: a - ip, j: bi - jp, f: fp})
        changed = Sum(moved, (ip, a - OH + 1, a), (jp, bi - OW + 1, bi),
                      *([(fp, 0, F - 1)] if dims == 3 else []))
        steps.append(Step(r"Re-index $i = a - i'$, $j = b - j'$ (Sum.change_index)", changed))
        # exchange range and guard: the kernel guard becomes the range, the old range the guard
        body = (w[ip, jp] * g[a - ip, bi - jp] if dims == 2
                else w[ip, jp, c, fp] * g[a - ip, bi - jp, fp])
        final = Sum(_guard(body, a - ip >= 0, a - ip <= OH - 1, bi - jp >= 0, bi - jp <= OW - 1),
                    (ip, 0, KH - 1), (jp, 0, KW - 1), *([(fp, 0, F - 1)] if dims == 3 else []))
        steps.append(Step("Exchange the summation range and the guard", final, "stated"))
    else:
        # stride: o = a // s - i', kernel row a % s + i' s (floor division / modulo)
        body = w[sp.Mod(a, s) + ip * s, sp.Mod(bi, s) + jp * s, c, fp] * \
            g[sp.floor(a / s) - ip, sp.floor(bi / s) - jp, fp]
        final = Sum(_guard(body,
                           sp.Mod(a, s) + ip * s <= KH - 1, sp.Mod(bi, s) + jp * s <= KW - 1,
                           sp.floor(a / s) - ip >= 0, sp.floor(a / s) - ip <= OH - 1,
                           sp.floor(bi / s) - jp >= 0, sp.floor(bi / s) - jp <= OW - 1),
                    (ip, 0, sp.ceiling(KH / s) - 1), (jp, 0, sp.ceiling(KW / s) - 1),
                    (fp, 0, F - 1))
        steps.append(Step(
            r"Re-index the output row $i = \lfloor a/s \rfloor - i'$, kernel row "
            r"$a - i s = (a \bmod s) + i' s$ (SymPy cannot substitute floor division and "
            r"modulo). $i'$ runs to $\lceil K_H/s \rceil - 1$, "
            r"not $K_H/s - 1$: the last kernel rows are reached when $s \nmid K_H$", final, "stated"))
    # chain rule through f^l = h(y^l)
    u_out = u[out]
    result = hprime(u_out) * final
    steps.append(Step(r"Chain rule through $f^{l} = h(y^{l})$: $\delta^{l} = h'(y^{l}) \cdot "
                      r"\partial L / \partial f^{l}$ (sympy.diff with $h$ undefined does this "
                      "on every configuration of the grid)", result))
    names = {a: i, bi: j, c: f}
    result = _rename(result, names)
    lhs = sp.IndexedBase("delta")[tuple(names[v] for v in out)]
    also_checked = tuple((hprime(u_out) * e, idx) for e, idx in also)
    return Derivation(f"s{section}.backward", lhs, result, tuple(names[v] for v in out),
                      tuple(steps), also_checked)


# --- weight step -----------------------------------------------------------------------------

def _weight(section: int) -> Derivation:
    L = loss(section)
    dims = 2 if section == 1 else 4
    target = w[a, bi] if dims == 2 else w[a, bi, c, d]
    steps = [Step(r"Loss: $L = \sum \delta^{l} \cdot y^{l}$", L)]
    raw = sp.diff(L, target)
    wrt = "w_{a,b}" if dims == 2 else "w_{a,b,c,d}"  # section 1's kernel has two indices
    steps.append(Step(rf"$\partial L / \partial {wrt}$ by sympy.diff: Kronecker deltas", raw))
    done = raw.doit()
    steps.append(Step("Sum.doit eliminates the deltas over the kernel indices", done))
    ranges = {a: (0, KH - 1), bi: (0, KW - 1)}
    if dims == 4:
        ranges.update({c: (0, C - 1), d: (0, F - 1)})
    done = drop_implied(done, ranges)
    steps.append(Step("Drop guards implied by the indices' own ranges", done))
    if dims == 4:
        done = drop_implied(eliminate(done, f), ranges)
        steps.append(Step("Sum.doit eliminates the delta over the kernels f", done))
    grad = _rename(done, {i: ip, j: jp})
    out = (a, bi) if dims == 2 else (a, bi, c, d)
    names = {a: i, bi: j, c: k, d: f}
    final = _rename(target - alpha * grad, names)
    steps.append(Step(r"Gradient step $w \leftarrow w - \alpha\, \partial L/\partial w$, "
                      "renamed to the note's indices", final))
    lhs = w[tuple(names[v] for v in out)]
    return Derivation(f"s{section}.weight_step", lhs, final, tuple(names[v] for v in out),
                      tuple(steps))


# --- bias step -------------------------------------------------------------------------------

def _bias(section: int) -> Derivation:
    L = loss(section)
    target = b0 if section == 1 else b[d]
    steps = [Step(r"Loss: $L = \sum \delta^{l} \cdot y^{l}$", L)]
    raw = sp.diff(L, target)
    steps.append(Step(r"$\partial L / \partial b$ by sympy.diff", raw))
    done = raw
    if section != 1:
        done = eliminate(raw, f)
        steps.append(Step("Sum.doit eliminates the delta over the kernels f", done))
        done = drop_implied(done, {d: (0, F - 1)})
        steps.append(Step("Drop guards implied by the index's own range", done))
    grad = _rename(done, {i: ip, j: jp})
    final = _rename(target - alpha * grad, {d: f})
    steps.append(Step(r"Gradient step $b \leftarrow b - \alpha\, \partial L/\partial b$", final))
    out = () if section == 1 else (f,)
    return Derivation(f"s{section}.bias_step", target if section == 1 else b[f], final, out,
                      tuple(steps))
