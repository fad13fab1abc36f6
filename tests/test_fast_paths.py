"""The fast paths of convlib.conv (issue 5) against the loop reference.

What is fast and could go wrong:

- :func:`convlib.im2col.window_view` (all windows as one strided view),
  :class:`convlib.im2col.Windows` (the windows of a zero-padded array, each block
  padding only the strip of rows it reads) and :func:`convlib.im2col.im2col_blocks`
  (im2col a cache-sized block at a time, the blocks being several whole samples or
  some rows of one sample);
- :mod:`convlib.phases`, the stride-phase split of the input gradient (pure integers);
- the three passes built on them, run with the default block size and with tiny
  blocks, so that both kinds of block (and many of them) are exercised on small arrays.

Witness: ``convlib.reference.s3_*``.  Integer-valued float64 inputs (|v| <= 8) make
every partial sum exact, so the results must be bitwise equal; standard-normal
float64 and float32 inputs must be within the rounding bounds of convlib.bounds.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from conftest import assert_bitwise, assert_within, integer_arrays, resolved

import convlib.im2col as im2col_module
import convlib.parallel as parallel_module
from convlib import conv2d_backward, conv2d_forward, reference
from convlib.bounds import backward_bounds, forward_bound
from convlib.im2col import Windows, im2col, im2col_blocks, input_windows, pad_input, window_view
from convlib.phases import axis_phases, dy_padding

# --------------------------------------------------------------------------- the phase identity (integers)

AXIS_CASES = [
    case
    for case in itertools.product(
        range(1, 12),  # input size
        range(1, 6),  # kernel
        range(1, 4),  # stride
        range(1, 3),  # dilation
        range(0, 3),  # padding before
        range(0, 3),  # padding after
    )
    if case[0] + case[4] + case[5] >= case[3] * (case[1] - 1) + 1  # the dilated kernel fits
]


@pytest.mark.parametrize("size, kernel, stride, dilation, lo, hi", AXIS_CASES[::7])
def test_axis_phases_reproduce_every_tap_pairing(size, kernel, stride, dilation, lo, hi):
    """Per input row, the (tap, output) pairs of its phase are exactly those with
    ``o*s + a*d = i + lo`` and ``0 <= o < n_out`` once dy's zero padding is cut away."""
    span = size + lo + hi - dilation * (kernel - 1) - 1
    n_out = span // stride + 1
    phases = axis_phases(size, kernel, stride, dilation, lo)
    assert [p.rho for p in phases] == list(range(stride))
    assert sum(p.count for p in phases) == size  # the phases partition the rows
    pad_lo, pad_hi = dy_padding(phases, n_out)
    for i in range(size):
        p = phases[i % stride]
        q = i // stride
        pairs = {(p.taps[-1 - j], p.start + q + j * p.step) for j in range(len(p.taps))}
        for _, o in pairs:
            assert -pad_lo <= o < n_out + pad_hi, "a phase reads outside the padded dy"
        in_range = {(a, o) for a, o in pairs if 0 <= o < n_out}
        expected = {
            (a, (i + lo - a * dilation) // stride)
            for a in range(kernel)
            if (i + lo - a * dilation) % stride == 0 and 0 <= (i + lo - a * dilation) // stride < n_out
        }
        assert in_range == expected, f"row {i}"
        # Out-of-range pairs only ever meet the zero padding: they are the same taps.
        assert {a for a, _ in pairs} == {a for a in range(kernel) if (i + lo - a * dilation) % stride == 0}


def test_axis_phases_doc_example_and_empty_phase():
    # K=3, s=2: even rows get taps 2 and 0, odd rows tap 1 (the stride does not divide K).
    even, odd = axis_phases(7, 3, 2, 1, 0)
    assert (even.taps, even.count, odd.taps, odd.count) == ((0, 2), 4, (1,), 3)
    # K=2 < s=3: rows 2, 5 are read by no window, their phase has no tap.
    assert axis_phases(8, 2, 3, 1, 0)[2].taps == ()
    # dilation 2 with stride 2 (g = 2): taps of a phase are 1 apart, t steps by d/g = 1.
    assert [(p.taps, p.step) for p in axis_phases(9, 3, 2, 2, 0)] == [((0, 1, 2), 1), ((), 1)]


# --------------------------------------------------------------------------- windows and blocks


@pytest.mark.parametrize(
    "shape, start, out, stride, kernel, dilation",
    [
        ((2, 9, 8, 3), (0, 0), (4, 3), (2, 3), (3, 2), (1, 1)),
        ((1, 11, 12, 2), (1, 2), (3, 2), (2, 2), (3, 2), (2, 3)),
        ((3, 5, 5, 1), (0, 0), (5, 5), (1, 1), (1, 1), (1, 1)),
    ],
)
def test_window_view_is_the_indexing_formula(shape, start, out, stride, kernel, dilation):
    a = np.arange(np.prod(shape), dtype=np.float64).reshape(shape)
    view = window_view(a, start, out, stride, kernel, dilation)
    assert view.shape == (shape[0], *out, *kernel, shape[3])
    for n, i, j, p, q in itertools.product(range(shape[0]), *map(range, out), *map(range, kernel)):
        r = start[0] + i * stride[0] + p * dilation[0]
        c = start[1] + j * stride[1] + q * dilation[1]
        assert np.array_equal(view[n, i, j, p, q], a[n, r, c])


def test_window_view_rejects_windows_outside_the_array():
    with pytest.raises(ValueError, match="do not fit"):
        window_view(np.zeros((1, 5, 5, 1)), (0, 0), (3, 3), (2, 2), (3, 3), (1, 1))


@pytest.mark.parametrize("block_bytes", [1, 200, 2000, 10**9])
def test_im2col_blocks_cover_im2col_once_in_order(block_bytes):
    """Row blocks (1 and 200 bytes), several samples per block (2000) and one block,
    from the unpadded input: each equals the rows of the textbook im2col of the padded one."""
    x4 = np.arange(3 * 7 * 6 * 2, dtype=np.float64).reshape(3, 7, 6, 2)
    g = resolved(x4.shape, (3, 2, 2, 1), stride=(2, 1), padding=1)
    full = im2col(pad_input(x4, g, np.float64), g).reshape(g.N, g.OH, g.OW, -1)  # (N, OH, OW, KH*KW*C)
    seen = np.zeros((g.N, g.OH), int)
    for ns, rs, cols in im2col_blocks(input_windows(x4, g, np.float64), block_bytes):
        assert cols.flags.c_contiguous
        assert np.array_equal(cols, full[ns, rs].reshape(-1, full.shape[-1]))
        seen[ns, rs] += 1
    assert np.all(seen == 1)


WINDOW_CASES = [  # (N, H, W, C), first, out, stride, kernel, dilation
    ((2, 6, 5, 3), (-1, -1), (6, 5), (1, 1), (3, 3), (1, 1)),  # 'same' padding, stride 1
    ((1, 7, 9, 2), (-2, -1), (4, 5), (2, 2), (3, 3), (1, 2)),  # padding, stride, dilation
    ((2, 5, 5, 1), (0, 0), (3, 3), (1, 1), (3, 3), (1, 1)),  # no padding: reads `a` itself
    ((1, 4, 4, 2), (-3, 2), (3, 2), (1, 1), (2, 2), (1, 1)),  # whole windows in the zeros, and a shift
    ((2, 3, 4, 1), (-4, -5), (2, 3), (3, 1), (1, 2), (1, 4)),  # rows entirely outside `a`
]


@pytest.mark.parametrize("shape, first, out, stride, kernel, dilation", WINDOW_CASES)
@pytest.mark.parametrize("block_bytes", [1, 100, 10**9])
def test_windows_equal_the_view_of_the_zero_padded_array(shape, first, out, stride, kernel, dilation,
                                                         block_bytes):  # fmt: skip
    """Windows.block is window_view of `a` padded with enough zeros (built here the slow,
    obvious way), block by block, in the requested dtype, and `a` is never written."""
    rng = np.random.default_rng(3)
    a = rng.standard_normal(shape).astype(np.float32)
    before = a.copy()
    (r0, c0), OH = first, out[0]
    pad = 10  # more than any case reaches
    big = np.zeros((shape[0], shape[1] + 2 * pad, shape[2] + 2 * pad, shape[3]), np.float64)
    big[:, pad : pad + shape[1], pad : pad + shape[2]] = a
    want = window_view(big, (pad + r0, pad + c0), out, stride, kernel, dilation)  # (N, OH, OW, KH, KW, C)
    source = Windows(a, first, out, stride, kernel, dilation, np.dtype(np.float64))
    assert source.shape == want.shape and source.nbytes == want.size * 8
    seen = np.zeros((shape[0], OH), int)
    for ns, rs, cols in im2col_blocks(source, block_bytes):
        assert cols.dtype == np.float64 and cols.flags.c_contiguous
        assert np.array_equal(cols, want[ns, rs].reshape(cols.shape))
        seen[ns, rs] += 1
    assert np.all(seen == 1)
    assert_bitwise(a, before, "a unchanged")


# --------------------------------------------------------------------------- the passes against the loops

# (N, H, W, C, F, KH, KW, stride, padding, dilation): stride 1..3, dilation 1..2, K 1..5,
# asymmetric everything, 'same', N = 0 and None (unbatched).
GEOMETRIES = [
    (2, 7, 7, 2, 3, 3, 3, 1, 1, 1),
    (2, 8, 7, 2, 2, 3, 3, 2, 1, 1),
    (1, 10, 9, 1, 2, 5, 5, 2, 0, 1),
    (2, 9, 9, 2, 2, 5, 4, 3, 2, 1),
    (2, 8, 8, 2, 2, 2, 2, 3, 0, 1),
    (1, 8, 9, 2, 2, 3, 2, (2, 3), 0, 1),
    (1, 7, 10, 2, 3, 2, 3, (1, 3), ((2, 0), (1, 3)), 1),
    (2, 5, 6, 3, 4, 1, 1, 2, 0, 1),
    (1, 9, 8, 2, 2, 3, 2, 1, 0, 2),
    (1, 11, 12, 2, 2, 3, 2, 2, 1, (2, 3)),
    (2, 10, 10, 1, 2, 3, 3, 3, 2, 2),
    (1, 9, 11, 2, 2, 4, 2, 2, "same", (2, 1)),
    (2, 7, 6, 2, 3, 4, 3, 2, "same", 1),
    (1, 5, 6, 1, 2, 2, 4, 1, "same", 1),
    (1, 6, 5, 2, 2, 3, 2, 1, "valid", 1),
    (2, 4, 3, 2, 3, 6, 5, 1, 1, 1),
    (1, 3, 3, 2, 2, 5, 5, 3, 1, 1),
    (0, 5, 5, 2, 2, 3, 3, 2, 1, 1),
    (None, 6, 7, 2, 3, 3, 3, 2, 1, 1),
    (None, 8, 8, 3, 2, 2, 2, 3, 1, 2),
    (3, 6, 6, 1, 1, 3, 3, 2, 1, 1),
    (1, 5, 5, 16, 2, 3, 3, 1, 1, 1),
]
IDS = [f"N{g[0]}-{g[1]}x{g[2]}-C{g[3]}F{g[4]}-K{g[5]}x{g[6]}-s{g[7]}-p{g[8]}-d{g[9]}" for g in GEOMETRIES]


def _arrays(geom, rng, *, integer, dtype=np.float64):
    N, H, W, C, F, KH, KW, stride, padding, dilation = geom
    conv = {"stride": stride, "padding": padding, "dilation": dilation}
    x_shape = (H, W, C) if N is None else (N, H, W, C)
    y_shape = conv2d_forward(np.zeros(x_shape), np.zeros((KH, KW, C, F)), **conv).shape
    shapes = (x_shape, (KH, KW, C, F), (F,), y_shape)
    if integer:
        arrays = integer_arrays(rng, *shapes)
    else:
        arrays = [rng.standard_normal(s) for s in shapes]
    return [a.astype(dtype) for a in arrays], conv


def _reference(x, w, b, dy, conv):
    """``(y, dx, dw, db)`` by the loops, unbatched like convlib for a 3-D ``x``."""
    x4, dy4 = (x, dy) if x.ndim == 4 else (x[np.newaxis], dy[np.newaxis])  # (N, ...)
    x4, w, b, dy4 = (np.asarray(a, np.float64) for a in (x4, w, b, dy4))
    y = reference.s3_forward(x4, w, b, **conv)
    dx = reference.s3_backward(dy4, w, x4.shape[1:3], **conv)
    # A step from zero with learning rate -1 returns the gradient sum itself.
    dw = reference.s3_weight_step(np.zeros_like(w), x4, dy4, -1.0, **conv)
    db = reference.s3_bias_step(np.zeros_like(b), dy4, -1.0)
    if x.ndim == 3:
        y, dx = y[0], dx[0]
    return y, dx, dw, db


@pytest.fixture(params=["default blocks", "tiny blocks", "sample blocks"])
def block_size(request, monkeypatch):
    """Run each pass with the default block size, with one output row per block
    (1 byte), and with a block of a few hundred numbers (often several samples)."""
    size = {"default blocks": im2col_module.BLOCK_BYTES, "tiny blocks": 1, "sample blocks": 4000}[
        request.param
    ]
    monkeypatch.setattr(im2col_module, "BLOCK_BYTES", size)
    return size


@pytest.mark.parametrize("geom", GEOMETRIES, ids=IDS)
def test_integer_inputs_bitwise_equal_to_the_loops(geom, block_size):
    rng = np.random.default_rng(5)
    (x, w, b, dy), conv = _arrays(geom, rng, integer=True)
    y = conv2d_forward(x, w, b, **conv)
    dx, dw, db = conv2d_backward(dy, x, w, **conv)
    ry, rdx, rdw, rdb = _reference(x, w, b, dy, conv)
    assert_bitwise(y, ry, "y (s3.forward)")
    assert_bitwise(dx, rdx, "dx (s3.backward)")
    assert_bitwise(dw, rdw, "dw (s3.weight_step)")
    assert_bitwise(db, rdb, "db (s3.bias_step)")


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("geom", GEOMETRIES[::2], ids=IDS[::2])
def test_float_inputs_within_the_rounding_bound(geom, dtype, block_size):
    rng = np.random.default_rng(6)
    (x, w, b, dy), conv = _arrays(geom, rng, integer=False, dtype=dtype)
    y = conv2d_forward(x, w, b, **conv)
    dx, dw, db = conv2d_backward(dy, x, w, **conv)
    assert {a.dtype for a in (y, dx, dw, db)} == {np.dtype(dtype)}
    ry, rdx, rdw, rdb = _reference(x, w, b, dy, conv)
    assert_within(y, ry, forward_bound(x, w, b, dtype=dtype, **conv), "y")
    bdx, bdw, bdb = backward_bounds(dy, x, w, dtype=dtype, **conv)
    assert_within(dx, rdx, bdx, "dx")
    assert_within(dw, rdw, bdw, "dw")
    assert_within(db, rdb, bdb, "db")


def test_non_contiguous_inputs_give_the_same_bits_and_are_not_written():
    rng = np.random.default_rng(7)
    (x, w, b, dy), conv = _arrays((2, 9, 8, 3, 4, 3, 3, 2, 1, 1), rng, integer=False)
    # Transposed and reversed views holding the same values.
    xv = np.ascontiguousarray(x.transpose(0, 2, 1, 3)).transpose(0, 2, 1, 3)
    wv = np.ascontiguousarray(w[::-1])[::-1]
    dyv = np.ascontiguousarray(dy[:, :, ::-1])[:, :, ::-1]
    copies = [a.copy() for a in (xv, wv, dyv)]
    assert not (xv.flags.c_contiguous or wv.flags.c_contiguous or dyv.flags.c_contiguous)
    assert_bitwise(conv2d_forward(xv, wv, b, **conv), conv2d_forward(x, w, b, **conv), "y")
    for got, want in zip(
        conv2d_backward(dyv, xv, wv, **conv), conv2d_backward(dy, x, w, **conv), strict=True
    ):
        assert_bitwise(got, want, "gradient")
    for a, c in zip((xv, wv, dyv), copies, strict=True):
        assert_bitwise(a, c, "input unchanged")


def test_large_arrays_span_several_default_blocks():
    """Arrays larger than one default block, so the default path splits them too:
    integer inputs, compared with the plain im2col formulation (one matrix product,
    col2im), which the loop reference checks on small arrays above."""
    rng = np.random.default_rng(8)
    x, w, dy = integer_arrays(rng, (4, 64, 61, 24), (3, 3, 24, 8), (4, 32, 31, 8))
    conv = {"stride": 2, "padding": 1}
    g = resolved(x.shape, w.shape, **conv)
    assert g.N * g.OH * g.OW * 9 * 24 * x.itemsize > 2 * im2col_module.BLOCK_BYTES  # im2col bytes
    cols = im2col(pad_input(x, g, np.float64), g).reshape(-1, 9 * 24)  # (N*OH*OW, KH*KW*C)
    assert_bitwise(conv2d_forward(x, w, **conv), (cols @ w.reshape(-1, 8)).reshape(g.out_shape), "y")
    dx, dw, _ = conv2d_backward(dy, x, w, **conv)
    dcols = (dy.reshape(-1, 8) @ w.reshape(-1, 8).T).reshape(4, 32, 31, 3, 3, 24)  # (N, OH, OW, KH, KW, C)
    assert_bitwise(dx, im2col_module.col2im(dcols, g), "dx")
    assert_bitwise(dw, (cols.T @ dy.reshape(-1, 8)).reshape(w.shape), "dw")


# --------------------------------------------------------------------------- threads (convlib.parallel)


def test_serial_and_threaded_blocks_agree_and_repeat_bitwise(monkeypatch):
    """Tiny blocks shared out to the BLAS thread count, and to one thread: integer
    inputs give the same bits either way; float inputs repeat bitwise call after call
    (dW adds its per-block sums in block order, whichever thread ran each block)."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    from convlib.parallel import blas_threads

    monkeypatch.setattr(im2col_module, "BLOCK_BYTES", 500)
    monkeypatch.setattr(parallel_module, "PARALLEL_MIN_BYTES", 0)  # threads even for small arrays
    rng = np.random.default_rng(9)
    geom = (3, 11, 10, 3, 4, 3, 3, 2, 1, 1)
    (x, w, b, dy), conv = _arrays(geom, rng, integer=True)
    threads_before = blas_threads()
    threaded = (conv2d_forward(x, w, b, **conv), *conv2d_backward(dy, x, w, **conv))
    assert blas_threads() == threads_before  # BLAS threads restored after the pass
    with threadpoolctl.threadpool_limits(1, user_api="blas"):
        assert blas_threads() == 1
        serial = (conv2d_forward(x, w, b, **conv), *conv2d_backward(dy, x, w, **conv))
    for a, s in zip(threaded, serial, strict=True):
        assert_bitwise(a, s, "threaded vs serial")
    (x, w, b, dy), conv = _arrays(geom, rng, integer=False)
    first = conv2d_backward(dy, x, w, **conv)
    for _ in range(3):
        for a, s in zip(conv2d_backward(dy, x, w, **conv), first, strict=True):
            assert_bitwise(a, s, "repeated call")


FORK_CHILD = """
import os, numpy as np
from convlib import conv2d_forward
rng = np.random.default_rng(10)
x = rng.integers(-8, 9, (8, 40, 40, 16)).astype(float)
w = rng.integers(-8, 9, (3, 3, 16, 16)).astype(float)
y = conv2d_forward(x, w)  # 13 MB of im2col: the parent's worker threads exist now
pid = os.fork()
if pid == 0:
    os._exit(0 if np.array_equal(conv2d_forward(x, w), y) else 1)
_, status = os.waitpid(pid, 0)
raise SystemExit(os.waitstatus_to_exitcode(status))
"""


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs os.fork")
def test_a_forked_child_computes_with_fresh_threads():
    """The worker threads do not survive a fork; the child must start its own, not hang.
    Run in a fresh interpreter: this one has JAX's threads, which must not be forked."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", FORK_CHILD], timeout=120, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
