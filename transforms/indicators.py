"""Assessment indicators (outputs.md §1, §2): pure polars, frames in, frames out.

Every family function takes an `IndicatorInputs` and returns rows in the long format of the
warehouse `indicator` table (`INDICATOR`): one row per period, level, entity and indicator,
with the value and, where the value is a share or a count out of a base, its numerator and
denominator so that anyone can re-add townships into the city.

Conventions, stated once:
- Counts of people and households are of the roster in force: *active* persons (人员状态 正常)
  and *active* households (at least one active member), as in findings.md.
- Shares are stored as percentages (unit ``%``, 0-100); yes/no facts as 1/0 (unit ``是否``).
- The evaluation date D of a period is its end (H1 → 06-30, H2 and a year → 12-31), or the
  run's as-of date when that comes first (a period still in progress is assessed as of today).
  Findings and issues count as open at D when first_seen ≤ D and they were not resolved on or
  before D.  Insurance is of the period's year; 低保 coverage is at D.
- Townships are the 18 of the `Divisions` passed in; every township gets a row even
  without data.  Villages are keyed by township and the village name without 委会/村民委员会, and
  take their NBS code where the name matches the divisions list.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cached_property

import polars as pl

from config.rules import RULES
from config.schema import ATTRIBUTE, HEALTH, LABOUR, UNIT_TYPE
from config.settings import Divisions, Policy, village_short
from transforms import ids
from transforms.frames import (
    DIBAO_ROW,
    ENROLMENT_ROW,
    ROSTER_PERSON,
    SETTLEMENT_ROW,
    conform,
    insured_in,
)
from transforms.rules import (
    ACTIVE,
    DANGEROUS,
    DIBAO_LIKE,
    DROPOUT,
    ENROLMENT_READ,
    EXITED,
    RuleInputs,
    r03_dibao_missing,
)
from transforms.values import plausible_amount

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
LEVELS = ("city", "township", "village", "support_unit")
CITY_CODE = "440282"
CITY_NAME = "南雄市"

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
        "target_persons_out": IndicatorDef(
            "累计脱贫目标人数",
            "人",
            "全市年度累计目标占建档立卡总人数的比例 × 本单位建档立卡人数（四舍五入）；上半年为上年底目标加本年增量的一半；政策参数文件设定了镇（街道）目标时以其为准。",
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


def definition(code: str, policy: Policy) -> str:
    """The definition of indicator `code` with the policy's numbers in it (the catalogue
    writes {ok}, {warn}, {toilet} and {townships} where a policy number goes)."""
    a = policy.assessment
    return INDICATORS[code].definition.format(
        ok=f"{a.rating_ok_share:.0%}",
        warn=f"{a.rating_warn_share:.0%}",
        toilet=f"{a.toilet_rate_line:g}%",
        townships=policy.townships,
    )


# --------------------------------------------------------------------------------- periods
_PERIOD = re.compile(r"^(\d{4})(?:H([12]))?$")


@dataclass(frozen=True, slots=True)
class Period:
    """`2018H1`, `2018H2` or `2018`; H2 and the year both end on 12-31."""

    label: str
    year: int
    half: int | None

    @property
    def start(self) -> date:
        return date(self.year, 7, 1) if self.half == 2 else date(self.year, 1, 1)

    @property
    def end(self) -> date:
        return date(self.year, 6, 30) if self.half == 1 else date(self.year, 12, 31)

    @property
    def is_year_end(self) -> bool:
        return self.half != 1

    @property
    def zh(self) -> str:
        if self.half is None:
            return f"{self.year}年度"
        return f"{self.year}年{'上' if self.half == 1 else '下'}半年"

    def evaluation_date(self, as_of: date | None) -> date:
        """D: the period's end, or the run's as-of date when the period is still running."""
        return self.end if as_of is None else min(self.end, as_of)


def parse_period(text: str | Period) -> Period:
    if isinstance(text, Period):
        return text
    match = _PERIOD.match(str(text).strip().upper())
    if not match:
        raise ValueError(f"period {text!r}: write 2018H1, 2018H2 or 2018")
    half = int(match.group(2)) if match.group(2) else None
    return Period(str(text).strip().upper(), int(match.group(1)), half)


def period_of(day: date) -> str:
    """The half-year a date falls in: 2018-05-01 → 2018H1."""
    return f"{day.year}H{1 if day.month <= 6 else 2}"


def half_year_ends(until: date, count: int) -> list[date]:
    """The `count` half-year ends on or before `until`, latest first."""
    out: list[date] = []
    y, m = until.year, until.month
    cur = (
        date(y, 12, 31)
        if (m, until.day) == (12, 31)
        else (date(y, 6, 30) if (m, until.day) >= (6, 30) else date(y - 1, 12, 31))
    )
    while len(out) < count:
        out.append(cur)
        cur = date(cur.year, 6, 30) if cur.month == 12 else date(cur.year - 1, 12, 31)
    return out


# ---------------------------------------------------------------------------------- targets
def round_half_up(x: float) -> int:
    return int(math.floor(x + 0.5 + 1e-9))


def _year_target_share(policy: Policy, year: int) -> float:
    """Cumulative target as a share of the registered persons; 0 before the plan's first year."""
    if year < min(policy.years):
        return 0.0
    return policy.year(year).target_persons_out / policy.persons


def target_share(policy: Policy, period: Period) -> float:
    """The period's cumulative target as a share of registered persons.

    H1 takes the previous year-end target plus half the year's increment (2017H1: 5,200 +
    6,000/2 = 8,200 persons city-wide); H2 and a year take the year-end target.
    """
    end = _year_target_share(policy, period.year)
    if period.half != 1:
        return end
    prev = _year_target_share(policy, period.year - 1)
    return prev + (end - prev) / 2


def targets_from_policy(policy: Policy, divisions: Divisions) -> pl.DataFrame | None:
    """The township targets the policy sets ([years.YYYY.townships]), None when it sets none."""
    rows = policy.township_targets()
    if not rows:
        return None
    frame = pl.DataFrame(
        rows, schema={"township_code": pl.Utf8, "year": pl.Int64, "target": pl.Int64}, orient="row"
    )
    return targets_from_frame(frame, divisions)


def targets_from_frame(frame: pl.DataFrame, divisions: Divisions) -> pl.DataFrame:
    """A table of township targets as (township_code, year, target).

    Columns: `township_code` or `township` (乡镇, any spelling `Divisions.township_code`
    knows), `year` (年度) and `target` (累计脱贫目标人数, cumulative persons out).
    """
    aliases = {
        "乡镇": "township",
        "镇(街道)": "township",
        "乡镇代码": "township_code",
        "年度": "year",
        "累计脱贫目标人数": "target",
        "目标人数": "target",
        "target_persons_out": "target",
    }
    frame = frame.rename({c: aliases[c] for c in frame.columns if c in aliases})
    if "township_code" not in frame.columns:
        if "township" not in frame.columns:
            raise ValueError("targets file: needs a township_code or township (乡镇) column")
        codes = [divisions.township_code(str(n)) for n in frame["township"].to_list()]
        frame = frame.with_columns(township_code=pl.Series(codes, dtype=pl.Utf8))
    missing = [c for c in ("year", "target") if c not in frame.columns]
    if missing:
        raise ValueError(f"targets file: missing column(s) {missing}")
    out = frame.select(
        pl.col("township_code").cast(pl.Utf8),
        pl.col("year").cast(pl.Int64),
        pl.col("target").cast(pl.Float64),
    )
    unknown = out.filter(~pl.col("township_code").is_in(list(divisions.townships)))
    if unknown.height:
        raise ValueError(f"targets file: unknown township(s) {unknown['township_code'].to_list()}")
    return out


def township_targets(
    persons_by_township: Mapping[str, int],
    period: Period,
    policy: Policy,
    override: pl.DataFrame | None = None,
) -> dict[str, int]:
    """Cumulative target persons out per township for `period`."""
    share = target_share(policy, period)
    given: dict[tuple[str, int], float] = {}
    if override is not None:
        given = {
            (r["township_code"], r["year"]): r["target"] for r in override.iter_rows(named=True)
        }
    out: dict[str, int] = {}
    for code, n in persons_by_township.items():
        end = given.get((code, period.year))
        if end is None:
            out[code] = round_half_up(share * n)
            continue
        if period.half != 1:
            out[code] = round_half_up(end)
            continue
        prev = given.get((code, period.year - 1))
        if prev is None:
            prev = _year_target_share(policy, period.year - 1) * n
        out[code] = round_half_up(prev + (end - prev) / 2)
    return out


def rating_code(
    out: float | None, target: float | None, ok_share: float, warn_share: float
) -> int | None:
    """2 达标 (out ≥ ok_share of the target) / 1 预警 (≥ warn_share) / 0 未达标; None when
    there is no target to meet."""
    if out is None or not target:
        return None
    if out >= target * ok_share - 1e-9:
        return 2
    if out >= target * warn_share - 1e-9:
        return 1
    return 0


# ---------------------------------------------------------------------------------- inputs
def bare_village(expr: pl.Expr) -> pl.Expr:
    """珠玑村委会 / 珠玑村民委员会 / ' 珠玑村 ' → 珠玑村: how a village is keyed."""
    return expr.str.replace_all(r"[\s\u3000]", "").str.replace(r"(村民委员会|村委会|委会)$", "村")


def open_at(day: date) -> pl.Expr:
    """A finding or issue open on `day`: seen by then and not resolved on or before it."""
    return (pl.col("first_seen") <= day) & (
        pl.col("resolved_on").is_null() | (pl.col("resolved_on") > day)
    )


def overdue_at(day: date, overdue_days: int) -> pl.Expr:
    """Open on `day` and first seen more than `overdue_days` days before it."""
    return open_at(day) & (pl.col("first_seen") < day - timedelta(days=overdue_days))


def _with_identity(frame: pl.DataFrame) -> pl.DataFrame:
    if "identity" in frame.columns:
        return frame
    valid = pl.col("id_status").is_in([ids.VALID, ids.LEGACY15])
    return frame.with_columns(identity=pl.when(valid).then(pl.col("id_norm")))


def _lifecycle(frame: pl.DataFrame | None, extra: Mapping[str, pl.DataType]) -> pl.DataFrame:
    schema: dict[str, pl.DataType] = {
        "township_code": S,
        "village": S,
        "status": S,
        "first_seen": pl.Date(),
        "last_seen": pl.Date(),
        "resolved_on": pl.Date(),
        **extra,
    }
    if frame is None:
        return pl.DataFrame(schema=schema)
    return frame.with_columns(
        [pl.lit(None).cast(t).alias(c) for c, t in schema.items() if c not in frame.columns]
    )


@dataclass
class IndicatorInputs:
    """What the indicators read: the data in force and the finding/issue life cycles.

    `persons` follow `transforms.frames.ROSTER_PERSON` (an `identity` column, as
    `transforms.identity.resolve_roster` adds it, is used when present; otherwise the valid
    written ID is the identity).  `findings` and `issues` are the warehouse tables (`finding`,
    `dq_issue`) or any frame with township_code, village, status, first_seen, resolved_on and,
    for findings, rule (severity is filled from config.rules when absent).
    """

    persons: pl.DataFrame
    villages: pl.DataFrame
    period: Period
    policy: Policy
    divisions: Divisions
    as_of: date | None = None
    dibao: pl.DataFrame | None = None
    enrolment: pl.DataFrame | None = None
    findings: pl.DataFrame | None = None
    issues: pl.DataFrame | None = None
    targets: pl.DataFrame | None = None

    def __post_init__(self) -> None:
        self.period = parse_period(self.period)

    @property
    def day(self) -> date:
        return self.period.evaluation_date(self.as_of)

    @property
    def year(self) -> int:
        return self.period.year

    @cached_property
    def rule_inputs(self) -> RuleInputs:
        """The rules' view of the same data at D, so households are derived exactly once."""
        return RuleInputs(
            persons=_with_identity(_complete(self.persons, ROSTER_PERSON)),
            dibao=_with_identity(conform_or_empty(self.dibao, DIBAO_ROW)),
            enrolment=_with_identity(
                conform_or_empty(self.enrolment, {c: ENROLMENT_ROW[c] for c in ENROLMENT_READ})
            ),
            settlements=_with_identity(conform_or_empty(None, SETTLEMENT_ROW)),
            as_of=self.day,
            exit_lines=self.policy.exit_lines(),
            housing_deadline=self.policy.housing_deadline,
            assistance_share=self.policy.medical_assistance_share,
            assistance_tolerance=self.policy.medical_assistance_tolerance,
        )

    @cached_property
    def village_names(self) -> pl.DataFrame:
        """(township_code, village_key) → NBS code and short name, from the divisions list."""
        rows = [(v.township_code, village_short(v.name), v.code) for v in self.divisions.villages]
        frame = pl.DataFrame(
            rows, schema={"township_code": S, "vname": S, "village_code": S}, orient="row"
        )
        return frame.with_columns(village_key=bare_village(pl.col("vname"))).select(
            "township_code", "village_key", "village_code"
        )

    @cached_property
    def households(self) -> pl.DataFrame:
        """Active households with what the indicators need, keyed to their village."""
        x = self.rule_inputs
        p = x.persons.filter(pl.col("person_status") == ACTIVE).with_columns(
            insured=pl.col("identity").is_in(self._insured_ids.implode()).fill_null(False)
        )
        members = p.group_by("household_id").agg(
            persons=pl.len(),
            water_safe=pl.col("water_safe").drop_nulls().first(),
            **{
                f"persons_labour_{k}": (pl.col("labour") == v).sum()
                for v, k in _LABOUR_KEYS.items()
            },
            **{
                f"persons_health_{k}": (pl.col("health") == v).sum()
                for v, k in _HEALTH_KEYS.items()
            },
            dropouts=(pl.col("school") == DROPOUT).sum(),
            insured=pl.col("insured").sum(),
        )
        return (
            x.households.filter(pl.col("active"))
            .join(members, on="household_id", how="left")
            .with_columns(village_key=bare_village(pl.col("village")))
        )

    @cached_property
    def _insured_ids(self) -> pl.Series:
        e = self.rule_inputs.enrolment
        return e.filter(pl.col("identity").is_not_null() & insured_in(self.year))[
            "identity"
        ].unique()

    @cached_property
    def open_findings(self) -> pl.DataFrame:
        f = _lifecycle(self.findings, {"rule": S, "severity": S})
        severity = {c: r.severity for c, r in RULES.items()}
        f = f.with_columns(
            severity=pl.coalesce(
                pl.col("severity"),
                pl.col("rule").replace_strict(severity, default=None, return_dtype=S),
            )
        )
        return self._problems(f)

    @cached_property
    def open_issues(self) -> pl.DataFrame:
        return self._problems(_lifecycle(self.issues, {"kind": S}))

    def _problems(self, frame: pl.DataFrame) -> pl.DataFrame:
        d = self.day
        return frame.filter(open_at(d)).with_columns(
            village_key=bare_village(pl.col("village")),
            overdue=overdue_at(d, self.policy.overdue_days),
            days_open=(pl.lit(d) - pl.col("first_seen")).dt.total_days(),
        )

    @cached_property
    def village_sheet(self) -> pl.DataFrame:
        """One row per village of the villages sheets in force, with its support unit."""
        v = self.villages
        if v is None or v.height == 0:
            return pl.DataFrame(
                schema={"township_code": S, "village_key": S, "support_unit": S, "unit_type": S}
            )
        return (
            v.with_columns(
                village_key=bare_village(pl.col("village")),
                unit_type=_unit_type(pl.col("unit_type")),
            )
            .filter(pl.col("village_key").is_not_null() & (pl.col("village_key") != ""))
            .unique(["township_code", "village_key"], keep="first", maintain_order=True)
        )

    def township_name(self, code: str | None) -> str | None:
        if code is None or code not in self.divisions.townships:
            return None
        return self.divisions.short_name(code)


def _complete(frame: pl.DataFrame, schema: dict[str, pl.DataType]) -> pl.DataFrame:
    """Add the contract's missing columns as nulls, keeping any extra ones (identity)."""
    return frame.with_columns(
        [pl.lit(None).cast(t).alias(c) for c, t in schema.items() if c not in frame.columns]
    )


def conform_or_empty(frame: pl.DataFrame | None, schema: dict[str, pl.DataType]) -> pl.DataFrame:
    if frame is None:
        return conform(pl.DataFrame(), schema)
    return _complete(frame, schema)


def _unit_type(expr: pl.Expr) -> pl.Expr:
    """A written unit type mapped to its canonical name (省直 → 省直/中直驻粤)."""
    lookup = {syn: canon for canon, syns in UNIT_TYPE.items() for syn in (canon, *syns)}
    cleaned = expr.str.replace_all(r"[\s\u3000]", "")
    return cleaned.replace_strict(lookup, default=cleaned, return_dtype=S)


# ------------------------------------------------------------------------- long-format tools
def entity_columns(x: IndicatorInputs, frame: pl.DataFrame, level: str) -> pl.DataFrame:
    """Add entity_code / entity_name for a frame grouped at `level`."""
    if level == "city":
        return frame.with_columns(entity_code=pl.lit(CITY_CODE), entity_name=pl.lit(CITY_NAME))
    if level == "township":
        names = {c: x.divisions.short_name(c) for c in x.divisions.townships}
        return frame.with_columns(
            entity_code=pl.col("township_code"),
            entity_name=pl.col("township_code").replace_strict(names, default=None, return_dtype=S),
        )
    if level == "village":
        return (
            frame.join(x.village_names, on=["township_code", "village_key"], how="left")
            .with_columns(
                entity_code=pl.coalesce(
                    pl.col("village_code"), pl.col("township_code") + "-" + pl.col("village_key")
                ),
                entity_name=pl.col("village_key"),
            )
            .drop("village_code")
        )
    return frame.with_columns(
        entity_code=pl.col("support_unit"), entity_name=pl.col("support_unit")
    )


def _keys(level: str) -> list[str]:
    return {
        "city": [],
        "township": ["township_code"],
        "village": ["township_code", "village_key"],
        "support_unit": ["support_unit"],
    }[level]


def _melt(
    x: IndicatorInputs,
    frame: pl.DataFrame,
    level: str,
    specs: Iterable[tuple[str, pl.Expr, pl.Expr | None, pl.Expr | None]],
) -> pl.DataFrame:
    """Turn a wide frame (one row per entity) into indicator rows.

    `specs`: (indicator, value, numerator, denominator) expressions over the wide frame.
    """
    frame = entity_columns(x, frame, level)
    parts = []
    for name, value, num, den in specs:
        parts.append(
            frame.select(
                period=pl.lit(x.period.label),
                level=pl.lit(level),
                entity_code="entity_code",
                entity_name="entity_name",
                indicator=pl.lit(name),
                value=value.cast(F),
                numerator=(num if num is not None else pl.lit(None)).cast(F),
                denominator=(den if den is not None else pl.lit(None)).cast(F),
                unit=pl.lit(INDICATORS[name].unit),
            )
        )
    if not parts:
        return pl.DataFrame(schema=INDICATOR)
    return pl.concat(parts)


def _pct(num: str, den: str) -> pl.Expr:
    return pl.when(pl.col(den) > 0).then(pl.col(num) * 100.0 / pl.col(den))


def _count(name: str, base: str | None = None) -> tuple[str, pl.Expr, pl.Expr, pl.Expr | None]:
    return (name, pl.col(name), pl.col(name), pl.col(base) if base else None)


def _share(name: str, num: str, den: str) -> tuple[str, pl.Expr, pl.Expr, pl.Expr]:
    return (name, _pct(num, den), pl.col(num), pl.col(den))


def _rollup(
    x: IndicatorInputs, wide: pl.DataFrame, sums: list[str], levels: Iterable[str]
) -> dict[str, pl.DataFrame]:
    """Sum per-village columns up to the township and city (every township present)."""
    out: dict[str, pl.DataFrame] = {}
    for level in levels:
        keys = _keys(level)
        if level == "village":
            # a problem whose row names no village counts for its township, not for a village
            frame = wide.filter(
                pl.col("township_code").is_not_null() & pl.col("village_key").is_not_null()
            )
            frame = frame.group_by(keys).agg(pl.col(sums).sum())
        elif level == "township":
            all_codes = pl.DataFrame(
                {"township_code": sorted(x.divisions.townships)}, schema={"township_code": S}
            )
            summed = wide.group_by(keys).agg(pl.col(sums).sum())
            frame = all_codes.join(summed, on=keys, how="left").with_columns(
                pl.col(sums).fill_null(0)
            )
        else:
            frame = (
                wide.select(pl.col(sums).sum())
                if wide.height
                else pl.DataFrame({c: [0] for c in sums})
            )
        out[level] = frame.sort(keys) if keys else frame
    return out


# ------------------------------------------------------------------------------- families
def registration(x: IndicatorInputs) -> pl.DataFrame:
    """Registered households and persons by attribute, labour capacity and health.

    The roster carries no 致贫原因 column (sources.md), so health is the cause breakdown.
    """
    h = x.households
    wide = h.group_by("township_code", "village_key").agg(
        households=pl.len(),
        persons=pl.col("persons").sum(),
        households_labour_capable=pl.col("labour_capable").sum(),
        **{f"households_attr_{k}": (pl.col("attribute") == a).sum() for a, k in _ATTR_KEYS.items()},
        **{
            f"persons_attr_{k}": pl.col("persons").filter(pl.col("attribute") == a).sum()
            for a, k in _ATTR_KEYS.items()
        },
        **{
            f"persons_labour_{k}": pl.col(f"persons_labour_{k}").sum()
            for k in _LABOUR_KEYS.values()
        },
        **{
            f"persons_health_{k}": pl.col(f"persons_health_{k}").sum()
            for k in _HEALTH_KEYS.values()
        },
    )
    sums = [c for c in wide.columns if c not in ("township_code", "village_key")]
    specs = [
        _count("households"),
        _count("persons"),
        _count("households_labour_capable", "households"),
        *[_count(f"households_attr_{k}", "households") for k in _ATTR_KEYS.values()],
        *[_count(f"persons_attr_{k}", "persons") for k in _ATTR_KEYS.values()],
        *[_count(f"persons_labour_{k}", "persons") for k in _LABOUR_KEYS.values()],
        *[_count(f"persons_health_{k}", "persons") for k in _HEALTH_KEYS.values()],
    ]
    rolled = _rollup(x, wide, sums, ("city", "township", "village"))
    return pl.concat([_melt(x, rolled[lv], lv, specs) for lv in ("city", "township", "village")])


def _exit_wide(x: IndicatorInputs) -> pl.DataFrame:
    out = (pl.col("exit_status") == EXITED) & (pl.col("exit_year") <= x.year)
    return x.households.group_by("township_code", "village_key").agg(
        persons=pl.col("persons").sum(),
        households_out=out.sum(),
        persons_out=pl.col("persons").filter(out).sum(),
        persons_out_dibao=pl.col("persons")
        .filter(out & pl.col("attribute").is_in(DIBAO_LIKE))
        .sum(),
    )


def exit_progress(x: IndicatorInputs) -> pl.DataFrame:
    """Persons out of poverty (cumulative) against the period's target: share, rating, rank."""
    wide = _exit_wide(x)
    sums = ["persons", "households_out", "persons_out", "persons_out_dibao"]
    rolled = _rollup(x, wide, sums, ("city", "township", "village"))
    base_specs = [
        _count("persons_out", "persons"),
        _count("households_out"),
        _count("persons_out_dibao", "persons_out"),
        _share("exit_share", "persons_out", "persons"),
    ]

    town = rolled["township"]
    per_town = dict(zip(town["township_code"], town["persons"], strict=True))
    targets = township_targets(per_town, x.period, x.policy, x.targets)
    town = town.with_columns(
        target=pl.col("township_code").replace_strict(targets, default=0, return_dtype=pl.Int64)
    )
    city = rolled["city"]
    city_persons = int(city["persons"][0] or 0)
    if x.targets is not None and set(targets) == set(x.divisions.townships):
        city_target = sum(targets.values())
    else:
        city_target = round_half_up(target_share(x.policy, x.period) * city_persons)
    city = city.with_columns(target=pl.lit(city_target, pl.Int64))

    rating = x.policy.assessment

    def with_rating(frame: pl.DataFrame) -> pl.DataFrame:
        codes = [
            rating_code(o, t, rating.rating_ok_share, rating.rating_warn_share)
            for o, t in zip(frame["persons_out"], frame["target"], strict=True)
        ]
        return frame.with_columns(rating=pl.Series(codes, dtype=pl.Int64))

    town = with_rating(town)
    city = with_rating(city)
    # Ties: ratios equal to 9 decimals share a rank (1, 2, 2, 4).
    ratio = pl.when(pl.col("target") > 0).then((pl.col("persons_out") / pl.col("target")).round(9))
    town = town.with_columns(rank=ratio.rank(method="min", descending=True).cast(pl.Int64))
    target_specs: list[tuple[str, pl.Expr, pl.Expr | None, pl.Expr | None]] = [
        ("target_persons_out", pl.col("target"), pl.col("target"), None),
        ("target_progress", _pct("persons_out", "target"), pl.col("persons_out"), pl.col("target")),
        ("target_rating", pl.col("rating"), None, None),
    ]
    frames = [
        _melt(x, city, "city", [*base_specs, *target_specs]),
        _melt(
            x,
            town,
            "township",
            [*base_specs, *target_specs, ("target_rank", pl.col("rank"), None, None)],
        ),
        _melt(x, rolled["village"], "village", base_specs),
    ]
    return pl.concat(frames)


def guarantees(x: IndicatorInputs) -> pl.DataFrame:
    """两不愁三保障: insurance, 低保 coverage, housing, schooling, water; exits below the line."""
    h = x.households
    needs = pl.col("active") & (pl.col("attribute").is_in(DIBAO_LIKE) | ~pl.col("labour_capable"))
    uncovered = r03_dibao_missing(x.rule_inputs).select("household_id")
    h = h.with_columns(
        needs_dibao=needs,
        dibao_ok=needs & ~pl.col("household_id").is_in(uncovered["household_id"].implode()),
        housing_ok=~pl.col("housing").fill_null("").is_in(DANGEROUS),
        water_ok=pl.col("water_safe").fill_null(False),
    )
    wide = h.group_by("township_code", "village_key").agg(
        households=pl.len(),
        persons=pl.col("persons").sum(),
        insured=pl.col("insured").sum(),
        needs_dibao=pl.col("needs_dibao").sum(),
        dibao_ok=pl.col("dibao_ok").sum(),
        housing_ok=pl.col("housing_ok").sum(),
        water_ok=pl.col("water_ok").sum(),
        dropouts=pl.col("dropouts").sum(),
    )
    r10 = (
        x.open_findings.filter(pl.col("rule") == "R10")
        .group_by("township_code", "village_key")
        .agg(exit_below_line=pl.len())
    )
    wide = (
        pl.concat(
            [wide, r10.select("township_code", "village_key", "exit_below_line")],
            how="diagonal_relaxed",
        )
        .group_by("township_code", "village_key")
        .agg(pl.all().fill_null(0).sum())
    )
    sums = [c for c in wide.columns if c not in ("township_code", "village_key")]
    specs = [
        _share("insured_share", "insured", "persons"),
        _share("dibao_coverage", "dibao_ok", "needs_dibao"),
        _share("housing_safe_share", "housing_ok", "households"),
        _count("dropouts", "persons"),
        _share("water_safe_share", "water_ok", "households"),
        _count("exit_below_line", "households"),
    ]
    rolled = _rollup(x, wide, sums, ("city", "township", "village"))
    return pl.concat([_melt(x, rolled[lv], lv, specs) for lv in ("city", "township", "village")])


def _median_days(frame: pl.DataFrame | None, day: date, keys: list[str]) -> pl.DataFrame:
    f = _lifecycle(frame, {})
    done = f.filter(pl.col("resolved_on").is_not_null() & (pl.col("resolved_on") <= day))
    done = done.with_columns(days=(pl.col("resolved_on") - pl.col("first_seen")).dt.total_days())
    if keys:
        return done.group_by(keys).agg(median=pl.col("days").median(), n=pl.len())
    return done.select(median=pl.col("days").median(), n=pl.len())


def _problem_counts(x: IndicatorInputs) -> pl.DataFrame:
    """Per village: open and overdue findings and issues at D."""
    parts = []
    for name, frame in (("findings", x.open_findings), ("issues", x.open_issues)):
        parts.append(
            frame.group_by("township_code", "village_key").agg(
                **{f"open_{name}": pl.len(), f"overdue_{name}": pl.col("overdue").sum()}
            )
        )
    persons = x.households.group_by("township_code", "village_key").agg(
        persons=pl.col("persons").sum()
    )
    return (
        pl.concat([persons, *parts], how="diagonal_relaxed")
        .group_by("township_code", "village_key")
        .agg(pl.all().fill_null(0).sum())
    )


def data_quality(x: IndicatorInputs) -> pl.DataFrame:
    """Open and overdue findings and issues, per 100 registered persons; median days to fix."""
    wide = _problem_counts(x)
    sums = ["persons", "open_findings", "overdue_findings", "open_issues", "overdue_issues"]
    specs = [
        _count("open_findings"),
        _count("overdue_findings", "open_findings"),
        _count("open_issues"),
        _count("overdue_issues", "open_issues"),
        (
            "open_findings_per_100",
            _pct("open_findings", "persons"),
            pl.col("open_findings"),
            pl.col("persons"),
        ),
        (
            "open_issues_per_100",
            _pct("open_issues", "persons"),
            pl.col("open_issues"),
            pl.col("persons"),
        ),
    ]
    rolled = _rollup(x, wide, sums, ("city", "township", "village"))
    frames = [_melt(x, rolled[lv], lv, specs) for lv in ("city", "township", "village")]
    for name, source in (("findings", x.findings), ("issues", x.issues)):
        for level in ("city", "township"):
            keys = _keys(level)
            med = _median_days(source, x.day, keys)
            if level == "township":
                med = med.filter(pl.col("township_code").is_in(list(x.divisions.townships)))
            med = med.filter(pl.col("n") > 0).sort(keys) if keys else med.filter(pl.col("n") > 0)
            frames.append(
                _melt(
                    x,
                    med,
                    level,
                    [(f"median_days_fix_{name}", pl.col("median"), None, pl.col("n"))],
                )
            )
    return pl.concat(frames)


def village_wide(x: IndicatorInputs) -> pl.DataFrame:
    """The villages sheets in force, with exit line, infrastructure items met and 出列."""
    v = x.village_sheet
    line = float(x.policy.year(x.year).village_exit_line)
    if v.height == 0:
        return v
    # The village sheet keeps no raw text: an income that cannot be right (negative, not a
    # finite number, above the ceiling) is its row's implausible_income issue, not a value.
    ceiling = x.policy.values.income_max
    v = v.with_columns(plausible_amount(pl.col("income"), ceiling).alias("income"))
    infra = [pl.col(k).fill_null(False).cast(pl.Int64) for k in VILLAGE_INFRA]
    toilet_ok = (pl.col("toilet_rate") >= x.policy.assessment.toilet_rate_line).fill_null(False)
    return v.with_columns(
        line=pl.lit(line),
        income_ok=(pl.col("income") >= line).fill_null(False),
        toilet_ok=toilet_ok,
        infra_met=pl.sum_horizontal(*infra, toilet_ok.cast(pl.Int64)),
    ).with_columns(exited=pl.col("income_ok"))


def poor_villages(x: IndicatorInputs) -> pl.DataFrame:
    """Village sheet indicators of every village listed, and support-unit aggregates."""
    v = village_wide(x)
    if v.height == 0:
        return pl.DataFrame(schema=INDICATOR)
    as_int = lambda c: pl.col(c).cast(pl.Int64)  # noqa: E731
    specs: list[tuple[str, pl.Expr, pl.Expr | None, pl.Expr | None]] = [
        ("village_poor", as_int("is_poor"), None, None),
        ("village_income", pl.col("income"), pl.col("income"), pl.col("line")),
        ("village_income_ok", as_int("income_ok"), None, None),
        *[(f"village_{k}", as_int(k), None, None) for k in VILLAGE_INFRA],
        ("village_toilet_rate", pl.col("toilet_rate"), None, None),
        ("village_toilet_ok", as_int("toilet_ok"), None, None),
        ("village_infra_met", pl.col("infra_met"), pl.col("infra_met"), pl.lit(8)),
        ("village_exited", as_int("exited"), None, None),
    ]
    villages = _melt(x, v, "village", specs)
    units = support_units(x)
    return pl.concat([villages, units])


def support_units(x: IndicatorInputs) -> pl.DataFrame:
    """Per support unit: its villages, their progress and open problems."""
    v = village_wide(x)
    if v.height == 0:
        return pl.DataFrame(schema=INDICATOR)
    v = v.filter(pl.col("support_unit").is_not_null())
    exits = _exit_wide(x)
    problems = _problem_counts(x).drop("persons")
    per_village = (
        v.select("township_code", "village_key", "support_unit", "is_poor", "exited")
        .join(exits, on=["township_code", "village_key"], how="left")
        .join(problems, on=["township_code", "village_key"], how="left")
    )
    nums = [
        "persons",
        "persons_out",
        "open_findings",
        "overdue_findings",
        "open_issues",
        "overdue_issues",
    ]
    wide = (
        per_village.group_by("support_unit")
        .agg(
            unit_villages=pl.len(),
            unit_poor_villages=pl.col("is_poor").fill_null(False).sum(),
            unit_villages_exited=(pl.col("exited") & pl.col("is_poor").fill_null(False)).sum(),
            **{c: pl.col(c).fill_null(0).sum() for c in nums},
        )
        .sort("support_unit")
    )
    specs = [
        _count("unit_villages"),
        _count("unit_poor_villages", "unit_villages"),
        _count("unit_villages_exited", "unit_poor_villages"),
        _count("persons"),
        _count("persons_out", "persons"),
        _share("exit_share", "persons_out", "persons"),
        _count("open_findings"),
        _count("overdue_findings", "open_findings"),
        _count("open_issues"),
        _count("overdue_issues", "open_issues"),
        (
            "open_findings_per_100",
            _pct("open_findings", "persons"),
            pl.col("open_findings"),
            pl.col("persons"),
        ),
    ]
    return _melt(x, wide, "support_unit", specs)


FAMILIES = (registration, exit_progress, guarantees, data_quality, poor_villages)
_LEVEL_ORDER = {lv: i for i, lv in enumerate(LEVELS)}


def compute_all(x: IndicatorInputs) -> pl.DataFrame:
    """Every indicator of every family, in a stable order (level, entity, indicator)."""
    frame = pl.concat([family(x) for family in FAMILIES])
    return conform(frame, INDICATOR).sort(
        pl.col("level").replace_strict(_LEVEL_ORDER, return_dtype=pl.Int64),
        "entity_code",
        "indicator",
    )


# ------------------------------------------------------------------------- accountability
def recurring_problems(
    findings: pl.DataFrame | None,
    period: Period | str,
    as_of: date | None = None,
    *,
    severities: tuple[str, ...],
    min_problems: int,
    lookback: int = 6,
) -> pl.DataFrame:
    """Villages with problems in consecutive half-year assessments, up to this one.

    An assessment is held at each half-year end; the current one at D.  A village "has
    problems" at an assessment when at least `min_problems` findings of `severities` are open
    on that date.  `streak` counts consecutive assessments with problems back from D.
    """
    period = parse_period(period)
    d = period.evaluation_date(as_of)
    dates = [d, *[e for e in half_year_ends(d, lookback + 1) if e < d]][: lookback + 1]
    f = _lifecycle(findings, {"rule": S, "severity": S})
    severity = {c: r.severity for c, r in RULES.items()}
    f = f.with_columns(
        severity=pl.coalesce(
            pl.col("severity"),
            pl.col("rule").replace_strict(severity, default=None, return_dtype=S),
        ),
        village_key=bare_village(pl.col("village")),
    ).filter(
        pl.col("severity").is_in(list(severities))
        & pl.col("township_code").is_not_null()
        & pl.col("village_key").is_not_null()
    )
    schema: dict[str, pl.DataType] = {
        "township_code": S,
        "village_key": S,
        "streak": pl.Int64(),
        "dates": pl.List(pl.Date()),
        "problems_now": pl.Int64(),
    }
    if f.height == 0:
        return pl.DataFrame(schema=schema)
    counts = pl.concat(
        [
            f.filter(open_at(t))
            .group_by("township_code", "village_key")
            .agg(n=pl.len())
            .with_columns(i=pl.lit(i, pl.Int64), on=pl.lit(t))
            for i, t in enumerate(dates)
        ]
    ).filter(pl.col("n") >= min_problems)
    rows = []
    for (tc, vk), group in counts.group_by("township_code", "village_key", maintain_order=True):
        present = dict(zip(group["i"].to_list(), group["n"].to_list(), strict=True))
        streak = 0
        while streak in present:
            streak += 1
        if streak:
            rows.append((tc, vk, streak, dates[:streak], present[0]))
    return pl.DataFrame(rows, schema=schema, orient="row").sort("township_code", "village_key")


def recall_route(unit_type: str | None, direct_types: tuple[str, ...]) -> str:
    """直接召回 for Nanxiong's own units and township work groups (`direct_types`, policy.toml
    [assessment]); a recommendation to the sending unit otherwise."""
    return "直接召回" if unit_type in direct_types else "向派出单位扶贫办发送召回建议"
