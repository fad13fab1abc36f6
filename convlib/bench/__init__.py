"""``convlib bench``: convlib's passes against PyTorch, JAX, the loop reference and the GEMM ceiling.

For each shape (``convlib.bench.shapes``), dtype and pass (forward, input gradient,
weight and bias gradient, and all of them), every contestant runs in one process with
the same number of threads; the table reports the median time, convlib's GFLOP/s
(``2*N*OH*OW*F*KH*KW*C`` per pass), its share of the GEMM ceiling (``np.matmul`` of the
matrices of that pass's im2col formulation), its time ratio to each peer and its
peak extra memory against one im2col buffer; then the issue's targets, checked.

If ``OPENBLAS_CORETYPE`` or ``OPENBLAS_L2_SIZE`` is set, run the benchmark (only the
benchmark) as ``env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE convlib bench``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from .environment import describe, limit_threads, schedulable_cpus
from .peers import PASSES, PEERS, Unavailable, peer_passes
from .report import Row, check_targets, format_table, plot
from .shapes import SHAPES, TINY_SHAPES, Shape
from .timing import CpuWatch, peak_extra_bytes, time_round_robin, wait_until_quiet

__all__ = ["main", "run"]


def run(
    shapes,
    dtypes,
    peers,
    *,
    threads: int,
    warmup: int,
    repeats: int,
    quiet_wait: float = 0,
    settle: float = 0,
    log=print,
) -> list[Row]:
    """Time every (shape, dtype, pass) for every peer; return the rows of the table.

    With ``quiet_wait`` > 0, each (shape, dtype) first waits up to that many seconds
    for the other processes on the machine to go quiet.  Every row records the share
    of the CPUs that other processes used while its (shape, dtype) was measured.
    """
    rows = []
    for s in shapes:
        for dtype in dtypes:
            if quiet_wait > 0:
                wait_until_quiet(quiet_wait)
            watch = CpuWatch()
            case_rows = []
            fns: dict[str, dict] = {}
            for peer in peers:
                try:
                    fns[peer] = peer_passes(peer, s, dtype, threads)
                except Unavailable as why:
                    log(f"  {s.label} {dtype}: {peer} n/a ({why})")
            for pass_ in PASSES:
                contest = {peer: passes[pass_] for peer, passes in fns.items()}
                secs = time_round_robin(
                    contest, warmup=warmup, repeats=repeats, slow={"loop reference"}, settle=settle
                )
                row = Row(s, np.dtype(dtype).name, pass_, {p: secs.get(p) for p in PEERS})
                row.peak_bytes = peak_extra_bytes(contest["convlib"])
                case_rows.append(row)
            others = watch.share()
            for row in case_rows:
                row.others_cpu = others
            rows.extend(case_rows)
            busy = "n/a" if others is None else f"{others:.0%}"
            log(f"  done {s.label} {np.dtype(dtype).name} (other processes used {busy} of the CPUs)")
    return rows


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="convlib bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=schedulable_cpus(), help="threads for every contestant")
    p.add_argument("--repeats", type=int, default=7, help="timed calls per contestant (median)")
    p.add_argument("--warmup", type=int, default=2, help="untimed calls first")
    p.add_argument("--dtypes", default="float64,float32")
    p.add_argument("--shapes", default=None, help="comma-separated shape labels (default: all)")
    p.add_argument("--skip", default="", help="comma-separated peers to leave out, e.g. JAX,PyTorch")
    p.add_argument("--tiny", action="store_true", help="tiny shapes only (the smoke test)")
    p.add_argument(
        "--quiet-wait",
        type=float,
        default=0,
        metavar="SECONDS",
        help="before each shape and dtype, wait up to this long for other processes to go quiet",
    )
    p.add_argument(
        "--settle",
        type=float,
        default=0.12,
        metavar="SECONDS",
        help="pause before each timed call (then one untimed call warms the caches again), so that "
        "spinning BLAS/OpenMP threads of the previous contestant (OpenBLAS: ~0.1 s) do not take a "
        "core from the next",
    )
    p.add_argument("--out", default="benchmarks/results", help="directory for results.json and table.md")
    p.add_argument("--plot", default="benchmarks/bench.png", help="PNG path ('' for none)")
    return p


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    shapes: tuple[Shape, ...] = TINY_SHAPES if args.tiny else SHAPES
    if args.shapes:
        wanted = [w.strip() for w in args.shapes.split(",")]
        shapes = tuple(s for s in shapes if s.label in wanted)
        if not shapes:
            print(f"convlib bench: no shape named {wanted}", file=sys.stderr)
            return 2
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    peers = [p for p in PEERS if p not in skip]
    if "convlib" not in peers or "GEMM ceiling" not in peers:
        print("convlib bench: convlib and the GEMM ceiling cannot be skipped", file=sys.stderr)
        return 2
    dtypes = [np.dtype(d.strip()).name for d in args.dtypes.split(",")]
    if args.threads < 1:
        print("convlib bench: --threads must be >= 1", file=sys.stderr)
        return 2
    if args.threads < schedulable_cpus() and hasattr(os, "sched_setaffinity"):
        # XLA sizes its thread pool to the CPUs this process may run on: pin the
        # process (every contestant alike) to that many CPUs before JAX starts.
        os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[: args.threads])

    start = time.time()
    with limit_threads(args.threads):
        header = describe(args.threads)
        for line in header:
            print(line)
        print(f"warm-up {args.warmup}, median of {args.repeats} interleaved calls (loop reference: 1 call), "
              f"each after a {args.settle} s pause and one untimed call")  # fmt: skip
        rows = run(shapes, dtypes, peers, threads=args.threads, warmup=args.warmup, repeats=args.repeats,
                   quiet_wait=args.quiet_wait, settle=args.settle,
                   log=lambda msg: print(msg, file=sys.stderr))  # fmt: skip
    table = format_table(rows)
    targets = check_targets(rows)
    load = "load average (1, 5, 15 min) at end: " + ", ".join(f"{v:.2f}" for v in os.getloadavg())
    verdict = ["met" if ok else "NOT met" if ok is False else "n/a" for ok, _ in targets]
    target_lines = [f"- [{v}] {text}" for v, (_, text) in zip(verdict, targets, strict=True)]
    print()
    print(table)
    print()
    print("Targets (issue 5):")
    print("\n".join(target_lines))
    print(load)
    print(f"({time.time() - start:.0f} s)")

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "table.md").write_text("\n".join([*header, "", table, "", *target_lines, load, ""]))
    (out / "results.json").write_text(json.dumps({
        "environment": header + [load],
        "rows": [{"shape": r.shape.label, "N,C,H,W,F,K,stride,pad": r.shape.tuple, "dtype": r.dtype,
                  "pass": r.pass_, "seconds": r.seconds, "flops": r.shape.flops,
                  "peak_extra_bytes": r.peak_bytes, "im2col_bytes": r.im2col_bytes,
                  "others_cpu_share": r.others_cpu} for r in rows],
        "targets": [{"met": ok, "text": text} for ok, text in targets],
    }, indent=1))  # fmt: skip
    if args.plot:
        Path(args.plot).parent.mkdir(parents=True, exist_ok=True)
        plot(rows, args.plot, header[0] + f"; {args.threads} threads")
        print(f"plot: {args.plot}")
    print(f"table and results: {out}/table.md, {out}/results.json")
    return 0
