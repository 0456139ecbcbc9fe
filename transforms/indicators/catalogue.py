"""The indicator catalogue: the long format of the `indicator` table, the levels, and every
indicator's Chinese name, unit and footnote (with the policy's numbers filled in by
`definition`)."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from config.schema import ATTRIBUTE, HEALTH, LABOUR
from config.settings import Divisions, Policy
from transforms.county import County

S, F = pl.Utf8(), pl.Float64()

INDICATOR: dict[str, pl.DataType] = {
    "period": S,
    "level": S,
    "entity_code": S,
    "entity_name": S,
    "indicator": S,
    "value": F,
    "numerator": F,
    "denominator": F,
    "unit": S,
}
# "city" is the whole county the run works for (南雄市 is a 县级市, hence the name): its
# entity code and name are the divisions' county_code and county_name (`longform`), so two
# counties' indicators never share an entity.
LEVELS = ("city", "township", "village", "support_unit")

# Traffic light of the exit target (its shares: policy.toml [assessment], documented in the
# reports' footnotes).  The toilet line and the recall thresholds are there too.
RATING_CODES = {2: "达标", 1: "预警", 0: "未达标"}
WORK_GROUP = "驻镇帮扶工作组"

_LABOUR_KEYS = dict(zip(LABOUR, ("normal", "skilled", "weak", "lost", "none"), strict=True))
_HEALTH_KEYS = dict(zip(HEALTH, ("healthy", "chronic", "serious", "disabled"), strict=True))
_ATTR_KEYS = dict(zip(ATTRIBUTE, ("general", "dibao", "tekun"), strict=True))
VILLAGE_INFRA: dict[str, str] = {
    "health_station": "标准化卫生站",
    "bus": "通客车",
    "water_safe": "饮水安全",
    "coverage_4g": "4G覆盖",
    "info_point": "信息服务站",
    "waste": "生活垃圾处理",
    "sewage": "生活污水处理",
}


@dataclass(frozen=True, slots=True)
class IndicatorDef:
    name: str  # Chinese, as printed
    unit: str
    definition: str  # Chinese footnote


def _defs() -> dict[str, IndicatorDef]:
    d: dict[str, IndicatorDef] = {
        "households": IndicatorDef(
            "建档立卡户数", "户", "花名册中至少有一名人员状态为“正常”的户。"
        ),
        "persons": IndicatorDef(
            "建档立卡人数", "人", "花名册中人员状态为“正常”（空白视为正常）的人员。"
        ),
        "households_labour_capable": IndicatorDef(
            "有劳动能力户数",
            "户",
            "至少一名在册成员为普通劳动力、技能劳动力或弱劳动力或半劳动力的户。",
        ),
        "persons_out": IndicatorDef(
            "累计脱贫人数", "人", "脱贫状态为“已脱贫”且脱贫年度不晚于考核年度的户的在册人数。"
        ),
        "households_out": IndicatorDef(
            "累计脱贫户数", "户", "脱贫状态为“已脱贫”且脱贫年度不晚于考核年度的户。"
        ),
        "persons_out_dibao": IndicatorDef(
            "其中兜底脱贫人数",
            "人",
            "累计脱贫人数中，贫困户属性为低保贫困户或特困供养贫困户的人数（政策性保障兜底）。",
        ),
        "exit_share": IndicatorDef("脱贫率", "%", "累计脱贫人数 ÷ 建档立卡人数。"),
        "target_persons_out_dibao": IndicatorDef(
            "其中兜底脱贫目标人数",
            "人",
            "政策参数设定了该年兜底脱贫目标（如2016年{whole}5,000人）时，{whole}目标 ÷ {whole}建档立卡人数 × 本单位建档立卡人数（四舍五入）；年底考核，上半年不列。",
        ),
        "target_dibao_progress": IndicatorDef(
            "兜底目标完成率", "%", "其中兜底脱贫人数 ÷ 其中兜底脱贫目标人数。"
        ),
        "target_persons_out": IndicatorDef(
            "累计脱贫目标人数",
            "人",
            "{whole}年度累计目标占建档立卡总人数的比例 × 本单位建档立卡人数（四舍五入）；上半年为上年底目标加本年增量的一半；政策参数文件设定了镇（街道）目标时以其为准。",
        ),
        "target_progress": IndicatorDef("目标完成率", "%", "累计脱贫人数 ÷ 累计脱贫目标人数。"),
        "target_rating": IndicatorDef(
            "考核评级",
            "等级",
            "目标完成率 ≥{ok} 为“达标”，≥{warn} 为“预警”，低于{warn} 为“未达标”（2/1/0）。",
        ),
        "target_rank": IndicatorDef(
            "全市排名", "名", "{townships}个镇（街道）按目标完成率由高到低排名，并列者名次相同。"
        ),
        "insured_share": IndicatorDef(
            "基本医保参保率",
            "%",
            "考核年度医保参保名册中有“参保缴费”记录的在册人员 ÷ 在册人员（证件号码无法确认者计为未参保）；目标100%。",
        ),
        "dibao_coverage": IndicatorDef(
            "低保应保尽保率",
            "%",
            "低保/特困供养贫困户及无劳动能力户中，截至考核时点至少一名成员在保的户 ÷ 此类户（与规则R03一致）；目标100%。",
        ),
        "housing_safe_share": IndicatorDef(
            "住房安全保障率", "%", "住房安全不为C级、D级危房的在册户 ÷ 在册户；2017年底前目标100%。"
        ),
        "dropouts": IndicatorDef(
            "义务教育阶段辍学人数", "人", "在校生状况为“义务教育阶段辍学”的在册人员；目标0。"
        ),
        "water_safe_share": IndicatorDef(
            "饮水安全保障率", "%", "饮水安全为“是”的在册户 ÷ 在册户（未填写计为未保障）。"
        ),
        "exit_below_line": IndicatorDef(
            "脱贫不达标户数",
            "户",
            "考核时点未整改的R10（脱贫不达标）问题数：已脱贫但收入低于脱贫标准、仍住危房或有辍学子女。",
        ),
        "open_findings": IndicatorDef(
            "未整改比对问题", "个", "考核时点仍未整改的比对问题（R01-R15）。"
        ),
        "open_issues": IndicatorDef("未整改数据质量问题", "个", "考核时点仍未整改的数据质量问题。"),
        "open_findings_per_100": IndicatorDef(
            "每百人比对问题", "个/百人", "未整改比对问题 ÷ 建档立卡人数 × 100。"
        ),
        "open_issues_per_100": IndicatorDef(
            "每百人数据质量问题", "个/百人", "未整改数据质量问题 ÷ 建档立卡人数 × 100。"
        ),
        "overdue_findings": IndicatorDef(
            "逾期未整改比对问题", "个", "考核时点已发现超过整改期限（默认30天）仍未整改的比对问题。"
        ),
        "overdue_issues": IndicatorDef(
            "逾期未整改数据质量问题",
            "个",
            "考核时点已发现超过整改期限（默认30天）仍未整改的数据质量问题。",
        ),
        "median_days_fix_findings": IndicatorDef(
            "比对问题整改天数中位数",
            "天",
            "考核时点前已整改的比对问题，从首次发现到整改的天数中位数。",
        ),
        "median_days_fix_issues": IndicatorDef(
            "数据质量问题整改天数中位数",
            "天",
            "考核时点前已整改的数据质量问题，从首次发现到整改的天数中位数。",
        ),
        "village_poor": IndicatorDef("是否贫困村", "是否", "贫困村情况表“是否贫困村”。"),
        "village_income": IndicatorDef(
            "村人均可支配收入", "元", "贫困村情况表填报值；分母为考核年度贫困村出列标准。"
        ),
        "village_income_ok": IndicatorDef(
            "收入达到出列标准", "是否", "村人均可支配收入 ≥ 出列标准（默认9,820元）。"
        ),
        "village_toilet_rate": IndicatorDef("卫生厕所普及率", "%", "贫困村情况表填报值。"),
        "village_toilet_ok": IndicatorDef(
            "卫生厕所普及率达标", "是否", "卫生厕所普及率 ≥{toilet}。"
        ),
        "village_infra_met": IndicatorDef(
            "基础设施达标项数",
            "项",
            "标准化卫生站、通客车、饮水安全、4G覆盖、信息服务站、生活垃圾处理、生活污水处理、卫生厕所普及率≥{toilet}，共8项中达标的项数。",
        ),
        "village_exited": IndicatorDef(
            "贫困村出列",
            "是否",
            "村人均可支配收入达到出列标准即为出列；基础设施达标情况另列，供督查参考。",
        ),
        "target_villages_exited": IndicatorDef(
            "贫困村出列目标数",
            "个",
            "政策参数规定该年贫困村全部出列（2018年）时，本单位贫困村情况表中的贫困村数；年底考核，上半年不列。",
        ),
        "villages_exit_progress": IndicatorDef(
            "贫困村出列完成率", "%", "已出列的贫困村 ÷ 贫困村出列目标数。"
        ),
        "unit_villages": IndicatorDef("帮扶村数", "个", "贫困村情况表中由该单位帮扶的行政村。"),
        "unit_poor_villages": IndicatorDef("帮扶贫困村数", "个", "其中的贫困村。"),
        "unit_villages_exited": IndicatorDef("已出列贫困村数", "个", "帮扶的贫困村中已出列的村。"),
    }
    for attr, key in _ATTR_KEYS.items():
        d[f"households_attr_{key}"] = IndicatorDef(
            f"{attr}户数", "户", f"贫困户属性为“{attr}”的在册户。"
        )
        d[f"persons_attr_{key}"] = IndicatorDef(
            f"{attr}人数", "人", f"贫困户属性为“{attr}”的户的在册人数。"
        )
    for labour, key in _LABOUR_KEYS.items():
        d[f"persons_labour_{key}"] = IndicatorDef(labour, "人", f"劳动技能为“{labour}”的在册人员。")
    for health, key in _HEALTH_KEYS.items():
        d[f"persons_health_{key}"] = IndicatorDef(health, "人", f"健康状况为“{health}”的在册人员。")
    for key, label in VILLAGE_INFRA.items():
        d[f"village_{key}"] = IndicatorDef(label, "是否", f"贫困村情况表“{label}”。")
    return d


INDICATORS: dict[str, IndicatorDef] = _defs()


def definition(code: str, policy: Policy, divisions: Divisions | None = None) -> str:
    """The definition of indicator `code` with the policy's numbers in it (the catalogue
    writes {ok}, {warn}, {toilet} and {townships} where a policy number goes, and {whole}
    for the whole county: 全市, or 全县 / 全区 for the `divisions`' county).  With
    `divisions`, {townships} is its number of townships."""
    a = policy.assessment
    county = County.of(divisions) if divisions else None
    return INDICATORS[code].definition.format(
        ok=f"{a.rating_ok_share:.0%}",
        warn=f"{a.rating_warn_share:.0%}",
        toilet=f"{a.toilet_rate_line:g}%",
        townships=len(divisions.townships) if divisions else (policy.townships or "各"),
        whole=county.whole if county else "全市",
    )
