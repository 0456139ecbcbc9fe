"""What heads and closes every report: title, 发文 information, period, as-of date, the data
sources it stands on, and the definitions of the indicators it uses."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from typing import Any

from config.settings import Divisions, Policy
from reports.context.tables import col, table, zh_date
from transforms import indicators as ind
from transforms.county import County
from transforms.indicators import INDICATORS, IndicatorInputs

# The 发文 lines, with the county's words filled in (`County`): for 南雄市, 南雄市扶贫开发领导
# 小组办公室; 市直及驻南雄各帮扶单位; 市委办、市政府办、市委组织部、市纪委监委.
ISSUER = "{name}扶贫开发领导小组办公室"
RECIPIENTS = (
    "各镇（街道）党委、政府（办事处），{direct}及驻{short}各帮扶单位，各驻村（驻镇）帮扶工作队："
)
COPY_TO = "{level}委办、{level}政府办、{level}委组织部、{level}纪委监委"
SOURCE_LABELS = {
    "townships": "乡镇建档立卡花名册",
    "dibao": "民政低保/特困名册",
    "insurance": "医保参保名册",
    "claims": "医保结算明细",
}


def build_meta(
    kind: str,
    x: IndicatorInputs,
    *,
    township: str | None,
    run: Mapping[str, Any] | None,
    sources: Sequence[Mapping[str, Any]],
) -> dict[str, Any]:
    """Title, 发文 information, period, as-of date and data sources of a report, naming the
    county of `x.divisions` (its name, 发文 unit, the plan it cites)."""
    p = x.period
    county = County.of(x.divisions)
    words = {
        "name": county.name,
        "direct": county.direct,
        "short": county.short,
        "level": county.level,
    }
    scope = x.township_name(township) if township else county.name
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
    doc_no = f"{'KH' if kind == 'assessment' else 'WZ'}-{p.label}-{township or county.code}"
    return {
        "kind": kind,
        "kind_zh": kind_zh,
        "title": title,
        "scope": scope,
        "township_code": township,
        "county": county.name,
        "county_code": county.code,
        "whole": county.whole,
        "plan": county.plan,
        "issuer": ISSUER.format(**words),
        "recipients": RECIPIENTS.format(**words),
        "copy_to": COPY_TO.format(**words),
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


def no_targets(divisions: Divisions) -> str:
    """What a report says where its county's policy carries no figures of its own
    (`Policy.figures_known`): no target, so no target indicator is listed."""
    return (
        f"{County.of(divisions).own}未在 policy.toml 中配置脱贫计划目标，目标完成类指标暂不列示。"
    )


def sources_table(meta: Mapping[str, Any]) -> dict[str, Any]:
    """The accepted files in force, one row each (SHA-256 shortened)."""
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


def definitions(codes: Iterable[str], policy: Policy, divisions: Divisions) -> list[str]:
    """'name：definition' of each known indicator in `codes`, once each, in order, worded
    for the county of `divisions`."""
    seen: list[str] = []
    for c in codes:
        if c in INDICATORS and c not in seen:
            seen.append(c)
    return [f"{INDICATORS[c].name}：{ind.definition(c, policy, divisions)}" for c in seen]
