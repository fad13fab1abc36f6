"""The general layer convlib implements: batch, per-axis stride, dilation, padding.

Forward (channels-last, cross-correlation; ``x`` is 0 outside ``[0,H) x [0,W)``)::

    y[n,i,j,f] = sum_{i',j',k'} w[i',j',k',f] * x[n, i*s_h + i'*d_h - p_t, j*s_w + j'*d_w - p_l, k'] + b[f]

Derived here (page ``general_layer.md``; not one of the note's twelve formulas):

* ``dL/dw`` and ``dL/db``: SymPy eliminates every Kronecker delta itself (the
  kernel indices have coefficient 1).
* ``dL/dx``: the delta ``[a = i*s_h + i'*d_h - p_t]`` has coefficients ``s_h`` and
  ``d_h``.  ``Sum.doit`` over ``i`` returns ``g[(a + p_t - i'*d_h)/s_h]`` and
  forgets that the quotient must be an integer; the correct elimination keeps
  the guard ``s_h | a + p_t - i'*d_h``.  That step is stated and checked on the
  general grid.
"""

from __future__ import annotations

from functools import cache

import sympy as sp
from sympy import Eq, Mod, Piecewise, Sum

from .notation import (
    KH,
    KW,
    OH,
    OW,
    C,
    F,
    W,
    a,
    alpha,
    b,
    bi,
    c,
    d,
    d_h,
    d_w,
    f,
    fp,
    g,
    i,
    ip,
    j,
    jp,
    k,
    kp,
    n,
    p_l,
    p_t,
    s,
    s_h,
    s_w,
    w,
    x,
)

__all__ = ["general_forward", "specialize_forward", "general_derivations"]


def _guard(expr, *conds):
    return Piecewise((expr, sp.And(*conds)), (0, True))


def general_forward(batched: bool = True) -> sp.Expr:
    """``y[n,i,j,f]`` of the general layer; the rule "x := 0 outside [0,H) x [0,W)" is the padding.

    The padding is a rule on ``x`` rather than a guard in the sum: differentiating
    by an entry ``x[n,a,b,c]`` inside the input is unaffected (a padded entry is a
    constant 0), and SymPy's delta elimination mishandles a guard that mentions
    the eliminated index.
    """
    row, col = i * s_h + ip * d_h - p_t, j * s_w + jp * d_w - p_l
    xi = x[n, row, col, kp] if batched else x[row, col, kp]
    return Sum(w[ip, jp, kp, f] * xi, (ip, 0, KH - 1), (jp, 0, KW - 1), (kp, 0, C - 1)) + b[f]


def specialize_forward(section: int):
    """The note's forward of a section as a special case: (expr, steps)."""
    from .general_index import Step, b0

    stride = s if section == 3 else 1
    expr = general_forward(batched=False).subs({d_h: 1, d_w: 1, p_t: 0, p_l: 0,
                                               s_h: stride, s_w: stride})
    steps = [Step(f"One sample, no padding, no dilation, stride {'s' if section == 3 else 1}",
                  expr)]
    # without padding the rule "x := 0 outside" never fires: i*s + i' <= (O_H - 1)*s + K_H - 1
    # <= H - 1 because O_H = (H - K_H)//s + 1, a floor-division fact SymPy cannot use.
    unguarded = expr
    steps.append(Step(r"Without padding every window lies inside the input: $i s + i' \le "
                      r"(O_H - 1)s + K_H - 1 \le H - 1$ since $O_H = \lfloor (H - K_H)/s \rfloor + 1$,"
                      " so the zero rule is never used (the exhaustive check evaluates "
                      "the formula with no zero rule at all)", unguarded, "stated"))
    if section == 1:
        total = next(t for t in unguarded.args if isinstance(t, Sum))
        one = Sum(total.function.subs(kp, 0), *[lim for lim in total.limits if lim[0] != kp]) + b[f]
        flat = one.replace(lambda e: isinstance(e, sp.Indexed) and e.base == x,
                           lambda e: x[e.indices[:2]])
        flat = flat.replace(lambda e: isinstance(e, sp.Indexed) and e.base == w,
                            lambda e: w[e.indices[:2]])
        flat = flat.xreplace({b[f]: b0})
        steps.append(Step("One channel and one kernel (C = F = 1): drop the channel indices",
                          flat))
        return flat, steps
    return unguarded, steps


def _loss():
    return Sum(g[n, i, j, f] * general_forward(), (n, 0, sp.Symbol("N", integer=True,
               positive=True) - 1), (i, 0, OH - 1), (j, 0, OW - 1), (f, 0, F - 1))


@cache
def general_derivations() -> dict:
    """{"input", "weight", "bias"} -> (steps, result, free indices) for the general layer."""
    from .general_index import Step, drop_implied, eliminate

    L = _loss()
    out = {}
    # input gradient
    raw = sp.diff(L, x[n, a, bi, c])
    steps = [Step(r"Loss $L = \sum_{n,i,j,f} \delta_{n,i,j,f}\, y_{n,i,j,f}$", L),
             Step(r"$\partial L / \partial x_{n,a,b,c}$ by sympy.diff", raw)]
    wrong = Sum(sp.KroneckerDelta(a, i * s_h + ip * d_h - p_t) * g[i], (i, 0, OH - 1)).doit()
    steps.append(Step(r"SymPy's own elimination over $i$ drops the divisibility guard "
                      r"(one axis shown): $\sum_i [a = i s_h + i' d_h - p_t]\, \delta_i$ = ",
                      wrong, "sympy"))
    row, col = (a + p_t - ip * d_h) / s_h, (bi + p_l - jp * d_w) / s_w
    body = w[ip, jp, c, fp] * g[n, row, col, fp]
    dx = Sum(_guard(body, Eq(Mod(a + p_t - ip * d_h, s_h), 0), row >= 0, row <= OH - 1,
                    Eq(Mod(bi + p_l - jp * d_w, s_w), 0), col >= 0, col <= OW - 1),
             (ip, 0, KH - 1), (jp, 0, KW - 1), (fp, 0, F - 1))
    steps.append(Step(r"Eliminate the output index with the guard $s_h \mid a + p_t - i' d_h$ "
                      "(stated; checked on the general grid)", dx, "stated"))
    out["input"] = (tuple(steps), dx, (n, a, bi, c))
    # weight gradient: kernel indices have coefficient 1, SymPy finishes
    raw = sp.diff(L, w[a, bi, c, d])
    ranges = {a: (0, KH - 1), bi: (0, KW - 1), c: (0, C - 1), d: (0, F - 1)}
    done = drop_implied(raw.doit(), ranges)
    steps = [Step(r"$\partial L / \partial w_{a,b,c,d}$ by sympy.diff", raw),
             Step("Sum.doit eliminates the deltas over the kernel indices; implied guards dropped",
                  done)]
    done2 = drop_implied(eliminate(done, f), ranges)
    steps.append(Step("Sum.doit over f eliminates the delta over the kernels", done2))
    out["weight"] = (tuple(steps), done2, (a, bi, c, d))
    # bias gradient
    raw = sp.diff(L, b[d])
    done = drop_implied(eliminate(raw, f), {d: (0, F - 1)})
    out["bias"] = ((Step(r"$\partial L / \partial b_d$ by sympy.diff", raw),
                    Step("Sum.doit eliminates the delta over the kernels", done)), done, (d,))
    return out


_unused = (alpha, k, KW, W)  # names re-exported for readers of this module's formulas
