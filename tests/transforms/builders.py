"""Tiny canonical frames for rule and identity tests: defaults describe a person who is
insured, covered where needed and breaks no rule, so each test states only what differs."""

from __future__ import annotations

from datetime import date
from typing import Any

import polars as pl

from config.settings import load_policy
from transforms import identity, ids
from transforms.frames import DIBAO_ROW, ENROLMENT_ROW, ROSTER_PERSON, SETTLEMENT_ROW, conform
from transforms.rules import RuleInputs

D = date(2018, 6, 30)
TOWNSHIP = "440282113"


def pid(seq: int, born: date = date(1970, 1, 1), area: str = "440282") -> str:
    return ids.make_id(area, born, seq)


def person(**kw: Any) -> dict[str, Any]:
    base = {
        "file_id": 1,
        "sheet": "花名册",
        "row_no": 4,
        "township_code": TOWNSHIP,
        "township": "珠玑镇",
        "village": "珠玑村",
        "household_id": "H001",
        "name": "李明",
        "id_raw": None,
        "relation": "户主",
        "labour": "普通劳动力",
        "school": "非在校生",
        "person_status": "正常",
        "attribute": "一般贫困户",
        "income": 8000.0,
        "exit_status": "未脱贫",
        "exit_year": None,
        "housing": "安全",
        "support_cadre": "王干部",
    }
    base.update(kw)
    if base["id_raw"] is None:
        base["id_raw"] = pid(11)
    return base


def _frame(rows: list[dict[str, Any]], schema: dict[str, pl.DataType]) -> pl.DataFrame:
    if not rows:
        return conform(pl.DataFrame(), schema)
    frame = pl.DataFrame(rows, infer_schema_length=None)
    return ids.parse_id_column(conform(frame, schema).drop("id_norm", "id_status"), "id_raw")


def enrol(identity_: str, **kw: Any) -> dict[str, Any]:
    base = {
        "file_id": 9,
        "sheet": "",
        "row_no": 2,
        "id_raw": identity_,
        "name": "李明",
        "year": D.year,
        "enrol_status": "参保缴费",
        "person_status": "正常",
        "subsidy": "建档立卡贫困人口",
    }
    base.update(kw)
    return base


def dibao(identity_: str, **kw: Any) -> dict[str, Any]:
    base = {
        "file_id": 8,
        "sheet": "",
        "row_no": 2,
        "family_id": "DB001",
        "id_raw": identity_,
        "name": "李明",
        "township": "珠玑镇",
        "village": "珠玑村",
        "category": "农村低保",
        "status": "在保",
        "start_date": date(2016, 1, 1),
        "stop_date": None,
        "stop_reason": None,
    }
    base.update(kw)
    return base


def settlement(identity_: str, **kw: Any) -> dict[str, Any]:
    base = {
        "file_id": 7,
        "sheet": "",
        "row_no": 2,
        "settlement_id": "S001",
        "id_raw": identity_,
        "name": "李明",
        "eligible_cost": 1000.0,
        "basic_paid": 600.0,
        "serious_paid": 0.0,
        "assistance_paid": 280.0,
    }
    base.update(kw)
    return base


def inputs(
    persons: list[dict[str, Any]],
    enrolments: list[dict[str, Any]] | None = None,
    dibaos: list[dict[str, Any]] | None = None,
    settlements: list[dict[str, Any]] | None = None,
    as_of: date = D,
) -> RuleInputs:
    p = _frame(persons, ROSTER_PERSON)
    if enrolments is None:  # everyone insured by default
        enrolments = [
            enrol(i, name=n)
            for i, n in zip(p["id_norm"], p["name"], strict=True)
            if ids.is_valid_id(i)
        ]
    e = identity.source_identity(_frame(enrolments, ENROLMENT_ROW))
    d = identity.source_identity(_frame(dibaos or [], DIBAO_ROW))
    s = identity.source_identity(_frame(settlements or [], SETTLEMENT_ROW))
    resolved = identity.resolve_roster(p, identity.reference_ids(d, e))
    return RuleInputs(
        persons=resolved,
        dibao=d,
        enrolment=e,
        settlements=s,
        as_of=as_of,
        exit_lines={2016: 7365.0, 2017: 7365.0, 2018: 7365.0},
        housing_deadline=load_policy().housing_deadline,
        assistance_share=load_policy().medical_assistance_share,
        assistance_tolerance=load_policy().medical_assistance_tolerance,
        file_names={
            1: "townships/珠玑镇.xlsx",
            7: "claims/js.csv",
            8: "dibao/db.csv",
            9: "insurance/cb.csv",
        },
    )
