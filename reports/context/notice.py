"""二、通报 of the 问责通报: the problems still open past the overdue limit, counted by
township, rule, village and support unit, and listed one by one."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping
from typing import Any

import polars as pl

from config.rules import RULES
from config.schema import ISSUE_KINDS
from reports.context import ranking
from reports.context.directory import Unit, default_unit
from reports.context.tables import col, keep, section, table
from transforms.county import County
from transforms.indicators import IndicatorInputs

HTML_ITEMS_PER_TOWNSHIP = 10
NONE_OVERDUE = "无逾期未整改问题。"


def notice_section(
    x: IndicatorInputs,
    name: Mapping[str, str],
    units: Mapping[tuple[str, str], Unit],
    file_names: Mapping[int, str],
    township: str | None,
) -> dict[str, Any]:
    """Overdue problems by township, by rule (XLSX), by village, by support unit, and the
    items themselves (the oldest few per township in HTML, all in XLSX)."""
    items = [
        it for it in overdue_items(x, file_names) if not township or it["township_code"] == township
    ]
    for it in items:
        it["township"] = name.get(it["township_code"] or "", "（未识别）")
        unit = units.get((it["township_code"], it["village_key"])) or default_unit(
            x, it["township_code"]
        )
        it["unit"], it["unit_type"] = unit[0], unit[1]
        it["village"] = it["village_key"] or ""
    od = x.policy.overdue_days
    town_rows = _township_rows(items, name, od)
    village_rows = _village_rows(items, od)
    unit_rows = _unit_rows(items)
    text = (
        f"截至考核时点，共有{len(items)}项问题发现后超过{od}天仍未整改，涉及{len(town_rows)}个镇（街道）、"
        f"{len(village_rows)}个行政村、{len(unit_rows)}个帮扶单位，现予通报。请有关单位自通报之日起{od}日内完成整改，并将整改情况报{County.of(x.divisions).office_short}。"
        if items
        else f"截至考核时点，无发现后超过{od}天仍未整改的问题。"
    )
    return section(
        "notice",
        "二、通报",
        paragraphs=[text],
        tables=[
            _township_table(town_rows),
            _rule_matrix(items, town_rows),
            _village_table(village_rows),
            _unit_table(unit_rows),
            *_item_tables(items),
        ],
    )


def overdue_items(x: IndicatorInputs, file_names: Mapping[int, str]) -> list[dict[str, Any]]:
    """Every overdue finding and data-quality issue as one row, the earliest found first."""
    items: list[dict[str, Any]] = []
    f = x.open_findings.filter(pl.col("overdue"))
    for r in f.iter_rows(named=True):
        items.append(
            {
                "township_code": r["township_code"],
                "village_key": r["village_key"],
                "category": "比对问题",
                "rule": r["rule"],
                "problem": problem_label(r),
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
                "problem": problem_label(r),
                "severity": "",
                "household_id": r.get("household_id") or "",
                "first_seen": r["first_seen"].isoformat(),
                "days_open": int(r["days_open"]),
                "detail": "：".join(p for p in (loc, r.get("message") or "") if p),
                "key": r.get("key") or "",
            }
        )
    return ranking.by_first_seen(items)


def problem_label(row: Mapping[str, Any]) -> str:
    """'R05 死亡未销号' for a finding, the issue kind's name for a data-quality issue."""
    if row.get("rule"):
        rule = RULES.get(row["rule"])
        return f"{row['rule']} {rule.name_zh}" if rule else str(row["rule"])
    kind = str(row.get("kind") or "")
    return ISSUE_KINDS.get(kind, (kind or "数据质量问题", ""))[0]


def _rule_summary(items: list[dict[str, Any]]) -> str:
    """'R05 死亡未销号 3；R10 … 1': problems by count, most frequent first."""
    counts = Counter(it["problem"] for it in items)
    return "；".join(f"{k} {v}" for k, v in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def _township_rows(
    items: list[dict[str, Any]], name: Mapping[str, str], od: int
) -> list[dict[str, Any]]:
    by_town: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for it in items:
        by_town[it["township_code"] or ""].append(it)
    rows = [
        {
            "township": name.get(c, "（未识别）"),
            "findings": sum(1 for i in its if i["category"] == "比对问题"),
            "issues": sum(1 for i in its if i["category"] == "数据质量问题"),
            "total": len(its),
            "oldest": its[0]["first_seen"],
            "max_overdue": max(i["days_open"] for i in its) - od,
            "summary": _rule_summary(its),
        }
        for c, its in by_town.items()
    ]
    return ranking.oldest_first(rows, "township")


def _village_rows(items: list[dict[str, Any]], od: int) -> list[dict[str, Any]]:
    by_village: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for it in items:
        if it["village_key"]:
            by_village[(it["township_code"] or "", it["village_key"])].append(it)
    rows = [
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
    return ranking.oldest_first(rows, "township", "village")


def _unit_rows(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    by_unit: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for it in items:
        if it["village_key"]:
            by_unit[(it["unit_type"], it["unit"])].append(it)
    rows = [
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
    return ranking.oldest_first(rows, "unit")


def _township_table(rows: list[dict[str, Any]]) -> dict[str, Any]:
    return table(
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
        rows,
        empty=NONE_OVERDUE,
    )


def _rule_matrix(items: list[dict[str, Any]], town_rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Counts per township and problem, one typed column per problem (for filtering in
    Excel); rules first."""
    problems = sorted({it["problem"] for it in items}, key=lambda p: (p[0] != "R", p))
    rows = []
    for r in town_rows:
        its = [i for i in items if i["township"] == r["township"]]
        cnt = Counter(i["problem"] for i in its)
        rows.append(
            {
                "township": r["township"],
                **{f"p{k}": cnt.get(p, 0) for k, p in enumerate(problems)},
                "total": len(its),
            }
        )
    return table(
        "notice_matrix",
        "逾期问题分规则统计",
        "通报-分规则",
        [
            col("township", "镇（街道）"),
            *[col(f"p{k}", p, "int") for k, p in enumerate(problems)],
            col("total", "合计", "int"),
        ],
        rows,
        formats=("xlsx",),
    )


def _village_table(rows: list[dict[str, Any]]) -> dict[str, Any]:
    return table(
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
        rows,
        empty=NONE_OVERDUE,
    )


def _unit_table(rows: list[dict[str, Any]]) -> dict[str, Any]:
    return table(
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
        rows,
        empty=NONE_OVERDUE,
    )


def _item_tables(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The oldest items of each township (HTML) and every item (XLSX)."""
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
    shown = ranking.first_per(items, "township", HTML_ITEMS_PER_TOWNSHIP)
    all_cols = [col("category", "类别"), *item_cols]
    return [
        table(
            "notice_items",
            f"逾期问题清单（每个镇、街道列出最早发现的{HTML_ITEMS_PER_TOWNSHIP}项）",
            "逾期问题清单",
            item_cols,
            keep(shown, item_cols),
            formats=("html",),
            empty=NONE_OVERDUE,
            note=f"共{len(items)}项逾期问题，完整清单见同名XLSX文件“逾期问题清单”工作表。"
            if len(shown) < len(items)
            else None,
        ),
        table(
            "notice_items_all",
            "逾期问题清单",
            "逾期问题清单",
            all_cols,
            keep(items, all_cols),
            formats=("xlsx",),
        ),
    ]
