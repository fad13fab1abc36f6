"""Build the notebooks from their sources and execute them, byte-identically.

Usage (from the repository root, in the project's environment)::

    python scripts/regenerate_notebooks.py            # rebuild and execute every notebook
    python scripts/regenerate_notebooks.py 03_stride  # only the named ones
    python scripts/regenerate_notebooks.py --check    # rebuild in memory; exit 1 if a byte differs
    python scripts/regenerate_notebooks.py --refresh-timings   # also re-measure timing cells

Sources
-------
Each notebook ``notebooks/NN_name.ipynb`` is written from ``notebooks/src/NN_name.py``
in the "percent" format: ``# %%`` starts a code cell (optionally
``# %% tags=["nbval-ignore-output"]``), ``# %% [markdown]`` a markdown cell whose
lines are comments.  Edit the source, then run this script; the committed
``.ipynb`` carries the executed outputs that nbval compares.

Determinism
-----------
- Cell ids are the cell's position (``c00``, ``c01``, ...), not random.
- nbclient runs with ``record_timing=False``; execution metadata is stripped, and
  only the ``python3`` kernelspec and the language name are kept in the metadata.
- The kernel runs in ``notebooks/`` with the Python that runs this script, as nbval
  ``--nbval-current-env`` runs it.
- Timing cells (tag ``nbval-ignore-output``) measure the machine, so their
  outputs cannot repeat.  Unless ``--refresh-timings`` is given they keep the
  outputs already committed (measured on the last refresh); everything else is
  recomputed.  Two runs therefore write the same bytes.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import re
import sys
from pathlib import Path

import nbformat
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
SOURCES = NOTEBOOKS / "src"
IGNORE_TAG = "nbval-ignore-output"
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
_MARKER = re.compile(r"^# %%(?P<markdown> \[markdown\])?(?: tags=(?P<tags>\[.*\]))?\s*$")


def parse_source(text: str) -> list[tuple[str, str, list[str]]]:
    """Split a percent-format source into ``(kind, source, tags)`` cells.

    Lines before the first marker (a header comment) are dropped.  Markdown
    lines lose their leading ``# `` (or a lone ``#``).
    """
    cells: list[tuple[str, list[str], list[str]]] = []
    for number, line in enumerate(text.splitlines(), 1):
        match = _MARKER.match(line)
        if match:
            kind = "markdown" if match["markdown"] else "code"
            tags = json.loads(match["tags"]) if match["tags"] else []
            cells.append((kind, [], tags))
            continue
        if not cells:
            continue
        kind, lines, _ = cells[-1]
        if kind == "markdown" and line.strip():
            if not (line.startswith("# ") or line == "#"):
                raise ValueError(f"line {number}: a markdown line must start with '# ': {line!r}")
            line = line[2:]
        elif kind == "markdown":
            line = ""
        lines.append(line)
    out = []
    for kind, lines, tags in cells:
        source = "\n".join(lines).strip("\n")
        if source:
            out.append((kind, source, tags))
    return out


def build(source_path: Path) -> nbformat.NotebookNode:
    """An unexecuted notebook from its percent-format source."""
    nb = nbformat.v4.new_notebook()
    for number, (kind, source, tags) in enumerate(parse_source(source_path.read_text())):
        meta = {"tags": tags} if tags else {}
        cell_id = f"c{number:02d}"
        if kind == "markdown":
            nb.cells.append(nbformat.v4.new_markdown_cell(source, id=cell_id, metadata=meta))
        else:
            nb.cells.append(nbformat.v4.new_code_cell(source, id=cell_id, metadata=meta))
    nb.metadata = {"kernelspec": dict(KERNELSPEC), "language_info": {"name": "python"}}
    return nb


def _strip(nb: nbformat.NotebookNode) -> None:
    """Remove what differs between runs or machines: timing and kernel details."""
    nb.metadata = {"kernelspec": dict(KERNELSPEC), "language_info": {"name": "python"}}
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        if cell.cell_type != "code":
            continue
        for output in cell.outputs:
            output.get("metadata", {}).pop("execution", None)


def _keep_timing_outputs(nb: nbformat.NotebookNode, previous: Path) -> None:
    """Copy the committed outputs of ``nbval-ignore-output`` cells into ``nb``."""
    if not previous.exists():
        return
    old = nbformat.read(previous, as_version=4)
    old_cells = {c.id: c for c in old.cells if c.cell_type == "code"}
    for cell in nb.cells:
        if cell.cell_type != "code" or IGNORE_TAG not in cell.metadata.get("tags", []):
            continue
        before = old_cells.get(cell.id)
        if before is None or before.source != cell.source:
            continue  # a new or changed timing cell keeps its fresh outputs
        cell.outputs = copy.deepcopy(before.outputs)
        for output in cell.outputs:
            if output.output_type == "execute_result":
                output.execution_count = cell.execution_count


def execute(source_path: Path, *, refresh_timings: bool, timeout: int = 900) -> str:
    """Build, execute and serialise one notebook; returns the file's text."""
    nb = build(source_path)
    # The kernel is this very Python, as nbval's --nbval-current-env does: a "python3"
    # kernelspec found elsewhere (~/.local/share/jupyter) could point at another one.
    km = KernelManager(kernel_name="python3")
    km.kernel_spec.argv[0] = sys.executable
    client = NotebookClient(
        nb,
        km=km,
        timeout=timeout,
        kernel_name="python3",
        record_timing=False,
        resources={"metadata": {"path": str(NOTEBOOKS)}},
    )
    try:
        client.execute()
    finally:  # nbclient leaves a kernel manager it did not create running
        if km.has_kernel:
            km.shutdown_kernel(now=True)
    _strip(nb)
    target = NOTEBOOKS / f"{source_path.stem}.ipynb"
    if not refresh_timings:
        _keep_timing_outputs(nb, target)
    nbformat.validate(nb)
    text = nbformat.writes(nb, version=4)
    return text if text.endswith("\n") else text + "\n"


def sources(names: list[str]) -> list[Path]:
    found = sorted(SOURCES.glob("[0-9][0-9]_*.py"))
    if not names:
        return found
    chosen = [p for p in found if p.stem in names or p.stem[:2] in names]
    missing = set(names) - {p.stem for p in chosen} - {p.stem[:2] for p in chosen}
    if missing:
        raise SystemExit(f"no notebook source for {sorted(missing)} in {SOURCES}")
    return chosen


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="notebook stems or numbers (default: all)")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if any notebook differs")
    parser.add_argument("--refresh-timings", action="store_true", help="re-measure timing cells too")
    args = parser.parse_args(argv)

    differing = []
    for path in sources(args.names):
        text = execute(path, refresh_timings=args.refresh_timings)
        target = NOTEBOOKS / f"{path.stem}.ipynb"
        digest = hashlib.sha256(text.encode()).hexdigest()[:12]
        current = target.read_text() if target.exists() else None
        same = current == text
        if args.check:
            print(f"{target.relative_to(ROOT)}: {'identical' if same else 'DIFFERS'} (sha256 {digest})")
        else:
            if not same:
                target.write_text(text)
            print(f"{target.relative_to(ROOT)}: {'unchanged' if same else 'written'} (sha256 {digest})")
        if not same:
            differing.append(target.name)
    if args.check and differing:
        print(f"{len(differing)} notebook(s) differ from their regenerated form: {', '.join(differing)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
