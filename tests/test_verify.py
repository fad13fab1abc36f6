"""``convlib verify``: the full matrix passes, and a deliberately broken backward is caught."""

from __future__ import annotations

import functools
import re

import numpy as np
import pytest

import convlib.verify as verify
from convlib import conv2d_backward
from convlib.configurations import HARD_CONFIGS

WITNESSES = ["loop reference (exact)", "JAX AD (float64)", "finite differences", "adjoint identity"]


def _table_rows(out: str) -> dict[str, list[str]]:
    rows = {}
    for line in out.splitlines():
        for name in WITNESSES:
            if line.startswith(name):
                rows[name] = re.split(r"\s{2,}", line[len(name) :].strip())
    return rows


def test_verify_quiet_passes_with_a_complete_table(capsys):
    assert verify.main(["--quiet"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^witness\s+checks\s+failed\s+worst error/bound\s+verdict", out, re.M)
    rows = _table_rows(out)
    assert set(rows) == set(WITNESSES)
    n = len(HARD_CONFIGS)
    # checks per configuration: y, dx, dw, db / y, dx, dw, db / dx, dw, db / two identities
    expected = {WITNESSES[0]: 4 * n, WITNESSES[1]: 4 * n, WITNESSES[2]: 3 * n, WITNESSES[3]: 2 * n}
    for name, (checks, failed, worst, verdict) in rows.items():
        assert int(checks) == expected[name] and failed == "0" and verdict == "ok", (name, rows[name])
        if name == WITNESSES[0]:
            assert worst == "bitwise equal"
        else:
            assert 0 <= float(worst.split()[0]) <= 1
    total = sum(expected.values())
    assert f"{total} of {total} checks passed on {n} configurations" in out
    assert "FAIL" not in out and "skipped" not in out


def _flipped_kernel(dy, x, w, **conv):
    """A classic bug: the input gradient correlates with the kernel flipped (or not flipped)
    the wrong way."""
    dx, dw, db = conv2d_backward(dy, x, w[::-1, ::-1], **conv)
    return dx, conv2d_backward(dy, x, w, **conv)[1], db


def _weight_grad_off_by_one(dy, x, w, **conv):
    """Another: the weight gradient reads the input one row too low (a wrong index)."""
    dx, _, db = conv2d_backward(dy, x, w, **conv)
    shifted = np.roll(x, 1, axis=-3)  # row i of x moved to row i+1
    return dx, conv2d_backward(dy, shifted, w, **conv)[1], db


@pytest.mark.parametrize(
    ("broken", "caught_by"),
    [
        (_flipped_kernel, {"dx", "<y,g>=<x,dx>"}),
        (_weight_grad_off_by_one, {"dw", "<y,g>=<w,dw>"}),
    ],
)
def test_a_broken_backward_is_caught(monkeypatch, capsys, broken, caught_by):
    cfg = next(c for c in HARD_CONFIGS if c.label == "stride 2 does not divide K=3")
    monkeypatch.setattr(verify, "conv2d_backward", broken)
    results, skipped = verify.run_matrix([cfg])
    assert not skipped
    failed = {(r.witness, r.quantity) for r in results if not r.passed}
    for witness in WITNESSES:  # every witness sees the bug on its own
        assert any(w == witness for w, _ in failed), f"{witness} missed {broken.__name__}"
    assert {q for _, q in failed} == caught_by  # and only the quantity that is wrong
    # Through main: failures listed, non-zero exit.
    monkeypatch.setattr(verify, "run_matrix", functools.partial(verify.run_matrix, [cfg]))
    assert verify.main(["--quiet"]) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out
    assert re.search(
        rf"FAIL .* \| {re.escape(cfg.label)} \| (dx|dw|<y,g>=<x,dx>|<y,g>=<w,dw>): error/bound", out
    )
    assert f"of {len(results)} checks passed on 1 configurations" in out
