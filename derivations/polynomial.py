"""Exact polynomials with integer coefficients over named atoms, for fast exact comparison.

The exhaustive check evaluates every formula on every configuration; doing the
bookkeeping with ``sympy.Add`` (which sorts and re-flattens on every ``+``)
would cost minutes.  Here a polynomial is a dict ``monomial -> int`` where a
monomial is a sorted tuple of atom names (``"w[0,1,0,2]"``, ``"h(u[1,1,0])"``,
``"hprime(u[0,0,0])"``, ``"alpha"``).  Equality is dict equality: exact.  The
truth still comes from ``sympy.diff`` (:mod:`derivations.concrete`) and is
converted by :func:`from_sympy`; values print back through :meth:`Poly.to_sympy`.
"""

from __future__ import annotations

import sympy as sp

__all__ = ["Poly", "atom", "from_sympy", "psum"]


class Poly:
    """A polynomial ``{(atom, ...): coefficient}``; ints mix in as constants."""

    __slots__ = ("terms",)

    def __init__(self, terms: dict | None = None):
        self.terms = terms if terms is not None else {}

    # arithmetic ---------------------------------------------------------------------------
    @staticmethod
    def _lift(other) -> Poly:
        if type(other) is Poly:
            return other
        if isinstance(other, int) and not isinstance(other, bool):
            return Poly({(): other} if other else {})
        return NotImplemented

    def __add__(self, other):
        other = Poly._lift(other)
        if other is NotImplemented:
            return other
        out = dict(self.terms)
        for mono, coeff in other.terms.items():
            total = out.get(mono, 0) + coeff
            if total:
                out[mono] = total
            else:
                out.pop(mono, None)
        return Poly(out)

    __radd__ = __add__

    def __neg__(self):
        return Poly({m: -c for m, c in self.terms.items()})

    def __sub__(self, other):
        other = Poly._lift(other)
        return NotImplemented if other is NotImplemented else self + (-other)

    def __rsub__(self, other):
        return (-self) + other

    def __mul__(self, other):
        other = Poly._lift(other)
        if other is NotImplemented:
            return other
        if len(self.terms) == 1 and len(other.terms) == 1:  # monomial * monomial
            ((m1, c1),), ((m2, c2),) = self.terms.items(), other.terms.items()
            return Poly({tuple(sorted(m1 + m2)): c1 * c2})
        out: dict = {}
        for m1, c1 in self.terms.items():
            for m2, c2 in other.terms.items():
                mono = tuple(sorted(m1 + m2))
                total = out.get(mono, 0) + c1 * c2
                if total:
                    out[mono] = total
                else:
                    out.pop(mono, None)
        return Poly(out)

    __rmul__ = __mul__

    def __eq__(self, other):
        other = Poly._lift(other)
        return NotImplemented if other is NotImplemented else self.terms == other.terms

    __hash__ = None  # type: ignore[assignment]

    # inspection ---------------------------------------------------------------------------
    def atom_name(self) -> str:
        """The name of a single atom (this polynomial must be one)."""
        ((mono, coeff),) = self.terms.items()
        assert coeff == 1 and len(mono) == 1, self
        return mono[0]

    def atoms(self) -> set:
        return {a for mono in self.terms for a in mono}

    def to_sympy(self) -> sp.Expr:
        return sp.Add(*[coeff * sp.Mul(*[sp.Symbol(a) for a in mono])
                        for mono, coeff in sorted(self.terms.items())])

    def __str__(self) -> str:
        return sp.sstr(self.to_sympy())

    __repr__ = __str__


def atom(name: str) -> Poly:
    return Poly({(name,): 1})


def psum(terms) -> Poly | int:
    """Sum of an iterable of polynomials/ints, accumulated in place."""
    out: dict = {}
    for term in terms:
        if type(term) is not Poly:
            term = Poly._lift(term)
        for mono, coeff in term.terms.items():
            total = out.get(mono, 0) + coeff
            if total:
                out[mono] = total
            else:
                out.pop(mono, None)
    return Poly(out)


_FROM_SYMPY: dict = {}


def from_sympy(expr: sp.Expr) -> Poly:
    """Convert an expanded SymPy polynomial (integer coefficients) to a :class:`Poly`."""
    found = _FROM_SYMPY.get(expr)
    if found is not None:
        return found
    out: dict = {}
    terms = sp.Add.make_args(expr)
    if any(isinstance(factor, sp.Add) for term in terms for factor in sp.Mul.make_args(term)):
        terms = sp.Add.make_args(sp.expand(expr))
    for term in terms:
        coeff, factors = term.as_coeff_mul()
        if not coeff.is_Integer:
            raise ValueError(f"non-integer coefficient in {term}")
        mono = []
        for factor in factors:
            base, power = factor.as_base_exp()
            if not (power.is_Integer and power > 0):
                raise ValueError(f"unsupported factor {factor}")
            mono += [sp.sstr(base)] * int(power)
        key = tuple(sorted(mono))
        total = out.get(key, 0) + int(coeff)
        if total:
            out[key] = total
        else:
            out.pop(key, None)
    result = _FROM_SYMPY[expr] = Poly(out)
    return result
