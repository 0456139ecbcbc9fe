"""Values checked for sense, as a clerk reads them: staged rows normalised, then validated.

An amount or a date the normaliser left out is an issue of its own kind on its row
(implausible_amount, implausible_income, implausible_date), never mistaken for text that is
no number or date (bad_number, bad_date) or for a blank (required_missing); an ID cell with
invisible characters gets a low-severity invisible_chars issue, and no invalid_id when the ID
is valid once they are gone.
"""

from __future__ import annotations

from datetime import date

import polars as pl

from config.rules import ISSUE_SEVERITY
from config.schema import DIBAO, ENROLMENT, ROSTER, SETTLEMENT
from expectations import validate
from tests.expectations.builders import frame
from tests.expectations.test_sources import village_row
from tests.transforms.bound import (
    normalise_dibao,
    normalise_enrolment,
    normalise_roster,
    normalise_settlement,
)
from tests.transforms.test_normalise import person, staged
from tests.transforms.test_values import ID, bill
from transforms.privacy import mask_id

MASKED = mask_id(ID)
READ_ON = date(2018, 7, 1)


def test_settlement_values_that_cannot_be_right_are_issues_on_their_cells() -> None:
    bills = [
        bill("S1"),  # row 5: clean
        bill("S2", total_cost="-5000"),
        bill("S3", eligible_cost="1e15"),  # required, written: not also "missing"
        bill("S4", basic_paid="Inf"),
        bill("S5", settle_date="2099-12-31"),
        bill("S6", settle_date="1850-01-01"),
        bill("S7", total_cost="七千"),  # no number at all: bad_number, as before
        bill("S8", assistance_paid=None),  # blank: required_missing, as before
    ]
    canonical = normalise_settlement(staged(SETTLEMENT, bills), read_on=READ_ON)
    issues = validate("settlement", canonical)
    assert sorted(zip(issues["row_no"], issues["column"], issues["kind"], strict=True)) == [
        (6, "医疗费用总额", "implausible_amount"),
        (7, "政策范围内费用", "implausible_amount"),
        (8, "基本医保支付", "implausible_amount"),
        (9, "结算日期", "implausible_date"),
        (10, "结算日期", "implausible_date"),
        (11, "医疗费用总额", "bad_number"),
        (12, "医疗救助支付", "required_missing"),
    ]
    assert set(issues["file_id"]) == {3} and set(issues["sheet"]) == {"花名册"}


def test_messages_name_the_row_the_column_what_is_wrong_and_that_it_is_not_used() -> None:
    bills = [
        bill("S1", total_cost="-5000"),
        bill("S2", eligible_cost="1e15"),
        bill("S3", basic_paid="Inf"),
        bill("S4", settle_date="2099-12-31"),
        bill("S5", settle_date="1850-01-01"),
    ]
    canonical = normalise_settlement(staged(SETTLEMENT, bills), read_on=READ_ON)
    messages = {i["row_no"]: i for i in validate("settlement", canonical).iter_rows(named=True)}
    assert messages[5]["message"] == (
        "第5行「医疗费用总额」填写为“-5000”，为负数，明显不合理，未用于核查和统计"
    )
    assert messages[5]["value"] == "-5000" and messages[5]["file_id"] == 3
    assert messages[6]["message"] == (
        "第6行「政策范围内费用」填写为“1e15”，超过单笔10,000,000元，明显不合理，未用于核查和统计"
    )
    assert "不是有效的数值" in messages[7]["message"]
    assert messages[8]["message"] == (
        "第8行「结算日期」填写为“2099-12-31”，晚于读入该文件之日1年以上，明显不合理，未用于核查"
    )
    assert "早于1900年1月1日" in messages[9]["message"]
    assert messages[9]["suggested_fix"].startswith("核实后")
    assert messages[5]["key"] == "settlement|implausible_amount|S1|医疗费用总额"


def test_an_id_with_invisible_characters() -> None:
    hidden = ID[:6] + "\u200b" + ID[6:]
    bad = ID[:-1] + ("0" if ID[-1] != "0" else "1")
    bills = [
        bill("S1", id_number=hidden),
        bill("S2", id_number="\u202d" + bad),
        bill("S3", id_number="\u200b"),  # nothing but an invisible character: no ID
    ]
    canonical = normalise_settlement(staged(SETTLEMENT, bills), read_on=READ_ON)
    issues = validate("settlement", canonical).sort("row_no", "kind")
    assert list(zip(issues["row_no"], issues["kind"], strict=True)) == [
        (5, "invisible_chars"),
        (6, "invalid_id"),
        (6, "invisible_chars"),
        (7, "invisible_chars"),
        (7, "required_missing"),
    ]
    first = issues.row(0, named=True)
    assert first["value"] == MASKED  # masked as the cleaned ID: no invisible character left
    assert "看不见的字符" in first["message"] and first["column"] == "证件号码"
    assert "\u200b" not in "".join(issues["message"].to_list() + issues["value"].to_list())
    assert "invisible_chars" not in ISSUE_SEVERITY  # the default: 低


def test_other_sources() -> None:
    rows = [
        person(household_id="H1", name="张三", id_number=ID, relation="户主",
               attribute="一般贫困户", income="-5000", exit_status="已脱贫", exit_year="2099",
               family_size="1"),
    ]  # fmt: skip
    roster = validate("roster", normalise_roster(staged(ROSTER, rows), "珠玑镇", read_on=READ_ON))
    assert sorted(zip(roster["kind"], roster["column"], strict=True)) == [
        ("implausible_date", "脱贫年度"),
        ("implausible_income", "年人均可支配收入"),
    ]
    income = roster.filter(pl.col("kind") == "implausible_income").row(0, named=True)
    assert "为负数" in income["message"] and "未用于核查和统计" in income["message"]

    roll = [
        {"family_id": "D1", "name": "李四", "id_number": ID, "category": "农村低保",
         "status": "在保", "start_date": "2099-12-31", "monthly_amount": "1e9"},
    ]  # fmt: skip
    dibao = validate("dibao", normalise_dibao(staged(DIBAO, roll), read_on=READ_ON))
    assert sorted(zip(dibao["kind"], dibao["column"], strict=True)) == [
        ("implausible_amount", "月保障金额"),
        ("implausible_date", "起始日期"),  # not also "required": it was written
    ]
    assert "超过每月20,000元" in dibao.filter(pl.col("column") == "月保障金额")["message"][0]

    enrolled = [{"name": "赵六", "id_number": ID, "birth_date": "2099-12-31", "year": "2018",
                 "enrol_status": "参保缴费"}]  # fmt: skip
    canonical = normalise_enrolment(staged(ENROLMENT, enrolled), read_on=READ_ON)
    enrolment = validate("enrolment", canonical)
    assert list(zip(enrolment["kind"], enrolment["column"], strict=True)) == [
        ("implausible_date", "出生日期")
    ]

    villages = frame("village", [village_row(income=float("inf")), village_row(row_no=5)])
    village = validate("village", villages)
    assert list(zip(village["kind"], village["row_no"], strict=True)) == [("implausible_income", 4)]
    assert "不是有效的数值" in village["message"][0]
