"""SymPy derivations of the note's twelve formulas, and the judge of the note's own versions.

Formula ids: ``s1.forward``, ``s1.backward``, ``s1.weight_step``, ``s1.bias_step``
and the same for ``s2`` and ``s3`` (:data:`FORMULAS`).  ``convlib derive``
(:func:`derivations.generate.main`) regenerates the pages and ``report.json``
in this folder; ``convlib derive --check`` verifies they are current.

Public API (for the notebooks; every expression is a SymPy object, print it
with :func:`latex`):

* ``derive(fid) -> Derivation``: ``.lhs``, ``.result`` (the derived right-hand
  side), ``.indices`` (its free indices), ``.steps``: ordered ``Step(caption,
  expr, by)`` with ``expr`` a SymPy expression or LaTeX text and ``by`` either
  ``"sympy"`` (SymPy computed it) or ``"stated"`` (a step SymPy cannot take,
  proved by the exhaustive check).  ``section_derivations(section)`` gives the
  four of a section.
* ``seed(fid, reading="literal" | "half-open") -> SeedFormula``: the note's
  formula transcribed literally (``.lhs``, ``.rhs``, ``.indices``, ``.rules``:
  the zero-padding rule; ``.note``: the note's LaTeX verbatim).
  ``corrected(fid)``: the repaired formula in the note's shape, or None.
* ``latex(expr, kind)``: LaTeX with the note's names (``kind`` one of
  ``"forward" | "backward" | "weight_step" | "bias_step"`` picks the layer
  superscripts).
* ``first_mismatch(rhs, indices, rules, fid, cfg) -> Mismatch | None``: the
  counterexample search on one configuration ``Config(H, W, C, F, KH, KW,
  sh=stride, sw=stride)``; ``note_grid(section)`` lists the grid;
  ``run_note_checks()`` runs every formula on every configuration.
* ``truth(cfg)``: the forward pass over symbols and its gradients by
  ``sympy.diff`` (``.y``, ``.du``, ``.dw``, ``.db`` as exact polynomials).
* ``general_derivations()``: the general layer (stride, padding, dilation,
  batch): ``{"input" | "weight" | "bias": (steps, result, indices)}``.
* ``derivative_table()``: ``(name, LaTeX h, LaTeX h')`` for convlib's activations.
* ``evaluate(rhs, indices, rules, cfg, arrays, shape, alpha, symbolic=True)``: a
  formula (derived, seed or corrected) at every index of ``shape`` on given
  arrays (``x``, ``w``, ``b``, ``g``, ``u``), exactly as the checks evaluate it,
  with the formula's zero-padding ``rules``; an object array of SymPy values, or
  floats with ``symbolic=False``.  ``value_shape(fid, cfg)`` is the shape of a
  formula's left-hand side; ``section_arrays(section, arrays)`` gives the arrays
  as a section writes them (section 1: 2-D, scalar bias).

Modules: ``notation`` (symbols), ``geometry`` (configurations, grids),
``general_index`` (index-form derivations), ``general_layer`` (the general
layer), ``seed`` (the note, literally), ``concrete`` (forward over symbols,
``sympy.diff``), ``polynomial`` (exact comparison), ``lookup`` (zero rules,
undefined entries), ``numeric`` (lambdify: ``evaluate``), ``exhaustive`` and
``general_check`` (the checks), ``activations``, ``render``, ``generate``.
"""

from .activations import derivative_table
from .concrete import truth
from .exhaustive import first_mismatch, run_note_checks
from .general_index import FORMULAS, KINDS, Derivation, Step, derive, section_derivations
from .general_layer import general_derivations
from .geometry import Config, general_grid, note_grid
from .numeric import evaluate, section_arrays, value_shape
from .render import latex
from .seed import corrected, seed

__all__ = [
    "FORMULAS", "KINDS", "Config", "Derivation", "Step", "corrected", "derivative_table",
    "derive", "evaluate", "first_mismatch", "general_derivations", "general_grid", "latex",
    "note_grid", "run_note_checks", "section_arrays", "section_derivations", "seed", "truth",
    "value_shape",
]
