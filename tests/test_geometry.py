"""The integer helpers of convlib.geometry, against enumeration and against JAX's own rules."""

from __future__ import annotations

import doctest

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from jax import lax

import convlib.conv
import convlib.geometry
import convlib.layer
import convlib.phases
from convlib.geometry import (
    dilated_size,
    normalize_padding,
    normalize_pair,
    output_size,
    same_padding,
    unread_tail,
)


@pytest.mark.parametrize("module", [convlib.geometry, convlib.conv, convlib.layer, convlib.phases])
def test_doctests(module):
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0, f"{module.__name__} has no doctests to run"
    assert result.failed == 0


def _window_starts(size, kernel, stride, dilation, lo, hi):
    """Every window start 0, s, 2s, ... whose dilated span fits in the padded input."""
    padded = size + lo + hi
    return [t for t in range(0, padded, stride) if t + dilation * (kernel - 1) <= padded - 1]


axis = st.tuples(
    st.integers(0, 30),  # size
    st.integers(1, 7),  # kernel
    st.integers(1, 5),  # stride
    st.integers(1, 4),  # dilation
    st.integers(0, 4),  # pad_lo
    st.integers(0, 4),  # pad_hi
)


@given(axis)
def test_output_size_counts_the_windows(args):
    starts = _window_starts(*args)
    assert output_size(*args) == (len(starts) if starts else -1)


@given(axis)
def test_unread_tail_is_what_the_last_window_leaves(args):
    size, kernel, stride, dilation, lo, hi = args
    starts = _window_starts(*args)
    if not starts:
        assert unread_tail(*args) == 0
        return
    last_read = starts[-1] + dilation * (kernel - 1)
    assert unread_tail(*args) == size + lo + hi - 1 - last_read


@pytest.mark.parametrize(
    ("args", "tail"),
    [
        ((8, 3, 2, 1, 0, 0), 1),  # windows 0..6
        ((7, 3, 2, 1, 0, 0), 0),
        ((9, 2, 3, 1, 0, 0), 1),  # kernel smaller than stride: starts 0, 3, 6
        ((10, 5, 2, 1, 0, 0), 1),
        ((9, 3, 2, 2, 0, 0), 0),  # span 5: starts 0, 2, 4
        ((10, 3, 2, 2, 0, 0), 1),
    ],
)
def test_unread_tail_examples(args, tail):
    assert unread_tail(*args) == tail


def test_dilated_size():
    assert [dilated_size(k, 1) for k in (1, 2, 5)] == [1, 2, 5]
    assert [dilated_size(3, d) for d in (1, 2, 3)] == [3, 5, 7]
    assert dilated_size(1, 7) == 1


@given(st.integers(1, 40), st.integers(1, 8), st.integers(1, 5), st.integers(1, 3))
def test_same_padding_matches_jax(size, kernel, stride, dilation):
    lo, hi = same_padding(size, kernel, stride, dilation)
    # JAX's own rule for 'SAME' (lax.padtype_to_pads), given the dilated window.
    ((jlo, jhi),) = lax.padtype_to_pads((size,), (dilated_size(kernel, dilation),), (stride,), "SAME")
    assert (lo, hi) == (jlo, jhi)
    assert 0 <= hi - lo <= 1  # an odd total puts the extra row at the end
    assert output_size(size, kernel, stride, dilation, lo, hi) == -(-size // stride)


@pytest.mark.parametrize(
    ("hw", "k", "s", "d"),
    [((7, 6), (4, 3), (2, 2), (1, 1)), ((5, 6), (2, 4), (1, 1), (1, 1)), ((9, 4), (3, 2), (2, 3), (2, 1))],
)
def test_same_output_shape_matches_jax(hw, k, s, d):
    pad = normalize_padding("same", hw, k, s, d)
    out = [output_size(hw[a], k[a], s[a], d[a], *pad[a]) for a in range(2)]
    shape = lax.conv_general_dilated(
        np.zeros((1, *hw, 1)), np.zeros((*k, 1, 1)), s, "SAME", rhs_dilation=d,
        dimension_numbers=("NHWC", "HWIO", "NHWC"),
    ).shape  # fmt: skip
    assert tuple(out) == shape[1:3]


def test_same_odd_total_puts_the_extra_row_last():
    assert same_padding(6, 4, 1, 1) == (1, 2)
    assert same_padding(5, 2, 1, 1) == (0, 1)


@pytest.mark.parametrize(
    ("value", "expected"),
    [(2, (2, 2)), ((1, 3), (1, 3)), ([3, 1], (3, 1)), (np.int64(2), (2, 2)), ((np.int32(1), 2), (1, 2))],
)
def test_normalize_pair_accepts(value, expected):
    result = normalize_pair(value, "stride", minimum=1)
    assert result == expected
    assert all(type(v) is int for v in result)


@pytest.mark.parametrize(
    ("value", "error", "match"),
    [
        (0, ValueError, r"stride must be >= 1, got 0"),
        ((1, 0), ValueError, r"stride must be >= 1, got \(1, 0\)"),
        ((1, 2, 3), ValueError, r"length 3: \(1, 2, 3\)"),
        ((), ValueError, r"length 0"),
        (True, TypeError, r"got True \(an entry of type bool\)"),
        ((1, False), TypeError, r"type bool"),
        (1.0, TypeError, r"got 1.0 \(an entry of type float\)"),
        ("2", TypeError, r"type str"),
        (None, TypeError, r"type NoneType"),
    ],
)
def test_normalize_pair_rejects(value, error, match):
    with pytest.raises(error, match=match):
        normalize_pair(value, "stride", minimum=1)


_GEOM = ((7, 6), (4, 3), (2, 1), (1, 1))


@pytest.mark.parametrize(
    ("padding", "expected"),
    [
        (0, ((0, 0), (0, 0))),
        (2, ((2, 2), (2, 2))),
        ((1, 3), ((1, 1), (3, 3))),
        (((2, 0), (1, 3)), ((2, 0), (1, 3))),
        ([[2, 0], [1, 3]], ((2, 0), (1, 3))),
        ("valid", ((0, 0), (0, 0))),
        ("VALID", ((0, 0), (0, 0))),
        # 'same': height ceil(7/2)=4 outputs need 3*2+4=10 rows, 3 padded (1 top, 2 bottom);
        # width 6 outputs at stride 1 with K=3 need 8 columns, 2 padded.
        ("same", ((1, 2), (1, 1))),
        ("SAME", ((1, 2), (1, 1))),
    ],
)
def test_normalize_padding_forms(padding, expected):
    assert normalize_padding(padding, *_GEOM) == expected


@pytest.mark.parametrize(
    ("padding", "error", "match"),
    [
        (-1, ValueError, r"padding must be >= 0, got -1"),
        (((0, -2), (1, 1)), ValueError, r"padding must be >= 0, got \(0, -2\)"),
        ((1, 2, 3), ValueError, r"length 3: \(1, 2, 3\)"),
        (((1, 2), 3), ValueError, r"mixes ints and pairs"),
        (((1, 2, 3), (1, 1)), ValueError, r"length 3"),
        ("full", ValueError, r"'valid' or 'same' .* got 'full'"),
        (1.5, TypeError, r"got 1.5"),
        (True, TypeError, r"type bool"),
        (None, TypeError, r"type NoneType"),
    ],
)
def test_normalize_padding_rejects(padding, error, match):
    with pytest.raises(error, match=match):
        normalize_padding(padding, *_GEOM)
