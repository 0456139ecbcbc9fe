"""The 问责通报: one function per section (约谈, 通报, 召回建议, support-unit league table)
and the notes; `accountability_data` puts them together."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping
from typing import Any

import polars as pl

from reports.context import ranking
from reports.context.directory import (
    Unit,
    default_unit,
    short_names,
    townships_in_scope,
    unit_of,
    village_directory,
)
from reports.context.meta import no_targets
from reports.context.notice import notice_section
from reports.context.tables import Wide, col, rating_text, rounded, section, table, whole
from transforms import indicators as ind
from transforms.county import County
from transforms.indicators import IndicatorInputs


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
    codes = townships_in_scope(x, township)
    name = short_names(x)
    directory = village_directory(x)
    units = unit_of(directory, x)
    sections = [
        _summons_section(x, w, codes, name),
        notice_section(x, name, units, file_names or {}, township),
        _recall_section(x, units, township),
        _league_section(x, w, directory, township),
    ]
    a = x.policy.assessment
    notes = [
        f"考核时点：{meta['evaluation_date_zh']}。",
        f"约谈：年底考核未完成年度累计脱贫目标（目标完成率低于{a.rating_ok_share:.0%}）的镇（街道），约谈党政主要负责人。"
        + ("" if x.policy.figures_known else no_targets(x.divisions)),
        f"通报：考核时点已发现超过{x.policy.overdue_days}天仍未整改的比对问题和数据质量问题，按镇（街道）、行政村、帮扶单位分列，最早发现的问题排在前面。",
        f"召回：某村在连续{a.recall_min_streak}次及以上半年考核时点均有未整改的{_severities(x)}严重程度比对问题，视为督查中屡次发现问题。"
        f"{County.of(x.divisions).direct_units}单位和驻镇帮扶工作组派出的干部直接召回；省直（中直驻粤）、东莞市、韶关市直（省直驻韶）单位派出的，向派出单位扶贫办发送召回建议。",
        "帮扶单位排名：按所帮扶村的脱贫率由高到低，脱贫率相同时逾期问题少者在前。",
        "文中证件号码、姓名均已脱敏。",
    ]
    return {"kind": "accountability", "meta": meta, "sections": sections, "notes": notes}


def _severities(x: IndicatorInputs) -> str:
    """高 (or 高、中): the severities whose open findings count for a recall."""
    return "、".join(x.policy.assessment.recall_severities)


def _summons_section(
    x: IndicatorInputs, w: Wide, codes: list[str], name: Mapping[str, str]
) -> dict[str, Any]:
    """一、约谈: townships short of their target (a reminder at half year); without the
    county's figures there is no target to fall short of, and the section says so."""
    if not x.policy.figures_known:
        return section(
            "summons",
            "一、约谈",
            paragraphs=[no_targets(x.divisions) + "本期不据此提出约谈或提醒名单。"],
        )
    rows = []
    for c in codes:
        e = w.entity("township", c)
        target, out = e.get("target_persons_out"), e.get("persons_out")
        gap = ranking.shortfall(target, out)
        if gap is None:
            continue
        rows.append(
            {
                "township": name[c],
                "target": whole(target),
                "persons_out": whole(out),
                "gap": whole(gap),
                "progress": rounded(e.get("target_progress")),
                "rating": rating_text(e.get("target_rating")),
                "who": "镇（街道）党委书记、镇长（街道办事处主任）"
                if x.period.is_year_end
                else "提醒",
            }
        )
    rows = ranking.by_progress(rows)
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


def _recall_section(
    x: IndicatorInputs, units: Mapping[tuple[str, str], Unit], township: str | None
) -> dict[str, Any]:
    """三、召回建议: villages with problems at consecutive assessments, by route."""
    a = x.policy.assessment
    county = County.of(x.divisions)
    direct_types = county.direct_types(a.direct_recall_unit_types)
    rec = ranking.recall_villages(
        ind.recurring_problems(
            x.findings,
            x.period,
            x.as_of,
            severities=a.recall_severities,
            min_problems=a.recall_min_problems,
        ),
        a.recall_min_streak,
        township,
    )
    rows: list[dict[str, Any]] = []
    for r in rec.iter_rows(named=True):
        unit, utype, secretary = units.get((r["township_code"], r["village_key"])) or default_unit(
            x, r["township_code"]
        )
        rows.append(
            {
                "township": x.township_name(r["township_code"]) or "",
                "village": r["village_key"],
                "unit": unit,
                "unit_type": utype,
                "secretary": secretary,
                "streak": r["streak"],
                "periods": "、".join(
                    ind.parse_period(ind.period_of(d)).zh for d in sorted(r["dates"])
                ),
                "problems_now": r["problems_now"],
                "route": ind.recall_route(utype, direct_types),
            }
        )
    direct, letters = ranking.split_recalls(rows)
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
    n = len(direct) + len(letters)
    text = (
        f"以下{n}个村在连续{a.recall_min_streak}次及以上半年考核中均发现未整改的{_severities(x)}严重程度问题，建议对相应驻村干部实行召回："
        if n
        else f"本期无连续{a.recall_min_streak}次半年考核均发现问题的村，无召回建议。"
    )
    return section(
        "recall",
        "三、召回建议",
        paragraphs=[text],
        tables=[
            table(
                "recall_direct",
                f"（一）直接召回（{county.direct_units}单位、驻镇帮扶工作组）",
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
    """四、帮扶单位排名: support units by the exit share of the villages they support."""
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
                "villages": whole(e.get("unit_villages")),
                "poor_villages": whole(e.get("unit_poor_villages")),
                "exited": whole(e.get("unit_villages_exited")),
                "persons": whole(e.get("persons")),
                "persons_out": whole(e.get("persons_out")),
                "exit_share": rounded(e.get("exit_share")),
                "open_findings": whole(e.get("open_findings")),
                "overdue": (whole(e.get("overdue_findings")) or 0)
                + (whole(e.get("overdue_issues")) or 0),
                "per_100": rounded(e.get("open_findings_per_100"), 2),
                "village_list": "、".join(sorted(villages[unit])),
            }
        )
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
        tables=[
            table("league", "帮扶单位工作成效排名", "帮扶单位排名", cols, ranking.rank_league(rows))
        ],
    )
