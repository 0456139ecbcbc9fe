"""The 考核报告: one function per section (overview, progress, 两不愁三保障, structure,
poor villages, data quality, sources) and the notes; `assessment_data` puts them together."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import polars as pl

from reports.context import ranking
from reports.context.directory import short_names, townships_in_scope
from reports.context.meta import definitions, no_targets, sources_table
from reports.context.tables import (
    Wide,
    col,
    keep,
    pct_text,
    progress_chart,
    rating_text,
    rounded,
    section,
    table,
    whole,
)
from reports.context.villages import poor_villages_section
from transforms.county import County
from transforms.indicators import INDICATORS, IndicatorInputs

STRUCTURE = (
    "households_attr_general",
    "households_attr_dibao",
    "households_attr_tekun",
    "households_labour_capable",
    "persons_labour_normal",
    "persons_labour_skilled",
    "persons_labour_weak",
    "persons_labour_lost",
    "persons_labour_none",
    "persons_health_healthy",
    "persons_health_chronic",
    "persons_health_serious",
    "persons_health_disabled",
)
DEFINED = (
    "persons_out",
    "target_persons_out",
    "target_rating",
    "insured_share",
    "dibao_coverage",
    "housing_safe_share",
    "dropouts",
    "water_safe_share",
    "exit_below_line",
    "village_exited",
    "village_infra_met",
    "open_findings_per_100",
    "overdue_findings",
    "median_days_fix_findings",
)
# Defined only where the county's policy carries its figures, hence targets.
TARGETS = ("target_persons_out", "target_rating")


def assessment_data(
    x: IndicatorInputs,
    indicators: pl.DataFrame,
    meta: dict[str, Any],
    *,
    history: pl.DataFrame | None = None,
    township: str | None = None,
) -> dict[str, Any]:
    """The 考核报告: summary, townships, 两不愁三保障, structure, poor villages, data quality."""
    w = Wide(indicators)
    codes = townships_in_scope(x, township)
    name = short_names(x)
    sections = [
        _overview_section(x, w, indicators, meta, history, township),
        _progress_section(x, w, codes, name, meta),
        _guarantees_section(x, w, codes, name, meta),
        _structure_section(w, codes, name),
        poor_villages_section(x, w, township),
        _quality_section(x, w, codes, name),
        section("sources", "附：数据来源", tables=[sources_table(meta)]),
    ]
    known = x.policy.figures_known
    notes = [
        f"考核时点：{meta['evaluation_date_zh']}（考核期末；考核期尚未结束时为数据截至日）。",
        "建档立卡人数、户数均为花名册中人员状态为“正常”的在册对象。",
        *([] if known else [no_targets(x.divisions)]),
        *definitions(
            DEFINED if known else [c for c in DEFINED if c not in TARGETS], x.policy, x.divisions
        ),
    ]
    return {"kind": "assessment", "meta": meta, "sections": sections, "notes": notes}


def _overview_section(
    x: IndicatorInputs,
    w: Wide,
    indicators: pl.DataFrame,
    meta: Mapping[str, Any],
    history: pl.DataFrame | None,
    township: str | None,
) -> dict[str, Any]:
    """一、总体情况: the lead paragraph, the headline figures and the trend chart."""
    whole_county = ("city", x.divisions.county_code)  # the indicators' whole-county entity
    scope_level, scope_code = ("township", township) if township else whole_county
    s = w.entity(scope_level, scope_code)
    rating = rating_text(s.get("target_rating"))
    rank = s.get("target_rank") if township else None
    known = x.policy.figures_known
    lead = (
        f"截至{meta['evaluation_date_zh']}，{meta['scope']}在册建档立卡贫困户{whole(s.get('households')) or 0:,}户"
        f"{whole(s.get('persons')) or 0:,}人，累计脱贫{whole(s.get('persons_out')) or 0:,}人"
        f"（{whole(s.get('households_out')) or 0:,}户），脱贫率{pct_text(s.get('exit_share'))}。"
    )
    if not known:
        lead += no_targets(x.divisions)
    else:
        lead += (
            f"{meta['period_zh']}累计脱贫目标{whole(s.get('target_persons_out')) or 0:,}人，"
            f"目标完成率{pct_text(s.get('target_progress'))}，考核评级为“{rating or '无目标'}”"
            + (
                f"，在{meta['whole']}{len(x.divisions.townships)}个镇（街道）中排第{whole(rank)}名"
                if rank is not None
                else ""
            )
            + "。"
        )
    key_rows = []
    for code, target, meets in (
        ("persons_out", s.get("target_persons_out"), None),
        ("target_progress", x.policy.assessment.rating_ok_share * 100, None),  # its rating
        ("insured_share", 100.0, ranking.is_full),
        ("dibao_coverage", 100.0, ranking.is_full),
        ("housing_safe_share", 100.0, ranking.is_full),
        ("dropouts", 0.0, ranking.is_none),
        ("water_safe_share", 100.0, ranking.is_full),
        ("exit_below_line", 0.0, ranking.is_none),
        ("open_findings", None, None),
        ("overdue_findings", 0.0, ranking.is_none),
    ):
        if code == "target_progress" and not known:
            continue  # no target, no rating against it
        v = s.get(code)
        d = INDICATORS[code]
        key_rows.append(
            {
                "name": d.name,
                "value": rounded(v),
                "unit": d.unit,
                "target": ""
                if target is None
                else (
                    f"{target:,.0f}{'' if d.unit == '%' else ' '}{d.unit}"
                    if d.unit != "%"
                    else f"{target:.0f}%"
                ),
                "status": rating
                if code == "target_progress"
                else ranking.standard_status(v, meets),
            }
        )
    summary_table = table(
        "summary",
        f"{meta['scope']}主要指标",
        "主要指标",
        [
            col("name", "指标"),
            col("value", "数值", "num"),
            col("unit", "单位"),
            col("target", "目标/标准"),
            col("status", "评价", "rating"),
        ],
        key_rows,
    )
    trend = _trend_chart(history, indicators, x.period.label, scope_level, scope_code, known)
    return section(
        "overview",
        f"一、{meta['scope']}总体情况",
        paragraphs=[lead],
        tables=[summary_table],
        charts=[trend] if trend else [],
    )


def _trend_chart(
    history: pl.DataFrame | None,
    current: pl.DataFrame,
    period: str,
    level: str,
    code: str,
    with_target: bool = True,
) -> dict[str, Any] | None:
    """Exits, target (`with_target`) and open findings of the entity at each half-year
    assessment so far."""
    frames = [current.filter((pl.col("level") == level) & (pl.col("entity_code") == code))]
    if history is not None and history.height:
        frames.append(
            history.filter(
                (pl.col("level") == level)
                & (pl.col("entity_code") == code)
                & (pl.col("period") != period)
            ).select(current.columns)
        )
    data = pl.concat(frames).filter(
        pl.col("indicator").is_in(["persons_out", "target_persons_out", "open_findings"])
        & pl.col("period").str.contains(r"H[12]$")
    )
    periods = sorted(set(data["period"].to_list()))
    if period not in periods:
        periods.append(period)
        periods.sort()
    values = {(r["period"], r["indicator"]): r["value"] for r in data.iter_rows(named=True)}
    target = {
        "name": "累计目标人数",
        "values": [values.get((p, "target_persons_out")) for p in periods],
        "dashed": True,
        "labels": False,
    }
    series: list[dict[str, Any]] = [
        {"name": "累计脱贫人数", "values": [values.get((p, "persons_out")) for p in periods]},
        *([target] if with_target else []),
        {"name": "未整改比对问题", "values": [values.get((p, "open_findings")) for p in periods]},
    ]
    if not any(v is not None for s in series for v in s["values"]):
        return None
    return {"type": "trend", "title": "历次半年考核趋势", "periods": periods, "series": series}


def _progress_section(
    x: IndicatorInputs,
    w: Wide,
    codes: list[str],
    name: Mapping[str, str],
    meta: Mapping[str, Any],
) -> dict[str, Any]:
    """二、脱贫进度: each township's cumulative exits against its target, ranked; without
    the county's figures (no target), its exits alone, in code order."""
    rows = []
    for c in codes:
        e = w.entity("township", c)
        rows.append(
            {
                "township": name[c],
                "households": whole(e.get("households")),
                "persons": whole(e.get("persons")),
                "persons_out": whole(e.get("persons_out")),
                "persons_out_dibao": whole(e.get("persons_out_dibao")),
                "exit_share": rounded(e.get("exit_share")),
                "target": whole(e.get("target_persons_out")),
                "progress": rounded(e.get("target_progress")),
                "rating": rating_text(e.get("target_rating")),
                "rank": whole(e.get("target_rank")),
            }
        )
    lines = (
        f"建档立卡相对贫困人口为2015年家庭人均可支配收入低于{x.policy.registration_income_line:,.0f}元的农村人口；"
        f"有劳动能力的贫困户年人均可支配收入达到{x.policy.year(x.year).exit_line:,.0f}元即可脱贫，"
        "无劳动能力或部分丧失劳动能力的由低保政策性保障兜底。"
    )
    exits = [
        col("township", "镇（街道）"),
        col("households", "建档立卡户数", "int"),
        col("persons", "建档立卡人数", "int"),
        col("persons_out", "累计脱贫人数", "int"),
        col("persons_out_dibao", "其中兜底脱贫", "int"),
        col("exit_share", "脱贫率", "pct"),
    ]
    if not x.policy.figures_known:
        exits_table = table(
            "progress", "各镇（街道）累计脱贫情况", "脱贫进度", exits, keep(rows, exits)
        )
        return section(
            "progress",
            "二、各镇（街道）脱贫进度",
            paragraphs=[lines + no_targets(x.divisions)],
            tables=[exits_table],
        )
    rows = ranking.by_rank(rows)
    a = x.policy.assessment
    progress_table = table(
        "progress",
        "各镇（街道）累计脱贫目标完成情况",
        "脱贫进度",
        [
            *exits,
            col("target", "累计目标人数", "int"),
            col("progress", "目标完成率", "pct"),
            col("rating", "评级", "rating"),
            col("rank", "排名", "rank"),
        ],
        rows,
        note=f"评级：完成率≥{a.rating_ok_share:.0%}为达标，≥{a.rating_warn_share:.0%}为预警，其余为未达标。按完成率排名，并列者名次相同。",
    )
    chart = progress_chart(
        "各镇（街道）目标完成率", rows, "township", a.rating_ok_share, a.rating_warn_share
    )
    return section(
        "progress",
        "二、各镇（街道）脱贫进度考核",
        paragraphs=[
            lines
            + f"{meta['period_zh']}目标为截至{meta['period_end_zh']}的累计脱贫人数。"
            + (
                "上半年目标取上年底目标与本年底目标的中值（上年底目标加本年增量的一半）。"
                if x.period.half == 1
                else ""
            )
            + _dibao_target_text(x, w)
        ],
        charts=[chart],
        tables=[progress_table],
    )


def _dibao_target_text(x: IndicatorInputs, w: Wide) -> str:
    """The year's 兜底 target where the policy sets one (2016: 5,000 of the 5,200)."""
    city = w.entity("city", x.divisions.county_code)
    if city.get("target_persons_out_dibao") is None:
        return ""
    return (
        f"其中{County.of(x.divisions).whole}兜底脱贫目标{whole(city.get('target_persons_out_dibao')) or 0:,}人，"
        f"已兜底脱贫{whole(city.get('persons_out_dibao')) or 0:,}人，"
        f"完成率{pct_text(city.get('target_dibao_progress'))}。"
    )


def _guarantees_section(
    x: IndicatorInputs,
    w: Wide,
    codes: list[str],
    name: Mapping[str, str],
    meta: Mapping[str, Any],
) -> dict[str, Any]:
    """三、两不愁三保障: insurance, 低保, housing, schooling, water and exits below the line."""
    rows: list[dict[str, Any]] = []
    for c in codes:
        e = w.entity("township", c)
        rows.append(
            {
                "township": name[c],
                "insured_share": rounded(e.get("insured_share")),
                "dibao_coverage": rounded(e.get("dibao_coverage")),
                "housing_safe_share": rounded(e.get("housing_safe_share")),
                "dropouts": whole(e.get("dropouts")),
                "water_safe_share": rounded(e.get("water_safe_share")),
                "exit_below_line": whole(e.get("exit_below_line")),
            }
        )
    g_table = table(
        "guarantees",
        "各镇（街道）“两不愁三保障”主要指标",
        "两不愁三保障",
        [
            col("township", "镇（街道）"),
            col("insured_share", "医保参保率", "pct"),
            col("dibao_coverage", "低保应保尽保率", "pct"),
            col("housing_safe_share", "住房安全保障率", "pct"),
            col("dropouts", "义务教育辍学人数", "int"),
            col("water_safe_share", "饮水安全保障率", "pct"),
            col("exit_below_line", "脱贫不达标户数", "int"),
        ],
        rows,
        note=f"目标：参保率、低保应保尽保率100%；住房安全{x.policy.housing_deadline.year}年底前100%；辍学0人；饮水安全100%；脱贫不达标0户。“—”表示无适用对象。",
    )
    panels = [
        {
            "title": title,
            "unit": "%",
            "target": 100.0,
            "rows": [
                {"label": r["township"], "value": r[key], "ok": ranking.reaches(r[key], 100.0)}
                for r in rows
            ],
        }
        for key, title in (
            ("insured_share", "医保参保率"),
            ("dibao_coverage", "低保应保尽保率"),
            ("housing_safe_share", "住房安全保障率"),
            ("water_safe_share", "饮水安全保障率"),
        )
    ]
    return section(
        "guarantees",
        "三、“两不愁三保障”情况",
        paragraphs=[
            f"医保参保按{x.year}年度参保缴费记录核对，低保兜底按{meta['evaluation_date_zh']}民政在保名册核对，"
            "住房、教育、饮水按花名册填报核对；脱贫不达标为考核时点尚未整改的R10比对问题。"
        ],
        charts=[
            {
                "type": "small_multiples",
                "title": "各镇（街道）保障指标",
                "columns": 2,
                "panels": panels,
            }
        ],
        tables=[g_table],
    )


def _structure_section(w: Wide, codes: list[str], name: Mapping[str, str]) -> dict[str, Any]:
    """四、对象结构: households by attribute and labour, persons by health."""
    rows = []
    for c in codes:
        e = w.entity("township", c)
        row: dict[str, Any] = {"township": name[c]}
        for k in STRUCTURE:
            row[k] = whole(e.get(k))
        rows.append(row)
    attr_cols = [
        col("township", "镇（街道）"),
        col("households_attr_general", "一般贫困户", "int"),
        col("households_attr_dibao", "低保贫困户", "int"),
        col("households_attr_tekun", "特困供养户", "int"),
        col("households_labour_capable", "有劳动能力户", "int"),
        col("persons_labour_normal", "普通劳动力", "int"),
        col("persons_labour_skilled", "技能劳动力", "int"),
        col("persons_labour_weak", "弱/半劳动力", "int"),
        col("persons_labour_lost", "丧失劳动力", "int"),
        col("persons_labour_none", "无劳动力", "int"),
    ]
    health_cols = [
        col("township", "镇（街道）"),
        col("persons_health_healthy", "健康", "int"),
        col("persons_health_chronic", "长期慢性病", "int"),
        col("persons_health_serious", "患有大病", "int"),
        col("persons_health_disabled", "残疾", "int"),
    ]
    return section(
        "structure",
        "四、建档立卡对象结构",
        paragraphs=[
            "户数按贫困户属性统计；劳动能力、健康状况按在册人员统计。花名册未设致贫原因栏目，以健康状况反映因病、因残致贫情况。"
        ],
        tables=[
            table(
                "attributes",
                "各镇（街道）贫困户属性与劳动能力",
                "属性与劳动能力",
                attr_cols,
                keep(rows, attr_cols),
            ),
            table(
                "health",
                "各镇（街道）在册人员健康状况",
                "健康状况",
                health_cols,
                keep(rows, health_cols),
            ),
        ],
    )


def _quality_section(
    x: IndicatorInputs, w: Wide, codes: list[str], name: Mapping[str, str]
) -> dict[str, Any]:
    """六、问题整改与数据质量: open and overdue findings and issues, days to fix."""
    rows = []
    for c in codes:
        e = w.entity("township", c)
        rows.append(
            {
                "township": name[c],
                "open_findings": whole(e.get("open_findings")),
                "open_findings_per_100": rounded(e.get("open_findings_per_100"), 2),
                "overdue_findings": whole(e.get("overdue_findings")),
                "open_issues": whole(e.get("open_issues")),
                "open_issues_per_100": rounded(e.get("open_issues_per_100"), 2),
                "overdue_issues": whole(e.get("overdue_issues")),
                "median_findings": rounded(e.get("median_days_fix_findings")),
                "median_issues": rounded(e.get("median_days_fix_issues")),
            }
        )
    q_table = table(
        "quality",
        "各镇（街道）问题整改与数据质量",
        "数据质量",
        [
            col("township", "镇（街道）"),
            col("open_findings", "未整改比对问题", "int"),
            col("open_findings_per_100", "每百人比对问题", "num"),
            col("overdue_findings", "其中逾期", "int"),
            col("open_issues", "未整改数据质量问题", "int"),
            col("open_issues_per_100", "每百人数据质量问题", "num"),
            col("overdue_issues", "其中逾期", "int"),
            col("median_findings", "比对问题整改天数中位数", "num"),
            col("median_issues", "数据质量问题整改天数中位数", "num"),
        ],
        rows,
        note=f"逾期：首次发现后超过{x.policy.overdue_days}天仍未整改。整改天数中位数仅统计考核时点前已整改的问题，“—”表示尚无已整改问题。",
    )
    return section(
        "quality",
        "六、问题整改与数据质量",
        paragraphs=[
            "比对问题为花名册与民政、医保数据比对发现的问题（规则R01-R15）；数据质量问题为报送表格本身的填报问题。"
        ],
        tables=[q_table],
    )
