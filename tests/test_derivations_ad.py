"""AD check: the derived formulas, evaluated numerically (lambdify), against JAX and convlib.

For every configuration of the note's grids and of the general grid, random
float64 arrays go through (a) the derived formulas of ``derivations``, (b)
JAX's reverse-mode gradient (``jax.vjp``) of ``conv(tanh(u), w) + b`` and (c)
``convlib.conv2d_backward``.  The activation is tanh, so the backward formulas
include ``h'``.

Tolerance, per entry: ``(2.02 (K+1) + 8) u S`` with ``u = 2**-53``, ``K`` the
reduction length and ``S`` the same formula evaluated on absolute values (with
``h' = 1``): each side's recursive sum of ``K`` products is within
``1.01 (K+1) u S`` of the exact value, and ``8 u S`` covers tanh and ``h'``
differing by a few ulps between NumPy and XLA.

One XLA compilation per stride/dilation: each configuration is embedded in a
fixed larger shape with zero weights beyond its kernel and zero upstream
gradient beyond its outputs.  The extra products are exact zeros, so the
embedding changes no bit of any sum; ``test_embedding_is_exact`` compares it
with per-shape JAX calls.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import sympy as sp

import convlib
import derivations.numeric as ev
from convlib.activations import ACTIVATIONS
from derivations import evaluate, section_arrays, value_shape
from derivations.activations import ACTIVATION_EXPRS, derivative_table, numeric_derivative
from derivations.general_check import PADDING_RULE
from derivations.general_index import derive
from derivations.general_layer import general_derivations
from derivations.geometry import Config, general_grid, note_grid

jax.config.update("jax_enable_x64", True)
U = 2.0**-53
BIG = 16  # embedding size: covers every padded input plus a dilated 4-tap kernel
KBIG = 4


@functools.cache
def _jax_vjp(sh: int, sw: int, dh: int, dw: int):
    def forward(u, w, b):
        return jax.lax.conv_general_dilated(
            jnp.tanh(u), w, (sh, sw), "VALID", rhs_dilation=(dh, dw),
            dimension_numbers=("NHWC", "HWIO", "NHWC")) + b

    @jax.jit
    def grads(u, w, b, g):
        y, vjp = jax.vjp(forward, u, w, b)
        return (y,) + vjp(g)

    return grads


def jax_gradients(cfg: Config, u, w, b, g):
    """(y, du, dw, db) of conv(tanh(u), w) + b by jax.vjp, embedded in a fixed shape."""
    n = u.shape[0]
    ub = np.zeros((n, BIG, BIG, 3))
    ub[:, cfg.pt:cfg.pt + cfg.H, cfg.pl:cfg.pl + cfg.W, :cfg.C] = u  # padding: tanh(0) = 0
    wb = np.zeros((KBIG, KBIG, 3, 3))
    wb[:cfg.KH, :cfg.KW, :cfg.C, :cfg.F] = w
    bb = np.zeros(3)
    bb[:cfg.F] = b
    oh = (BIG - cfg.dh * (KBIG - 1) - 1) // cfg.sh + 1
    ow = (BIG - cfg.dw * (KBIG - 1) - 1) // cfg.sw + 1
    gb = np.zeros((n, oh, ow, 3))
    gb[:, :cfg.OH, :cfg.OW, :cfg.F] = g
    y, du, dw_, db = (np.asarray(t) for t in _jax_vjp(cfg.sh, cfg.sw, cfg.dh, cfg.dw)(ub, wb, bb, gb))
    return (y[:, :cfg.OH, :cfg.OW, :cfg.F],
            du[:, cfg.pt:cfg.pt + cfg.H, cfg.pl:cfg.pl + cfg.W, :cfg.C],
            dw_[:cfg.KH, :cfg.KW, :cfg.C, :cfg.F], db[:cfg.F])


def _arrays(cfg: Config):
    rng = np.random.default_rng([cfg.H, cfg.W, cfg.C, cfg.F, cfg.KH, cfg.KW, cfg.sh, cfg.sw,
                                 cfg.dh, cfg.dw, cfg.pt, cfg.pb, cfg.pl, cfg.pr, cfg.N])
    n = max(cfg.N, 1)
    return (rng.standard_normal((n, cfg.H, cfg.W, cfg.C)),
            rng.standard_normal((cfg.KH, cfg.KW, cfg.C, cfg.F)),
            rng.standard_normal(cfg.F), rng.standard_normal((n, cfg.OH, cfg.OW, cfg.F)))


def _numeric(rhs, indices, rules, cfg, arrays, shape, alpha, hprime=None):
    ev._NUMERIC_HPRIME["fn"] = hprime
    try:
        return evaluate(rhs, indices, rules, cfg, arrays, shape, alpha, symbolic=False)
    finally:
        ev._NUMERIC_HPRIME["fn"] = None


def _close(ours, ref, bound, what):
    ours, ref = np.asarray(ours, float), np.asarray(ref, float)
    assert ours.shape == ref.shape, what
    assert np.all(np.isfinite(ours)), f"{what}: an undefined entry was read"
    excess = np.abs(ours - ref) - bound
    assert np.all(excess <= 0), f"{what}: worst excess {excess.max():.3e}"


def _tanh_prime(v):
    return 1.0 - np.tanh(v) ** 2


def _section(cfg: Config) -> int:
    return 1 if cfg.C == cfg.F == 1 and cfg.sh == 1 and cfg in set(note_grid(1)) else (
        2 if cfg.sh == 1 else 3)


def check_note_config(cfg: Config, section: int) -> None:
    u4, w, b, g4 = _arrays(cfg)
    u, g = u4[0], g4[0]
    x = np.tanh(u)
    y_j, du_j, dw_j, db_j = (t[0] if t.ndim == 4 and k != 2 else t
                             for k, t in enumerate(jax_gradients(cfg, u4, w, b, g4)))
    dx_c, dw_c, db_c = convlib.conv2d_backward(g, x, w, stride=cfg.sh)
    du_c = dx_c * _tanh_prime(u)
    y_c = convlib.conv2d_forward(x, w, b, stride=cfg.sh)
    full = {"x": x, "w": w, "b": b, "g": g, "u": u}
    absolute = {"x": np.abs(x), "w": np.abs(w), "b": np.abs(b), "g": np.abs(g), "u": u}
    zero_w = dict(full, w=np.zeros_like(w))
    zero_b = dict(full, b=np.zeros_like(b))
    K = {"forward": cfg.KH * cfg.KW * cfg.C + 1, "backward": cfg.KH * cfg.KW * cfg.F,
         "weight_step": cfg.OH * cfg.OW, "bias_step": cfg.OH * cfg.OW}
    refs = {"forward": (y_j, y_c), "backward": (du_j, du_c), "weight_step": (dw_j, dw_c),
            "bias_step": (db_j, db_c)}
    for kind in ("forward", "backward", "weight_step", "bias_step"):
        fid = f"s{section}.{kind}"
        d = derive(fid)
        shape = value_shape(fid, cfg)
        use = {"weight_step": zero_w, "bias_step": zero_b}.get(kind, full)
        # the steps are evaluated with w (b) = 0 and alpha = -1: the value is the gradient, exactly
        ours = _numeric(d.result, d.indices, (), cfg, section_arrays(section, use), shape, -1.0,
                        _tanh_prime)
        size = _numeric(d.result, d.indices, (), cfg,
                        section_arrays(section, dict(absolute, w=use["w"] * 0 + absolute["w"]
                                                     if kind != "weight_step" else 0 * w,
                                                     b=absolute["b"] if kind != "bias_step"
                                                     else 0 * b)),
                        shape, -1.0, None)
        bound = (2.02 * (K[kind] + 1) + 8) * U * np.abs(size)
        for ref, who in zip(refs[kind], ("jax", "convlib"), strict=True):
            ref = np.asarray(ref)
            if section == 1:
                ref = {"forward": lambda r: r[:, :, 0], "backward": lambda r: r[:, :, 0],
                       "weight_step": lambda r: r[:, :, 0, 0],
                       "bias_step": lambda r: r[0]}[kind](ref)
            _close(ours, ref, bound, f"{fid} vs {who} on {cfg.label()}")


NOTE_CASES = [(sec, cfg) for sec in (1, 2, 3) for cfg in note_grid(sec)]


@pytest.mark.parametrize("section", [1, 2, 3])
def test_derived_formulas_agree_with_jax_and_convlib_on_the_whole_grid(section):
    for cfg in note_grid(section):
        check_note_config(cfg, section)


def test_general_layer_agrees_with_jax_and_convlib_on_the_whole_grid():
    derivations = general_derivations()
    for cfg in general_grid():
        u, w, b, g = _arrays(cfg)
        x = np.tanh(u)
        _, du_j, dw_j, db_j = jax_gradients(cfg, u, w, b, g)
        kwargs = dict(stride=(cfg.sh, cfg.sw), padding=((cfg.pt, cfg.pb), (cfg.pl, cfg.pr)),
                      dilation=(cfg.dh, cfg.dw))
        xs, gs = (x, g) if cfg.N else (x[0], g[0])
        dx_c, dw_c, db_c = convlib.conv2d_backward(gs, xs, w, **kwargs)
        du_c = (dx_c if cfg.N else dx_c[None]) * _tanh_prime(u)
        arrays = {"x": x, "w": w, "b": b, "g": g, "u": u}
        absolute = {"x": np.abs(x), "w": np.abs(w), "b": np.abs(b), "g": np.abs(g), "u": u}
        K = {"input": cfg.KH * cfg.KW * cfg.F, "weight": max(cfg.N, 1) * cfg.OH * cfg.OW,
             "bias": max(cfg.N, 1) * cfg.OH * cfg.OW}
        for name, refs in (("input", (du_j, du_c)), ("weight", (dw_j, dw_c)),
                           ("bias", (db_j, db_c))):
            _, expr, indices = derivations[name]
            shape = refs[0].shape
            hp = _tanh_prime if name == "input" else None
            if name == "input":
                from derivations.notation import hprime
                from derivations.notation import u as ubase
                expr = hprime(ubase[indices]) * expr
            ours = _numeric(expr, indices, PADDING_RULE, cfg, arrays, shape, 1.0, hp)
            size = _numeric(expr, indices, PADDING_RULE, cfg, absolute, shape, 1.0, None)
            bound = (2.02 * (K[name] + 1) + 8) * U * np.abs(size)
            for ref, who in zip(refs, ("jax", "convlib"), strict=True):
                _close(ours, ref, bound, f"general {name} vs {who} on {cfg.label()}")


EMBEDDING_CASES = [
    Config(5, 4, 2, 3, 3, 2, sh=2, sw=2),
    Config(4, 6, 3, 1, 2, 4, sh=3, sw=3),
    Config(6, 5, 2, 2, 3, 2, sh=2, sw=1, dh=2, dw=1, pt=1, pb=0, pl=0, pr=2, N=2),
]


@pytest.mark.parametrize("cfg", EMBEDDING_CASES)
def test_embedding_is_exact(cfg):
    u, w, b, g = _arrays(cfg)

    def forward(u, w, b):
        return jax.lax.conv_general_dilated(
            jnp.tanh(u), w, (cfg.sh, cfg.sw), [(cfg.pt, cfg.pb), (cfg.pl, cfg.pr)],
            rhs_dilation=(cfg.dh, cfg.dw), dimension_numbers=("NHWC", "HWIO", "NHWC")) + b

    y, vjp = jax.vjp(forward, u, w, b)
    direct = (y,) + vjp(g)
    embedded = jax_gradients(cfg, u, w, b, g)
    for a, e in zip(direct, embedded, strict=True):
        # not bitwise: XLA may order a sum differently for another shape; the rounding bound
        # of one sum of at most 64 products covers it
        np.testing.assert_allclose(np.asarray(e), np.asarray(a), rtol=0, atol=1e-13)


def test_activation_derivatives_derived_by_sympy_match_convlib():
    rows = derivative_table()
    assert [r[0] for r in rows] == list(ACTIVATION_EXPRS)
    assert set(ACTIVATIONS) <= set(ACTIVATION_EXPRS), "convlib offers an activation not derived"
    y = np.linspace(-6, 6, 241)  # includes 0, where relu's convention h'(0) = 0 matters
    for name in ACTIVATION_EXPRS:
        ours = np.broadcast_to(numeric_derivative(name)(y), y.shape)
        theirs = ACTIVATIONS[name].derivative(y)
        # h' <= 1 computed from a few correctly rounded operations on each side
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=8 * U, err_msg=name)


def test_relu_derivative_convention_at_zero():
    assert numeric_derivative("relu")(np.array(0.0)) == ACTIVATIONS["relu"].derivative(np.array([0.0]))[0]
    assert sp.diff(ACTIVATION_EXPRS["tanh"], sp.Symbol("y", real=True)).has(sp.tanh)
