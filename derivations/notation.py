"""Symbols shared by every derivation: indices, sizes, arrays, and how they print.

The note's letters are kept.  Python names must be identifiers, so a primed
index ``i'`` is the symbol ``ip`` and prints as ``i'`` through
:data:`LATEX_NAMES`.

One conv layer is studied at a time (channels-last, cross-correlation)::

    x[i, j, k]      input   (H, W, C)         the note's f^{l-1} (or f^l)
    w[i, j, k, f]   weights (K_H, K_W, C, F)  k = input channel, f = kernel
    b[f]            bias    (F,)
    y[i, j, f]      output  (O_H, O_W, F)
    g[i, j, f]      dL/dy, an arbitrary upstream gradient: L = sum(g * y)
    u[i, j, k]      pre-activation of the previous layer, x = h(u)

In the note's backward formulas the same layer is "layer l+1": w^{l+1} is
``w``, delta^{l+1} is ``g``, f^l is ``x`` and y^l is ``u``; delta^l = dL/du.
In the weight and bias steps the layer is "layer l": delta^l is ``g`` and
f^{l-1} is ``x``.
"""

from __future__ import annotations

import sympy as sp
from sympy.printing.latex import LatexPrinter

__all__ = [
    "i", "j", "k", "f", "ip", "jp", "kp", "fp", "n", "a", "bi", "c", "d", "o", "q",
    "H", "W", "C", "F", "KH", "KW", "OH", "OW", "s", "N",
    "s_h", "s_w", "d_h", "d_w", "p_t", "p_l",
    "x", "w", "b", "g", "u", "y", "alpha",
    "h", "hprime", "LATEX_NAMES", "to_latex",
]

# Indices (integers).  a, bi, c, d are the fixed indices we differentiate by;
# "b" is taken by the bias, so the second one is ``bi`` and prints as "b".
i, j, k, f, ip, jp, kp, fp, n, a, bi, c, d, o, q = sp.symbols(
    "i j k f ip jp kp fp n a bi c d o q", integer=True
)

# Sizes (positive integers).  O_H, O_W are the output sizes.
H, W, C, F, KH, KW, OH, OW, s, N = sp.symbols(
    "H W C F K_H K_W O_H O_W s N", integer=True, positive=True
)
# General layer: per-axis stride and dilation, top/left padding.
s_h, s_w, d_h, d_w = sp.symbols("s_h s_w d_h d_w", integer=True, positive=True)
p_t, p_l = sp.symbols("p_t p_l", integer=True, nonnegative=True)

x, w, b, g, u, y = (sp.IndexedBase(name) for name in ("x", "w", "b", "g", "u", "y"))
alpha = sp.Symbol("alpha", positive=True)

h = sp.Function("h")


class hprime(sp.Function):  # noqa: N801  (prints as the note writes it)
    """h'(v): the activation's derivative at v, kept unevaluated.

    Prints as the note's ``\\partial h(v) / \\partial v``.  ``lambdify`` calls
    it by name, so numeric and symbolic evaluation supply their own h'.
    """

    def _latex(self, printer):  # noqa: D401
        arg = printer._print(self.args[0])
        return rf"\frac{{\partial h({arg})}}{{\partial {arg}}}"


LATEX_NAMES: dict[sp.Symbol, str] = {
    ip: "i'", jp: "j'", kp: "k'", fp: "f'", bi: "b", alpha: r"\alpha",
    x: r"f^{l-1}", g: r"\delta", u: "y^{l}",
}


class _Printer(LatexPrinter):
    """SymPy's LaTeX, except that a Kronecker delta prints as an Iverson bracket ``[a = b]``.

    The note's delta is the gradient; ``\\delta_{a,i+i'}`` beside it would read as one.
    """

    def _print_KroneckerDelta(self, expr, exp=None):
        a, b = (self._print(arg) for arg in expr.args)
        text = rf"[{a} = {b}]"
        return rf"{text}^{{{exp}}}" if exp else text


def to_latex(expr: sp.Basic, names: dict | None = None, iverson: bool = False) -> str:
    """LaTeX of ``expr`` with the note's index names (``ip`` prints ``i'``).

    ``iverson=True`` prints Kronecker deltas as ``[a = b]`` (the generated pages do).
    """
    symbol_names = dict(LATEX_NAMES)
    if names:
        symbol_names.update(names)
    if iverson:
        return _Printer({"symbol_names": symbol_names}).doprint(expr)
    return sp.latex(expr, symbol_names=symbol_names)
