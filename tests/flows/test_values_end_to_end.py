"""A settlement extract carrying −5000, 1e15, Inf, 1e999, 2099-12-31 and an ID with a
zero-width space, through the nightly flow on a small generated Nanxiong: the run finishes,
each value is an issue naming file, sheet, row and column in Chinese, none reaches a rule, an
indicator or a report, and the ID counts once it is cleaned."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from flows.export import export
from flows.nightly import run_nightly
from generator import generate
from warehouse import db

AS_OF = date(2018, 6, 30)
HEADER = "结算流水号,公民身份号码,姓名,结算日期,医疗机构,医疗费用总额,政策范围内费用,统筹支付,大病保险支付,医疗救助支付"
NAME = "claims/医疗费用结算明细_补录.csv"
NOT_A_NUMBER = re.compile(r"\b(?:inf|infinity|nan)\b", re.IGNORECASE)


@pytest.fixture(scope="module")
def inbox(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A generated inbox plus one settlement extract of bills of an active roster person (a
    person R02 is about: insured and in the roster); amounts such that, counted, R13 would
    find some of them short."""
    out = tmp_path_factory.mktemp("gen")
    generate(out, scale=0.01, seed=7, as_of=AS_OF)
    truth = pl.read_csv(out / "truth" / "findings.csv", infer_schema=False)
    person = truth.filter(pl.col("rule") == "R02")["person_id"][0]
    hidden = person[:6] + "\u200b" + person[6:]
    bills = [
        # 结算编号, ID, date, total, eligible, basic, serious, assistance
        ("JSX0001", person, "2018-03-01", "-5000", "800", "500", "0", "210"),
        ("JSX0002", person, "2018-03-02", "1000", "1e15", "500", "0", "0"),
        ("JSX0003", person, "2018-03-03", "1000", "800", "500", "0", "Inf"),
        ("JSX0004", person, "2099-12-31", "1000", "800", "500", "0", "210"),
        ("JSX0005", hidden, "2018-03-05", "1000", "800", "500", "0", "100"),
        ("JSX0006", person, "2018-03-06", "1000", "1e999", "500", "0", "0"),
    ]
    lines = [HEADER] + [
        f"{sid},{pid},张三,{day},南雄市人民医院,{total},{eligible},{basic},{serious},{paid}"
        for sid, pid, day, total, eligible, basic, serious, paid in bills
    ]
    (out / "inbox" / NAME).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return out / "inbox", person


@pytest.fixture(scope="module")
def night(harness, inbox, tmp_path_factory: pytest.TempPathFactory) -> dict:
    home = tmp_path_factory.mktemp("home")
    url = f"sqlite:///{home / 'fupin.db'}"
    result = run_nightly(str(inbox[0]), AS_OF.isoformat(), url, str(home))
    return {"result": result, "url": url, "home": home}


def test_the_run_finishes_and_every_value_is_an_issue_on_its_cell(night: dict) -> None:
    engine = db.connect(night["url"])
    files = db.read_frame(engine, "source_file")
    ours = files.filter(pl.col("rel_path") == NAME).row(0, named=True)
    assert ours["status"] == "accepted"
    issues = db.read_frame(engine, "dq_issue").filter(pl.col("file_id") == ours["id"])
    assert sorted(zip(issues["row_no"], issues["column"], issues["kind"], strict=True)) == [
        (2, "医疗费用总额", "implausible_amount"),
        (3, "政策范围内费用", "implausible_amount"),
        (4, "医疗救助支付", "implausible_amount"),
        (5, "结算日期", "implausible_date"),
        (6, "证件号码", "invisible_chars"),
        (7, "政策范围内费用", "implausible_amount"),
    ]
    for issue in issues.iter_rows(named=True):
        assert issue["message"].startswith(f"第{issue['row_no']}行「{issue['column']}」")
        assert issue["status"] == "open" and issue["sheet"] in ("", None)

    out = night["home"] / "issues.csv"
    export("issues", out, night["url"])
    exported = pl.read_csv(out, infer_schema=False).filter(pl.col("file") == NAME)
    assert exported.height == 6
    assert set(exported["kind_name"]) == {
        "金额为负或明显不合理",
        "日期明显不合理",
        "证件号码含不可见字符",
    }
    assert "第5行「结算日期」填写为“2099-12-31”" in " ".join(exported["message"])


def test_no_rule_indicator_or_report_uses_them_and_the_cleaned_id_counts(
    night: dict, inbox: tuple[Path, str]
) -> None:
    engine = db.connect(night["url"])
    findings = db.read_frame(engine, "finding")
    r13 = findings.filter(pl.col("rule") == "R13", pl.col("record_key").str.starts_with("JSX"))
    # JSX0005 (the ID with U+200B, short of 70%) is found, under the person's clean ID; the
    # bills with an amount left out are not judged: no finding made from -5000, 1e15 or Inf.
    assert r13["record_key"].to_list() == ["JSX0005"]
    assert r13["person_id"].to_list() == [inbox[1]]
    for detail in findings["detail"].to_list():
        assert not NOT_A_NUMBER.search(detail), detail

    indicators = db.read_frame(engine, "indicator")
    assert indicators.height > 0
    for column in ("value", "numerator", "denominator"):
        assert indicators[column].drop_nulls().is_finite().all(), column

    reports = night["result"]["reports"]
    assert reports
    for path in reports:
        text = Path(path).read_text(encoding="utf-8")
        visible = re.sub(r"<(script|style)\b.*?</\1>", "", text, flags=re.S)
        assert not NOT_A_NUMBER.search(re.sub(r"<[^>]+>", " ", visible)), path
