"""``convlib derive [--check]``: regenerate (or verify) every artifact in ``derivations/``.

``main(argv)`` runs the general derivations, the exhaustive checks (two worker
processes) and the general-layer check, renders the pages and ``report.json``,
and then either writes the files that changed or, with ``--check``, compares
in memory and names the stale files (exit status 1).  Progress goes to stderr,
the verdict table (formula id, holds / fails, configurations checked) to stdout.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

__all__ = ["main", "OUTPUT_DIR", "render_all"]

OUTPUT_DIR = Path(__file__).resolve().parent


class _Progress:
    def __init__(self, quiet: bool):
        self.quiet, self.start, self.last = quiet, time.monotonic(), {}

    def __call__(self, label: str, done: int, total: int) -> None:
        if self.quiet:
            return
        step = max(1, total // 10)
        if done == total or done % step == 0:
            print(f"  {label}: {done}/{total} ({time.monotonic() - self.start:.0f}s)",
                  file=sys.stderr, flush=True)

    def say(self, text: str) -> None:
        if not self.quiet:
            print(text, file=sys.stderr, flush=True)


_RENDERED: dict[int, dict[str, str]] = {}


def render_all(processes: int = 2, progress=None) -> dict[str, str]:
    """{file name: content} of every generated artifact (computed once per process)."""
    if processes not in _RENDERED:
        _RENDERED[processes] = _render(processes, progress)
    return dict(_RENDERED[processes])


def _render(processes: int, progress) -> dict[str, str]:
    from .exhaustive import run_note_checks
    from .general_check import general_page_text
    from .geometry import general_grid, note_grid
    from .render import SECTION_FILES, index_page, report_json, report_records, section_page

    say = getattr(progress, "say", lambda text: None)
    say("derivations: deriving the twelve formulas (SymPy, index form)")
    from .general_index import FORMULAS, derive
    for fid in FORMULAS:
        derive(fid)
    say("derivations: exhaustive check of the note's formulas on symbols")
    tallies = run_note_checks(processes, progress)
    say("derivations: general layer (stride, padding, dilation, batch)")
    general_text = general_page_text(processes, progress)
    records = report_records(tallies)
    files = {SECTION_FILES[s]: section_page(s, tallies) for s in (1, 2, 3)}
    files["general_layer.md"] = general_text
    grid = (
        "## The grid\n\n"
        f"- `s1`: {len(note_grid(1))} configurations: every pair of (H, KH) and (W, KW) with "
        "H, W in 1..7 and kernels 1..4 (no larger than the input), C = F = 1, stride 1.\n"
        f"- `s2`: {len(note_grid(2))} configurations: every such pair with H, W in 1..6, stride 1, "
        "(C, F) cycling through all nine pairs in 1..3 x 1..3.\n"
        f"- `s3`: {len(note_grid(3))} configurations: the `s2` cases for each stride 1, 2, 3 "
        "(stride not dividing the kernel, kernel smaller than the stride, and input rows that "
        "no window reads all occur).\n"
        f"- general layer: {len(general_grid())} configurations (see its page).\n\n"
        "Regenerate with `convlib derive` (or `python -m derivations`); `convlib derive "
        "--check` verifies that these files are current.\n")
    files["README.md"] = index_page(records, grid)
    files["report.json"] = report_json(tallies)
    return files


def _verdicts(files: dict[str, str]) -> str:
    import json

    from .render import verdict_table
    return verdict_table(json.loads(files["report.json"]))


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``convlib derive``; returns the exit status."""
    parser = argparse.ArgumentParser(prog="convlib derive", description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true",
                        help="regenerate in memory; exit 1 and name the stale files if any differ")
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")
    parser.add_argument("--processes", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument("--output-dir", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    out_dir = args.output_dir or OUTPUT_DIR
    progress = _Progress(args.quiet)
    files = render_all(args.processes, progress)
    stale = sorted(name for name, text in files.items()
                   if not (out_dir / name).exists()
                   or (out_dir / name).read_text(encoding="utf-8") != text)
    sys.stdout.write(_verdicts(files))
    if args.check:
        if stale:
            print("stale derivations (run `convlib derive`): " + ", ".join(stale),
                  file=sys.stderr)
            return 1
        progress.say(f"derivations: all {len(files)} generated files are current")
        return 0
    for name in stale:
        (out_dir / name).write_text(files[name], encoding="utf-8")
    progress.say(f"derivations: wrote {len(stale)} of {len(files)} files "
                 f"({time.monotonic() - progress.start:.0f}s)")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
