"""The truth: every rule present, the derived findings and the injection log agree, hard
negatives stay negative, and keys have the form findings.md prescribes."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl
import pytest

from config.schema import ISSUE_KINDS
from generator import generate
from transforms.ids import parse_id

RULES = [f"R{i:02d}" for i in range(1, 16)]


def _pairs(column: pl.Series) -> set[tuple[str, str]]:
    out = set()
    for cell in column.drop_nulls().to_list():
        for item in filter(None, cell.split(";")):
            rule, key = item.split(":", 1)
            out.add((rule, key))
    return out


def _truth(out: Path) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    t = out / "truth"
    return (
        pl.read_csv(t / "findings.csv", infer_schema=False),
        pl.read_csv(t / "issues.csv", infer_schema=False),
        pl.read_csv(t / "injections.csv", infer_schema=False),
    )


def test_every_rule_present(small: tuple[Path, dict]) -> None:
    findings, _, _ = _truth(small[0])
    assert set(findings["rule"].to_list()) == set(RULES)


def test_every_issue_kind_present(small: tuple[Path, dict]) -> None:
    _, issues, _ = _truth(small[0])
    # file-level kinds (a hidden sheet) are not injected into a single night's files
    row_kinds = {k for k, (_, level) in ISSUE_KINDS.items() if level != "file"}
    assert set(issues["kind"].to_list()) == row_kinds


def test_injections_and_derived_truth_agree(small: tuple[Path, dict]) -> None:
    out, summary = small
    findings, _, injections = _truth(out)
    derived = set(findings.select("rule", "key").iter_rows())
    expected = _pairs(injections["expect"])
    forbidden = _pairs(injections["absent"])
    assert expected - derived == set()
    assert derived - expected == set()
    assert forbidden & derived == set()
    assert summary["truth_agreement"] == {"missing": 0, "unexplained": 0, "forbidden_found": 0}


def test_hard_negatives_present(small: tuple[Path, dict]) -> None:
    _, _, injections = _truth(small[0])
    hard = set(injections.filter(pl.col("kind") == "hard_negative")["code"].to_list())
    assert {
        "legacy15_text",
        "legacy15_number",
        "same_name_two_people",
        "dibao_stopped_income",
        "exit_at_line",
        "assistance_at_tolerance",
        "no_cadre_not_required",
        "name_width_variant",
        "id_written_variants",
    } <= hard
    variants = set(injections.filter(pl.col("code") == "R07")["variant"].to_list())
    assert {"excel", "substitution", "swap", "homophone_typo"} <= variants
    assert "homophone" in set(injections.filter(pl.col("code") == "R09")["variant"].to_list())


def test_keys_have_the_prescribed_form(small: tuple[Path, dict]) -> None:
    findings, _, _ = _truth(small[0])
    for row in findings.iter_rows(named=True):
        rule, key = row["rule"], row["key"]
        if rule in ("R01", "R02", "R05", "R06", "R09", "R15"):
            assert len(key) == 18 and parse_id(key).is_valid and key == row["person_id"]
        elif rule == "R07":
            assert key == row["id_as_written"] and parse_id(row["suggested_id"]).is_valid
            assert not parse_id(key).is_valid or key.endswith("000")
        elif rule == "R08":
            assert key == row["id_as_written"] and row["suggested_id"] == ""
        elif rule == "R11":
            assert key == row["household_id"] and "-" in key
        elif rule == "R13":
            assert key == row["record_key"] and key.startswith("JS")
        else:
            assert key == row["household_id"] and key.isdigit() and len(key) == 15
    mangled = findings.filter(
        pl.col("rule").is_in(["R07", "R08"]) & pl.col("key").str.ends_with("000")
    )
    assert mangled.height >= 1


def test_r13_is_consistent_with_the_claims(small: tuple[Path, dict]) -> None:
    """Recompute R13 from the written claims files for the keys the truth names."""
    out, _ = small
    findings, _, injections = _truth(out)
    keys = set(findings.filter(pl.col("rule") == "R13")["key"].to_list())
    tolerance = {k for _, k in _pairs(injections["absent"]) if k.startswith("JS")}
    frames = []
    for path in sorted((out / "inbox" / "claims").glob("*.csv")):
        frames.append(pl.read_csv(path, infer_schema=False))
    for path in sorted((out / "inbox" / "claims").glob("*.xlsx")):
        frames.append(pl.read_excel(path, read_options={"header_row": 1}, infer_schema_length=0))
    claims = pl.concat(frames, how="vertical_relaxed").filter(
        pl.col("结算流水号").is_in(list(keys | tolerance))
    )
    assert claims.height == len(keys | tolerance)
    for row in claims.iter_rows(named=True):
        remaining = (
            float(row["政策范围内费用"]) - float(row["统筹支付"]) - float(row["大病保险支付"])
        )
        short = float(row["医疗救助支付"]) < 0.7 * remaining - 0.5
        assert short == (row["结算流水号"] in keys)


@pytest.mark.parametrize("as_of", [date(2016, 12, 31), date(2017, 6, 30), date(2020, 3, 31)])
def test_other_as_of_dates_agree(tmp_path: Path, as_of: date) -> None:
    """Before 2018 there can be no R14 (the housing deadline); the truth still agrees."""
    summary = generate(tmp_path, scale=0.01, seed=3, as_of=as_of)
    assert summary["truth_agreement"] == {"missing": 0, "unexplained": 0, "forbidden_found": 0}
    assert ("R14" in summary["findings"]) == (as_of > date(2017, 12, 31))
    enrolment = next((tmp_path / "inbox" / "insurance").glob("*.csv"))
    years = pl.read_csv(enrolment, infer_schema=False)["参保年度"].unique().sort().to_list()
    assert years == [str(y) for y in range(2016, as_of.year + 1)]
