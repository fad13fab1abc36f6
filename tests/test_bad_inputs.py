# ruff: noqa: E501  (one case per line: the tables read better unwrapped)
"""Bad input gets a ValueError or TypeError whose message names the offending values.

Every case of VERIFICATION.md's list goes through conv2d_forward, conv2d_backward and
the Conv2D layer wherever it applies.  Never an IndexError, AssertionError or a silent
result: a hypothesis fuzz test feeds arbitrary shapes and hyper-parameters and accepts
only a correct result or a ValueError/TypeError.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from convlib import Conv2D, conv2d_backward, conv2d_forward
from convlib.checks import resolve

RNG = np.random.default_rng(0)
X = RNG.standard_normal((2, 6, 5, 3))  # (N, H, W, C)
W = RNG.standard_normal((3, 2, 3, 4))  # (KH, KW, C, F)
B = RNG.standard_normal(4)
DY = RNG.standard_normal((2, 4, 4, 4))  # (N, OH, OW, F) at stride 1, padding 0


def _forward(x=X, w=W, b=B, **conv):
    return conv2d_forward(x, w, b, **conv)


def _backward(x=X, w=W, b=B, dy=DY, **conv):
    return conv2d_backward(dy, x, w, **conv)


def _layer(x=X, w=W, b=B, **conv):
    return Conv2D(w, b, **conv).forward(x)


ENTRY_POINTS = {"forward": _forward, "backward": _backward, "Conv2D": _layer}

# (id, arguments, error, message pattern); every case through every entry point.
CASES = [
    # shapes
    (
        "input 2-D",
        {"x": np.ones((6, 5))},
        ValueError,
        r"input must be 3-D .* or 4-D .*got 2-D with shape \(6, 5\)",
    ),
    ("input 5-D", {"x": np.ones((1, 2, 6, 5, 3))}, ValueError, r"got 5-D with shape \(1, 2, 6, 5, 3\)"),
    ("input 0-D", {"x": np.float64(1.0)}, ValueError, r"got 0-D with shape \(\)"),
    (
        "weight 3-D",
        {"w": np.ones((3, 2, 3))},
        ValueError,
        r"weight must be 4-D .*got 3-D with shape \(3, 2, 3\)",
    ),
    (
        "weight 5-D",
        {"w": np.ones((3, 2, 3, 4, 1))},
        ValueError,
        r"weight must be 4-D .*shape \(3, 2, 3, 4, 1\)",
    ),
    (
        "weight zero-sized",
        {"w": np.ones((0, 2, 3, 4))},
        ValueError,
        r"zero-sized dimension, got shape \(0, 2, 3, 4\)",
    ),
    (
        "channel mismatch",
        {"x": np.ones((2, 6, 5, 10))},
        ValueError,
        r"weight expects 3 input channels \(shape \(3, 2, 3, 4\)\), got input with 10 channels",
    ),
    (
        "kernel taller than input",
        {"x": np.ones((2, 2, 5, 3))},
        ValueError,
        r"kernel height 3 \(dilation 1, spanning 3\) is larger than the padded input height 2 \(2 \+ padding 0 \+ 0\)",
    ),
    (
        "kernel wider than padded input",
        {"x": np.ones((2, 6, 1, 3)), "w": np.ones((3, 4, 3, 4)), "padding": ((0, 0), (1, 1))},
        ValueError,
        r"kernel width 4 \(dilation 1, spanning 4\) is larger than the padded input width 3 \(1 \+ padding 1 \+ 1\)",
    ),
    (
        "dilated kernel larger than input",
        {"x": np.ones((2, 4, 5, 3)), "dilation": 2},
        ValueError,
        r"kernel height 3 \(dilation 2, spanning 5\) is larger than the padded input height 4",
    ),
    # hyper-parameters
    ("stride 0", {"stride": 0}, ValueError, r"stride must be >= 1, got 0"),
    ("stride -1", {"stride": (1, -1)}, ValueError, r"stride must be >= 1, got \(1, -1\)"),
    ("dilation 0", {"dilation": 0}, ValueError, r"dilation must be >= 1, got 0"),
    ("negative padding", {"padding": -1}, ValueError, r"padding must be >= 0, got -1"),
    (
        "negative padding pair",
        {"padding": ((0, 0), (2, -1))},
        ValueError,
        r"padding must be >= 0, got \(2, -1\)",
    ),
    ("stride of length 3", {"stride": (1, 2, 3)}, ValueError, r"stride .* length 3: \(1, 2, 3\)"),
    ("dilation of length 1", {"dilation": (2,)}, ValueError, r"dilation .* length 1: \(2,\)"),
    ("padding of length 3", {"padding": (1, 1, 1)}, ValueError, r"padding .* length 3: \(1, 1, 1\)"),
    ("padding mixing ints and pairs", {"padding": ((1, 1), 2)}, ValueError, r"padding mixes ints and pairs"),
    ("float stride", {"stride": 1.5}, TypeError, r"stride must be an int or a pair of ints, got 1.5"),
    ("integral float stride", {"stride": 2.0}, TypeError, r"stride .* got 2.0 \(an entry of type float\)"),
    ("bool stride", {"stride": True}, TypeError, r"stride .* got True \(an entry of type bool\)"),
    ("bool in stride pair", {"stride": (1, False)}, TypeError, r"stride .* type bool"),
    ("numpy float dilation", {"dilation": np.float64(2)}, TypeError, r"dilation .* type float64"),
    ("bool padding", {"padding": False}, TypeError, r"padding .* got False \(an entry of type bool\)"),
    ("float padding", {"padding": 0.5}, TypeError, r"padding .* got 0.5"),
    ("string stride", {"stride": "2"}, TypeError, r"stride .* type str"),
    ("None stride", {"stride": None}, TypeError, r"stride .* type NoneType"),
    (
        "unknown padding string",
        {"padding": "full"},
        ValueError,
        r"padding must be 'valid' or 'same'.*got 'full'",
    ),
    # dtypes and objects
    ("complex input", {"x": X + 1j}, TypeError, r"input has dtype complex128; expected float32 or float64"),
    ("bool input", {"x": X > 0}, TypeError, r"input has dtype bool"),
    ("object input", {"x": X.astype(object)}, TypeError, r"input has dtype object"),
    ("string array input", {"x": np.full(X.shape, "a")}, TypeError, r"input has dtype <U1"),
    ("string input", {"x": "x"}, TypeError, r"input must be an array of real numbers, got a str"),
    ("None input", {"x": None}, TypeError, r"input must be an array of real numbers, got None"),
    ("ragged input", {"x": [[1.0, 2.0], [3.0]]}, TypeError, r"input could not be read as an array"),
    ("complex weight", {"w": W.astype(np.complex64)}, TypeError, r"weight has dtype complex64"),
    ("bool weight", {"w": W > 0}, TypeError, r"weight has dtype bool"),
    ("None weight", {"w": None}, TypeError, r"weight must be an array of real numbers, got None"),
    ("long double weight", {"w": W.astype(np.longdouble)}, TypeError, r"weight has dtype float128"),
]

BIAS_CASES = [
    (
        "bias (3,)",
        {"b": np.ones(3)},
        ValueError,
        r"bias must have shape \(4,\) to match the weight's F=4, got \(3,\)",
    ),
    ("bias (4, 1)", {"b": np.ones((4, 1))}, ValueError, r"bias must have shape \(4,\) .* got \(4, 1\)"),
    ("bias scalar", {"b": 1.0}, ValueError, r"bias must have shape \(4,\) .* got \(\)"),
    ("complex bias", {"b": B + 0j}, TypeError, r"bias has dtype complex128"),
    ("bool bias", {"b": B > 0}, TypeError, r"bias has dtype bool"),
    ("string bias", {"b": "0"}, TypeError, r"bias must be an array of real numbers, got a str"),
]

DY_CASES = [
    ("dy wrong width", {"dy": np.ones((2, 4, 3, 4))}, ValueError, r"dy must have the forward output's shape \(2, 4, 4, 4\), got \(2, 4, 3, 4\)"),
    ("dy unbatched for batched x", {"dy": np.ones((4, 4, 4))}, ValueError, r"shape \(2, 4, 4, 4\), got \(4, 4, 4\)"),
    ("dy batched for unbatched x", {"x": X[0], "dy": DY[:1]}, ValueError, r"shape \(4, 4, 4\), got \(1, 4, 4, 4\)"),
    ("dy at stride 1 for stride 2", {"stride": 2}, ValueError, r"shape \(2, 2, 2, 4\), got \(2, 4, 4, 4\)"),
    ("dy complex", {"dy": DY + 1j}, TypeError, r"dy has dtype complex128"),
    ("dy object", {"dy": DY.astype(object)}, TypeError, r"dy has dtype object"),
    ("dy None", {"dy": None}, TypeError, r"dy must be an array of real numbers, got None"),
]  # fmt: skip


def _ids(cases):
    return [c[0] for c in cases]


@pytest.mark.parametrize("entry", list(ENTRY_POINTS))
@pytest.mark.parametrize(("label", "kwargs", "error", "match"), CASES, ids=_ids(CASES))
def test_bad_input_is_named(entry, label, kwargs, error, match):
    with pytest.raises(error, match=match):
        ENTRY_POINTS[entry](**kwargs)


@pytest.mark.parametrize("entry", ["forward", "Conv2D"])
@pytest.mark.parametrize(("label", "kwargs", "error", "match"), BIAS_CASES, ids=_ids(BIAS_CASES))
def test_bad_bias_is_named(entry, label, kwargs, error, match):
    with pytest.raises(error, match=match):
        ENTRY_POINTS[entry](**kwargs)


@pytest.mark.parametrize(("label", "kwargs", "error", "match"), DY_CASES, ids=_ids(DY_CASES))
def test_bad_dy_is_named(label, kwargs, error, match):
    with pytest.raises(error, match=match):
        _backward(**kwargs)


def test_layer_backward_checks_the_gradient_shape():
    layer = Conv2D(W, B)
    layer.forward(X)
    with pytest.raises(
        ValueError, match=r"grad must have the layer output's shape \(2, 4, 4, 4\), got \(2, 4, 4, 3\)"
    ):
        layer.backward(np.ones((2, 4, 4, 3)))
    with pytest.raises(TypeError, match=r"grad has dtype complex128"):
        layer.backward(DY + 1j)


@pytest.mark.parametrize(
    ("lr", "error", "match"),
    [
        (-0.1, ValueError, r"learning rate must be finite and >= 0, got -0.1"),
        (-1, ValueError, r"got -1"),
        (float("nan"), ValueError, r"got nan"),
        (float("inf"), ValueError, r"got inf"),
        (np.float64(-np.inf), ValueError, r"got -inf"),
        ("0.1", TypeError, r"learning rate must be a real number, got '0.1' \(str\)"),
        (None, TypeError, r"got None \(NoneType\)"),
        (True, TypeError, r"got True \(bool\)"),
        (0.1 + 0j, TypeError, r"\(complex\)"),
    ],
)
def test_bad_learning_rate_is_named(lr, error, match):
    layer = Conv2D(W, B)
    layer.forward(X)
    layer.backward(DY)
    w, b = layer.w.copy(), layer.b.copy()
    with pytest.raises(error, match=match):
        layer.step(lr)
    assert np.array_equal(layer.w, w) and np.array_equal(layer.b, b)  # nothing half-done


def test_layer_order_errors():
    layer = Conv2D(W, B)
    with pytest.raises(RuntimeError, match="backward called before forward"):
        layer.backward(DY)
    with pytest.raises(RuntimeError, match="step called before backward"):
        layer.step(0.1)


@pytest.mark.parametrize(
    ("activation", "error", "match"),
    [
        ("gelu", ValueError, r"unknown activation 'gelu'; choose one of \['identity', "),
        (3, TypeError, r"got int"),
    ],
)
def test_unknown_activation_is_named(activation, error, match):
    with pytest.raises(error, match=match):
        Conv2D(W, B, activation=activation)


# --------------------------------------------------------------------------- fuzz

shapes = st.lists(st.integers(0, 4), min_size=0, max_size=5).map(tuple)


@st.composite
def shape_triples(draw):
    """(x, w, dy) shapes: arbitrary, or coherent (matching channels, dy maybe right) so
    that many draws are valid geometries and the success path is fuzzed as well."""
    if draw(st.booleans()):
        return draw(shapes), draw(shapes), draw(shapes)
    N, H, W, C = draw(st.tuples(st.integers(0, 2), st.integers(0, 6), st.integers(0, 6), st.integers(1, 3)))
    KH, KW, F = draw(st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(1, 3)))
    x_shape = (H, W, C) if draw(st.booleans()) else (N, H, W, C)
    return x_shape, (KH, KW, C, F), draw(shapes)


params = st.one_of(
    st.integers(-1, 3),
    st.tuples(st.integers(-1, 3), st.integers(-1, 3)),
    st.sampled_from([True, 1.0, None, "same", "valid", "x", (1,), ((1, 0), (0, 1)), ((1, 2), 1)]),
)


@settings(max_examples=300)
@given(shape_triples(), params, params, params, st.booleans())
def test_fuzz_only_value_or_type_errors(shapes3, stride, padding, dilation, right_dy):
    x_shape, w_shape, dy_shape = shapes3
    x, w = np.ones(x_shape), np.ones(w_shape)
    conv = {"stride": stride, "padding": padding, "dilation": dilation}
    try:
        _, unbatched, geom = resolve(x, w, stride, padding, dilation)
    except (ValueError, TypeError):
        # resolve is the gate; the public functions must refuse the same arguments.
        with pytest.raises((ValueError, TypeError)):
            conv2d_forward(x, w, **conv)
        with pytest.raises((ValueError, TypeError)):
            conv2d_backward(np.ones(dy_shape), x, w, **conv)
        return
    y = conv2d_forward(x, w, **conv)
    event("valid geometry")
    if right_dy:
        dy_shape = y.shape
    assert y.shape == (geom.out_shape[1:] if unbatched else geom.out_shape)
    try:
        dx, dw, db = conv2d_backward(np.ones(dy_shape), x, w, **conv)
    except ValueError as exc:
        assert dy_shape != y.shape and str(y.shape) in str(exc)
    else:
        assert (
            dy_shape == y.shape and dx.shape == x.shape and dw.shape == w.shape and db.shape == (w.shape[3],)
        )
