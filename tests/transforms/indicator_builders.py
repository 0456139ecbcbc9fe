"""Tiny frames for indicator and report tests: three townships, seven households.

珠玑镇 (A): H1 3 persons 已脱贫 2016; H2 2 persons 低保贫困户 未脱贫 (covered);
            H3 1 person 特困供养 无劳动力 已脱贫 2017 (not covered)            → 6 persons, 4 out by 2017
乌迳镇 (B): H4 4 persons 已脱贫 2017, no safe water; H5 1 person C级危房      → 5 persons, 4 out
界址镇 (C): H6 2 persons 已脱贫 2016, one of them dead; H7 2 persons, one dropout → 3 persons, 1 out
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Any

import polars as pl

from config.settings import Policy, YearPolicy, load_policy
from transforms import ids
from transforms.frames import DIBAO_ROW, ENROLMENT_ROW, ROSTER_PERSON, conform

A, B, C = "440282113", "440282100", "440282103"
NAMES = {A: "珠玑镇", B: "乌迳镇", C: "界址镇"}
VILLAGES = {A: "珠玑村", B: "新田村", C: "界址村"}


def test_policy(**kw: Any) -> Policy:
    """100 registered persons; cumulative targets 30 / 70 / 100 persons."""
    years = {y: YearPolicy(y, 7365.0, 9820.0, t) for y, t in ((2016, 30), (2017, 70), (2018, 100))}
    return replace(load_policy(), persons=100, years=years, **kw)


_seq = iter(range(100, 999))


def _person(township: str, household: str, **kw: Any) -> dict[str, Any]:
    identity = ids.make_id("440282", date(1970, 1, 1), next(_seq))
    row = {
        "file_id": 1,
        "sheet": "花名册",
        "row_no": 4,
        "township_code": township,
        "township": NAMES[township],
        "village": VILLAGES[township],
        "household_id": household,
        "name": "李明",
        "id_raw": identity,
        "id_norm": identity,
        "id_status": ids.VALID,
        "relation": "户主",
        "labour": "普通劳动力",
        "health": "健康",
        "school": "非在校生",
        "person_status": "正常",
        "attribute": "一般贫困户",
        "income": 8000.0,
        "exit_status": "未脱贫",
        "exit_year": None,
        "housing": "安全",
        "water_safe": True,
        "support_cadre": "王干部",
    }
    row.update(kw)
    return row


def _household(township: str, hid: str, n: int, **kw: Any) -> list[dict[str, Any]]:
    members = [
        _person(township, hid, relation="户主" if i == 0 else "之子", row_no=4 + i, **kw)
        for i in range(n)
    ]
    return members


def persons() -> pl.DataFrame:
    rows = [
        *_household(A, "H1", 3, exit_status="已脱贫", exit_year=2016),
        *_household(A, "H2", 2, attribute="低保贫困户"),
        *_household(
            A,
            "H3",
            1,
            attribute="特困供养贫困户",
            labour="无劳动力",
            health="患有大病",
            exit_status="已脱贫",
            exit_year=2017,
        ),
        *_household(B, "H4", 4, exit_status="已脱贫", exit_year=2017, water_safe=False),
        *_household(B, "H5", 1, housing="C级危房", health="残疾"),
        *_household(C, "H6", 1, exit_status="已脱贫", exit_year=2016),
        _person(
            C, "H6", relation="配偶", person_status="死亡", exit_status="已脱贫", exit_year=2016
        ),
        *_household(C, "H7", 1),
        _person(C, "H7", relation="之子", school="义务教育阶段辍学"),
    ]
    return conform(pl.DataFrame(rows, infer_schema_length=None), ROSTER_PERSON)


def enrolment(
    frame: pl.DataFrame, year: int = 2017, skip: tuple[str, ...] = ("H5",)
) -> pl.DataFrame:
    """Everyone insured in `year` except the households in `skip`."""
    insured = frame.filter(~pl.col("household_id").is_in(list(skip)))
    rows = [
        {
            "file_id": 9,
            "sheet": "",
            "row_no": i + 2,
            "id_norm": pid,
            "id_status": ids.VALID,
            "name": "李明",
            "year": year,
            "enrol_status": "参保缴费",
            "person_status": "正常",
            "subsidy": "建档立卡贫困人口",
        }
        for i, pid in enumerate(insured["id_norm"].to_list())
    ]
    return conform(pl.DataFrame(rows), ENROLMENT_ROW)


def dibao(frame: pl.DataFrame) -> pl.DataFrame:
    """H2's head is covered by 农村低保 since 2016."""
    head = frame.filter(pl.col("household_id") == "H2")["id_norm"][0]
    row = {
        "file_id": 8,
        "sheet": "",
        "row_no": 2,
        "family_id": "DB1",
        "id_norm": head,
        "id_status": ids.VALID,
        "name": "李明",
        "category": "农村低保",
        "status": "在保",
        "start_date": date(2016, 1, 1),
    }
    return conform(pl.DataFrame([row]), DIBAO_ROW)


def findings() -> pl.DataFrame:
    return pl.DataFrame(
        [
            ("R10", "R10:H1", A, "珠玑村", "H1", "open", date(2017, 1, 10), None),
            (
                "R01",
                "R01:x",
                A,
                "珠玑村委会",
                "H2",
                "resolved",
                date(2017, 1, 10),
                date(2017, 3, 1),
            ),
            ("R03", "R03:H3", A, "珠玑村", "H3", "resolved", date(2017, 1, 10), date(2017, 1, 20)),
            ("R14", "R14:H5", B, "新田村", "H5", "open", date(2018, 1, 5), None),
        ],
        schema={
            "rule": pl.Utf8,
            "key": pl.Utf8,
            "township_code": pl.Utf8,
            "village": pl.Utf8,
            "household_id": pl.Utf8,
            "status": pl.Utf8,
            "first_seen": pl.Date,
            "resolved_on": pl.Date,
        },
        orient="row",
    )


def issues() -> pl.DataFrame:
    return pl.DataFrame(
        [
            ("bad_number", "k1", C, "界址村", "open", date(2017, 11, 1), None),
            ("bad_date", "k2", C, "界址村", "open", date(2017, 12, 15), None),
        ],
        schema={
            "kind": pl.Utf8,
            "key": pl.Utf8,
            "township_code": pl.Utf8,
            "village": pl.Utf8,
            "status": pl.Utf8,
            "first_seen": pl.Date,
            "resolved_on": pl.Date,
        },
        orient="row",
    )


def villages() -> pl.DataFrame:
    base = {
        "file_id": 1,
        "sheet": "贫困村情况表",
        "health_station": True,
        "bus": True,
        "water_safe": True,
        "coverage_4g": True,
        "info_point": True,
        "waste": True,
        "sewage": True,
    }
    rows = [
        {
            **base,
            "row_no": 3,
            "township_code": A,
            "village": "珠玑村委会",
            "is_poor": True,
            "income": 9900.0,
            "toilet_rate": 98.0,
            "support_unit": "东莞市甲局",
            "unit_type": "东莞",
            "first_secretary": "张三丰",
        },
        {
            **base,
            "row_no": 3,
            "township_code": B,
            "village": "新田村",
            "is_poor": True,
            "income": 9000.0,
            "toilet_rate": 90.0,
            "sewage": False,
            "support_unit": "南雄市乙局",
            "unit_type": "南雄市直",
            "first_secretary": "李四",
        },
        {
            **base,
            "row_no": 3,
            "township_code": C,
            "village": "界址村",
            "is_poor": False,
            "income": 12000.0,
            "toilet_rate": 99.0,
            "support_unit": "界址镇驻镇帮扶工作组",
            "unit_type": "驻镇帮扶工作组",
        },
    ]
    from transforms.frames import VILLAGE

    return conform(pl.DataFrame(rows, infer_schema_length=None), VILLAGE)
