"""Tests of the derivation code: the exact algebra, the lookups, the truth, the judge.

The central test: a deliberately wrong formula (each of several plausible index
bugs) is caught by the exhaustive check, with a counterexample.
"""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp
from sympy import Mod, Sum, floor

from derivations.concrete import truth
from derivations.exhaustive import first_mismatch, variants
from derivations.general_index import FORMULAS, derive
from derivations.geometry import Config, axis_cases, general_grid, note_grid, out_size
from derivations.lookup import Strict, ZeroOutside, is_undefined
from derivations.notation import KH, KW, OH, OW, F, f, fp, g, hprime, i, ip, j, jp, s, u, w
from derivations.polynomial import atom, from_sympy, psum
from derivations.seed import corrected, seed


def test_poly_is_exact_commutative_algebra():
    a, b, c = atom("a"), atom("b"), atom("c")
    assert a * b == b * a
    assert (a + b) * c == a * c + b * c
    assert a - a == 0
    assert psum([a, b, -a]) == b
    assert a * b != a * c
    assert from_sympy(sp.expand((sp.Symbol("a") + 2) * sp.Symbol("b"))) == a * b + 2 * b


def test_strict_lookup_never_wraps_around():
    arr = np.array([[atom("p"), atom("q")]], dtype=object)
    look = Strict("p", arr)
    assert look[0, 1] == atom("q")
    assert is_undefined(look[0, -1])  # NumPy would read the last column here
    assert is_undefined(look[1, 0])


def test_note_zero_rule_is_closed_and_half_open_differs():
    arr = np.array([[atom("d00")], [atom("d10")]], dtype=object)  # O_H = 2, O_W = 1
    closed = ZeroOutside("g", arr, (2, 1), closed=True)
    half = ZeroOutside("g", arr, (2, 1), closed=False)
    assert closed[-1, 0] == 0 and closed[3, 0] == 0
    assert is_undefined(closed[2, 0])  # x = output height: not zeroed, no entry
    assert half[2, 0] == 0


def test_truth_is_sympy_diff_of_the_loss():
    # cross-check the memoized per-monomial diff against one plain sympy.diff of the whole loss
    cfg = Config(3, 4, 2, 2, 2, 3, sh=2, sw=1)
    t = truth(cfg)
    from derivations.concrete import reference_forward, symbols_for

    sym = symbols_for(cfg)
    y = reference_forward(cfg, sym.x, sym.w, sym.b)
    loss = sp.Add(*[sym.g[o] * y[o] for o in np.ndindex(*y.shape)])
    for index in [(0, 0, 0), (1, 2, 1), (2, 3, 0)]:
        v = sym.u[index]
        expected = sp.diff(loss, v).subs(sp.Derivative(sym.x[index].func(v), v), hprime(v))
        assert t.du[index] == from_sympy(sp.expand(expected))
    assert t.dw[1, 2, 1, 0] == from_sympy(sp.expand(sp.diff(loss, sym.w[1, 2, 1, 0])))


@pytest.mark.parametrize("fid", FORMULAS)
def test_derived_formula_matches_truth_on_hard_geometries(fid):
    section = int(fid[1])
    cases = [Config(5, 4, 2, 3, 3, 2, sh=2, sw=2), Config(5, 5, 3, 2, 2, 2, sh=3, sw=3),
             Config(6, 3, 2, 2, 4, 1)] if section == 3 else \
        [Config(4, 3, 1, 1, 2, 3)] if section == 1 else [Config(4, 5, 3, 2, 3, 2)]
    rhs, idx, rules = variants(fid)["derived"]
    for cfg in cases:
        assert first_mismatch(rhs, idx, rules, fid, cfg) is None


def _wrong_formulas():
    """Plausible bugs: flipped kernel, swapped channel indices, floor instead of ceil, ..."""
    def backward(body, top_row=OH - 1):
        guard = sp.And(i - ip >= 0, i - ip <= top_row, j - jp >= 0, j - jp <= OW - 1)
        return Sum(sp.Piecewise((body, guard), (0, True)), (ip, 0, KH - 1), (jp, 0, KW - 1),
                   (fp, 0, F - 1))

    body = w[ip, jp, f, fp] * g[i - ip, j - jp, fp]
    flipped = w[KH - 1 - ip, KW - 1 - jp, f, fp] * g[i - ip, j - jp, fp]
    return {
        "flipped kernel": ("s2.backward", hprime(u[i, j, f]) * backward(flipped)),
        "no h'": ("s2.backward", backward(body)),
        "guard off by one": ("s2.backward", hprime(u[i, j, f]) * backward(body, OH)),
        "stride bound floor": ("s3.backward", hprime(u[i, j, f]) * Sum(sp.Piecewise((
            w[Mod(i, s) + ip * s, Mod(j, s) + jp * s, f, fp]
            * g[floor(i / s) - ip, floor(j / s) - jp, fp],
            sp.And(floor(i / s) - ip >= 0, floor(i / s) - ip <= OH - 1,
                   floor(j / s) - jp >= 0, floor(j / s) - jp <= OW - 1)), (0, True)),
            (ip, 0, floor(KH / s) - 1), (jp, 0, floor(KW / s) - 1), (fp, 0, F - 1))),
    }


@pytest.mark.parametrize("name", sorted(_wrong_formulas()))
def test_a_deliberately_wrong_formula_is_caught(name):
    fid, rhs = _wrong_formulas()[name]
    indices = (i, j, f)
    grid = note_grid(int(fid[1]))
    found = None
    for cfg in grid:
        found = first_mismatch(rhs, indices, (), fid, cfg)
        if found is not None:
            break
    assert found is not None, f"{name} was not caught on {len(grid)} configurations"
    assert found.value != found.truth


def test_the_right_formula_in_the_same_harness_passes():
    # the harness of the previous test accepts the derived formula (so it is not vacuous)
    rhs, idx, rules = variants("s2.backward")["derived"]
    for cfg in note_grid(2)[::25]:
        assert first_mismatch(rhs, idx, rules, "s2.backward", cfg) is None


def test_literal_transcriptions_are_not_repaired():
    assert seed("s2.backward").rhs.has(w[ip, jp, fp, f])  # the note's index order
    assert seed("s3.backward").rhs.has(floor(KH / s) - 1)
    assert seed("s1.backward").rules == (("g", "closed", (OH, OW)),)
    assert corrected("s1.forward") is None


def test_literal_s3_backward_drops_taps_when_stride_does_not_divide_kernel():
    # K = 3, s = 2: the note sums i' <= 3//2 - 1 = 0 and misses kernel row 2
    cfg = Config(5, 2, 1, 1, 3, 2, sh=2, sw=2)
    note = seed("s3.backward", "half-open")
    found = first_mismatch(note.rhs, note.indices, note.rules, "s3.backward", cfg)
    assert found is not None and "w[2,0,0,0]" in found.truth and "w[2,0,0,0]" not in found.value
    fixed = corrected("s3.backward")
    assert first_mismatch(fixed.rhs, fixed.indices, fixed.rules, "s3.backward", cfg) is None


def test_sympy_drops_the_divisibility_guard_with_dilation():
    # the reason the general layer's input gradient is "stated": Sum.doit returns a
    # non-integer index instead of a guard
    a, n_ = sp.symbols("a n", integer=True)
    d = sp.Symbol("d", integer=True, positive=True)
    base = sp.IndexedBase("v")
    out = Sum(sp.KroneckerDelta(a, n_ * d) * base[n_], (n_, 0, 5)).doit()
    assert out.has(base[a / d])


def test_derivations_are_built_from_diff_and_doit():
    steps = derive("s2.backward").steps
    assert any(step.expr.has(sp.KroneckerDelta) for step in steps if isinstance(step.expr, sp.Basic))
    assert [step.by for step in steps].count("stated") == 1
    assert sum(step.by == "stated" for step in derive("s3.backward").steps) == 1


def test_grids_cover_the_hard_cases():
    s3 = note_grid(3)
    assert any(c.KH == 3 and c.stride == 2 for c in s3)  # stride not dividing the kernel
    assert any(c.KH < c.stride for c in s3)  # kernel smaller than the stride
    assert any((c.H - c.KH) % c.stride for c in s3)  # rows no window reads
    assert {(c.C, c.F) for c in s3} == {(a, b) for a in (1, 2, 3) for b in (1, 2, 3)}
    assert any(c.KH != c.KW for c in s3) and any(c.H != c.W for c in s3)
    assert len(axis_cases()) == 22
    general = general_grid()
    assert {c.N for c in general} == {0, 1, 2}
    assert any(c.dh == 2 and c.sh > 1 for c in general)
    assert all(c.OH >= 1 and c.OW >= 1 for c in general)
    assert out_size(7, 3, 2) == 3 and out_size(2, 3) == 0
