"""Evaluate an index formula on one configuration, on symbols or on floats, via ``lambdify``.

A formula is a SymPy expression with free indices, ``IndexedBase`` arrays
``x, w, b, g, u`` (and the scalar bias ``b0`` of section 1) and size symbols.
``lambdify`` turns it into Python: ``Sum`` becomes a generator summed by
``builtins.sum`` (here: one ``sympy.Add`` on symbols, left-to-right ``+`` on
floats), ``Piecewise`` a conditional expression (lazy, so a guarded entry is
never read), ``floor`` / ``Mod`` integer arithmetic.  Array reads go through
:mod:`derivations.lookup`.
"""

from __future__ import annotations

import math
from functools import cache

import numpy as np
import sympy as sp

from . import notation as nt
from .general_index import b0
from .geometry import Config
from .lookup import Strict, ZeroOutside
from .polynomial import atom, psum

__all__ = ["compile_formula", "value_shape", "evaluate", "section_arrays", "SIZE_SYMBOLS"]

ARRAY_NAMES = ("x", "w", "b", "g", "u")
SIZE_SYMBOLS = (nt.H, nt.W, nt.C, nt.F, nt.KH, nt.KW, nt.OH, nt.OW, nt.s, nt.N,
                nt.s_h, nt.s_w, nt.d_h, nt.d_w, nt.p_t, nt.p_l, nt.alpha)


class _SymbolicBuiltins:
    sum = staticmethod(psum)


class _NumericBuiltins:
    @staticmethod
    def sum(terms):
        total = 0.0
        for term in terms:  # recursive summation: the rounding bound assumes it
            total = total + term
        return total


@cache
def compile_formula(rhs: sp.Expr, indices: tuple, symbolic: bool):
    """Python function ``(*indices, x, w, b, g, u, b0, *sizes) -> value``."""
    args = list(indices) + [sp.Symbol(name) for name in ARRAY_NAMES] + [b0] + list(SIZE_SYMBOLS)
    namespace = {"builtins": _SymbolicBuiltins if symbolic else _NumericBuiltins,
                 "floor": math.floor, "ceil": math.ceil, "ceiling": math.ceil}
    if symbolic:
        namespace["hprime"] = lambda p: atom(f"hprime({p.atom_name()})")
    else:
        namespace["hprime"] = _numeric_hprime
    expr = rhs.xreplace({base: sp.Symbol(base.label.name) for base in rhs.atoms(sp.IndexedBase)})
    fn = sp.lambdify(args, expr, modules=[namespace, "math"])
    # lambdify binds the name ``builtins`` to the real module; sum our way instead.
    fn.__globals__["builtins"] = namespace["builtins"]
    return fn


_NUMERIC_HPRIME = {"fn": None}


def _numeric_hprime(value):
    fn = _NUMERIC_HPRIME["fn"]
    return 1.0 if fn is None else fn(value)


def value_shape(formula_id: str, cfg: Config) -> tuple:
    """Shape of the left-hand side of a formula id for one configuration."""
    section, kind = int(formula_id[1]), formula_id.split(".")[1]
    full = {"forward": (cfg.OH, cfg.OW, cfg.F), "backward": (cfg.H, cfg.W, cfg.C),
            "weight_step": (cfg.KH, cfg.KW, cfg.C, cfg.F), "bias_step": (cfg.F,)}[kind]
    if section == 1:
        return {"forward": full[:2], "backward": full[:2], "weight_step": full[:2],
                "bias_step": ()}[kind]
    return full


def section_arrays(section: int, arrays: dict) -> dict:
    """The arrays as section 1 writes them (2-D, scalar bias) or unchanged."""
    if section != 1:
        return dict(arrays, b0=None)
    return {"x": arrays["x"][:, :, 0], "w": arrays["w"][:, :, 0, 0], "b": None,
            "g": arrays["g"][:, :, 0], "u": arrays["u"][:, :, 0], "b0": arrays["b"][0]}


def sizes(cfg: Config, alpha) -> list:
    return [cfg.H, cfg.W, cfg.C, cfg.F, cfg.KH, cfg.KW, cfg.OH, cfg.OW, cfg.sh, max(cfg.N, 1),
            cfg.sh, cfg.sw, cfg.dh, cfg.dw, cfg.pt, cfg.pl, alpha]


def _wrap(name: str, array, rules: tuple, cfg: Config):
    if array is None or not isinstance(array, np.ndarray):
        return array
    values = {nt.OH: cfg.OH, nt.OW: cfg.OW, nt.KH: cfg.KH, nt.KW: cfg.KW, nt.H: cfg.H,
              nt.W: cfg.W}
    for rule_name, kind, bounds in rules:
        if rule_name == name:
            offset = array.ndim - 3 if name in ("x", "g", "u") and array.ndim == 4 else 0
            return ZeroOutside(name, array, tuple(values[bd] for bd in bounds),
                               closed=(kind == "closed"), offset=offset)
    return Strict(name, array)


def evaluate(rhs: sp.Expr, indices: tuple, rules: tuple, cfg: Config, arrays: dict,
             shape: tuple, alpha, symbolic: bool = True) -> np.ndarray:
    """The formula at every index of ``shape``: an object array (symbolic) or floats."""
    fn = compile_formula(rhs, tuple(indices), symbolic)
    wrapped = [_wrap(name, arrays.get(name), rules, cfg) for name in ARRAY_NAMES]
    tail = wrapped + [arrays.get("b0")] + sizes(cfg, alpha)
    out = np.empty(shape, dtype=object if symbolic else float)
    for index in np.ndindex(*shape):
        out[index] = fn(*index, *tail)
    return out
