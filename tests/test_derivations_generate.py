"""``convlib derive --check``: green on the committed artifacts, and it names a stale file."""

from __future__ import annotations

import json
import shutil

from derivations import generate


def test_check_is_green_on_committed_artifacts_and_names_a_stale_file(tmp_path, capsys):
    # one regeneration (about a minute on two cores) serves both halves: render_all caches
    assert generate.main(["--check", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "s3.backward" in out and "fails" in out and "holds" in out

    for path in generate.OUTPUT_DIR.iterdir():
        if path.suffix in (".md", ".json"):
            shutil.copy(path, tmp_path / path.name)
    assert generate.main(["--check", "--quiet", "--output-dir", str(tmp_path)]) == 0
    capsys.readouterr()
    page = tmp_path / "s2_multiple_kernels.md"
    page.write_text(page.read_text(encoding="utf-8").replace("fails", "holds"), encoding="utf-8")
    (tmp_path / "report.json").unlink()
    assert generate.main(["--check", "--quiet", "--output-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "s2_multiple_kernels.md" in err and "report.json" in err
    assert "s1_single_kernel.md" not in err

    # writing repairs exactly the stale files, and a second write changes nothing
    assert generate.main(["--quiet", "--output-dir", str(tmp_path)]) == 0
    assert generate.main(["--check", "--quiet", "--output-dir", str(tmp_path)]) == 0


def test_report_has_exactly_the_twelve_records():
    records = json.loads((generate.OUTPUT_DIR / "report.json").read_text(encoding="utf-8"))
    assert [r["id"] for r in records] == [f"s{s}.{k}" for s in (1, 2, 3) for k in
                                          ("forward", "backward", "weight_step", "bias_step")]
    keys = {"id", "section", "formula", "seed_holds", "configurations_checked", "counterexample",
            "seed_latex", "derived_latex"}
    for r in records:
        assert set(r) == keys
        assert (r["counterexample"] is None) == r["seed_holds"]
        if r["counterexample"]:
            assert set(r["counterexample"]) == {"H", "W", "C", "F", "KH", "KW", "stride",
                                                "padding", "index", "seed_value", "true_value"}
            assert r["counterexample"]["seed_value"] != r["counterexample"]["true_value"]
