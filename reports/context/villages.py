"""五、相对贫困村情况 of the 考核报告: each poor village's income, infrastructure and exit,
grouped by the type of unit that supports it."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import polars as pl

from reports.context.directory import village_directory
from reports.context.ranking import unit_type_rank
from reports.context.tables import Wide, as_bool, col, pct_text, rounded, section, table, whole
from transforms import indicators as ind
from transforms.county import County
from transforms.indicators import IndicatorInputs
from transforms.privacy import mask_name


def _village_columns() -> list[dict[str, str]]:
    return [
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


def poor_villages_section(x: IndicatorInputs, w: Wide, township: str | None) -> dict[str, Any]:
    """A summary by unit type, one table per unit type (HTML) and one of all (XLSX)."""
    directory = village_directory(x)
    if township:
        directory = directory.filter(pl.col("township_code") == township)
    poor = directory.filter(pl.col("is_poor").fill_null(False))
    line = x.policy.year(x.year).village_exit_line
    by_type = _villages_by_unit_type(x, w, poor)
    summary_rows = []
    tables: list[dict[str, Any]] = []
    all_rows = []
    village_cols = _village_columns()
    for utype in sorted(by_type, key=lambda t: (unit_type_rank(t), t)):
        rows = sorted(by_type[utype], key=lambda r: (r["unit"], r["township"], r["village"]))
        exited = sum(1 for r in rows if r["exited"] == "已出列")
        full = sum(1 for r in rows if r["infra_met"] == 8)
        summary_rows.append(
            {
                "unit_type": utype,
                "units": len({r["unit"] for r in rows}),
                "villages": len(rows),
                "exited": exited,
                "exit_rate": rounded(exited * 100.0 / len(rows)) if rows else None,
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
    p = x.policy
    county = County.of(x.divisions)
    # How many poor villages the county has is a figure of its plan (policy.toml [city]); a
    # county without one is told so, with its number of villages from its divisions.
    counted = (
        f"{county.whole}相对贫困村{p.poor_villages}个"
        if p.poor_villages is not None
        else f"{county.whole}共有行政村{len(x.divisions.villages)}个，{county.own}未在 policy.toml 中配置相对贫困村数"
    )
    paragraphs = [
        f"相对贫困村的认定标准为2015年村人均可支配收入低于{p.village_registration_income_line:,.0f}元、"
        f"且相对贫困人口占比不低于{p.village_poor_share:.0%}。"
        f"{counted}；本报告列出贫困村情况表中标注为贫困村的{poor.height}个村。"
        f"村人均可支配收入达到出列标准（{line:,.0f}元）即为出列；基础设施按2018年底目标逐项列示（✓达标，✗未达标），卫生厕所普及率以{p.assessment.toilet_rate_line:g}%为达标。"
    ]
    scope = (
        w.entity("township", township) if township else w.entity("city", x.divisions.county_code)
    )
    if scope.get("target_villages_exited") is not None:
        paragraphs.append(
            f"按计划，{x.year}年底前贫困村全部出列：应出列{whole(scope.get('target_villages_exited')) or 0}个，"
            f"出列完成率{pct_text(scope.get('villages_exit_progress'))}。"
        )
    return section(
        "villages",
        "五、相对贫困村情况",
        paragraphs=paragraphs,
        tables=[summary, *tables, full_table],
    )


def _villages_by_unit_type(
    x: IndicatorInputs, w: Wide, poor: pl.DataFrame
) -> dict[str, list[dict[str, Any]]]:
    """One row per poor village, grouped by the type of its support unit."""
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
                "income": rounded(e.get("village_income"), 0),
                "income_ok": as_bool(e.get("village_income_ok")),
                **{k: as_bool(v) for k, v in infra.items()},
                "toilet_rate": rounded(e.get("village_toilet_rate")),
                "infra_met": whole(e.get("village_infra_met")),
                "exited": "已出列" if e.get("village_exited") else "未出列",
                "persons": whole(e.get("persons")),
                "exit_share": rounded(e.get("exit_share")),
                "open_findings": whole(e.get("open_findings")),
            }
        )
    return by_type
