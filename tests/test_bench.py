"""Smoke test of ``convlib bench`` on tiny shapes: it runs and reports every column.

Speed is never asserted here (see benchmarks/RESULTS.md for the numbers); what is
checked is that every contestant ran for every (shape, dtype, pass), that the table
has every column filled where it should be, that the targets are listed and that the
plot and the machine-readable results are written.
"""

from __future__ import annotations

import json
import sys
import time

import pytest

from convlib.bench import main
from convlib.bench.peers import PASSES, PEERS
from convlib.bench.report import COLUMNS
from convlib.bench.shapes import SHAPES, TINY_SHAPES
from convlib.bench.timing import CpuWatch, time_round_robin, wait_until_quiet

pytest.importorskip("threadpoolctl")
pytest.importorskip("matplotlib")


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    plot = out / "bench.png"
    code = main(["--tiny", "--repeats", "2", "--warmup", "1", "--settle", "0"]
                + ["--out", str(out), "--plot", str(plot)])  # fmt: skip
    return code, out, plot


def test_bench_runs_and_writes_table_results_and_plot(tiny_run):
    code, out, plot = tiny_run
    assert code == 0
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    table = (out / "table.md").read_text()
    header = next(line for line in table.splitlines() if line.startswith("| shape"))
    assert [c.strip() for c in header.strip("|").split("|")] == list(COLUMNS)
    for needle in ("BLAS:", "kernel", "threads:", "OPENBLAS_CORETYPE", "load average", "GEMM ceiling"):
        assert needle in table


def test_every_peer_timed_for_every_shape_dtype_and_pass(tiny_run):
    _, out, _ = tiny_run
    rows = json.loads((out / "results.json").read_text())["rows"]
    keys = {(r["shape"], r["dtype"], r["pass"]) for r in rows}
    assert keys == {(s.label, d, p) for s in TINY_SHAPES for d in ("float64", "float32") for p in PASSES}
    installed = {"convlib", "GEMM ceiling", "loop reference"}
    for name, peer in (("torch", "PyTorch"), ("jax", "JAX")):
        try:
            __import__(name)
            installed.add(peer)
        except ImportError:
            pass
    for r in rows:
        timed = {p for p, t in r["seconds"].items() if t is not None}
        expected = installed - ({"loop reference"} if r["dtype"] == "float32" else set())
        assert timed == expected, (r["shape"], r["dtype"], r["pass"])
        assert all(t > 0 for p, t in r["seconds"].items() if t is not None)
        assert set(r["seconds"]) == set(PEERS)
        assert r["peak_extra_bytes"] > 0 and r["im2col_bytes"] > 0


def test_table_cells_filled_and_targets_listed(tiny_run):
    _, out, _ = tiny_run
    table = (out / "table.md").read_text().splitlines()
    body = [line for line in table if line.startswith("| tiny")]
    assert len(body) == len(TINY_SHAPES) * 2 * len(PASSES)
    for line in body:
        cells = [c.strip() for c in line.strip("|").split("|")]
        assert len(cells) == len(COLUMNS)
        filled = {c for c, v in zip(COLUMNS, cells, strict=True) if v != "n/a"}
        must = set(COLUMNS) - {"t / PyTorch", "PyTorch ms", "t / JAX", "JAX ms", "loop / t", "loop ms"}
        if not sys.platform.startswith("linux"):
            must.discard("others' CPU")  # read from /proc/stat
        assert must <= filled, line
        if cells[1] == "float64":
            assert {"loop / t", "loop ms"} <= filled, line
    targets = [line for line in table if line.startswith("- [")]
    assert len(targets) == 5  # two PyTorch ratios, GEMM share, loop speed-up, memory


def test_shapes_are_the_issue_table_plus_small_and_mnist():
    tuples = [s.tuple for s in SHAPES]
    for t in [(32, 16, 32, 32, 32, 3, 1, 1), (32, 32, 32, 32, 64, 3, 2, 1), (8, 64, 56, 56, 64, 3, 1, 1),
              (16, 8, 31, 31, 8, 5, 2, 0)]:  # fmt: skip
        assert t in tuples
    assert {s.label for s in SHAPES if s.loop} == {"small", "MNIST-like"}


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/stat")
def test_cpu_watch_does_not_count_this_process():
    """Busy-looping here for 0.3 s must not show up as other processes' CPU use
    beyond what the machine has: the share stays within [0, 1]."""
    watch = CpuWatch()
    end = time.perf_counter() + 0.3
    while time.perf_counter() < end:
        pass
    share = watch.share()
    assert share is not None and 0.0 <= share <= 1.0
    waited = wait_until_quiet(0.0, probe=0.05)  # one probe, no waiting
    assert waited is not None and waited >= 0.0


@pytest.mark.parametrize("settle", [0.0, 0.001])
def test_round_robin_calls_each_contestant_as_documented(settle):
    """Warm-up calls, then one timed call per round (after a pause, one more untimed
    call first); the slow contestant runs exactly once.  Every time is a positive median."""
    calls = {"a": 0, "b": 0, "loop": 0}

    def counter(name):
        def fn():
            calls[name] += 1

        return fn

    secs = time_round_robin({k: counter(k) for k in calls}, warmup=2, repeats=3, slow={"loop"}, settle=settle)
    per_round = 2 if settle > 0 else 1
    assert calls == {"a": 2 + 3 * per_round, "b": 2 + 3 * per_round, "loop": 1}
    assert set(secs) == set(calls) and all(v > 0 for v in secs.values())
