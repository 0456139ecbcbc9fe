"""The reconciliation rules of findings.md as data: code, names and severity; and the severity
of data-quality issues, so every severity lives here."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Rule:
    code: str
    name: str
    name_zh: str
    about: str  # person / household / dibao_family / settlement
    severity: str  # 高 / 中 / 低
    scope: str = "county"  # "city": judged across counties, only with more than one


RULES: dict[str, Rule] = {
    r.code: r
    for r in (
        Rule("R01", "uninsured", "应参未参", "person", "高"),
        Rule("R02", "insurance_unsubsidized", "参保未资助", "person", "中"),
        Rule("R03", "dibao_missing", "应保未保", "household", "高"),
        Rule("R04", "attribute_mismatch", "贫困户属性与民政不符", "household", "中"),
        Rule("R05", "deceased_listed", "死亡未销号", "person", "高"),
        Rule("R06", "duplicate_person", "重复登记", "person", "中"),
        Rule("R07", "id_suspected_typo", "证件号码疑似错录", "person", "中"),
        Rule("R08", "invalid_id", "证件号码无效", "person", "中"),
        Rule("R09", "name_mismatch", "姓名与证件不符", "person", "中"),
        Rule("R10", "exit_below_line", "脱贫不达标", "household", "高"),
        Rule("R11", "dibao_not_registered", "低保对象未建档（疑似漏评）", "dibao_family", "中"),
        Rule("R12", "no_support_cadre", "无帮扶责任人", "household", "低"),
        Rule("R13", "medical_subsidy_short", "医疗救助不足70%", "settlement", "高"),
        Rule("R14", "unsafe_housing", "危房未改造", "household", "高"),
        Rule("R15", "dropout", "义务教育阶段辍学", "person", "高"),
        Rule("R16", "duplicate_across_counties", "跨县重复登记", "person", "高", "city"),
    )
}

# Rules judged across counties, only in a multi-county deployment (transforms.city).
CITY_RULES = [code for code, rule in RULES.items() if rule.scope == "city"]

SEVERITIES = ("高", "中", "低")  # worst first: the order of alert bodies and reports
DEFAULT_RULE_SEVERITY = "中"  # a finding of a rule no longer in RULES

# Data-quality issues carry no severity of their own: ID and structure problems block
# reconciliation of the whole person or household, the rest are 低.
ISSUE_SEVERITY: dict[str, str] = {
    kind: "中"
    for kind in (
        "required_missing",
        "invalid_id",
        "excel_mangled_id",
        "household_head",
        "family_size_mismatch",
    )
}
DEFAULT_ISSUE_SEVERITY = "低"
