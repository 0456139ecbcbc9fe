"""The 低保, enrolment, settlement and village suites on tiny canonical frames."""

from __future__ import annotations

from datetime import date
from typing import Any

import polars as pl

from expectations import validate
from tests.expectations.builders import ZHUJI, frame
from transforms import ids

ID_A = ids.make_id("440282", date(1950, 6, 1), 15)
ID_B = ids.make_id("440282", date(1985, 12, 31), 26)


def dibao_row(**over: Any) -> dict[str, Any]:
    row = {
        "file_id": 8,
        "sheet": "",
        "row_no": 2,
        "township": "珠玑镇",
        "village": "珠玑村",
        "family_id": "DB001",
        "name_raw": "张三",
        "name": "张三",
        "id_raw": ID_A,
        "relation": "本人",
        "category": "农村低保",
        "family_size": 1,
        "monthly_amount": 350.0,
        "status": "在保",
        "start_date": date(2016, 5, 1),
        "start_date_raw": "2016/5/1",
        "stop_date": None,
        "stop_date_raw": None,
        "stop_reason": None,
    }
    return {**row, **over}


def enrolment_row(**over: Any) -> dict[str, Any]:
    row = {
        "file_id": 9,
        "sheet": "",
        "row_no": 2,
        "insured_key": "P1",
        "name_raw": "张三",
        "name": "张三",
        "id_raw": ID_A,
        "sex": "男",
        "birth_date": date(1950, 6, 1),
        "year": 2017,
        "enrol_status": "参保缴费",
        "person_status": "正常",
        "subsidy": "建档立卡贫困人口",
        "township": "珠玑镇",
        "village": "珠玑村",
    }
    return {**row, **over}


def settlement_row(**over: Any) -> dict[str, Any]:
    row = {
        "file_id": 10,
        "sheet": "",
        "row_no": 2,
        "settlement_id": "S1",
        "id_raw": ID_A,
        "name_raw": "张三",
        "name": "张三",
        "settle_date": date(2017, 3, 1),
        "institution": "南雄市人民医院",
        "total_cost": 1000.0,
        "eligible_cost": 800.0,
        "basic_paid": 500.0,
        "serious_paid": 0.0,
        "assistance_paid": 0.0,
    }
    return {**row, **over}


def village_row(**over: Any) -> dict[str, Any]:
    row = {
        "file_id": 7,
        "sheet": "贫困村情况表",
        "row_no": 4,
        "township_code": ZHUJI,
        "village": "洋湖村",
        "is_poor": True,
        "registered_population": 2100,
        "income": 5200.0,
        "toilet_rate": 85.0,
        "unit_type": "东莞市",
    }
    return {**row, **over}


def kinds(issues: pl.DataFrame) -> list[tuple[str, int, str]]:
    return sorted(zip(issues["kind"], issues["row_no"], issues["column"], strict=True))


def test_clean_rows_of_every_source_have_no_issues() -> None:
    assert validate("dibao", frame("dibao", [dibao_row()])).height == 0
    assert validate("enrolment", frame("enrolment", [enrolment_row()])).height == 0
    assert validate("settlement", frame("settlement", [settlement_row()])).height == 0
    assert validate("village", frame("village", [village_row()])).height == 0


def test_dibao_issues() -> None:
    rows = [
        dibao_row(),
        dibao_row(row_no=3, category="低保户口", start_date=None, start_date_raw="五月"),
        dibao_row(row_no=4, family_id=" ", id_raw=ID_B[:17] + ("0" if ID_B[17] != "0" else "1")),
        dibao_row(row_no=5, stop_date=None, stop_date_raw="2017.13.45", status="停保"),
    ]
    issues = validate("dibao", frame("dibao", rows))
    assert kinds(issues) == [
        ("bad_date", 3, "起始日期"),
        ("bad_date", 5, "停保日期"),
        ("invalid_id", 4, "证件号码"),
        ("invalid_value", 3, "保障类别"),
        ("required_missing", 4, "家庭编号"),
    ]
    bad_date = issues.filter(pl.col("row_no") == 3, pl.col("kind") == "bad_date").row(0, named=True)
    assert bad_date["message"] == "第3行「起始日期」填写为“五月”，无法识别为日期"
    assert bad_date["key"] == f"dibao|bad_date|DB001|{ID_A}|起始日期"
    assert bad_date["township_code"] == ZHUJI
    assert bad_date["household_id"] == "DB001"


def test_enrolment_issues_and_township_routing() -> None:
    rows = [
        enrolment_row(),
        enrolment_row(row_no=3, enrol_status="已参保"),
        enrolment_row(row_no=4, id_raw="4.40282195006010E+17"),
        enrolment_row(row_no=5, name=None, name_raw=None, township="乌迳"),
        enrolment_row(row_no=6, id_raw="440282500601151"),  # legacy 15: fine
    ]
    issues = validate("enrolment", frame("enrolment", rows))
    assert kinds(issues) == [
        ("excel_mangled_id", 4, "证件号码"),
        ("invalid_value", 3, "参保状态"),
        ("required_missing", 5, "姓名"),
    ]
    routed = dict(zip(issues["row_no"], issues["township_code"], strict=True))
    assert routed[3] == ZHUJI and routed[5] == "440282100"


def test_settlement_amount_blank_or_unreadable() -> None:
    issues = validate("settlement", frame("settlement", [settlement_row(eligible_cost=None)]))
    issue = issues.row(0, named=True)
    assert (issue["kind"], issue["column"]) == ("required_missing", "政策范围内费用")
    assert issue["message"] == "第2行「政策范围内费用」为空或无法识别"
    assert issue["township_code"] is None


def test_village_sheet_issues() -> None:
    rows = [
        village_row(),
        village_row(row_no=5, village="乌迳村委会", toilet_rate=130.0),
        village_row(row_no=6, village="聪辈村委会", unit_type="省委", is_poor=None),
    ]
    issues = validate("village", frame("village", rows))
    assert kinds(issues) == [
        ("invalid_value", 5, "卫生厕所普及率"),
        ("invalid_value", 6, "单位类型"),
        ("required_missing", 6, "是否贫困村"),
        ("village_not_in_township", 5, "行政村"),
    ]


def test_empty_frame_gives_empty_issues() -> None:
    issues = validate("enrolment", frame("enrolment", []))
    assert issues.height == 0
    assert "message" in issues.columns
