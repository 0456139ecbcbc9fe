"""Report data built from the tiny indicator frames, with hostile text where it matters."""

from __future__ import annotations

from datetime import date
from typing import Any

import polars as pl
import pytest

from config.settings import load_divisions
from reports import context
from tests.transforms import indicator_builders as b
from transforms import ids
from transforms import indicators as ind

AS_OF = date(2018, 6, 30)
RUN = {"id": 7, "as_of": AS_OF}
LEAKED_ID = ids.make_id("440282", date(1980, 2, 3), 123)  # a full ID typed into free text
EVIL_VILLAGE = "<script>alert('x')</script>村"
FORMULA_UNIT = '=HYPERLINK("http://evil.example","点我")'
SOURCES = [
    {
        "source": "townships",
        "name": "珠玑镇花名册.xlsx",
        "township": "珠玑镇",
        "loaded": "2018-06-30 08:30",
        "rows": 6,
        "sha256": "a" * 64,
    },
    {
        "source": "dibao",
        "name": "低保名册.csv",
        "township": "",
        "loaded": "2018-06-29 09:00",
        "rows": 1,
        "sha256": "b" * 64,
    },
]


def hostile_inputs(period: str = "2017") -> ind.IndicatorInputs:
    p = b.persons().with_columns(
        village=pl.when(pl.col("township_code") == b.C)
        .then(pl.lit(EVIL_VILLAGE))
        .otherwise(pl.col("village"))
    )
    villages = b.villages().with_columns(
        village=pl.when(pl.col("township_code") == b.C)
        .then(pl.lit(EVIL_VILLAGE))
        .otherwise(pl.col("village")),
        is_poor=pl.lit(True),
        support_unit=pl.when(pl.col("township_code") == b.B)
        .then(pl.lit(FORMULA_UNIT))
        .otherwise(pl.col("support_unit")),
    )
    findings = b.findings().with_columns(
        detail=pl.lit(f"户主证件号码{LEAKED_ID}（测试：未脱敏的号码）"),
        village=pl.when(pl.col("township_code") == b.C)
        .then(pl.lit(EVIL_VILLAGE))
        .otherwise(pl.col("village")),
    )
    findings = pl.concat(
        [
            findings,
            pl.DataFrame(
                {
                    "rule": ["R05"],
                    "key": [f"R05:{LEAKED_ID}"],
                    "township_code": [b.C],
                    "village": [EVIL_VILLAGE],
                    "household_id": ["H7"],
                    "status": ["open"],
                    "first_seen": [date(2017, 3, 1)],
                    "resolved_on": [None],
                    "detail": [f"-{LEAKED_ID} 死亡未销号"],
                },
                schema=findings.schema,
            ),
        ]
    )
    return ind.IndicatorInputs(
        persons=p,
        villages=villages,
        period=period,
        policy=b.test_policy(),
        divisions=load_divisions(),
        as_of=AS_OF,
        dibao=b.dibao(p),
        enrolment=b.enrolment(p),
        findings=findings,
        issues=b.issues().with_columns(village=pl.lit(EVIL_VILLAGE)),
    )


def report_data(kind: str, period: str = "2017", township: str | None = None) -> dict[str, Any]:
    x = hostile_inputs(period)
    indicators = ind.compute_all(x)
    meta = context.build_meta(kind, x, township=township, run=RUN, sources=SOURCES)
    if kind == "assessment":
        return context.assessment_data(x, indicators, meta, township=township)
    return context.accountability_data(
        x, indicators, meta, township=township, file_names={1: "珠玑镇花名册.xlsx"}
    )


@pytest.fixture(scope="module")
def assessment() -> dict[str, Any]:
    return report_data("assessment")


@pytest.fixture(scope="module")
def accountability() -> dict[str, Any]:
    return report_data("accountability")
