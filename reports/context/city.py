"""The city's summary report (各县（市、区）精准扶贫数据核查汇总): every county of a city run ranked
and counted, for the city's office.

A pure function over plain frames: `city_summary_data(counties, indicators, findings, issues,
period=..., as_of=..., policy=...)` gives the same data dict as the county reports
(`reports.context`: meta, sections, notes), read by the same writers.  No personal data:
counts only.

The ranking of counties is the township league of the 考核报告 one level up
(`transforms.indicators.families.exit_progress`): by 目标完成率 (cumulative persons out ÷ the
period's cumulative target of the whole county, the entity of level ``city`` each county
stores for itself), highest first, equal ratios (to 9 decimals) sharing a place (1, 2, 2, 4);
a county without a target, or without indicators for the period, is not ranked and comes
last.  The rating (达标/预警/未达标) is the county's own stored one.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

import polars as pl

from config.rules import DEFAULT_RULE_SEVERITY, RULES, SEVERITIES
from config.settings import Policy
from reports.context import ranking
from reports.context.tables import (
    Wide,
    col,
    pct_text,
    progress_chart,
    rating_text,
    rounded,
    section,
    table,
    whole,
    zh_date,
)
from transforms.indicators import parse_period

KIND = "city_summary"
CITY_CODE = "440200"  # the city's own code (warehouse.schema.CITY_CODE)
CITY_NAME = "韶关市"
DUPLICATE_RULE = "R16"  # 跨县重复登记
SEVERITY_KEYS = dict(zip(SEVERITIES, ("high", "medium", "low"), strict=True))
RANK_DIGITS = 9  # as the township league: ratios equal to 9 decimals share a place


def county_rows(
    counties: Mapping[str, str],
    indicators: pl.DataFrame,
    findings: pl.DataFrame,
    issues: pl.DataFrame,
) -> list[dict[str, Any]]:
    """One row per county (in `counties`' order): its whole-county indicators, open findings
    by severity, R16 and open data-quality issues.  A county without indicators has None
    where they would be; without findings or issues, zeros."""
    w = Wide(indicators)
    open_findings = _open(findings)
    open_issues = _open(issues)
    rows = []
    for code, name in counties.items():
        e = w.entity("city", code)
        mine = open_findings.filter(pl.col("county_code") == code)
        severities = [_severity(r, s) for r, s in zip(mine["rule"], mine["severity"], strict=True)]
        num, den = w.parts.get(("city", code, "target_progress"), (None, None))
        rows.append(
            {
                "code": code,
                "county": name,
                "has_indicators": bool(e),
                "households": whole(e.get("households")),
                "persons": whole(e.get("persons")),
                "persons_out": whole(e.get("persons_out")),
                "households_out": whole(e.get("households_out")),
                "exit_share": rounded(e.get("exit_share")),
                "target": whole(e.get("target_persons_out")),
                "progress": rounded(e.get("target_progress")),
                "rating": rating_text(e.get("target_rating")),
                "_ratio": _ratio(num, den),
                "open_findings": mine.height,
                **{f"findings_{key}": severities.count(sev) for sev, key in SEVERITY_KEYS.items()},
                "overdue_findings": whole(e.get("overdue_findings")),
                "findings_per_100": _per_100(mine.height, e.get("persons")),
                "duplicates": mine.filter(pl.col("rule") == DUPLICATE_RULE).height,
                "open_issues": open_issues.filter(pl.col("county_code") == code).height,
                "overdue_issues": whole(e.get("overdue_issues")),
            }
        )
    return rows


def rank_counties(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Counties by 目标完成率 (highest first), equal ratios sharing a place; those without a
    ratio unranked (rank None) and last; then by county code."""
    ranked = sorted(
        (r for r in rows if r["_ratio"] is not None), key=lambda r: (-r["_ratio"], r["code"])
    )
    for r, rank in zip(ranked, ranking.shared_ranks([r["_ratio"] for r in ranked]), strict=True):
        r["rank"] = rank
    rest = sorted((r for r in rows if r["_ratio"] is None), key=lambda r: r["code"])
    for r in rest:
        r["rank"] = None
    return ranked + rest


def city_summary_data(
    counties: Mapping[str, str],
    indicators: pl.DataFrame,
    findings: pl.DataFrame,
    issues: pl.DataFrame,
    *,
    period: str,
    as_of: date | None,
    policy: Policy,
    city_code: str = CITY_CODE,
    city_name: str = CITY_NAME,
) -> dict[str, Any]:
    """The summary of `period` for the city's office.

    `counties`: code → name of the counties of the run; `indicators`: the long rows of the
    `indicator` table of `period` (each county's own, level ``city`` with entity_code its
    code, is what is read); `findings`: county_code, rule, key, severity, status;
    `issues`: county_code, status (the city extracts' own under `city_code`).  Open means
    status ``open``.
    """
    p = parse_period(period)
    day = p.evaluation_date(as_of)
    indicators = indicators.filter(pl.col("period") == p.label) if indicators.height else indicators
    rows = rank_counties(county_rows(counties, indicators, findings, issues))
    meta = _meta(p, day, as_of, len(counties), city_code, city_name)
    extract_issues = _open(issues).filter(pl.col("county_code") == city_code).height
    city_findings = _once(_open(findings))
    duplicates = city_findings.filter(pl.col("rule") == DUPLICATE_RULE).height
    a = policy.assessment
    sections = [
        _overview(rows, meta, city_findings, duplicates, extract_issues),
        _league(rows, a.rating_ok_share, a.rating_warn_share),
        _problems(rows, extract_issues, policy.overdue_days),
    ]
    notes = [
        f"考核时点：{meta['evaluation_date_zh']}（考核期末；考核期尚未结束时为数据截至日）。",
        "各县（市、区）的建档立卡户数、人数、脱贫人数、目标与评级为该县本次夜间比对存储的全县考核指标；"
        "建档立卡人数、户数均为花名册中人员状态为“正常”的在册对象。",
        "排名规则与各县考核报告中镇（街道）的排名相同：按累计脱贫目标完成率（累计脱贫人数 ÷ 累计脱贫目标人数）"
        "由高到低排名，完成率相同者名次并列，其后名次顺延；无考核指标或无脱贫目标的县（市、区）不参与排名，列于表末。",
        "比对问题与数据质量问题为核查时点仍未整改（状态为未整改）的问题，按问题所属县（市、区）统计；"
        "一人同时在两个县（市、区）正常在册的，其比对问题在各县分别统计。",
        "跨县重复登记（规则R16）：同一身份在两个及以上县（市、区）花名册中均为正常在册。"
        "各县一栏为涉及该县的人数；全市合计（含比对问题总数）按身份只计一次。",
        "全市医保参保、结算数据由市级统一提供，其数据质量问题单列，不计入各县（市、区）。",
        "本汇总仅含统计数字，不含个人信息。",
    ]
    return {"kind": KIND, "meta": meta, "sections": sections, "notes": notes}


# ------------------------------------------------------------------------------- pieces
def _open(frame: pl.DataFrame) -> pl.DataFrame:
    """The open rows (all, without a status), with every column this module reads."""
    if frame.width == 0:
        return pl.DataFrame(schema=_EMPTY)
    missing = {c: t for c, t in _EMPTY.items() if c not in frame.columns}
    frame = frame.with_columns(pl.lit(None, t).alias(c) for c, t in missing.items())
    return frame.filter(pl.col("status") == "open") if "status" in frame.columns else frame


_EMPTY = {"county_code": pl.Utf8, "rule": pl.Utf8, "key": pl.Utf8, "severity": pl.Utf8}


def _once(found: pl.DataFrame) -> pl.DataFrame:
    """The city's findings: R16 once per identity (it is shown to every county involved),
    every other finding as each county has it (as the city-wide export lists them)."""
    duplicate = pl.col("rule") == DUPLICATE_RULE
    return pl.concat(
        [found.filter(~duplicate), found.filter(duplicate).unique("key", keep="first")]
    )


def _severity(rule: str | None, severity: str | None) -> str:
    if severity in SEVERITY_KEYS:
        return severity
    known = RULES.get(rule or "")
    return known.severity if known else DEFAULT_RULE_SEVERITY


def _ratio(num: float | None, den: float | None) -> float | None:
    if num is None or not den:
        return None
    return round(float(num) / float(den), RANK_DIGITS)


def _per_100(count: int, persons: float | None) -> float | None:
    return round(count / persons * 100, 2) if persons else None


def _sum(rows: list[dict[str, Any]], key: str) -> int | None:
    values = [r[key] for r in rows if r[key] is not None]
    return sum(values) if values else None


def _meta(
    p: Any, day: date, as_of: date | None, n: int, city_code: str, city_name: str
) -> dict[str, Any]:
    issuer = f"{city_name}扶贫开发领导小组办公室"
    title = f"{city_name}{p.zh}精准扶贫数据核查汇总（各县（市、区））"
    run_text = (
        f"{n}个县（市、区）的夜间比对运行（数据截至{zh_date(as_of)}）"
        if as_of
        else f"{n}个县（市、区）的夜间比对运行"
    )
    return {
        "kind": KIND,
        "kind_zh": "数据核查汇总",
        "title": title,
        "scope": city_name,
        "township_code": None,
        "county": city_name,
        "county_code": city_code,
        "whole": "全市",
        "issuer": issuer,
        "recipients": "各县（市、区）扶贫开发领导小组办公室：",
        "copy_to": "市委办、市政府办、市委组织部、市纪委监委",
        "doc_no": f"HZ-{p.label}-{city_code}",
        "period": p.label,
        "period_zh": p.zh,
        "period_end": p.end.isoformat(),
        "period_end_zh": zh_date(p.end),
        "evaluation_date": day.isoformat(),
        "evaluation_date_zh": zh_date(day),
        "as_of": as_of.isoformat() if as_of else "",
        "as_of_zh": zh_date(as_of) if as_of else "",
        "issued_zh": zh_date(day),
        "run_text": run_text,
        "sources_line": f"{n}个县（市、区）各自的考核指标、比对问题和数据质量问题，及全市医保数据的数据质量问题",
        "sources": [],
        "created": day.isoformat(),
        "file_stem": f"{KIND}_{p.label}_{city_code}",
    }


def _overview(
    rows: list[dict[str, Any]],
    meta: Mapping[str, Any],
    found: pl.DataFrame,
    duplicates: int,
    extract_issues: int,
) -> dict[str, Any]:
    """一、总体情况: the city's totals in one paragraph (R16 once per identity)."""
    persons, households = _sum(rows, "persons"), _sum(rows, "households")
    out = _sum(rows, "persons_out")
    share = out / persons * 100 if out is not None and persons else None
    counted = sum(r["has_indicators"] for r in rows)
    missing = [r["county"] for r in rows if not r["has_indicators"]]
    severities = [_severity(r, s) for r, s in zip(found["rule"], found["severity"], strict=True)]
    by_sev = "、".join(f"{sev}{severities.count(sev):,}个" for sev in SEVERITY_KEYS)
    lead = (
        f"截至{meta['evaluation_date_zh']}，全市{len(rows)}个县（市、区）参加数据核查"
        + (
            f"，其中{counted}个有{meta['period_zh']}考核指标，"
            f"在册建档立卡贫困户{households or 0:,}户{persons or 0:,}人，"
            f"累计脱贫{out or 0:,}人，脱贫率{pct_text(share)}。"
            if counted
            else "，尚无考核指标。"
        )
        + f"全市未整改比对问题{found.height:,}个（{by_sev}），"
        f"其中跨县重复登记{duplicates:,}人；未整改数据质量问题{sum(r['open_issues'] for r in rows):,}个，"
        f"另有全市医保数据的数据质量问题{extract_issues:,}个。"
    )
    paragraphs = [lead]
    if missing:
        paragraphs.append(f"{'、'.join(missing)}本考核期尚无考核指标，不参与排名。")
    # A county whose policy carries no figures of its own stores no target (not a zero one).
    untargeted = [r["county"] for r in rows if r["has_indicators"] and r["target"] is None]
    if untargeted:
        paragraphs.append(
            f"{'、'.join(untargeted)}未在 policy.toml 中配置脱贫计划目标，不参与排名，列于表末。"
        )
    return section("overview", "一、总体情况", paragraphs=paragraphs)


def _league(rows: list[dict[str, Any]], ok: float, warn: float) -> dict[str, Any]:
    """二、各县（市、区）脱贫进度排名."""
    league = table(
        "league",
        "各县（市、区）累计脱贫目标完成情况排名",
        "脱贫进度排名",
        [
            col("rank", "排名", "rank"),
            col("county", "县（市、区）"),
            col("code", "区划代码"),
            col("households", "建档立卡户数", "int"),
            col("persons", "建档立卡人数", "int"),
            col("persons_out", "累计脱贫人数", "int"),
            col("exit_share", "脱贫率", "pct"),
            col("target", "累计目标人数", "int"),
            col("progress", "目标完成率", "pct"),
            col("rating", "评级", "rating"),
        ],
        [{k: r[k] for k in _LEAGUE_KEYS} for r in rows],
        note=f"按目标完成率排名，并列者名次相同；评级：完成率≥{ok:.0%}为达标，≥{warn:.0%}为预警，其余为未达标。“—”表示无考核指标。",
    )
    chart = progress_chart("各县（市、区）目标完成率", rows, "county", ok, warn)
    return section(
        "league",
        "二、各县（市、区）脱贫进度排名",
        paragraphs=[
            "以各县（市、区）全县累计脱贫人数对照本考核期累计脱贫目标人数，按目标完成率排名（规则与各县镇（街道）排名相同）。"
        ],
        charts=[chart],
        tables=[league],
    )


_LEAGUE_KEYS = (
    "rank",
    "county",
    "code",
    "households",
    "persons",
    "persons_out",
    "exit_share",
    "target",
    "progress",
    "rating",
)


def _problems(rows: list[dict[str, Any]], extract_issues: int, overdue_days: int) -> dict[str, Any]:
    """三、各县（市、区）问题整改与数据质量."""
    columns = [
        col("county", "县（市、区）"),
        col("open_findings", "未整改比对问题", "int"),
        *[col(f"findings_{k}", f"其中{sev}", "int") for sev, k in SEVERITY_KEYS.items()],
        col("overdue_findings", "逾期比对问题", "int"),
        col("findings_per_100", "每百人比对问题", "num"),
        col("duplicates", "跨县重复登记人数", "int"),
        col("open_issues", "未整改数据质量问题", "int"),
        col("overdue_issues", "逾期数据质量问题", "int"),
    ]
    by_code = sorted(rows, key=lambda r: r["code"])
    problems = table(
        "problems",
        "各县（市、区）问题整改与数据质量",
        "问题与数据质量",
        columns,
        [{c["key"]: r[c["key"]] for c in columns} for r in by_code],
        note=f"高、中、低为比对问题的严重程度；逾期：首次发现后超过{overdue_days}天仍未整改（取自各县考核指标，“—”表示无考核指标）。",
    )
    return section(
        "problems",
        "三、各县（市、区）问题整改与数据质量",
        paragraphs=[
            "比对问题为各县花名册与民政、医保数据比对发现的问题（规则R01-R16）；数据质量问题为报送表格本身的填报问题。"
            f"全市医保参保、结算数据另有未整改数据质量问题{extract_issues:,}个。"
        ],
        tables=[problems],
    )


__all__ = ["KIND", "city_summary_data", "county_rows", "rank_counties"]
