"""Tiny canonical frames for the expectation tests (built with transforms.frames.conform)."""

from __future__ import annotations

from datetime import date
from typing import Any

import polars as pl

from transforms import ids
from transforms.frames import CANONICAL, conform

ZHUJI = "440282113"  # 珠玑镇
WUJING = "440282100"  # 乌迳镇
FILE_ID = 7
SHEET = "花名册"

HEAD_ID = ids.make_id("440282", date(1961, 4, 12), 31)  # odd: 男
SPOUSE_ID = ids.make_id("440282", date(1963, 9, 2), 42)  # even: 女
LEGACY15 = "440282600101123"  # 15 digits, 男, converts to 440282196001011233


def person(**over: Any) -> dict[str, Any]:
    """A clean roster row of household H1's head; override what a test needs."""
    row: dict[str, Any] = {
        "file_id": FILE_ID,
        "sheet": SHEET,
        "row_no": 5,
        "township_code": ZHUJI,
        "township": "珠玑镇",
        "village": "珠玑村",
        "household_id": "H1",
        "name_raw": "王小明",
        "name": "王小明",
        "id_raw": HEAD_ID,
        "sex": "男",
        "relation": "户主",
        "labour": "普通劳动力",
        "health": "健康",
        "school": "非在校生",
        "person_status": "正常",
        "attribute": "一般贫困户",
        "family_size": 2,
        "family_size_raw": "2",
        "income": 6800.0,
        "income_raw": "6,800",
        "exit_status": "已脱贫",
        "exit_year": 2017,
        "exit_year_raw": "2017",
        "housing": "安全",
        "water_safe": True,
        "water_safe_raw": "是",
        "support_cadre": "李帮扶",
        "phone": "13812345678",
    }
    row.update(over)
    return row


def with_ids(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for row in rows:
        if "id_norm" not in row:
            parsed = ids.parse_id(row.get("id_raw"))
            row = {**row, "id_norm": parsed.normalised, "id_status": parsed.status}
        out.append(row)
    return out


def frame(kind: str, rows: list[dict[str, Any]]) -> pl.DataFrame:
    rows = with_ids(rows) if "id_raw" in CANONICAL[kind] else rows
    return conform(pl.DataFrame(rows, infer_schema_length=None), CANONICAL[kind])


def clean_rows() -> list[dict[str, Any]]:
    """Two households, both headed by a 王小明; H2's head has a correct 15-digit ID and an
    income of exactly 0."""
    return [
        person(),
        person(
            row_no=6, name_raw="李秀英", name="李秀英", id_raw=SPOUSE_ID, sex="女", relation="配偶"
        ),
        person(
            row_no=7,
            household_id="H2",
            village="洋湖村委会",
            id_raw=LEGACY15,
            family_size=1,
            family_size_raw="1",
            income=0.0,
            income_raw="0",
            exit_status="未脱贫",
            exit_year=None,
            exit_year_raw=None,
            attribute="低保贫困户",
        ),
    ]


def roster(rows: list[dict[str, Any]] | None = None) -> pl.DataFrame:
    return frame("roster", rows if rows is not None else clean_rows())
