"""From indicator, village and finding frames to the plain data the templates and the XLSX
writer read: dicts, lists, strings and numbers, never frames.

The data dict of a report:
    {"kind", "meta": {...}, "summary": [...], "sections": [section, ...], "notes": [...]}
    section = {"id", "title", "paragraphs": [str], "charts": [chart spec],
               "tables": [table], "subsections": [section]}
    table   = {"id", "title", "sheet", "columns": [{"key", "label", "type"}], "rows": [dict],
               "note", "formats": ["html", "xlsx"]}
Column types: text (short, kept on one line), longtext (wraps), int, num, pct (0-100), money,
date (ISO text), rating, bool, rank.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from typing import Any

import polars as pl

from config.rules import RULES
from config.schema import ISSUE_KINDS, UNIT_TYPE
from config.settings import Policy
from transforms import indicators as ind
from transforms.indicators import INDICATORS, RATING_CODES, IndicatorInputs
from transforms.privacy import mask_name

ISSUER = "南雄市扶贫开发领导小组办公室"
RECIPIENTS = "各镇（街道）党委、政府（办事处），市直及驻南雄各帮扶单位，各驻村（驻镇）帮扶工作队："
COPY_TO = "市委办、市政府办、市委组织部、市纪委监委"
HTML_ITEMS_PER_TOWNSHIP = 10
UNIT_TYPES = tuple(UNIT_TYPE)
SOURCE_LABELS = {
    "townships": "乡镇建档立卡花名册",
    "dibao": "民政低保/特困名册",
    "insurance": "医保参保名册",
    "claims": "医保结算明细",
}


# ------------------------------------------------------------------------------- helpers
def zh_date(d: date | str | None) -> str:
    if d is None or d == "":
        return ""
    if isinstance(d, str):
        d = date.fromisoformat(d[:10])
    return f"{d.year}年{d.month}月{d.day}日"


def col(key: str, label: str, type_: str = "text") -> dict[str, str]:
    return {"key": key, "label": label, "type": type_}


def table(
    id_: str,
    title: str,
    sheet: str,
    columns: list[dict[str, str]],
    rows: list[dict[str, Any]],
    note: str | None = None,
    formats: Iterable[str] = ("html", "xlsx"),
    empty: str = "无。",
) -> dict[str, Any]:
    return {
        "id": id_,
        "title": title,
        "sheet": sheet[:31],
        "columns": columns,
        "rows": rows,
        "note": note,
        "formats": list(formats),
        "empty": empty,
    }


def section(id_: str, title: str, **parts: Any) -> dict[str, Any]:
    return {
        "id": id_,
        "title": title,
        "paragraphs": parts.get("paragraphs", []),
        "charts": parts.get("charts", []),
        "tables": parts.get("tables", []),
        "subsections": parts.get("subsections", []),
    }


def _r(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(float(value), digits)


def _i(value: float | None) -> int | None:
    return None if value is None else int(round(float(value)))


def _pct_text(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}%"


class Wide:
    """Indicator values by level and entity: wide[level][entity_code][indicator]."""

    def __init__(self, indicators: pl.DataFrame) -> None:
        self.values: dict[str, dict[str, dict[str, float | None]]] = defaultdict(
            lambda: defaultdict(dict)
        )
        self.parts: dict[tuple[str, str, str], tuple[float | None, float | None]] = {}
        self.names: dict[tuple[str, str], str] = {}
        for r in indicators.iter_rows(named=True):
            self.values[r["level"]][r["entity_code"]][r["indicator"]] = r["value"]
            self.parts[(r["level"], r["entity_code"], r["indicator"])] = (
                r["numerator"],
                r["denominator"],
            )
            self.names[(r["level"], r["entity_code"])] = r["entity_name"]

    def get(self, level: str, code: str, indicator: str) -> float | None:
        return self.values.get(level, {}).get(code, {}).get(indicator)

    def entity(self, level: str, code: str) -> dict[str, float | None]:
        return self.values.get(level, {}).get(code, {})


def _rating_text(code: float | None) -> str:
    return "" if code is None else RATING_CODES[int(code)]


def _townships(x: IndicatorInputs, township: str | None) -> list[str]:
    codes = sorted(x.divisions.townships)
    return [township] if township else codes


def _problem_label(row: Mapping[str, Any]) -> str:
    if row.get("rule"):
        rule = RULES.get(row["rule"])
        return f"{row['rule']} {rule.name_zh}" if rule else str(row["rule"])
    kind = str(row.get("kind") or "")
    return ISSUE_KINDS.get(kind, (kind or "数据质量问题", ""))[0]


def village_directory(x: IndicatorInputs) -> pl.DataFrame:
    """Every village of the villages sheets with its entity code, support unit and type."""
    v = ind.village_wide(x)
    if v.height == 0:
        return pl.DataFrame(
            schema={
                "township_code": pl.Utf8,
                "village_key": pl.Utf8,
                "entity_code": pl.Utf8,
                "support_unit": pl.Utf8,
                "unit_type": pl.Utf8,
                "first_secretary": pl.Utf8,
                "is_poor": pl.Boolean,
            }
        )
    return ind.entity_columns(x, v, "village").select(
        "township_code",
        "village_key",
        "entity_code",
        "support_unit",
        "unit_type",
        "first_secretary",
        "is_poor",
    )


def _unit_of(
    directory: pl.DataFrame, x: IndicatorInputs
) -> dict[tuple[str, str], tuple[str, str, str]]:
    """(township_code, village_key) → (support unit, unit type, masked first secretary)."""
    out: dict[tuple[str, str], tuple[str, str, str]] = {}
    for r in directory.iter_rows(named=True):
        unit = r["support_unit"] or f"{x.township_name(r['township_code']) or ''}驻镇帮扶工作组"
        utype = r["unit_type"] or ind.WORK_GROUP
        out[(r["township_code"], r["village_key"])] = (unit, utype, mask_name(r["first_secretary"]))
    return out


def _default_unit(x: IndicatorInputs, township_code: str | None) -> tuple[str, str, str]:
    return (f"{x.township_name(township_code) or ''}驻镇帮扶工作组", ind.WORK_GROUP, "")


# --------------------------------------------------------------------------------- meta
def build_meta(
    kind: str,
    x: IndicatorInputs,
    *,
    township: str | None,
    run: Mapping[str, Any] | None,
    sources: Sequence[Mapping[str, Any]],
) -> dict[str, Any]:
    """Title, 发文 information, period, as-of date and data sources of a report."""
    p = x.period
    scope = x.township_name(township) if township else ind.CITY_NAME
    kind_zh = "考核报告" if kind == "assessment" else "问责通报"
    title = (
        f"{scope}精准扶贫精准脱贫{p.zh}考核报告"
        if kind == "assessment"
        else f"关于{scope}精准扶贫精准脱贫{p.zh}考核问责情况的通报"
    )
    as_of = run["as_of"] if run else None
    loaded = sorted(str(s.get("loaded") or "") for s in sources)
    counts = Counter(s["source"] for s in sources)
    parts = [f"{label}{counts[key]}份" for key, label in SOURCE_LABELS.items() if counts.get(key)]
    sources_line = (
        "、".join(parts) + (f"（最近一次载入：{loaded[-1]}）" if loaded and loaded[-1] else "")
        if parts
        else "暂无已受理的数据文件"
    )
    run_text = (
        f"第{run['id']}次夜间比对运行（数据截至{zh_date(as_of)}）"
        if run
        else "尚无夜间比对运行记录"
    )
    doc_no = f"{'KH' if kind == 'assessment' else 'WZ'}-{p.label}-{township or ind.CITY_CODE}"
    return {
        "kind": kind,
        "kind_zh": kind_zh,
        "title": title,
        "scope": scope,
        "township_code": township,
        "issuer": ISSUER,
        "recipients": RECIPIENTS,
        "copy_to": COPY_TO,
        "doc_no": doc_no,
        "period": p.label,
        "period_zh": p.zh,
        "period_end": p.end.isoformat(),
        "period_end_zh": zh_date(p.end),
        "evaluation_date": x.day.isoformat(),
        "evaluation_date_zh": zh_date(x.day),
        "as_of": as_of.isoformat() if isinstance(as_of, date) else (as_of or ""),
        "as_of_zh": zh_date(as_of) if as_of else "",
        "issued_zh": zh_date(x.day),
        "run_text": run_text,
        "sources_line": sources_line,
        "sources": [dict(s) for s in sources],
        "created": x.day.isoformat(),
        "file_stem": f"{kind}_{p.label}_{township or 'all'}",
        "overdue_days": x.policy.overdue_days,
    }


def _sources_table(meta: Mapping[str, Any]) -> dict[str, Any]:
    rows = [
        {
            "source": SOURCE_LABELS.get(s["source"], s["source"]),
            "name": s.get("name") or "",
            "township": s.get("township") or "",
            "loaded": s.get("loaded") or "",
            "rows": s.get("rows"),
            "sha": (s.get("sha256") or "")[:12],
        }
        for s in meta["sources"]
    ]
    return table(
        "sources",
        "数据来源（在用的已受理文件）",
        "数据来源",
        [
            col("source", "数据类别"),
            col("name", "文件名", "longtext"),
            col("township", "报送单位"),
            col("loaded", "载入时间"),
            col("rows", "载入行数", "int"),
            col("sha", "SHA-256（前12位）"),
        ],
        rows,
    )


def _severities(x: IndicatorInputs) -> str:
    """高 (or 高、中): the severities whose open findings count for a recall."""
    return "、".join(x.policy.assessment.recall_severities)


def _definitions(codes: Iterable[str], policy: Policy) -> list[str]:
    seen: list[str] = []
    for c in codes:
        if c in INDICATORS and c not in seen:
            seen.append(c)
    return [f"{INDICATORS[c].name}：{ind.definition(c, policy)}" for c in seen]


# ----------------------------------------------------------------------------- assessment
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
    codes = _townships(x, township)
    name = {c: x.divisions.short_name(c) for c in x.divisions.townships}
    scope_level, scope_code = ("township", township) if township else ("city", ind.CITY_CODE)
    s = w.entity(scope_level, scope_code)

    # 一、总体情况
    rating = _rating_text(s.get("target_rating"))
    rank = s.get("target_rank") if township else None
    lead = (
        f"截至{meta['evaluation_date_zh']}，{meta['scope']}在册建档立卡贫困户{_i(s.get('households')) or 0:,}户"
        f"{_i(s.get('persons')) or 0:,}人，累计脱贫{_i(s.get('persons_out')) or 0:,}人"
        f"（{_i(s.get('households_out')) or 0:,}户），脱贫率{_pct_text(s.get('exit_share'))}。"
        f"{meta['period_zh']}累计脱贫目标{_i(s.get('target_persons_out')) or 0:,}人，"
        f"目标完成率{_pct_text(s.get('target_progress'))}，考核评级为“{rating or '无目标'}”"
        + (
            f"，在全市{x.policy.townships}个镇（街道）中排第{_i(rank)}名"
            if rank is not None
            else ""
        )
        + "。"
    )
    key_rows = []
    for code, target, ok in (
        ("persons_out", s.get("target_persons_out"), None),
        ("target_progress", x.policy.assessment.rating_ok_share * 100, None),
        ("insured_share", 100.0, lambda v: v >= 100 - 1e-9),
        ("dibao_coverage", 100.0, lambda v: v >= 100 - 1e-9),
        ("housing_safe_share", 100.0, lambda v: v >= 100 - 1e-9),
        ("dropouts", 0.0, lambda v: v <= 0),
        ("water_safe_share", 100.0, lambda v: v >= 100 - 1e-9),
        ("exit_below_line", 0.0, lambda v: v <= 0),
        ("open_findings", None, None),
        ("overdue_findings", 0.0, lambda v: v <= 0),
    ):
        v = s.get(code)
        status = ""
        if code == "target_progress":
            status = rating
        elif ok is not None and v is not None:
            status = "达标" if ok(v) else "未达标"
        d = INDICATORS[code]
        key_rows.append(
            {
                "name": d.name,
                "value": _r(v),
                "unit": d.unit,
                "target": ""
                if target is None
                else (
                    f"{target:,.0f}{'' if d.unit == '%' else ' '}{d.unit}"
                    if d.unit != "%"
                    else f"{target:.0f}%"
                ),
                "status": status,
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
    charts = []
    trend = _trend_chart(history, indicators, x.period.label, scope_level, scope_code)
    if trend:
        charts.append(trend)
    sections = [
        section(
            "overview",
            f"一、{meta['scope']}总体情况",
            paragraphs=[lead],
            tables=[summary_table],
            charts=charts,
        )
    ]

    # 二、脱贫进度
    prog_rows = []
    for c in codes:
        e = w.entity("township", c)
        prog_rows.append(
            {
                "township": name[c],
                "households": _i(e.get("households")),
                "persons": _i(e.get("persons")),
                "persons_out": _i(e.get("persons_out")),
                "persons_out_dibao": _i(e.get("persons_out_dibao")),
                "exit_share": _r(e.get("exit_share")),
                "target": _i(e.get("target_persons_out")),
                "progress": _r(e.get("target_progress")),
                "rating": _rating_text(e.get("target_rating")),
                "rank": _i(e.get("target_rank")),
            }
        )
    prog_rows.sort(key=lambda r: (r["rank"] is None, r["rank"] or 0, r["township"]))
    progress_table = table(
        "progress",
        "各镇（街道）累计脱贫目标完成情况",
        "脱贫进度",
        [
            col("township", "镇（街道）"),
            col("households", "建档立卡户数", "int"),
            col("persons", "建档立卡人数", "int"),
            col("persons_out", "累计脱贫人数", "int"),
            col("persons_out_dibao", "其中兜底脱贫", "int"),
            col("exit_share", "脱贫率", "pct"),
            col("target", "累计目标人数", "int"),
            col("progress", "目标完成率", "pct"),
            col("rating", "评级", "rating"),
            col("rank", "排名", "rank"),
        ],
        prog_rows,
        note=f"评级：完成率≥{x.policy.assessment.rating_ok_share:.0%}为达标，≥{x.policy.assessment.rating_warn_share:.0%}为预警，其余为未达标。按完成率排名，并列者名次相同。",
    )
    chart_rows = [
        {"label": r["township"], "value": r["progress"], "rating": r["rating"]} for r in prog_rows
    ]
    sections.append(
        section(
            "progress",
            "二、各镇（街道）脱贫进度考核",
            paragraphs=[
                f"{meta['period_zh']}目标为截至{meta['period_end_zh']}的累计脱贫人数。"
                + (
                    "上半年目标取上年底目标与本年底目标的中值（上年底目标加本年增量的一半）。"
                    if x.period.half == 1
                    else ""
                )
            ],
            charts=[
                {
                    "type": "progress_bars",
                    "title": "各镇（街道）目标完成率",
                    "rows": chart_rows,
                    "target": x.policy.assessment.rating_ok_share * 100,
                    "warn": x.policy.assessment.rating_warn_share * 100,
                }
            ],
            tables=[progress_table],
        )
    )

    # 三、两不愁三保障
    g_rows = []
    for c in codes:
        e = w.entity("township", c)
        g_rows.append(
            {
                "township": name[c],
                "insured_share": _r(e.get("insured_share")),
                "dibao_coverage": _r(e.get("dibao_coverage")),
                "housing_safe_share": _r(e.get("housing_safe_share")),
                "dropouts": _i(e.get("dropouts")),
                "water_safe_share": _r(e.get("water_safe_share")),
                "exit_below_line": _i(e.get("exit_below_line")),
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
        g_rows,
        note=f"目标：参保率、低保应保尽保率100%；住房安全{x.policy.housing_deadline.year}年底前100%；辍学0人；饮水安全100%；脱贫不达标0户。“—”表示无适用对象。",
    )
    panels = []
    for key, title, unit, target in (
        ("insured_share", "医保参保率", "%", 100.0),
        ("dibao_coverage", "低保应保尽保率", "%", 100.0),
        ("housing_safe_share", "住房安全保障率", "%", 100.0),
        ("water_safe_share", "饮水安全保障率", "%", 100.0),
    ):
        panels.append(
            {
                "title": title,
                "unit": unit,
                "target": target,
                "rows": [
                    {
                        "label": r["township"],
                        "value": r[key],
                        "ok": None if r[key] is None else float(r[key] or 0) >= target - 1e-9,
                    }
                    for r in g_rows
                ],
            }
        )
    sections.append(
        section(
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
    )

    # 四、对象结构
    s_rows = []
    for c in codes:
        e = w.entity("township", c)
        row: dict[str, Any] = {"township": name[c]}
        for k in (
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
        ):
            row[k] = _i(e.get(k))
        s_rows.append(row)
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
    sections.append(
        section(
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
                    [{k: r[k] for k in [c_["key"] for c_ in attr_cols]} for r in s_rows],
                ),
                table(
                    "health",
                    "各镇（街道）在册人员健康状况",
                    "健康状况",
                    health_cols,
                    [{k: r[k] for k in [c_["key"] for c_ in health_cols]} for r in s_rows],
                ),
            ],
        )
    )

    # 五、贫困村
    sections.append(_poor_villages_section(x, w, township))

    # 六、数据质量
    q_rows = []
    for c in codes:
        e = w.entity("township", c)
        q_rows.append(
            {
                "township": name[c],
                "open_findings": _i(e.get("open_findings")),
                "open_findings_per_100": _r(e.get("open_findings_per_100"), 2),
                "overdue_findings": _i(e.get("overdue_findings")),
                "open_issues": _i(e.get("open_issues")),
                "open_issues_per_100": _r(e.get("open_issues_per_100"), 2),
                "overdue_issues": _i(e.get("overdue_issues")),
                "median_findings": _r(e.get("median_days_fix_findings")),
                "median_issues": _r(e.get("median_days_fix_issues")),
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
        q_rows,
        note=f"逾期：首次发现后超过{x.policy.overdue_days}天仍未整改。整改天数中位数仅统计考核时点前已整改的问题，“—”表示尚无已整改问题。",
    )
    sections.append(
        section(
            "quality",
            "六、问题整改与数据质量",
            paragraphs=[
                "比对问题为花名册与民政、医保数据比对发现的问题（规则R01-R15）；数据质量问题为报送表格本身的填报问题。"
            ],
            tables=[q_table],
        )
    )
    sections.append(section("sources", "附：数据来源", tables=[_sources_table(meta)]))
    notes = [
        f"考核时点：{meta['evaluation_date_zh']}（考核期末；考核期尚未结束时为数据截至日）。",
        "建档立卡人数、户数均为花名册中人员状态为“正常”的在册对象。",
        *_definitions(
            [
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
            ],
            x.policy,
        ),
    ]
    return {"kind": "assessment", "meta": meta, "sections": sections, "notes": notes}


def _trend_chart(
    history: pl.DataFrame | None, current: pl.DataFrame, period: str, level: str, code: str
) -> dict[str, Any] | None:
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
    series: list[dict[str, Any]] = [
        {"name": "累计脱贫人数", "values": [values.get((p, "persons_out")) for p in periods]},
        {
            "name": "累计目标人数",
            "values": [values.get((p, "target_persons_out")) for p in periods],
            "dashed": True,
            "labels": False,
        },
        {"name": "未整改比对问题", "values": [values.get((p, "open_findings")) for p in periods]},
    ]
    if not any(v is not None for s in series for v in s["values"]):
        return None
    return {"type": "trend", "title": "历次半年考核趋势", "periods": periods, "series": series}


def _poor_villages_section(x: IndicatorInputs, w: Wide, township: str | None) -> dict[str, Any]:
    directory = village_directory(x)
    if township:
        directory = directory.filter(pl.col("township_code") == township)
    poor = directory.filter(pl.col("is_poor").fill_null(False))
    line = x.policy.year(x.year).village_exit_line
    by_type: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in poor.iter_rows(named=True):
        e = w.entity("village", r["entity_code"])
        utype = r["unit_type"] or ind.WORK_GROUP
        infra = {k: e.get(f"village_{k}") for k in ind.VILLAGE_INFRA}
        by_type[utype].append(
            {
                "township": x.township_name(r["township_code"]) or "",
                "village": r["village_key"],
                "unit": r["support_unit"] or "",
                "secretary": mask_name(r["first_secretary"]),
                "income": _r(e.get("village_income"), 0),
                "income_ok": _bool(e.get("village_income_ok")),
                **{k: _bool(v) for k, v in infra.items()},
                "toilet_rate": _r(e.get("village_toilet_rate")),
                "infra_met": _i(e.get("village_infra_met")),
                "exited": "已出列" if e.get("village_exited") else "未出列",
                "persons": _i(e.get("persons")),
                "exit_share": _r(e.get("exit_share")),
                "open_findings": _i(e.get("open_findings")),
            }
        )
    summary_rows = []
    tables: list[dict[str, Any]] = []
    village_cols = [
        col("township", "镇（街道）"),
        col("village", "行政村"),
        col("unit", "帮扶单位"),
        col("secretary", "第一书记"),
        col("income", "人均收入（元）", "money"),
        col("health_station", "卫生站", "bool"),
        col("bus", "通客车", "bool"),
        col("water_safe", "饮水安全", "bool"),
        col("coverage_4g", "4G", "bool"),
        col("info_point", "信息站", "bool"),
        col("waste", "垃圾处理", "bool"),
        col("sewage", "污水处理", "bool"),
        col("toilet_rate", "厕所普及率", "pct"),
        col("infra_met", "达标项/8", "int"),
        col("exited", "出列", "rating"),
        col("persons", "在册人数", "int"),
        col("exit_share", "脱贫率", "pct"),
        col("open_findings", "未整改问题", "int"),
    ]
    all_rows = []
    for utype in sorted(by_type, key=lambda t: (UNIT_TYPES.index(t) if t in UNIT_TYPES else 99, t)):
        rows = sorted(by_type[utype], key=lambda r: (r["unit"], r["township"], r["village"]))
        exited = sum(1 for r in rows if r["exited"] == "已出列")
        full = sum(1 for r in rows if r["infra_met"] == 8)
        summary_rows.append(
            {
                "unit_type": utype,
                "units": len({r["unit"] for r in rows}),
                "villages": len(rows),
                "exited": exited,
                "exit_rate": _r(exited * 100.0 / len(rows)) if rows else None,
                "infra_full": full,
            }
        )
        tables.append(
            table(
                f"villages_{len(tables)}",
                f"{utype}帮扶的贫困村",
                f"贫困村-{utype.split('/')[0]}",
                village_cols,
                rows,
                formats=("html",),
            )
        )
        all_rows.extend([{"unit_type": utype, **r} for r in rows])
    summary = table(
        "village_types",
        "贫困村出列情况（按帮扶单位类型）",
        "贫困村汇总",
        [
            col("unit_type", "帮扶单位类型"),
            col("units", "帮扶单位数", "int"),
            col("villages", "贫困村数", "int"),
            col("exited", "已出列", "int"),
            col("exit_rate", "出列率", "pct"),
            col("infra_full", "基础设施8项全部达标", "int"),
        ],
        summary_rows,
    )
    full_table = table(
        "villages_all",
        "贫困村明细",
        "贫困村明细",
        [col("unit_type", "帮扶单位类型"), *village_cols],
        all_rows,
        formats=("xlsx",),
    )
    return section(
        "villages",
        "五、相对贫困村情况",
        paragraphs=[
            f"全市相对贫困村{x.policy.poor_villages}个；本报告列出贫困村情况表中标注为贫困村的{poor.height}个村。"
            f"村人均可支配收入达到出列标准（{line:,.0f}元）即为出列；基础设施按2018年底目标逐项列示（✓达标，✗未达标），卫生厕所普及率以{x.policy.assessment.toilet_rate_line:g}%为达标。"
        ],
        tables=[summary, *tables, full_table],
    )


def _bool(v: float | None) -> bool | None:
    return None if v is None else bool(v)


# ------------------------------------------------------------------------- accountability
def accountability_data(
    x: IndicatorInputs,
    indicators: pl.DataFrame,
    meta: dict[str, Any],
    *,
    township: str | None = None,
    file_names: Mapping[int, str] | None = None,
) -> dict[str, Any]:
    """The 问责通报: 约谈, 通报, 召回建议, support-unit league table."""
    w = Wide(indicators)
    codes = _townships(x, township)
    name = {c: x.divisions.short_name(c) for c in x.divisions.townships}
    directory = village_directory(x)
    units = _unit_of(directory, x)
    sections = [_summons_section(x, w, codes, name)]
    sections.append(_notice_section(x, codes, name, units, file_names or {}, township))
    sections.append(_recall_section(x, units, township))
    sections.append(_league_section(x, w, directory, township))
    notes = [
        f"考核时点：{meta['evaluation_date_zh']}。",
        f"约谈：年底考核未完成年度累计脱贫目标（目标完成率低于{x.policy.assessment.rating_ok_share:.0%}）的镇（街道），约谈党政主要负责人。",
        f"通报：考核时点已发现超过{x.policy.overdue_days}天仍未整改的比对问题和数据质量问题，按镇（街道）、行政村、帮扶单位分列，最早发现的问题排在前面。",
        f"召回：某村在连续{x.policy.assessment.recall_min_streak}次及以上半年考核时点均有未整改的{_severities(x)}严重程度比对问题，视为督查中屡次发现问题。"
        "南雄市直单位和驻镇帮扶工作组派出的干部直接召回；省直（中直驻粤）、东莞市、韶关市直（省直驻韶）单位派出的，向派出单位扶贫办发送召回建议。",
        "帮扶单位排名：按所帮扶村的脱贫率由高到低，脱贫率相同时逾期问题少者在前。",
        "文中证件号码、姓名均已脱敏。",
    ]
    return {"kind": "accountability", "meta": meta, "sections": sections, "notes": notes}


def _summons_section(
    x: IndicatorInputs, w: Wide, codes: list[str], name: Mapping[str, str]
) -> dict[str, Any]:
    rows = []
    for c in codes:
        e = w.entity("township", c)
        target, out = e.get("target_persons_out"), e.get("persons_out")
        if not target or out is None or out >= target:
            continue
        rows.append(
            {
                "township": name[c],
                "target": _i(target),
                "persons_out": _i(out),
                "gap": _i(target - out),
                "progress": _r(e.get("target_progress")),
                "rating": _rating_text(e.get("target_rating")),
                "who": "镇（街道）党委书记、镇长（街道办事处主任）"
                if x.period.is_year_end
                else "提醒",
            }
        )
    rows.sort(key=lambda r: (r["progress"] if r["progress"] is not None else 0, r["township"]))
    cols = [
        col("township", "镇（街道）"),
        col("target", "累计目标人数", "int"),
        col("persons_out", "累计脱贫人数", "int"),
        col("gap", "差额", "int"),
        col("progress", "目标完成率", "pct"),
        col("rating", "评级", "rating"),
        col("who", "约谈对象" if x.period.is_year_end else "处理"),
    ]
    if x.period.is_year_end:
        text = (
            f"{x.period.zh}考核，以下{len(rows)}个镇（街道）未完成年度累计脱贫目标，按规定对其党政主要负责人进行约谈："
            if rows
            else f"{x.period.zh}考核，各镇（街道）均完成年度累计脱贫目标，本期无约谈对象。"
        )
        title = "约谈名单"
    else:
        text = (
            "本期为半年考核，约谈以年底考核结果为准。以下镇（街道）未达到半年进度目标，予以提醒："
            if rows
            else "本期为半年考核，约谈以年底考核结果为准；各镇（街道）均达到半年进度目标。"
        )
        title = "半年进度未达标提醒名单"
    return section(
        "summons",
        "一、约谈",
        paragraphs=[text],
        tables=[table("summons", title, "约谈名单", cols, rows)],
    )


def _overdue_items(x: IndicatorInputs, file_names: Mapping[int, str]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    f = x.open_findings.filter(pl.col("overdue"))
    for r in f.iter_rows(named=True):
        items.append(
            {
                "township_code": r["township_code"],
                "village_key": r["village_key"],
                "category": "比对问题",
                "rule": r["rule"],
                "problem": _problem_label(r),
                "severity": r.get("severity") or "",
                "household_id": r.get("household_id") or "",
                "first_seen": r["first_seen"].isoformat(),
                "days_open": int(r["days_open"]),
                "detail": r.get("detail") or "",
                "key": r.get("key") or "",
            }
        )
    i = x.open_issues.filter(pl.col("overdue"))
    for r in i.iter_rows(named=True):
        file_id = r.get("file_id")
        where = file_names.get(int(file_id)) if file_id is not None else None
        loc = f"《{where}》" if where else ""
        if r.get("row_no"):
            loc += f"第{r['row_no']}行"
        if r.get("column"):
            loc += f"“{r['column']}”列"
        items.append(
            {
                "township_code": r["township_code"],
                "village_key": r["village_key"],
                "category": "数据质量问题",
                "rule": None,
                "problem": _problem_label(r),
                "severity": "",
                "household_id": r.get("household_id") or "",
                "first_seen": r["first_seen"].isoformat(),
                "days_open": int(r["days_open"]),
                "detail": "：".join(p for p in (loc, r.get("message") or "") if p),
                "key": r.get("key") or "",
            }
        )
    items.sort(
        key=lambda it: (
            it["first_seen"],
            it["township_code"] or "",
            it["village_key"] or "",
            it["key"],
        )
    )
    return items


def _rule_summary(items: list[dict[str, Any]]) -> str:
    counts = Counter(it["problem"] for it in items)
    return "；".join(f"{k} {v}" for k, v in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def _notice_section(
    x: IndicatorInputs,
    codes: list[str],
    name: Mapping[str, str],
    units: Mapping[tuple[str, str], tuple[str, str, str]],
    file_names: Mapping[int, str],
    township: str | None,
) -> dict[str, Any]:
    items = [
        it
        for it in _overdue_items(x, file_names)
        if not township or it["township_code"] == township
    ]
    for it in items:
        it["township"] = name.get(it["township_code"] or "", "（未识别）")
        unit = units.get((it["township_code"], it["village_key"])) or _default_unit(
            x, it["township_code"]
        )
        it["unit"], it["unit_type"] = unit[0], unit[1]
        it["village"] = it["village_key"] or ""
    od = x.policy.overdue_days

    by_town: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for it in items:
        by_town[it["township_code"] or ""].append(it)
    town_rows = []
    for c, its in by_town.items():
        town_rows.append(
            {
                "township": name.get(c, "（未识别）"),
                "findings": sum(1 for i in its if i["category"] == "比对问题"),
                "issues": sum(1 for i in its if i["category"] == "数据质量问题"),
                "total": len(its),
                "oldest": its[0]["first_seen"],
                "max_overdue": max(i["days_open"] for i in its) - od,
                "summary": _rule_summary(its),
            }
        )
    town_rows.sort(key=lambda r: (r["oldest"], -r["total"], r["township"]))
    town_table = table(
        "notice_townships",
        "逾期未整改问题通报（镇、街道）",
        "通报-镇街",
        [
            col("township", "镇（街道）"),
            col("findings", "逾期比对问题", "int"),
            col("issues", "逾期数据质量问题", "int"),
            col("total", "合计", "int"),
            col("oldest", "最早发现日期", "date"),
            col("max_overdue", "最长逾期天数", "int"),
            col("summary", "问题分类", "longtext"),
        ],
        town_rows,
        empty="无逾期未整改问题。",
    )
    # counts per rule (typed matrix for filtering in Excel)
    problems = sorted({it["problem"] for it in items}, key=lambda p: (p[0] != "R", p))
    matrix_rows = []
    for r in town_rows:
        its = [i for i in items if i["township"] == r["township"]]
        cnt = Counter(i["problem"] for i in its)
        matrix_rows.append(
            {
                "township": r["township"],
                **{f"p{k}": cnt.get(p, 0) for k, p in enumerate(problems)},
                "total": len(its),
            }
        )
    matrix = table(
        "notice_matrix",
        "逾期问题分规则统计",
        "通报-分规则",
        [
            col("township", "镇（街道）"),
            *[col(f"p{k}", p, "int") for k, p in enumerate(problems)],
            col("total", "合计", "int"),
        ],
        matrix_rows,
        formats=("xlsx",),
    )
    # villages
    by_village: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for it in items:
        if it["village_key"]:
            by_village[(it["township_code"] or "", it["village_key"])].append(it)
    village_rows = [
        {
            "township": its[0]["township"],
            "village": v,
            "unit": its[0]["unit"],
            "unit_type": its[0]["unit_type"],
            "total": len(its),
            "oldest": its[0]["first_seen"],
            "max_overdue": max(i["days_open"] for i in its) - od,
            "summary": _rule_summary(its),
        }
        for (_, v), its in by_village.items()
    ]
    village_rows.sort(key=lambda r: (r["oldest"], -r["total"], r["township"], r["village"]))
    village_table = table(
        "notice_villages",
        "逾期未整改问题通报（行政村）",
        "通报-行政村",
        [
            col("township", "镇（街道）"),
            col("village", "行政村"),
            col("unit", "帮扶单位"),
            col("unit_type", "单位类型"),
            col("total", "逾期问题", "int"),
            col("oldest", "最早发现日期", "date"),
            col("max_overdue", "最长逾期天数", "int"),
            col("summary", "问题分类", "longtext"),
        ],
        village_rows,
        empty="无逾期未整改问题。",
    )
    # support units
    by_unit: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for it in items:
        if it["village_key"]:
            by_unit[(it["unit_type"], it["unit"])].append(it)
    unit_rows = [
        {
            "unit_type": t,
            "unit": u,
            "villages": len({(i["township_code"], i["village_key"]) for i in its}),
            "total": len(its),
            "oldest": its[0]["first_seen"],
            "summary": _rule_summary(its),
        }
        for (t, u), its in by_unit.items()
    ]
    unit_rows.sort(key=lambda r: (r["oldest"], -r["total"], r["unit"]))
    unit_table = table(
        "notice_units",
        "逾期未整改问题通报（帮扶单位）",
        "通报-帮扶单位",
        [
            col("unit_type", "单位类型"),
            col("unit", "帮扶单位"),
            col("villages", "涉及村数", "int"),
            col("total", "逾期问题", "int"),
            col("oldest", "最早发现日期", "date"),
            col("summary", "问题分类", "longtext"),
        ],
        unit_rows,
        empty="无逾期未整改问题。",
    )
    item_cols = [
        col("township", "镇（街道）"),
        col("village", "行政村"),
        col("problem", "问题类别"),
        col("severity", "严重程度"),
        col("household_id", "户编号"),
        col("first_seen", "首次发现", "date"),
        col("days_open", "已持续天数", "int"),
        col("detail", "情况说明", "longtext"),
    ]
    shown: list[dict[str, Any]] = []
    per_town: Counter[str] = Counter()
    for it in items:
        if per_town[it["township"]] < HTML_ITEMS_PER_TOWNSHIP:
            shown.append(it)
            per_town[it["township"]] += 1
    keys = [c["key"] for c in item_cols]
    item_html = table(
        "notice_items",
        f"逾期问题清单（每个镇、街道列出最早发现的{HTML_ITEMS_PER_TOWNSHIP}项）",
        "逾期问题清单",
        item_cols,
        [{k: it[k] for k in keys} for it in shown],
        formats=("html",),
        empty="无逾期未整改问题。",
        note=f"共{len(items)}项逾期问题，完整清单见同名XLSX文件“逾期问题清单”工作表。"
        if len(shown) < len(items)
        else None,
    )
    item_xlsx = table(
        "notice_items_all",
        "逾期问题清单",
        "逾期问题清单",
        [col("category", "类别"), *item_cols],
        [{k: it[k] for k in ["category", *keys]} for it in items],
        formats=("xlsx",),
    )
    text = (
        f"截至考核时点，共有{len(items)}项问题发现后超过{od}天仍未整改，涉及{len(town_rows)}个镇（街道）、"
        f"{len(village_rows)}个行政村、{len(unit_rows)}个帮扶单位，现予通报。请有关单位自通报之日起{od}日内完成整改，并将整改情况报市扶贫办。"
        if items
        else f"截至考核时点，无发现后超过{od}天仍未整改的问题。"
    )
    return section(
        "notice",
        "二、通报",
        paragraphs=[text],
        tables=[town_table, matrix, village_table, unit_table, item_html, item_xlsx],
    )


def _recall_section(
    x: IndicatorInputs, units: Mapping[tuple[str, str], tuple[str, str, str]], township: str | None
) -> dict[str, Any]:
    a = x.policy.assessment
    rec = ind.recurring_problems(
        x.findings,
        x.period,
        x.as_of,
        severities=a.recall_severities,
        min_problems=a.recall_min_problems,
    )
    rec = rec.filter(pl.col("streak") >= a.recall_min_streak)
    if township:
        rec = rec.filter(pl.col("township_code") == township)
    direct: list[dict[str, Any]] = []
    letters: list[dict[str, Any]] = []
    for r in rec.iter_rows(named=True):
        unit, utype, secretary = units.get((r["township_code"], r["village_key"])) or _default_unit(
            x, r["township_code"]
        )
        row = {
            "township": x.township_name(r["township_code"]) or "",
            "village": r["village_key"],
            "unit": unit,
            "unit_type": utype,
            "secretary": secretary,
            "streak": r["streak"],
            "periods": "、".join(ind.parse_period(ind.period_of(d)).zh for d in sorted(r["dates"])),
            "problems_now": r["problems_now"],
            "route": ind.recall_route(utype, a.direct_recall_unit_types),
        }
        (direct if row["route"] == "直接召回" else letters).append(row)
    cols = [
        col("township", "镇（街道）"),
        col("village", "行政村"),
        col("unit", "帮扶单位"),
        col("unit_type", "单位类型"),
        col("secretary", "第一书记/驻村干部"),
        col("streak", "连续存在问题考核次数", "int"),
        col("periods", "涉及考核期", "longtext"),
        col("problems_now", f"本期{_severities(x)}严重程度问题", "int"),
        col("route", "处理方式"),
    ]

    def key(r: dict[str, Any]) -> tuple[Any, ...]:
        utype = r["unit_type"]
        return (
            UNIT_TYPES.index(utype) if utype in UNIT_TYPES else 99,
            r["unit"],
            r["township"],
            r["village"],
        )

    direct.sort(key=key)
    letters.sort(key=key)
    n = len(direct) + len(letters)
    text = (
        f"以下{n}个村在连续{x.policy.assessment.recall_min_streak}次及以上半年考核中均发现未整改的{_severities(x)}严重程度问题，建议对相应驻村干部实行召回："
        if n
        else f"本期无连续{x.policy.assessment.recall_min_streak}次半年考核均发现问题的村，无召回建议。"
    )
    return section(
        "recall",
        "三、召回建议",
        paragraphs=[text],
        tables=[
            table(
                "recall_direct",
                "（一）直接召回（南雄市直单位、驻镇帮扶工作组）",
                "召回-直接",
                cols,
                direct,
            ),
            table(
                "recall_letters",
                "（二）向派出单位扶贫办发送召回建议（省直/中直驻粤、东莞市、韶关市直/省直驻韶）",
                "召回-建议函",
                cols,
                letters,
            ),
        ],
    )


def _league_section(
    x: IndicatorInputs, w: Wide, directory: pl.DataFrame, township: str | None
) -> dict[str, Any]:
    d = directory.filter(pl.col("support_unit").is_not_null())
    if township:
        d = d.filter(pl.col("township_code") == township)
    types: dict[str, Counter[str]] = defaultdict(Counter)
    villages: dict[str, list[str]] = defaultdict(list)
    for r in d.iter_rows(named=True):
        types[r["support_unit"]][r["unit_type"] or ind.WORK_GROUP] += 1
        villages[r["support_unit"]].append(
            f"{x.township_name(r['township_code']) or ''}{r['village_key']}"
        )
    rows = []
    for unit in sorted(villages):
        e = w.entity("support_unit", unit)
        rows.append(
            {
                "unit_type": types[unit].most_common(1)[0][0],
                "unit": unit,
                "villages": _i(e.get("unit_villages")),
                "poor_villages": _i(e.get("unit_poor_villages")),
                "exited": _i(e.get("unit_villages_exited")),
                "persons": _i(e.get("persons")),
                "persons_out": _i(e.get("persons_out")),
                "exit_share": _r(e.get("exit_share")),
                "open_findings": _i(e.get("open_findings")),
                "overdue": (_i(e.get("overdue_findings")) or 0)
                + (_i(e.get("overdue_issues")) or 0),
                "per_100": _r(e.get("open_findings_per_100"), 2),
                "village_list": "、".join(sorted(villages[unit])),
            }
        )
    rows.sort(
        key=lambda r: (
            -(float(r["exit_share"]) if r["exit_share"] is not None else -1.0),
            r["overdue"],
            r["unit"],
        )
    )
    prev_key, rank = None, 0
    for i, r in enumerate(rows, start=1):
        k = (r["exit_share"], r["overdue"])
        if k != prev_key:
            rank, prev_key = i, k
        r["rank"] = rank
    cols = [
        col("rank", "名次", "rank"),
        col("unit_type", "单位类型"),
        col("unit", "帮扶单位"),
        col("villages", "帮扶村数", "int"),
        col("poor_villages", "其中贫困村", "int"),
        col("exited", "已出列贫困村", "int"),
        col("persons", "在册人数", "int"),
        col("persons_out", "已脱贫人数", "int"),
        col("exit_share", "脱贫率", "pct"),
        col("open_findings", "未整改比对问题", "int"),
        col("overdue", "逾期问题", "int"),
        col("per_100", "每百人比对问题", "num"),
        col("village_list", "帮扶村", "longtext"),
    ]
    return section(
        "league",
        "四、帮扶单位排名",
        paragraphs=["按帮扶村的脱贫率由高到低排名；脱贫率相同的，逾期未整改问题少者在前。"],
        tables=[table("league", "帮扶单位工作成效排名", "帮扶单位排名", cols, rows)],
    )
