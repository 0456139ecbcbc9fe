"""The generated inbox has the layout and the counts the contract promises."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl

from config.settings import load_policy


def test_inbox_layout(small: tuple[Path, dict]) -> None:
    out, _ = small
    inbox = out / "inbox"
    workbooks = sorted((inbox / "townships").iterdir())
    assert len(workbooks) == 18
    assert sum(p.suffix == ".xls" for p in workbooks) == 1
    for folder in ("dibao", "insurance", "claims"):
        assert any((inbox / folder).iterdir()), folder
    for name in ("findings.csv", "issues.csv", "injections.csv", "manifest.json"):
        assert (out / "truth" / name).is_file(), name


def test_counts_follow_scale(small: tuple[Path, dict]) -> None:
    out, summary = small
    policy = load_policy()
    assert summary["households"] == round(policy.households * 0.01)
    assert summary["persons"] == round(policy.persons * 0.01)
    assert (
        summary["townships"] == 18 and summary["villages"] == 208 and summary["poor_villages"] == 68
    )
    manifest = json.loads((out / "truth" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["counts"]["households"] == summary["households"]
    assert manifest["seed"] == 7


def test_truth_columns(small: tuple[Path, dict]) -> None:
    out, _ = small
    findings = pl.read_csv(out / "truth" / "findings.csv", infer_schema=False)
    assert findings.columns == [
        "rule",
        "key",
        "township_code",
        "village",
        "household_id",
        "person_id",
        "id_as_written",
        "suggested_id",
        "record_key",
    ]
    issues = pl.read_csv(out / "truth" / "issues.csv", infer_schema=False)
    assert issues.columns == [
        "kind",
        "township_code",
        "file",
        "sheet",
        "row_no",
        "column",
        "household_id",
    ]
    assert (out / "truth" / "findings.csv").read_bytes().startswith(b"\xef\xbb\xbf")


def test_command_line(tmp_path: Path, capsys) -> None:
    from generator.__main__ import main

    assert (
        main(["--out", str(tmp_path), "--scale", "0.01", "--seed", "3", "--as-of", "2017-12-31"])
        == 0
    )
    summary = json.loads(capsys.readouterr().out)
    assert summary["households"] == 63
    manifest = json.loads((tmp_path / "truth" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["as_of"] == "2017-12-31" and manifest["seed"] == 3
