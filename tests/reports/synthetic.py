"""A synthetic Nanxiong in canonical frames (no spreadsheets): 6,289 households and ~15,900
persons at scale 1 over the 208 real villages, 68 poor villages with their support units,
one insurance year of 420,000 rows, findings and issues with life cycles.  For timing the
reports and for loading a warehouse in tests; the generator package makes the realistic one.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import polars as pl
from sqlalchemy import Engine

from config.rules import RULES
from config.settings import load_divisions, village_short
from transforms import ids
from transforms.frames import DIBAO_ROW, ENROLMENT_ROW, ISSUE, ROSTER_PERSON, VILLAGE, conform
from transforms.privacy import mask_id

LABOUR = ["普通劳动力", "技能劳动力", "弱劳动力或半劳动力", "丧失劳动力", "无劳动力"]
HEALTH = ["健康", "长期慢性病", "患有大病", "残疾"]


def city(
    scale: float = 1.0, seed: int = 7, as_of: date = date(2018, 6, 30), insured_rows: int = 420_000
) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    div = load_divisions()
    villages = list(div.villages)
    n_households = max(30, int(6289 * scale))
    poor_idx = set(rng.choice(len(villages), size=68, replace=False).tolist())
    unit_types = ["省直/中直驻粤"] * 12 + ["东莞市"] * 47 + ["韶关市直/省直驻韶"] * 9
    rng.shuffle(unit_types)
    # households: poor villages hold 60% of them
    weights = np.array([6.0 if i in poor_idx else 1.6 for i in range(len(villages))])
    village_of = rng.choice(len(villages), size=n_households, p=weights / weights.sum())
    sizes = rng.choice([1, 2, 3, 4, 5], size=n_households, p=[0.2, 0.3, 0.3, 0.15, 0.05])
    exit_year = rng.choice([2016, 2017, 2018, 0], size=n_households, p=[0.33, 0.38, 0.12, 0.17])
    attr = rng.choice(
        ["一般贫困户", "低保贫困户", "特困供养贫困户"], size=n_households, p=[0.55, 0.38, 0.07]
    )
    rows: list[dict[str, Any]] = []
    seq = 0
    for h in range(n_households):
        v = villages[village_of[h]]
        hid = f"{v.code}{h:05d}"
        for m in range(int(sizes[h])):
            seq += 1
            born = date(1940, 1, 1) + timedelta(days=int(rng.integers(0, 25000)))
            pid = ids.make_id("440282", born, seq % 1000)
            rows.append(
                {
                    "file_id": 1 + list(div.townships).index(v.township_code),
                    "sheet": "花名册",
                    "row_no": len(rows) + 4,
                    "township_code": v.township_code,
                    "township": div.short_name(v.township_code),
                    "village": village_short(v.name),
                    "household_id": hid,
                    "name": "李" + "明华国英"[m % 4],
                    "id_raw": pid,
                    "id_norm": pid,
                    "id_status": ids.VALID,
                    "relation": "户主" if m == 0 else "之子",
                    "labour": LABOUR[int(rng.choice(5, p=[0.5, 0.1, 0.15, 0.1, 0.15]))],
                    "health": HEALTH[int(rng.choice(4, p=[0.7, 0.15, 0.08, 0.07]))],
                    "school": "义务教育阶段辍学" if rng.random() < 0.001 else "非在校生",
                    "person_status": "正常" if rng.random() > 0.01 else "死亡",
                    "attribute": str(attr[h]),
                    "income": float(rng.normal(9000, 1500)),
                    "exit_status": "已脱贫" if exit_year[h] else "未脱贫",
                    "exit_year": int(exit_year[h]) or None,
                    "housing": "C级危房" if rng.random() < 0.004 else "安全",
                    "water_safe": bool(rng.random() > 0.02),
                    "support_unit": None,
                    "support_cadre": "王干部",
                }
            )
    persons = conform(pl.DataFrame(rows, infer_schema_length=None), ROSTER_PERSON)

    vrows = []
    k = 0
    for i, v in enumerate(villages):
        poor = i in poor_idx
        utype = unit_types[k] if poor else "驻镇帮扶工作组"
        unit = (
            f"{utype.split('/')[0]}帮扶单位{k + 1:02d}"
            if poor
            else f"{div.short_name(v.township_code)}驻镇帮扶工作组"
        )
        k += 1 if poor else 0
        vrows.append(
            {
                "file_id": 1 + list(div.townships).index(v.township_code),
                "sheet": "贫困村情况表",
                "row_no": i + 3,
                "township_code": v.township_code,
                "village": village_short(v.name),
                "is_poor": poor,
                "registered_population": int(rng.integers(800, 4000)),
                "income": float(rng.normal(10500, 900)),
                "health_station": bool(rng.random() > 0.1),
                "bus": bool(rng.random() > 0.05),
                "water_safe": bool(rng.random() > 0.05),
                "coverage_4g": bool(rng.random() > 0.05),
                "info_point": bool(rng.random() > 0.1),
                "waste": bool(rng.random() > 0.1),
                "sewage": bool(rng.random() > 0.2),
                "toilet_rate": float(min(100, rng.normal(97.5, 1.5))),
                "support_unit": unit,
                "unit_type": utype,
                "first_secretary": "张三丰" if poor else None,
            }
        )
    village = conform(pl.DataFrame(vrows, infer_schema_length=None), VILLAGE)

    poor_ids = persons["id_norm"].to_list()
    insured = [p for p in poor_ids if rng.random() > 0.003]
    others = max(0, int(insured_rows * min(scale, 1.0)) - len(insured))
    enrol_ids = insured + [
        ids.make_id("440282", date(1950, 1, 1) + timedelta(days=int(d)), int(s))
        for d, s in zip(rng.integers(0, 25000, others), rng.integers(0, 1000, others), strict=True)
    ]
    enrolment = pl.DataFrame(
        {
            "file_id": 30,
            "sheet": "",
            "row_no": np.arange(2, len(enrol_ids) + 2),
            "insured_key": None,
            "name": "李明",
            "id_raw": enrol_ids,
            "id_norm": enrol_ids,
            "id_status": ids.VALID,
            "year": as_of.year,
            "enrol_status": "参保缴费",
            "person_status": "正常",
            "subsidy": "建档立卡贫困人口",
        }
    )
    enrolment = conform(enrolment, ENROLMENT_ROW)

    hh = persons.filter(pl.col("relation") == "户主")
    dibao_heads = hh.filter(pl.col("attribute") != "一般贫困户").sample(fraction=0.97, seed=seed)
    dibao = conform(
        dibao_heads.select(
            file_id=pl.lit(20),
            sheet=pl.lit(""),
            row_no=pl.int_range(2, pl.len() + 2),
            township="township",
            village="village",
            family_id=pl.col("household_id"),
            name="name",
            id_raw="id_norm",
            id_norm="id_norm",
            id_status="id_status",
            category=pl.when(pl.col("attribute") == "特困供养贫困户")
            .then(pl.lit("特困供养"))
            .otherwise(pl.lit("农村低保")),
            status=pl.lit("在保"),
            start_date=pl.lit(date(2016, 1, 1)),
        ),
        DIBAO_ROW,
    )

    rules = list(RULES)
    n_find = max(15, int(450 * scale))
    fh = hh.sample(n=min(n_find, hh.height), seed=seed + 1)
    days = rng.integers(0, 700, fh.height)
    first = [as_of - timedelta(days=int(d)) for d in days]
    resolved = [
        f + timedelta(days=int(rng.integers(3, 90))) if rng.random() < 0.4 else None for f in first
    ]
    resolved = [r if r is not None and r <= as_of else None for r in resolved]
    findings = (
        pl.DataFrame(
            {
                "rule": [rules[int(i)] for i in rng.integers(0, len(rules), fh.height)],
                "township_code": fh["township_code"],
                "village": fh["village"],
                "household_id": fh["household_id"],
                "person_id": fh["id_norm"],
                "id_as_written": fh["id_norm"],
                "detail": [
                    f"户编号{h}（户主{mask_id(p)}）存在问题，请核实。"
                    for h, p in zip(fh["household_id"], fh["id_norm"], strict=True)
                ],
                "first_seen": first,
                "last_seen": [r or as_of for r in resolved],
                "resolved_on": resolved,
            }
        )
        .with_columns(
            key=pl.col("rule") + ":" + pl.col("household_id"),
            status=pl.when(pl.col("resolved_on").is_null())
            .then(pl.lit("open"))
            .otherwise(pl.lit("resolved")),
            severity=pl.col("rule").replace_strict(
                {c: r.severity for c, r in RULES.items()}, return_dtype=pl.Utf8
            ),
            reopened=pl.lit(0),
        )
        .unique("key", keep="first", maintain_order=True)
    )
    n_iss = max(10, int(400 * scale))
    ih = persons.sample(n=min(n_iss, persons.height), seed=seed + 2)
    ifirst = [as_of - timedelta(days=int(d)) for d in rng.integers(0, 300, ih.height)]
    issues = pl.DataFrame(
        {
            "kind": ["bad_number"] * ih.height,
            "source": ["townships"] * ih.height,
            "file_id": ih["file_id"],
            "sheet": ih["sheet"],
            "row_no": ih["row_no"],
            "column": ["年人均可支配收入"] * ih.height,
            "township_code": ih["township_code"],
            "village": ih["village"],
            "household_id": ih["household_id"],
            "value": ["七千"] * ih.height,
            "message": ["数值无法识别"] * ih.height,
            "suggested_fix": ["请填写数字"] * ih.height,
            "first_seen": ifirst,
            "last_seen": [as_of] * ih.height,
            "resolved_on": [None] * ih.height,
        },
        schema_overrides={"resolved_on": pl.Date},
    ).with_columns(
        key=pl.format("bad_number:{}:{}", pl.col("file_id"), pl.col("row_no")),
        status=pl.lit("open"),
        reopened=pl.lit(0),
    )
    issues = issues.select([*ISSUE, "status", "first_seen", "last_seen", "resolved_on", "reopened"])
    return {
        "persons": persons,
        "villages": village,
        "enrolment": enrolment,
        "dibao": dibao,
        "findings": findings,
        "issues": issues,
        "as_of": as_of,
    }


def load_warehouse(engine: Engine, data: dict[str, Any]) -> None:
    """Put a synthetic city into an upgraded warehouse: files, canonical rows, a run,
    findings, issues."""
    from warehouse import db

    div = load_divisions()
    as_of = data["as_of"]
    run_id = db.start_run(engine, "nightly", as_of)
    stamp = datetime(as_of.year, as_of.month, as_of.day, 0, 30, tzinfo=UTC)
    for i, code in enumerate(div.townships):
        db.record_file(
            engine,
            id=i + 1,
            seq=i + 1,
            source="townships",
            name=f"{div.short_name(code)}花名册.xlsx",
            rel_path=f"townships/{code}.xlsx",
            sha256=f"{i + 1:064x}",
            size=1,
            received_at=stamp,
            run_id=run_id,
            status="accepted",
            township_code=code,
            rows_loaded=int((data["persons"]["township_code"] == code).sum()),
        )
    db.record_file(
        engine,
        id=20,
        seq=20,
        source="dibao",
        name="低保名册.csv",
        rel_path="dibao/db.csv",
        sha256=f"{20:064x}",
        size=1,
        received_at=stamp,
        run_id=run_id,
        status="accepted",
        rows_loaded=data["dibao"].height,
    )
    db.record_file(
        engine,
        id=30,
        seq=30,
        source="insurance",
        name="参保名册.csv",
        rel_path="insurance/cb.csv",
        sha256=f"{30:064x}",
        size=1,
        received_at=stamp,
        run_id=run_id,
        status="accepted",
        rows_loaded=data["enrolment"].height,
    )
    db.write_frame(engine, "roster_person", data["persons"])
    db.write_frame(engine, "village", data["villages"])
    db.write_frame(engine, "dibao", data["dibao"])
    db.write_frame(engine, "enrolment", data["enrolment"])
    db.write_frame(engine, "finding", data["findings"].with_columns(updated_run_id=pl.lit(run_id)))
    db.write_frame(engine, "dq_issue", data["issues"].with_columns(updated_run_id=pl.lit(run_id)))
    db.finish_run(engine, run_id, "succeeded")
