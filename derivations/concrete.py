"""The forward pass over arrays of SymPy symbols, and its gradients by ``sympy.diff``.

This is the ground truth of the exhaustive check.  Nothing here knows any
backward formula: the forward pass is built from its definition (each output
is the window of the input times the kernel, summed, plus the bias), the loss
is ``L = sum(g * y)`` with an arbitrary upstream gradient ``g``, the input is
``x = h(u)`` with ``h`` an undefined function, and every gradient comes from
``sympy.diff``.

Cost: ``L = sum_o g[o]*y[o]``.  Each summand is distributed into monomials
``g*w*h(u)`` and ``g*b`` (exactly what ``sympy.expand`` does to it), and every
monomial ``m`` is differentiated by ``sympy.diff(m, v)`` for each variable ``v``
it contains; ``dL/dv`` is the sum of these, since monomials free of ``v``
differentiate to 0 (this is what ``Add._eval_derivative`` does itself, minus
the zeros).  The work is memoized per summand ``g[o]*y[o]``: that expression
depends on the output position, the kernel size, the channels and the stride
only, so configurations that differ in H or W share most of it (a cold
``sympy.diff`` costs about a millisecond).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import sympy as sp

from .geometry import Config
from .notation import h, hprime
from .polynomial import from_sympy, psum

__all__ = ["Symbols", "Truth", "symbol_array", "symbols_for", "reference_forward", "truth"]


def symbol_array(name: str, shape: tuple[int, ...]) -> np.ndarray:
    """Object array of distinct symbols ``name[i,j,...]`` (an empty shape gives a 0-d array)."""
    out = np.empty(shape, dtype=object)
    for index in np.ndindex(*shape):
        out[index] = sp.Symbol(f"{name}[{','.join(map(str, index))}]")
    return out


@dataclass(frozen=True)
class Symbols:
    """Symbol arrays of one configuration; ``x = h(u)``.  Batched configs carry N first."""

    u: np.ndarray
    x: np.ndarray
    w: np.ndarray
    b: np.ndarray
    g: np.ndarray


def _batch(cfg: Config) -> tuple[int, ...]:
    return (cfg.N,) if cfg.N else ()


_H_MEMO: dict[sp.Symbol, sp.Expr] = {}


def _apply_h(v: sp.Symbol) -> sp.Expr:
    found = _H_MEMO.get(v)
    if found is None:
        found = _H_MEMO[v] = h(v)
    return found


def symbols_for(cfg: Config) -> Symbols:
    """Symbols ``u, x = h(u), w, b, g`` shaped for ``cfg`` (channels-last)."""
    u = symbol_array("u", _batch(cfg) + (cfg.H, cfg.W, cfg.C))
    x = np.empty(u.shape, dtype=object)
    for index in np.ndindex(*u.shape):
        x[index] = _apply_h(u[index])
    return Symbols(
        u=u, x=x,
        w=symbol_array("w", (cfg.KH, cfg.KW, cfg.C, cfg.F)),
        b=symbol_array("b", (cfg.F,)),
        g=symbol_array("g", _batch(cfg) + (cfg.OH, cfg.OW, cfg.F)),
    )


_PRODUCT_MEMO: dict[tuple, sp.Expr] = {}


def _product(p: sp.Expr, q: sp.Expr) -> sp.Expr:
    key = (p, q)
    found = _PRODUCT_MEMO.get(key)
    if found is None:
        found = _PRODUCT_MEMO[key] = p * q
    return found


def reference_forward(cfg: Config, x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cross-correlation by its definition: pad, cut the (dilated, strided) window, multiply, sum.

    Works on object arrays (symbols) and on floats alike.  ``x`` is (H, W, C) or
    (N, H, W, C); the result is (O_H, O_W, F) or (N, O_H, O_W, F).
    """
    batched = x.ndim == 4
    xb = x if batched else x[None]
    zero = 0 if xb.dtype == object else 0.0
    padded = np.full((xb.shape[0], cfg.H + cfg.pt + cfg.pb, cfg.W + cfg.pl + cfg.pr, cfg.C),
                     zero, dtype=xb.dtype)
    padded[:, cfg.pt:cfg.pt + cfg.H, cfg.pl:cfg.pl + cfg.W, :] = xb
    out = np.empty((xb.shape[0], cfg.OH, cfg.OW, cfg.F), dtype=xb.dtype)
    for batch, row, col, kernel in np.ndindex(*out.shape):
        top, left = row * cfg.sh, col * cfg.sw
        window = padded[batch, top:top + cfg.dh * (cfg.KH - 1) + 1:cfg.dh,
                        left:left + cfg.dw * (cfg.KW - 1) + 1:cfg.dw, :]  # (KH, KW, C)
        if xb.dtype == object:
            taps = zip(window.ravel(), w[:, :, :, kernel].ravel(), strict=True)
            products = [_product(p, q) for p, q in taps]
            out[batch, row, col, kernel] = sp.Add(*products, b[kernel])
        else:
            out[batch, row, col, kernel] = np.sum(window * w[:, :, :, kernel]) + b[kernel]
    return out if batched else out[0]


@dataclass(frozen=True)
class Truth:
    """Reference forward ``y`` and the gradients ``dL/du``, ``dL/dw``, ``dL/db`` by sympy.diff.

    All entries are exact :class:`~derivations.polynomial.Poly` values; ``sym``
    holds the same symbols as atoms (``sym.x[...]`` is the atom ``h(u[...])``).
    ``du`` contains ``hprime(u[...])`` where SymPy's chain rule produced
    ``Derivative(h(u[...]), u[...])``.
    """

    sym: Symbols
    y: np.ndarray
    du: np.ndarray
    dw: np.ndarray
    db: np.ndarray


_DIFF_MEMO: dict[tuple, sp.Expr] = {}


def _diff(g_o: sp.Symbol, term: sp.Expr, v: sp.Symbol) -> sp.Expr:
    """sympy.diff(g_o*term, v), memoized; h'(u) renamed ``hprime(u)``."""
    key = (g_o, term, v)
    found = _DIFF_MEMO.get(key)
    if found is None:
        found = sp.diff(g_o * term, v)
        if isinstance(v, sp.Symbol) and v.name.startswith("u["):
            # SymPy's chain rule writes h'(u) as Derivative(h(u), u).
            found = found.xreplace({sp.Derivative(h(v), v): hprime(v)})
        _DIFF_MEMO[key] = found
    return found


_FREE_MEMO: dict[sp.Expr, tuple] = {}


def _free(term: sp.Expr) -> tuple:
    found = _FREE_MEMO.get(term)
    if found is None:
        found = _FREE_MEMO[term] = tuple(term.free_symbols)
    return found


def _collect(pieces: dict, variables: np.ndarray) -> np.ndarray:
    # dL/dv as an exact polynomial (derivations.polynomial): the sum of its monomials' diffs
    out = np.empty(variables.shape, dtype=object)
    for index in np.ndindex(*variables.shape):
        out[index] = psum(from_sympy(piece) for piece in pieces.get(variables[index], ()))
    return out


@lru_cache(maxsize=4)
def truth(cfg: Config) -> Truth:
    """Ground truth of one configuration (cached: the four formulas of a section share it)."""
    sym = symbols_for(cfg)
    y = reference_forward(cfg, sym.x, sym.w, sym.b)
    pieces: dict[sp.Symbol, list] = defaultdict(list)
    for index in np.ndindex(*y.shape):
        g_o = sym.g[index]
        for term in sp.Add.make_args(y[index]):  # distribute: g*(t1 + t2 + ...) = g*t1 + g*t2 + ...
            for v in _free(term):
                pieces[v].append(_diff(g_o, term, v))
    atoms = Symbols(*(_as_atoms(arr) for arr in (sym.u, sym.x, sym.w, sym.b, sym.g)))
    return Truth(sym=atoms, y=_as_atoms(y), du=_collect(pieces, sym.u),
                 dw=_collect(pieces, sym.w), db=_collect(pieces, sym.b))


def _as_atoms(array: np.ndarray) -> np.ndarray:
    out = np.empty(array.shape, dtype=object)
    for index in np.ndindex(*array.shape):
        out[index] = from_sympy(array[index])
    return out
