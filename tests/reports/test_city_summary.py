"""The city's summary (各县（市、区）数据核查汇总) built from hand-made rows: the ranking of
counties (ties share a place, a county without indicators is unranked and last), the counts
per county, and the rendered HTML/XLSX naming every county with no personal data."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import polars as pl
from python_calamine import CalamineWorkbook

from config.settings import load_policy
from reports import CITY_SUMMARY, render
from reports.context.city import city_summary_data, county_rows, rank_counties
from reports.html import render_html
from transforms.privacy import scrub_data

AS_OF = date(2018, 6, 30)
NANXIONG, LECHANG, SHIXING, RENHUA = "440282", "440281", "440222", "440224"
NAMES = {NANXIONG: "南雄市", LECHANG: "乐昌市", SHIXING: "始兴县", RENHUA: "仁化县"}
LEAKED_ID = "440282198002030123"


def county_indicators(
    code: str, persons: int, households: int, out: int, target: int, period: str = "2018H1"
) -> list[dict[str, Any]]:
    """The long rows of one county's whole-county entity (level city)."""
    ratio = out / target * 100 if target else None
    rating = None if not target else (2 if out >= target else 1 if out >= 0.9 * target else 0)
    values: list[tuple[str, float | None, float | None, float | None]] = [
        ("persons", persons, None, None),
        ("households", households, None, None),
        ("persons_out", out, None, None),
        ("households_out", out // 3, None, None),
        ("exit_share", out / persons * 100, out, persons),
        ("target_persons_out", target, target, None),
        ("target_progress", ratio, out, target),
        ("target_rating", rating, None, None),
        ("overdue_findings", 1, None, None),
        ("overdue_issues", 2, None, None),
    ]
    return [
        {
            "period": period,
            "level": "city",
            "entity_code": code,
            "entity_name": NAMES[code],
            "indicator": ind,
            "value": v,
            "numerator": n,
            "denominator": d,
            "unit": "",
        }
        for ind, v, n, d in values
    ]


def indicators(*rows: list[dict[str, Any]]) -> pl.DataFrame:
    return pl.DataFrame(
        [r for rs in rows for r in rs],
        schema={
            "period": pl.Utf8,
            "level": pl.Utf8,
            "entity_code": pl.Utf8,
            "entity_name": pl.Utf8,
            "indicator": pl.Utf8,
            "value": pl.Float64,
            "numerator": pl.Float64,
            "denominator": pl.Float64,
            "unit": pl.Utf8,
        },
    )


def findings(*rows: tuple[str, str, str, str | None, str]) -> pl.DataFrame:
    return pl.DataFrame(
        rows,
        schema={
            "county_code": pl.Utf8,
            "rule": pl.Utf8,
            "key": pl.Utf8,
            "severity": pl.Utf8,
            "status": pl.Utf8,
        },
        orient="row",
    )


def issues(*rows: tuple[str, str]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema={"county_code": pl.Utf8, "status": pl.Utf8}, orient="row")


def four_counties() -> dict[str, Any]:
    """南雄 and 乐昌 tie at 80% of target, 始兴 is ahead at 100%, 仁化 has no indicators."""
    return city_summary_data(
        NAMES,
        indicators(
            county_indicators(NANXIONG, 1000, 400, 240, 300),
            county_indicators(LECHANG, 500, 200, 120, 150),
            county_indicators(SHIXING, 200, 80, 60, 60),
            county_indicators(NANXIONG, 1000, 400, 999, 300, period="2017"),  # another period
        ),
        findings(
            (NANXIONG, "R01", "R01:a", "高", "open"),
            (NANXIONG, "R16", "R16:p", "高", "open"),
            (NANXIONG, "R02", "R02:b", None, "open"),  # severity from config.rules
            (NANXIONG, "R01", "R01:c", "高", "resolved"),
            (LECHANG, "R16", "R16:p", "高", "open"),  # the same person: one in the city total
            (LECHANG, "R09", "R09:d", "低", "open"),
            (RENHUA, "R01", "R01:e", "高", "open"),
        ),
        issues(
            (NANXIONG, "open"),
            (NANXIONG, "resolved"),
            (SHIXING, "open"),
            ("440200", "open"),
            ("440200", "open"),
        ),
        period="2018H1",
        as_of=AS_OF,
        policy=load_policy(),
    )


def table_of(data: dict[str, Any], id_: str) -> dict[str, Any]:
    return next(t for s in data["sections"] for t in s["tables"] if t["id"] == id_)


def test_ties_share_a_place_and_a_county_without_indicators_comes_last() -> None:
    league = table_of(four_counties(), "league")["rows"]
    assert [(r["county"], r["rank"]) for r in league] == [
        ("始兴县", 1),
        ("乐昌市", 2),  # tied with 南雄市 at 80%, by code
        ("南雄市", 2),
        ("仁化县", None),
    ]
    assert league[2]["persons"] == 1000 and league[2]["progress"] == 80.0
    assert league[2]["rating"] == "未达标" and league[0]["rating"] == "达标"
    assert league[3]["persons"] is None and league[3]["progress"] is None


def test_counts_per_county() -> None:
    rows = {r["county"]: r for r in table_of(four_counties(), "problems")["rows"]}
    nanxiong = rows["南雄市"]
    assert nanxiong["open_findings"] == 3  # the resolved one is not counted
    assert (nanxiong["findings_high"], nanxiong["findings_medium"]) == (2, 1)  # R02 is 中
    assert nanxiong["duplicates"] == 1 and nanxiong["open_issues"] == 1
    assert nanxiong["overdue_findings"] == 1
    assert rows["乐昌市"]["findings_low"] == 1 and rows["乐昌市"]["duplicates"] == 1
    assert rows["仁化县"]["open_findings"] == 1 and rows["仁化县"]["overdue_findings"] is None
    assert rows["始兴县"]["open_findings"] == 0 and rows["始兴县"]["open_issues"] == 1


def test_the_overview_adds_up_the_counties_and_counts_a_duplicate_once() -> None:
    data = four_counties()
    lead = data["sections"][0]["paragraphs"][0]
    assert "全市4个县（市、区）" in lead and "其中3个有2018年上半年考核指标" in lead
    assert "在册建档立卡贫困户680户1,700人" in lead and "累计脱贫420人" in lead
    assert "全市未整改比对问题5个（高3个、中1个、低1个）" in lead
    assert "跨县重复登记1人" in lead and "全市医保数据的数据质量问题2个" in lead
    assert "仁化县本考核期尚无考核指标" in data["sections"][0]["paragraphs"][1]
    meta = data["meta"]
    assert meta["title"] == "韶关市2018年上半年精准扶贫数据核查汇总（各县（市、区））"
    assert meta["issuer"] == "韶关市扶贫开发领导小组办公室"
    assert meta["file_stem"] == "city_summary_2018H1_440200"


def test_one_county_and_no_data_at_all() -> None:
    one = city_summary_data(
        {LECHANG: "乐昌市"},
        indicators(county_indicators(LECHANG, 500, 200, 150, 150)),
        pl.DataFrame(),
        pl.DataFrame(),
        period="2018H1",
        as_of=AS_OF,
        policy=load_policy(),
    )
    assert [(r["county"], r["rank"]) for r in table_of(one, "league")["rows"]] == [("乐昌市", 1)]
    assert table_of(one, "problems")["rows"][0]["open_findings"] == 0
    empty = city_summary_data(
        {LECHANG: "乐昌市"},
        pl.DataFrame(),
        pl.DataFrame(),
        pl.DataFrame(),
        period="2018H1",
        as_of=AS_OF,
        policy=load_policy(),
    )
    assert table_of(empty, "league")["rows"][0]["rank"] is None
    assert "尚无考核指标" in empty["sections"][0]["paragraphs"][0]


def test_a_county_without_a_target_is_not_ranked() -> None:
    rows = county_rows(
        {LECHANG: "乐昌市", SHIXING: "始兴县"},
        indicators(
            county_indicators(LECHANG, 500, 200, 0, 0), county_indicators(SHIXING, 9, 3, 1, 9)
        ),
        pl.DataFrame(),
        pl.DataFrame(),
    )
    assert [(r["county"], r["rank"]) for r in rank_counties(rows)] == [
        ("始兴县", 1),
        ("乐昌市", None),
    ]


def test_a_county_without_figures_is_unranked_last_and_the_summary_says_why() -> None:
    """A county that keeps no policy.toml of its own stores no target indicator at all (not a
    zero one): it is listed, unranked, after the ranked counties, and the overview says why."""
    untargeted = [
        r
        for r in county_indicators(LECHANG, 500, 200, 450, 1)
        if not r["indicator"].startswith("target_")
    ]
    data = city_summary_data(
        {NANXIONG: "南雄市", LECHANG: "乐昌市", SHIXING: "始兴县"},
        indicators(
            county_indicators(NANXIONG, 1000, 400, 240, 300),
            untargeted,
            county_indicators(SHIXING, 200, 80, 30, 60),
        ),
        findings(),
        issues(),
        period="2018H1",
        as_of=AS_OF,
        policy=load_policy(),
    )
    league = table_of(data, "league")["rows"]
    assert [(r["county"], r["rank"], r["target"]) for r in league] == [
        ("南雄市", 1, 300),
        ("始兴县", 2, 60),
        ("乐昌市", None, None),
    ]
    assert league[-1]["persons"] == 500 and league[-1]["persons_out"] == 450  # its own counts
    overview = data["sections"][0]["paragraphs"]
    assert "乐昌市未在 policy.toml 中配置脱贫计划目标，不参与排名，列于表末。" in overview
    assert "尚无考核指标" not in "".join(overview)
    assert "乐昌市未在 policy.toml 中配置脱贫计划目标" in render_html(scrub_data(data))


def test_the_report_renders_every_county_and_no_personal_data(tmp_path: Path) -> None:
    data = four_counties()
    data["notes"].append(f"测试：{LEAKED_ID}")  # any ID that slipped in is scrubbed
    paths = render(CITY_SUMMARY, data, ["html", "xlsx"], tmp_path)
    assert [p.name for p in paths] == [
        "city_summary_2018H1_440200.html",
        "city_summary_2018H1_440200.xlsx",
    ]
    html = paths[0].read_text(encoding="utf-8")
    for name in NAMES.values():
        assert name in html
    assert "韶关市2018年上半年精准扶贫数据核查汇总（各县（市、区））" in html
    assert LEAKED_ID not in html
    assert render_html(scrub_data(data)) == html  # same data, same bytes
    book = CalamineWorkbook.from_path(str(paths[1]))
    assert book.sheet_names == ["说明", "脱贫进度排名", "问题与数据质量"]
    ranked = [row[2] for row in book.get_sheet_by_name("脱贫进度排名").to_python()[1:]]
    assert ranked == ["始兴县", "乐昌市", "南雄市", "仁化县"]
