"""The README's two commands are the ones CI and users run: keep them in sync with .ci/run."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _sh_blocks(text: str) -> list[str]:
    return [b.strip() for b in re.findall(r"```sh\n(.*?)```", text, flags=re.S)]


def test_readme_gives_exactly_two_setup_commands():
    blocks = _sh_blocks((ROOT / "README.md").read_text())
    setup = [b for b in blocks if b.startswith("python3 -m venv .venv")]
    assert len(setup) == 2, setup
    main_job, tests = setup
    assert main_job.endswith("convlib derive")
    assert tests.endswith(".venv/bin/pytest")


def test_ci_runs_the_readme_test_command():
    blocks = _sh_blocks((ROOT / "README.md").read_text())
    tests = next(b for b in blocks if b.endswith(".venv/bin/pytest"))
    install_and_run = tests.split(" && ", 1)[1]  # the venv itself is made by .ci/run
    ci = (ROOT / ".ci" / "run").read_text()
    assert install_and_run.replace("pip install -e", "pip install --quiet -e") in ci

