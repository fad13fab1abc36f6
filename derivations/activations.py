"""The activations convlib offers, as SymPy expressions, and ``h'`` derived by ``sympy.diff``.

Each entry: the SymPy expression of ``h(y)``, its derivative by ``sympy.diff``,
and the closed form the notes display (checked equal by SymPy in
:func:`derivative_table`).  ReLU and leaky ReLU are ``Piecewise`` with the
convention ``h'(0) = 0`` (resp. the slope), as ``convlib.activations`` uses;
``tests/test_derivations_ad.py`` compares the lambdified derivatives with
convlib's numeric ones.
"""

from __future__ import annotations

from functools import cache

import sympy as sp

__all__ = ["Y", "ACTIVATION_EXPRS", "CLOSED_FORMS", "derivative", "derivative_table",
           "numeric_derivative", "LEAKY_SLOPE"]

Y = sp.Symbol("y", real=True)
LEAKY_SLOPE = sp.Rational(1, 100)
_sigma = 1 / (1 + sp.exp(-Y))

ACTIVATION_EXPRS: dict[str, sp.Expr] = {
    "identity": Y,
    "relu": sp.Piecewise((Y, Y > 0), (0, True)),
    "leaky_relu": sp.Piecewise((Y, Y > 0), (LEAKY_SLOPE * Y, True)),
    "sigmoid": _sigma,
    "tanh": sp.tanh(Y),
    "softplus": sp.log(1 + sp.exp(Y)),
}

# the forms a reader expects; derivative_table() checks each against sympy.diff
CLOSED_FORMS: dict[str, sp.Expr] = {
    "identity": sp.Integer(1),
    "relu": sp.Piecewise((1, Y > 0), (0, True)),
    "leaky_relu": sp.Piecewise((1, Y > 0), (LEAKY_SLOPE, True)),
    "sigmoid": _sigma * (1 - _sigma),
    "tanh": 1 - sp.tanh(Y) ** 2,
    "softplus": _sigma,
}


@cache
def derivative(name: str) -> sp.Expr:
    """``h'(y)`` of activation ``name`` by ``sympy.diff``."""
    return sp.diff(ACTIVATION_EXPRS[name], Y)


def derivative_table() -> list[tuple[str, str, str]]:
    """(name, LaTeX of h, LaTeX of h') for every activation; asserts diff == closed form."""
    rows = []
    for name, expr in ACTIVATION_EXPRS.items():
        d = derivative(name)
        closed = CLOSED_FORMS[name]
        assert sp.simplify((d - closed).rewrite(sp.exp)) == 0 or sp.piecewise_fold(d - closed) \
            .equals(0), name
        sigma = sp.Function("sigma")(Y)
        rows.append((name, sp.latex(expr), sp.latex(closed.subs(_sigma, sigma))))
    return rows


def numeric_derivative(name: str):
    """The derived ``h'`` as a NumPy function (lambdify)."""
    return sp.lambdify(Y, derivative(name), modules="numpy")
