"""The exhaustive concrete check: every formula against ``sympy.diff`` on every configuration.

For each configuration of a section's grid (:func:`derivations.geometry.note_grid`)
the truth is built by :func:`derivations.concrete.truth` (forward pass over
arrays of symbols, ``sympy.diff`` of ``L = sum(g * y)``); each formula -- the
note's transcription, its half-open reading, the derived formula, the derived
intermediate forms, the corrected formula -- is evaluated on the same symbols
(:func:`derivations.numeric.evaluate`) and compared exactly.  The first
difference (row-major) in the smallest failing configuration
(:meth:`Config.size_key`) is the counterexample.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .concrete import truth
from .general_index import derive
from .geometry import Config
from .notation import alpha as alpha_symbol
from .numeric import evaluate, section_arrays, value_shape
from .polynomial import Poly, atom
from .seed import corrected, seed

__all__ = ["Mismatch", "variants", "expected", "check_config", "first_mismatch", "equal"]

@dataclass(frozen=True)
class Mismatch:
    """Where a formula differs from the truth on one configuration."""

    config: Config
    index: tuple
    value: str
    truth: str


def equal(value, true) -> bool:
    """Exact equality of two polynomials (:class:`~derivations.polynomial.Poly` or int)."""
    return Poly._lift(value) == Poly._lift(true)


def variants(formula_id: str) -> dict:
    """name -> (rhs, indices, rules) of every form of a formula that is checked."""
    out = {}
    note = seed(formula_id)
    out["seed"] = (note.rhs, note.indices, note.rules)
    if note.rules:
        half = seed(formula_id, "half-open")
        out["seed_half_open"] = (half.rhs, half.indices, half.rules)
    derivation = derive(formula_id)
    out["derived"] = (derivation.result, derivation.indices, ())
    for number, (expr, idx) in enumerate(derivation.also_check):
        out[f"derived_step_{number}"] = (expr, idx, ())
    fixed = corrected(formula_id)
    if fixed is not None:
        out["corrected"] = (fixed.rhs, fixed.indices, fixed.rules)
    return out


def expected(formula_id: str, cfg: Config) -> tuple[np.ndarray, dict]:
    """(true values of the formula's left-hand side, the symbol arrays) for one configuration."""
    section, kind = int(formula_id[1]), formula_id.split(".")[1]
    t = truth(cfg)
    arrays = {"x": t.sym.x, "w": t.sym.w, "b": t.sym.b, "g": t.sym.g, "u": t.sym.u}
    alpha = atom(str(alpha_symbol))
    values = {"forward": t.y, "backward": t.du,
              "weight_step": t.sym.w - alpha * t.dw if t.dw.size else t.dw,
              "bias_step": t.sym.b - alpha * t.db}[kind]
    if section == 1:
        values = {"forward": lambda v: v[:, :, 0], "backward": lambda v: v[:, :, 0],
                  "weight_step": lambda v: v[:, :, 0, 0],
                  "bias_step": lambda v: np.array(v[0], dtype=object)}[kind](values)
    return values, section_arrays(section, arrays)


def first_mismatch(rhs, indices, rules, formula_id: str, cfg: Config) -> Mismatch | None:
    """The first entry (row-major) where the formula differs from the truth, or None."""
    true, arrays = expected(formula_id, cfg)
    shape = value_shape(formula_id, cfg)
    got = evaluate(rhs, indices, rules, cfg, arrays, shape, atom(str(alpha_symbol)))
    for index in np.ndindex(*shape):
        if not equal(got[index], true[index]):
            return Mismatch(cfg, tuple(int(v) for v in index), str(Poly._lift(got[index])),
                            str(Poly._lift(true[index])))
    return None


def check_config(cfg: Config, formula_ids: tuple) -> dict:
    """{(formula id, variant): Mismatch | None} for one configuration."""
    out = {}
    for formula_id in formula_ids:
        for name, (rhs, indices, rules) in variants(formula_id).items():
            out[(formula_id, name)] = first_mismatch(rhs, indices, rules, formula_id, cfg)
    return out


def section_of(cfg: Config) -> tuple[int, ...]:
    """The note sections whose grid contains ``cfg``."""
    return tuple(sec for sec in (1, 2, 3) if cfg in _grid_sets()[sec])


_GRID_SETS: dict = {}


def _grid_sets() -> dict:
    if not _GRID_SETS:
        from .geometry import note_grid
        _GRID_SETS.update({sec: frozenset(note_grid(sec)) for sec in (1, 2, 3)})
    return _GRID_SETS


def cost(cfg: Config) -> int:
    """Number of monomials of the loss: the work of one configuration, roughly."""
    return max(cfg.N, 1) * cfg.OH * cfg.OW * cfg.F * (cfg.KH * cfg.KW * cfg.C + 1)


def _work(cfg: Config) -> tuple:
    ids = tuple(fid for sec in section_of(cfg) for fid in
                (f"s{sec}.forward", f"s{sec}.backward", f"s{sec}.weight_step", f"s{sec}.bias_step"))
    return cfg, check_config(cfg, ids)


@dataclass
class Tally:
    """Aggregate of one (formula id, variant) over its grid."""

    checked: int = 0
    failed: int = 0
    smallest: Mismatch | None = None

    def add(self, mismatch: Mismatch | None) -> None:
        self.checked += 1
        if mismatch is not None:
            self.failed += 1
            if self.smallest is None or mismatch.config.size_key() < self.smallest.config.size_key():
                self.smallest = mismatch


def run_note_checks(processes: int = 2, progress=None) -> dict:
    """{(formula id, variant): Tally} over the three sections' grids (deterministic)."""
    from .geometry import note_grid
    configs = sorted(set().union(*(note_grid(sec) for sec in (1, 2, 3))),
                     key=lambda c: (-cost(c), c.size_key()))
    _grid_sets()
    for fid in ("s1", "s2", "s3"):
        for kind in ("forward", "backward", "weight_step", "bias_step"):
            variants(f"{fid}.{kind}")  # build the derivations before forking
    tallies: dict = {}
    results = _map(_work, configs, processes, progress, "exhaustive check")
    for cfg, outcome in results:
        for key, mismatch in outcome.items():
            tallies.setdefault(key, Tally()).add(mismatch)
            for label, predicate in DEFECTS.get(key, ()):
                if predicate(cfg):
                    tallies.setdefault(key + (label,), Tally()).add(mismatch)
    return dict(sorted(tallies.items()))


# Sub-grids that isolate one defect of a formula under the half-open reading: the smallest
# counterexample on each is shown on the pages (report.json keeps the overall smallest).
DEFECTS = {
    ("s2.backward", "seed_half_open"): (
        ("C = F > 1: the channel indices of w swapped, every index in range",
         lambda c: c.C == c.F > 1),),
    ("s3.backward", "seed_half_open"): (
        ("K_H, K_W >= stride, stride not dividing the kernel",
         lambda c: c.KH >= c.sh and c.KW >= c.sw and (c.KH % c.sh or c.KW % c.sw)),
        ("stride dividing the kernel", lambda c: c.KH % c.sh == 0 and c.KW % c.sw == 0)),
}


def _map(fn, items, processes, progress, label):
    """Map ``fn`` over ``items`` in ``processes`` forked workers (order preserved)."""
    total = len(items)
    out = []
    if processes <= 1:
        for number, item in enumerate(items, 1):
            out.append(fn(item))
            if progress:
                progress(label, number, total)
        return out
    import multiprocessing as mp
    import sys
    # fork shares the parent's memos and derivations for free, but forking a process in
    # which JAX runs threads can deadlock (the test session imports JAX): spawn then.
    ctx = mp.get_context("spawn" if "jax" in sys.modules else "fork")
    with ctx.Pool(processes) as pool:
        # items come largest first (see cost()); small chunks balance the two workers
        for number, result in enumerate(pool.imap(fn, items, chunksize=2), 1):
            out.append(result)
            if progress:
                progress(label, number, total)
    return out
