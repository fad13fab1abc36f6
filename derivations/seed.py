"""The note's twelve formulas, transcribed literally (ids ``s1.forward`` ... ``s3.bias_step``).

Nothing is repaired: index order, summation bounds, integer division and
modulo, and the zero-padding rule are as the note prints them.  Where the note
is ambiguous the reading is stated:

* ``kernel height/stride - 1`` as an upper summation bound: the sum runs over
  the integers ``0 <= i' <= K_H/s - 1``, i.e. to ``floor(K_H/s) - 1``; reading
  ``/`` as integer division gives the same bound.
* ``i/stride`` as an *index* must be an integer: floor division.
* ``delta^{l+1}_{x,y,z} := 0 if x not in [0, output height]``: a closed interval,
  transcribed as :class:`~derivations.lookup.ZeroOutside` with ``closed=True``;
  ``delta^{l+1}`` has no entry at ``x = output height``, which is then undefined.
  The half-open reading is evaluated separately (``reading="half-open"``) and
  reported on the pages, never in place of the literal one.

Each record also carries the note's own LaTeX, verbatim.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp
from sympy import Mod, Sum, floor

from .general_index import b0
from .notation import KH, KW, OH, OW, C, F, alpha, b, f, fp, g, hprime, i, ip, j, jp, k, kp, s, u, w, x

__all__ = ["SeedFormula", "seed", "corrected", "NOTE_LATEX", "PADDING_RULE_LATEX"]

PADDING_RULE_LATEX = (r"\delta_{x,y,z}^{l+1} := 0 \quad \text{if } x \notin [0, \text{output height}]"
                      r" \text{ or } y \notin [0, \text{output width}]")

NOTE_LATEX = {
    "s1.forward": r"y_{i,j}^l = \sum_{i'=0}^{\text{kernel height}-1} \sum_{j'=0}^{\text{kernel width}-1} w_{i',j'}^l \cdot f_{i+i',j+j'}^{l-1} + b^l",  # noqa: E501
    "s1.backward": r"\delta_{i,j}^l = \frac{\partial h(y_{i,j}^l)}{\partial y_{i,j}^l} \cdot \sum_{i'=0}^{\text{kernel height}-1} \sum_{j'=0}^{\text{kernel width}-1} w_{i',j'}^{l+1} \cdot \delta_{i-i',j-j'}^{l+1}",  # noqa: E501
    "s1.weight_step": r"w_{i,j}^l = w_{i,j}^l - \alpha \cdot \sum_{i'=0}^{\text{output height}-1} \sum_{j'=0}^{\text{output width}-1} \delta_{i',j'}^l \cdot f_{i+i',j+j'}^{l-1}",  # noqa: E501
    "s1.bias_step": r"b^l = b^l - \alpha \cdot \sum_{i'=0}^{\text{output height}-1} \sum_{j'=0}^{\text{output width}-1} \delta_{i',j'}^l",  # noqa: E501
    "s2.forward": r"y_{i,j,f}^l = \sum_{i'=0}^{\text{kernel height}-1} \sum_{j'=0}^{\text{kernel width}-1} \sum_{k'=0}^{\text{kernel depth}-1} w_{i',j',k',f}^l \cdot f_{i+i',j+j',k'}^{l-1} + b_f^l",  # noqa: E501
    "s2.backward": r"\delta_{i,j,f}^l = \frac{\partial h(y_{i,j,f}^l)}{\partial y_{i,j,f}^l} \cdot \sum_{i'=0}^{\text{kernel height}-1} \sum_{j'=0}^{\text{kernel width}-1} \sum_{f'=0}^{\# \text{ of kernels}-1} w_{i',j',f',f}^{l+1} \cdot \delta_{i-i',j-j',f'}^{l+1}",  # noqa: E501
    "s2.weight_step": r"w_{i,j,k,f}^l = w_{i,j,k,f}^l - \alpha \cdot \sum_{i'=0}^{\text{output height}-1} \sum_{j'=0}^{\text{output width}-1} \delta_{i',j',f}^l \cdot f_{i+i',j+j',k}^{l-1}",  # noqa: E501
    "s2.bias_step": r"b_f^l = b_f^l - \alpha \cdot \sum_{i'=0}^{\text{output height}-1} \sum_{j'=0}^{\text{output width}-1} \delta_{i',j',f}^l",  # noqa: E501
    "s3.forward": r"y_{i,j,f}^l = \sum_{i'=0}^{\text{kernel height}-1} \sum_{j'=0}^{\text{kernel width}-1} \sum_{k'=0}^{\text{kernel depth}-1} w_{i',j',k',f}^l \cdot f_{i \cdot \text{stride} + i', j \cdot \text{stride} + j', k'}^{l-1} + b_f^l",  # noqa: E501
    "s3.backward": r"\delta_{i,j,f}^l = \frac{\partial h(y_{i,j,f}^l)}{\partial y_{i,j,f}^l} \cdot \sum_{i'=0}^{\text{kernel height}/\text{stride}-1} \sum_{j'=0}^{\text{kernel width}/\text{stride}-1} \sum_{f'=0}^{\# \text{ of kernels}-1} w_{i \% \text{stride} + i' \cdot \text{stride}, j \% \text{stride} + j' \cdot \text{stride}, f, f'}^{l+1} \cdot \delta_{i/\text{stride} - i', j/\text{stride} - j', f'}^{l+1}",  # noqa: E501
    "s3.weight_step": r"w_{i,j,k,f}^l = w_{i,j,k,f}^l - \alpha \cdot \sum_{i'=0}^{\text{output height}-1} \sum_{j'=0}^{\text{output width}-1} \delta_{i',j',f}^l \cdot f_{i+i' \cdot \text{stride}, j+j' \cdot \text{stride}, k}^{l-1}",  # noqa: E501
    "s3.bias_step": r"b_f^l = b_f^l - \alpha \cdot \sum_{i'=0}^{\text{output height}-1} \sum_{j'=0}^{\text{output width}-1} \delta_{i',j',f}^l",  # noqa: E501
}


@dataclass(frozen=True)
class SeedFormula:
    """A transcription: ``lhs = rhs`` with free ``indices``; ``rules`` name the zero rules.

    ``rules`` maps an array name to ``("closed" | "half-open", bounds)``: that
    array is 0 when its first two indices leave ``[0, bound]`` (closed) or
    ``[0, bound)`` (half-open); arrays without a rule are read strictly.
    """

    formula_id: str
    lhs: sp.Expr
    rhs: sp.Expr
    indices: tuple
    rules: tuple = ()  # ((array name, kind, (bound symbols)), ...)
    note: str = ""


_DELTA_RULE = (("g", "closed", (OH, OW)),)


def _build() -> dict[str, SeedFormula]:
    s1 = {
        "forward": SeedFormula(
            "s1.forward", sp.IndexedBase("y")[i, j],
            Sum(w[ip, jp] * x[i + ip, j + jp], (ip, 0, KH - 1), (jp, 0, KW - 1)) + b0, (i, j)),
        "backward": SeedFormula(
            "s1.backward", sp.IndexedBase("delta")[i, j],
            hprime(u[i, j]) * Sum(w[ip, jp] * g[i - ip, j - jp], (ip, 0, KH - 1), (jp, 0, KW - 1)),
            (i, j), _DELTA_RULE),
        "weight_step": SeedFormula(
            "s1.weight_step", w[i, j],
            w[i, j] - alpha * Sum(g[ip, jp] * x[i + ip, j + jp], (ip, 0, OH - 1), (jp, 0, OW - 1)),
            (i, j)),
        "bias_step": SeedFormula(
            "s1.bias_step", b0, b0 - alpha * Sum(g[ip, jp], (ip, 0, OH - 1), (jp, 0, OW - 1)), ()),
    }
    s2 = {
        "forward": SeedFormula(
            "s2.forward", sp.IndexedBase("y")[i, j, f],
            Sum(w[ip, jp, kp, f] * x[i + ip, j + jp, kp],
                (ip, 0, KH - 1), (jp, 0, KW - 1), (kp, 0, C - 1)) + b[f], (i, j, f)),
        "backward": SeedFormula(
            "s2.backward", sp.IndexedBase("delta")[i, j, f],
            hprime(u[i, j, f]) * Sum(w[ip, jp, fp, f] * g[i - ip, j - jp, fp],
                                     (ip, 0, KH - 1), (jp, 0, KW - 1), (fp, 0, F - 1)),
            (i, j, f), _DELTA_RULE),
        "weight_step": SeedFormula(
            "s2.weight_step", w[i, j, k, f],
            w[i, j, k, f] - alpha * Sum(g[ip, jp, f] * x[i + ip, j + jp, k],
                                        (ip, 0, OH - 1), (jp, 0, OW - 1)), (i, j, k, f)),
        "bias_step": SeedFormula(
            "s2.bias_step", b[f], b[f] - alpha * Sum(g[ip, jp, f], (ip, 0, OH - 1), (jp, 0, OW - 1)),
            (f,)),
    }
    s3 = {
        "forward": SeedFormula(
            "s3.forward", sp.IndexedBase("y")[i, j, f],
            Sum(w[ip, jp, kp, f] * x[i * s + ip, j * s + jp, kp],
                (ip, 0, KH - 1), (jp, 0, KW - 1), (kp, 0, C - 1)) + b[f], (i, j, f)),
        "backward": SeedFormula(
            "s3.backward", sp.IndexedBase("delta")[i, j, f],
            hprime(u[i, j, f]) * Sum(
                w[Mod(i, s) + ip * s, Mod(j, s) + jp * s, f, fp]
                * g[floor(i / s) - ip, floor(j / s) - jp, fp],
                (ip, 0, floor(KH / s) - 1), (jp, 0, floor(KW / s) - 1), (fp, 0, F - 1)),
            (i, j, f), _DELTA_RULE),
        "weight_step": SeedFormula(
            "s3.weight_step", w[i, j, k, f],
            w[i, j, k, f] - alpha * Sum(g[ip, jp, f] * x[i + ip * s, j + jp * s, k],
                                        (ip, 0, OH - 1), (jp, 0, OW - 1)), (i, j, k, f)),
        "bias_step": SeedFormula(
            "s3.bias_step", b[f], b[f] - alpha * Sum(g[ip, jp, f], (ip, 0, OH - 1), (jp, 0, OW - 1)),
            (f,)),
    }
    out = {}
    for number, sec in ((1, s1), (2, s2), (3, s3)):
        for kind, formula in sec.items():
            fid = f"s{number}.{kind}"
            out[fid] = SeedFormula(fid, formula.lhs, formula.rhs, formula.indices, formula.rules,
                                   NOTE_LATEX[fid])
    return out


_SEED = _build()


def seed(formula_id: str, reading: str = "literal") -> SeedFormula:
    """The note's formula ``formula_id`` as written.

    ``reading="half-open"`` changes only the zero-padding rule to ``[0, O_H)``:
    the evident intent, reported beside (never instead of) the literal verdict.
    """
    formula = _SEED[formula_id]
    if reading == "literal":
        return formula
    if reading != "half-open":
        raise ValueError(f"unknown reading {reading!r}")
    rules = tuple((name, "half-open", bounds) for name, _, bounds in formula.rules)
    return SeedFormula(formula.formula_id, formula.lhs, formula.rhs, formula.indices, rules,
                       formula.note)


def corrected(formula_id: str) -> SeedFormula | None:
    """The smallest repair of a note formula that fails, in the note's own shape (or None).

    * ``s1.backward``: the zero rule on the half-open interval ``[0, O_H)``.
    * ``s2.backward``: that, and ``w_{i',j',f,f'}`` (input channel third, as in
      the forward) instead of ``w_{i',j',f',f}``.
    * ``s3.backward``: that, and ``i'`` up to ``ceil(K_H/s) - 1`` with the rule
      ``w := 0`` for kernel rows ``>= K_H``.
    """
    half_open = (("g", "half-open", (OH, OW)),)
    if formula_id == "s1.backward":
        f0 = _SEED[formula_id]
        return SeedFormula(formula_id, f0.lhs, f0.rhs, f0.indices, half_open)
    if formula_id == "s2.backward":
        f0 = _SEED[formula_id]
        rhs = hprime(u[i, j, f]) * Sum(w[ip, jp, f, fp] * g[i - ip, j - jp, fp],
                                       (ip, 0, KH - 1), (jp, 0, KW - 1), (fp, 0, F - 1))
        return SeedFormula(formula_id, f0.lhs, rhs, f0.indices, half_open)
    if formula_id == "s3.backward":
        f0 = _SEED[formula_id]
        rhs = hprime(u[i, j, f]) * Sum(
            w[Mod(i, s) + ip * s, Mod(j, s) + jp * s, f, fp]
            * g[floor(i / s) - ip, floor(j / s) - jp, fp],
            (ip, 0, sp.ceiling(KH / s) - 1), (jp, 0, sp.ceiling(KW / s) - 1), (fp, 0, F - 1))
        return SeedFormula(formula_id, f0.lhs, rhs, f0.indices,
                           half_open + (("w", "half-open", (KH, KW)),))
    return None
