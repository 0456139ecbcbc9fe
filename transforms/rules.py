"""The reconciliation rules R01-R15 of findings.md, one small pure function each.

Every rule takes a `RuleInputs` (frames of the data in force, already resolved to
identities) and returns findings in the `transforms.frames.FINDING` contract: a stable key,
the township/village the finding belongs to, the evidence rows, and a detail sentence in
Chinese in which names and ID numbers are masked.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property
from pathlib import Path

import polars as pl

from config.schema import LABOUR_CAPABLE
from transforms import ids
from transforms.evidence import evidence_of, source_row
from transforms.frames import FINDING, conform, empty, insured_in
from transforms.names import same_pinyin
from transforms.privacy import mask_id_expr, mask_name_expr
from transforms.text import fmt

ACTIVE = "正常"
DROPOUT = "义务教育阶段辍学"
DANGEROUS = ("C级危房", "D级危房")
DIBAO_LIKE = ("低保贫困户", "特困供养贫困户")
EXITED = "已脱贫"
SOURCE_ZH = {
    "roster": "花名册",
    "dibao": "民政低保/特困名册",
    "enrolment": "医保参保名册",
    "settlement": "医保结算明细",
}

# The columns of the enrolment extract that the rules (and the indicators, which reuse the
# rules' views) read.  The data in force is loaded with only these: the city's 12.6M-row
# extract with all its columns is most of a night's memory (tests/flows/test_load_columns.py
# checks that nothing else is read).
ENROLMENT_READ = (
    "file_id",
    "sheet",
    "row_no",
    "name",
    "id_norm",
    "id_status",
    "year",
    "enrol_status",
    "person_status",
    "subsidy",
    "village",
)


@dataclass
class RuleInputs:
    """Everything the rules read. `persons` carries the identity columns of
    transforms.identity.resolve_roster; the extracts carry `identity` from source_identity."""

    persons: pl.DataFrame
    dibao: pl.DataFrame
    enrolment: pl.DataFrame
    settlements: pl.DataFrame
    as_of: date
    exit_lines: dict[int, float]
    housing_deadline: date  # policy.toml [city]: the numbers below too
    assistance_share: float
    assistance_tolerance: float
    file_names: dict[int, str] = field(default_factory=dict)
    # In a city (transforms.city): the county judged, whose 低保 families R11 judges (the
    # `dibao` frame is every county's roll, with `county_code`), and the identities on any
    # county's roster, which count as registered for R11.
    county: str | None = None
    city_registered: pl.Series | None = None

    @property
    def year(self) -> int:
        return self.as_of.year

    def where(self, prefix: str = "") -> pl.Expr:
        """「文件」第N行, as a clerk finds the row in Excel."""
        names = pl.DataFrame(
            {"file_id": list(self.file_names), "name": list(self.file_names.values())},
            schema={"file_id": pl.Int64, "name": pl.Utf8},
        )
        file_name = pl.col(f"{prefix}file_id").replace_strict(
            names["file_id"], names["name"], default=pl.lit("?"), return_dtype=pl.Utf8
        )
        return fmt("《{}》第{}行", file_name, pl.col(f"{prefix}row_no"))

    # ---- shared views, computed once per run ----
    @cached_property
    def active(self) -> pl.DataFrame:
        return self.persons.filter(pl.col("person_status") == ACTIVE)

    @cached_property
    def active_identified(self) -> pl.DataFrame:
        return self.active.filter(pl.col("identity").is_not_null())

    @cached_property
    def households(self) -> pl.DataFrame:
        """One row per roster household in force, with what the household rules need.  Rows
        without 户编号 belong to no household (their data-quality issue says so)."""
        p = self.persons.filter(pl.col("household_id").is_not_null())
        is_active = pl.col("person_status") == ACTIVE
        head_first = p.sort(pl.col("relation") != "户主", "file_id", "row_no")
        return head_first.group_by("household_id", maintain_order=True).agg(
            pl.col("township_code").first(),
            pl.col("village").first(),
            pl.col("attribute").drop_nulls().first(),
            pl.col("income").drop_nulls().first(),
            pl.col("exit_status").drop_nulls().first(),
            pl.col("exit_year").drop_nulls().first(),
            pl.col("housing").drop_nulls().first(),
            pl.col("support_cadre").drop_nulls().first(),
            pl.col("file_id").first(),
            pl.col("sheet").first(),
            pl.col("row_no").first(),
            pl.col("name").first().alias("head_name"),
            active=is_active.any(),
            labour_capable=(is_active & pl.col("labour").is_in(LABOUR_CAPABLE)).any(),
            dropout=(is_active & (pl.col("school") == DROPOUT)).any(),
            active_identities=pl.col("identity").filter(
                is_active & pl.col("identity").is_not_null()
            ),
            evidence=source_row("roster"),  # the household's rows
        )

    @cached_property
    def covered(self) -> pl.DataFrame:
        """低保/特困 rows covering their identity at D."""
        d = self.as_of
        return self.dibao.filter(
            pl.col("identity").is_not_null()
            & (pl.col("status") == "在保")
            & (pl.col("start_date") <= d)
            & (pl.col("stop_date").is_null() | (pl.col("stop_date") > d))
        )

    @cached_property
    def roster_identities(self) -> pl.Series:
        """Every identity of the roster, for cutting the city-wide extracts down early."""
        return self.persons["identity"].drop_nulls().unique()

    @cached_property
    def insured(self) -> pl.DataFrame:
        """Enrolment rows insuring a roster identity in Y (the extract holds the whole city;
        only roster identities are ever looked up)."""
        return (
            self.enrolment.lazy()
            .filter(
                pl.col("identity").is_in(self.roster_identities.implode()) & insured_in(self.year)
            )
            .collect()
        )

    @cached_property
    def deceased(self) -> pl.DataFrame:
        """identity → the first source row saying the person died (on or before D for 低保)."""
        by_insurance = self.enrolment.filter(
            pl.col("identity").is_not_null() & (pl.col("person_status") == "死亡")
        ).select(
            "identity",
            "file_id",
            "row_no",
            source=pl.lit("enrolment"),
            died=pl.lit(None, pl.Date),
        )
        by_dibao = self.dibao.filter(
            pl.col("identity").is_not_null()
            & (pl.col("stop_reason") == "死亡")
            & pl.col("stop_date").is_not_null()
            & (pl.col("stop_date") <= self.as_of)
        ).select("identity", "file_id", "row_no", source=pl.lit("dibao"), died=pl.col("stop_date"))
        return pl.concat([by_dibao, by_insurance]).unique(
            "identity", keep="first", maintain_order=True
        )


def _who(name: str = "name", identity: str = "identity") -> pl.Expr:
    return fmt("{}（{}）", mask_name_expr(pl.col(name)), mask_id_expr(pl.col(identity)))


def _person_finding(
    frame: pl.DataFrame, rule: str, detail: pl.Expr, evidence: pl.Expr | None = None
) -> pl.DataFrame:
    """Person findings keyed by identity: one per identity, on its first roster row."""
    out = frame.unique("identity", keep="first", maintain_order=True).select(
        rule=pl.lit(rule),
        key=pl.col("identity"),
        township_code="township_code",
        village="village",
        household_id="household_id",
        person_id="identity",
        id_as_written="id_norm",
        detail=detail,
        evidence=evidence if evidence is not None else evidence_of(source_row("roster")),
    )
    return conform(out, FINDING)


def _household_finding(frame: pl.DataFrame, rule: str, detail: pl.Expr) -> pl.DataFrame:
    out = frame.select(
        rule=pl.lit(rule),
        key=pl.col("household_id"),
        township_code="township_code",
        village="village",
        household_id="household_id",
        detail=detail,
        evidence="evidence",
    )
    return conform(out, FINDING)


# ---------------------------------------------------------------- person rules
def r01_uninsured(x: RuleInputs) -> pl.DataFrame:
    """应参未参: active, identified, not insured in Y, and not deceased (R05 reports those)."""
    rows = x.active_identified.join(
        x.insured.select("identity").unique(), on="identity", how="anti"
    ).join(x.deceased.select("identity"), on="identity", how="anti")
    detail = fmt(
        "{}为建档立卡贫困人口（户编号{}，{}），{}年度医保参保名册中无参保缴费记录。请落实参保，个人缴费部分由政府全额资助。",
        _who(),
        pl.col("household_id"),
        x.where(),
        pl.lit(x.year),
    )
    return _person_finding(rows, "R01", detail)


def r02_insurance_unsubsidized(x: RuleInputs) -> pl.DataFrame:
    """参保未资助: insured in Y, but no insured row of Y carries a subsidy category."""
    subsidy = x.insured.group_by("identity").agg(
        unsubsidized=(pl.col("subsidy") == "无").all(),
        e_file_id=pl.col("file_id").first(),
        e_row_no=pl.col("row_no").first(),
        e_sheet=pl.col("sheet").first(),
    )
    rows = x.active_identified.join(
        subsidy.filter(pl.col("unsubsidized")), on="identity", how="inner"
    )
    detail = fmt(
        "{}（户编号{}）{}年度已参保，但医保参保名册（{}）资助类别为“无”。建档立卡贫困人口个人缴费应由政府全额资助，请会同医保局更正资助类别。",
        _who(),
        pl.col("household_id"),
        pl.lit(x.year),
        x.where("e_"),
    )
    evidence = evidence_of(source_row("roster"), source_row("enrolment", "e_"))
    return _person_finding(rows, "R02", detail, evidence)


def r05_deceased_listed(x: RuleInputs) -> pl.DataFrame:
    """死亡未销号: an active person whom insurance or civil affairs records as dead."""
    dead = x.deceased.rename({"file_id": "d_file_id", "row_no": "d_row_no"})
    rows = x.active_identified.join(dead, on="identity", how="inner")
    source = pl.col("source").replace_strict(SOURCE_ZH, return_dtype=pl.Utf8)
    when = (
        pl.when(pl.col("died").is_not_null())
        .then(fmt("于{}", pl.col("died")))
        .otherwise(pl.lit(""))
    )
    detail = fmt(
        "{}记载{}已{}死亡（{}），花名册（{}，户编号{}）人员状态仍为“正常”。请核实后办理销号。",
        source,
        _who(),
        when,
        x.where("d_"),
        x.where(),
        pl.col("household_id"),
    )
    evidence = evidence_of(
        source_row("roster"), source_row(pl.col("source"), "d_", sheet=pl.lit(""))
    )
    return _person_finding(rows, "R05", detail, evidence)


def r06_duplicate_person(x: RuleInputs) -> pl.DataFrame:
    """重复登记: one identity on more than one active roster row."""
    rows = x.active_identified.with_columns(place=x.where())
    dup = (
        rows.group_by("identity", maintain_order=True)
        .agg(
            pl.col("township_code").first(),
            pl.col("village").first(),
            pl.col("household_id").first(),
            pl.col("id_norm").first(),
            pl.col("name").first(),
            n=pl.len(),
            households=pl.col("household_id").unique(maintain_order=True).str.join("、"),
            places=pl.col("place").str.join("、"),
            evidence=source_row("roster"),  # every row of the identity
        )
        .filter(pl.col("n") > 1)
    )
    out = dup.select(
        rule=pl.lit("R06"),
        key="identity",
        township_code="township_code",
        village="village",
        household_id="household_id",
        person_id="identity",
        id_as_written="id_norm",
        detail=fmt(
            "{}在花名册中重复登记{}次（户编号{}；{}）。请核实后保留一条。",
            _who(),
            pl.col("n"),
            pl.col("households"),
            pl.col("places"),
        ),
        evidence="evidence",
    )
    return conform(out, FINDING)


_REASON_ZH = {
    ids.BAD_CHECK: "校验码不符",
    ids.BAD_DATE: "出生日期无效",
    ids.BAD_FORMAT: "位数或字符不符合规范",
    ids.EXCEL_MANGLED: "在Excel中被存为数字，后几位已丢失",
}


def _invalid_written(x: RuleInputs) -> pl.DataFrame:
    """Roster rows whose written ID is invalid (blank IDs are a data-quality issue instead)."""
    return x.persons.filter(
        ~pl.col("id_status").is_in([ids.VALID, ids.LEGACY15, ids.BLANK])
        & pl.col("id_norm").is_not_null()
    ).unique("id_norm", keep="first", maintain_order=True)


def _diff_positions(written: str, suggested: str) -> str:
    pos = [str(i + 1) for i, (a, b) in enumerate(zip(written, suggested, strict=False)) if a != b]
    return "、".join(pos)


def r07_id_suspected_typo(x: RuleInputs) -> pl.DataFrame:
    """证件号码疑似错录: invalid as written, exactly one same-name candidate (the suggestion)."""
    rows = _invalid_written(x).filter(pl.col("suggested_id").is_not_null())
    positions = [
        _diff_positions(w, s) for w, s in zip(rows["id_norm"], rows["suggested_id"], strict=True)
    ]
    rows = rows.with_columns(positions=pl.Series(positions, dtype=pl.Utf8))
    reason = pl.col("id_status").replace_strict(_REASON_ZH, default="无效", return_dtype=pl.Utf8)
    detail = fmt(
        "{}（{}，户编号{}）证件号码“{}”{}；民政或医保数据中同名人员的证件号码为{}（第{}位不同），疑似错录。请核对身份证原件后更正。",
        mask_name_expr(pl.col("name")),
        x.where(),
        pl.col("household_id"),
        mask_id_expr(pl.col("id_norm")),
        reason,
        mask_id_expr(pl.col("suggested_id")),
        pl.col("positions"),
    )
    out = rows.select(
        rule=pl.lit("R07"),
        key="id_norm",
        township_code="township_code",
        village="village",
        household_id="household_id",
        person_id="suggested_id",
        id_as_written="id_norm",
        suggested_id="suggested_id",
        detail=detail,
        evidence=evidence_of(source_row("roster")),
    )
    return conform(out, FINDING)


def r08_invalid_id(x: RuleInputs) -> pl.DataFrame:
    """证件号码无效: invalid as written and no single suggestion (candidates listed)."""
    rows = _invalid_written(x).filter(pl.col("suggested_id").is_null())
    n = pl.col("candidates").list.len().fill_null(0)
    masked = pl.col("candidates").list.eval(mask_id_expr(pl.element())).list.join("、")
    cands = pl.when(n > 1).then(fmt("；同名候选号码{}个：{}", n, masked)).otherwise(pl.lit(""))
    reason = pl.col("id_status").replace_strict(_REASON_ZH, default="无效", return_dtype=pl.Utf8)
    detail = fmt(
        "{}（{}，户编号{}）证件号码“{}”{}，无法从民政、医保数据中唯一确定正确号码{}。请核对身份证原件后更正。",
        mask_name_expr(pl.col("name")),
        x.where(),
        pl.col("household_id"),
        mask_id_expr(pl.col("id_norm")),
        reason,
        cands,
    )
    out = rows.select(
        rule=pl.lit("R08"),
        key="id_norm",
        township_code="township_code",
        village="village",
        household_id="household_id",
        id_as_written="id_norm",
        detail=detail,
        evidence=evidence_of(source_row("roster")),
    )
    return conform(out, FINDING)


def r09_name_mismatch(x: RuleInputs) -> pl.DataFrame:
    """姓名与证件不符: the identity appears in 低保 or insurance under another name."""
    on_roster = pl.col("identity").is_in(x.roster_identities.implode())
    other = (
        pl.concat(
            [
                x.dibao.lazy()
                .filter(on_roster)
                .select("identity", "name", "file_id", "row_no", source=pl.lit("dibao")),
                x.enrolment.lazy()
                .filter(on_roster)
                .select("identity", "name", "file_id", "row_no", source=pl.lit("enrolment")),
            ]
        )
        .filter(pl.col("identity").is_not_null() & pl.col("name").is_not_null())
        .collect()
    )
    other = other.rename({"name": "o_name", "file_id": "o_file_id", "row_no": "o_row_no"})
    persons = x.persons.filter(pl.col("identity").is_not_null() & pl.col("name").is_not_null())
    rows = (
        persons.join(other, on="identity", how="inner")
        .filter(pl.col("name") != pl.col("o_name"))
        .unique("identity", keep="first", maintain_order=True)
    )
    homophone = [same_pinyin(a, b) for a, b in zip(rows["name"], rows["o_name"], strict=True)]
    rows = rows.with_columns(homophone=pl.Series(homophone, dtype=pl.Boolean))
    verdict = (
        pl.when(pl.col("homophone"))
        .then(pl.lit("两者拼音相同，疑似同音字录入错误"))
        .otherwise(pl.lit("两者拼音不同，可能使用了他人证件号码"))
    )
    detail = fmt(
        "证件号码{}在{}中登记的姓名为{}，花名册（{}，户编号{}）为{}；{}。请核实。",
        mask_id_expr(pl.col("identity")),
        pl.col("source").replace_strict(SOURCE_ZH, return_dtype=pl.Utf8),
        mask_name_expr(pl.col("o_name")),
        x.where(),
        pl.col("household_id"),
        mask_name_expr(pl.col("name")),
        verdict,
    )
    evidence = evidence_of(
        source_row("roster"), source_row(pl.col("source"), "o_", sheet=pl.lit(""))
    )
    return _person_finding(rows, "R09", detail, evidence)


def r15_dropout(x: RuleInputs) -> pl.DataFrame:
    """义务教育阶段辍学: an active person out of compulsory school."""
    rows = x.active_identified.filter(pl.col("school") == DROPOUT)
    detail = fmt(
        "{}（{}，户编号{}）在校生状况为“义务教育阶段辍学”。请落实控辍保学，劝返复学。",
        _who(),
        x.where(),
        pl.col("household_id"),
    )
    return _person_finding(rows, "R15", detail)


# ------------------------------------------------------------- household rules
def _covered_households(x: RuleInputs) -> pl.DataFrame:
    """household_id → covering categories of its active members at D."""
    members = x.households.select("household_id", "active_identities").explode("active_identities")
    return (
        members.rename({"active_identities": "identity"})
        .join(
            x.covered.select("identity", "category", "file_id", "row_no"),
            on="identity",
            how="inner",
        )
        .group_by("household_id")
        .agg(
            tekun=(pl.col("category") == "特困供养").any(),
            categories=pl.col("category").unique().sort().str.join("、"),
        )
    )


def r03_dibao_missing(x: RuleInputs) -> pl.DataFrame:
    """应保未保: a 低保/特困 or non-labour-capable household with no member covered at D."""
    needs = x.households.filter(
        pl.col("active") & (pl.col("attribute").is_in(DIBAO_LIKE) | ~pl.col("labour_capable"))
    )
    rows = needs.join(_covered_households(x), on="household_id", how="anti")
    why = (
        pl.when(pl.col("attribute").is_in(DIBAO_LIKE))
        .then(fmt("登记为“{}”", pl.col("attribute")))
        .otherwise(pl.lit("家庭成员均无劳动能力"))
    )
    detail = fmt(
        "户编号{}（户主{}，{}）{}，应纳入低保或特困供养兜底，但民政名册中无任何成员在保。请会同民政部门核实办理。",
        pl.col("household_id"),
        mask_name_expr(pl.col("head_name")),
        x.where(),
        why,
    )
    return _household_finding(rows, "R03", detail)


def r04_attribute_mismatch(x: RuleInputs) -> pl.DataFrame:
    """贫困户属性与民政不符: covered at D, but the roster's attribute is not what civil affairs implies."""
    implied = (
        pl.when(pl.col("tekun")).then(pl.lit("特困供养贫困户")).otherwise(pl.lit("低保贫困户"))
    )
    rows = (
        x.households.filter(pl.col("active"))
        .join(_covered_households(x), on="household_id", how="inner")
        .with_columns(implied=implied)
        .filter(pl.col("attribute").is_null() | (pl.col("attribute") != pl.col("implied")))
    )
    detail = fmt(
        "户编号{}（{}）花名册贫困户属性为“{}”，民政名册显示其成员现享受{}，应为“{}”。请核实后更正。",
        pl.col("household_id"),
        x.where(),
        pl.col("attribute").fill_null("（空）"),
        pl.col("categories"),
        pl.col("implied"),
    )
    return _household_finding(rows, "R04", detail)


def r10_exit_below_line(x: RuleInputs) -> pl.DataFrame:
    """脱贫不达标: exited by Y although income, housing or schooling says it should not have."""
    lines = pl.DataFrame(
        {"exit_year": list(x.exit_lines), "line": list(x.exit_lines.values())},
        schema={"exit_year": pl.Int64, "line": pl.Float64},
    )
    fallback = x.exit_lines[max(x.exit_lines)] if x.exit_lines else None
    base = (
        x.households.filter((pl.col("exit_status") == EXITED) & (pl.col("exit_year") <= x.year))
        .join(lines, on="exit_year", how="left")
        .with_columns(pl.col("line").fill_null(fallback))
    )
    low = (
        pl.col("labour_capable")
        & pl.col("income").is_not_null()
        & (pl.col("income") < pl.col("line"))
    )
    unsafe = pl.col("housing").is_in(DANGEROUS)
    rows = base.filter(low | unsafe | pl.col("dropout"))
    reasons = (
        pl.concat_list(
            pl.when(low).then(
                fmt(
                    "年人均可支配收入{}元，低于{}年脱贫标准{}元",
                    pl.col("income").round(0).cast(pl.Int64),
                    pl.col("exit_year"),
                    pl.col("line").cast(pl.Int64),
                )
            ),
            pl.when(unsafe).then(fmt("住房仍为{}", pl.col("housing"))),
            pl.when(pl.col("dropout")).then(pl.lit("有义务教育阶段辍学子女")),
        )
        .list.drop_nulls()
        .list.join("；")
    )
    detail = fmt(
        "户编号{}（{}）已于{}年标记脱贫，但{}，不符合脱贫标准。请核实，必要时按程序纠正脱贫认定。",
        pl.col("household_id"),
        x.where(),
        pl.col("exit_year"),
        reasons,
    )
    return _household_finding(rows, "R10", detail)


def r12_no_support_cadre(x: RuleInputs) -> pl.DataFrame:
    """无帮扶责任人: an active labour-capable household not exited, with no named cadre."""
    blank = pl.col("support_cadre").is_null() | (
        pl.col("support_cadre").str.replace_all(r"[\s\u3000]", "") == ""
    )
    rows = x.households.filter(
        pl.col("active")
        & pl.col("labour_capable")
        & (pl.col("exit_status").fill_null("") != EXITED)
        & blank
    )
    detail = fmt(
        "户编号{}（{}）为有劳动能力的未脱贫户，花名册未填写帮扶责任人。请落实结对帮扶责任人。",
        pl.col("household_id"),
        x.where(),
    )
    return _household_finding(rows, "R12", detail)


def r14_unsafe_housing(x: RuleInputs) -> pl.DataFrame:
    """危房未改造: C/D-grade housing after the renovation deadline."""
    if x.as_of <= x.housing_deadline:
        return empty(FINDING)
    rows = x.households.filter(pl.col("active") & pl.col("housing").is_in(DANGEROUS))
    detail = fmt(
        "户编号{}（{}）住房安全状况为“{}”，仍未改造（应于{}前完成）。请落实危房改造。",
        pl.col("household_id"),
        x.where(),
        pl.col("housing"),
        pl.lit(x.housing_deadline.isoformat()),
    )
    return _household_finding(rows, "R14", detail)


# ------------------------------------------------------------ other entities
def r11_dibao_not_registered(x: RuleInputs) -> pl.DataFrame:
    """低保对象未建档: a rural 低保/特困 family covered at D none of whose members is on the roster."""
    own = pl.lit(True)
    if x.county is not None and "county_code" in x.dibao.columns:  # a county of a city
        own = pl.col("county_code") == x.county
    rural = x.covered.filter(own & pl.col("category").is_in(["农村低保", "特困供养"]))
    roster_ids = x.persons.select("identity")
    if x.city_registered is not None:
        roster_ids = pl.concat([roster_ids, x.city_registered.alias("identity").to_frame()])
    roster_ids = roster_ids.drop_nulls().unique()
    members = x.dibao.filter(own & pl.col("family_id").is_in(rural["family_id"].unique().implode()))
    registered = members.join(roster_ids, on="identity", how="semi")["family_id"].unique().implode()
    families = (
        members.filter(~pl.col("family_id").is_in(registered))
        .group_by("family_id", maintain_order=True)
        .agg(
            pl.col("township").first(),
            pl.col("village").first(),
            pl.col("category").first(),
            n=pl.len(),
            evidence=source_row("dibao"),  # the family's rows
        )
    )
    out = families.select(
        rule=pl.lit("R11"),
        key="family_id",
        township=pl.col("township"),
        village="village",
        household_id="family_id",
        detail=fmt(
            "民政{}家庭（家庭编号{}，{}{}，共{}人）在保，但无一成员登记在建档立卡花名册中，疑似漏评。请核实是否符合建档立卡条件。",
            pl.col("category"),
            pl.col("family_id"),
            pl.col("township").fill_null(""),
            pl.col("village").fill_null(""),
            pl.col("n"),
        ),
        evidence="evidence",
    )
    return out  # township_code is resolved by the caller from the written township


R13_AMOUNTS = ("eligible_cost", "basic_paid", "serious_paid", "assistance_paid")


def _amounts_usable(columns: list[str]) -> pl.Expr:
    """True where none of R13's amounts was written but left out by the normaliser (text
    that is no number, or an amount that cannot be right: `transforms.values`).  A blank
    amount counts as 0; a left-out one is unknown, so the settlement is not judged."""
    left_out = [
        pl.col(c).is_null() & pl.col(f"{c}_raw").str.strip_chars().ne("").fill_null(False)
        for c in R13_AMOUNTS
        if f"{c}_raw" in columns
    ]
    return ~pl.any_horizontal(left_out) if left_out else pl.lit(True)


def r13_medical_subsidy_short(x: RuleInputs) -> pl.DataFrame:
    """医疗救助不足70%: assistance below `assistance_share` (70%) of what insurance left of the compliant cost.

    A settlement with an amount left out as unreadable or implausible (−5,000, 1e15, inf) is
    not judged: a made-up 0 could create a finding, a huge payment hide one.  Its row's
    data-quality issue (bad_number, implausible_amount) stands for it until the amount is
    fixed; then the rule judges it again."""
    owner = x.active_identified.unique("identity", keep="first").select(
        "identity",
        "township_code",
        "village",
        "household_id",
        "name",
        "id_norm",
        "file_id",
        "row_no",
        "sheet",
    )
    s = x.settlements.rename(
        {"file_id": "s_file_id", "row_no": "s_row_no", "sheet": "s_sheet", "name": "s_name"}
    )
    remaining = (
        pl.col("eligible_cost").fill_null(0)
        - pl.col("basic_paid").fill_null(0)
        - pl.col("serious_paid").fill_null(0)
    )
    rows = (
        s.filter(pl.col("identity").is_not_null() & _amounts_usable(s.columns))
        .join(owner, on="identity", how="inner")
        .with_columns(remaining=remaining, need=remaining * x.assistance_share)
        .filter(
            (pl.col("remaining") > 0)
            & (pl.col("assistance_paid").fill_null(0) < pl.col("need") - x.assistance_tolerance)
        )
        .unique("settlement_id", keep="first", maintain_order=True)
    )
    money = lambda c: pl.col(c).fill_null(0).round(2).cast(pl.Utf8)  # noqa: E731
    detail = fmt(
        "结算编号{}（{}，{}，{}）：政策范围内费用{}元，基本医保支付{}元，大病保险支付{}元，剩余{}元；医疗救助支付{}元，低于剩余部分的{}（应不少于{}元）。请会同医保局补足医疗救助。",
        pl.col("settlement_id"),
        _who(),
        pl.col("settle_date").cast(pl.Utf8).fill_null("日期不详"),
        pl.col("institution").fill_null("医疗机构不详"),
        money("eligible_cost"),
        money("basic_paid"),
        money("serious_paid"),
        money("remaining"),
        money("assistance_paid"),
        pl.lit(f"{x.assistance_share:.0%}"),
        money("need"),
    )
    out = rows.select(
        rule=pl.lit("R13"),
        key="settlement_id",
        township_code="township_code",
        village="village",
        household_id="household_id",
        person_id="identity",
        id_as_written="id_norm",
        record_key="settlement_id",
        detail=detail,
        evidence=evidence_of(source_row("roster"), source_row("settlement", "s_")),
    )
    return conform(out, FINDING)


RULE_FUNCTIONS: dict[str, Callable[[RuleInputs], pl.DataFrame]] = {
    "R01": r01_uninsured,
    "R02": r02_insurance_unsubsidized,
    "R03": r03_dibao_missing,
    "R04": r04_attribute_mismatch,
    "R05": r05_deceased_listed,
    "R06": r06_duplicate_person,
    "R07": r07_id_suspected_typo,
    "R08": r08_invalid_id,
    "R09": r09_name_mismatch,
    "R10": r10_exit_below_line,
    "R11": r11_dibao_not_registered,
    "R12": r12_no_support_cadre,
    "R13": r13_medical_subsidy_short,
    "R14": r14_unsafe_housing,
    "R15": r15_dropout,
}


@dataclass(frozen=True)
class RulesRun:
    """What running the rules gave: the findings (keys unique, prefixed by rule), the rules
    that ran, those that raised (rule -> what went wrong, for people: no data in it) and those
    that returned findings without a key (rule -> how many were left out)."""

    findings: pl.DataFrame
    ran: list[str]
    failed: dict[str, str] = field(default_factory=dict)
    keyless: dict[str, int] = field(default_factory=dict)


def run_rules(
    x: RuleInputs, rules: list[str] | None = None, township_codes: dict[str, str] | None = None
) -> RulesRun:
    """All (or the named) rules, each on its own: a rule that raises is reported and the
    others' findings stand; a finding without a key is left out and counted.

    `township_codes` maps written township names to codes, for R11 whose rows come from the
    低保 roll rather than a township's roster.
    """
    frames, ran = [], []
    failed: dict[str, str] = {}
    keyless: dict[str, int] = {}
    for code in rules or list(RULE_FUNCTIONS):
        try:
            found = RULE_FUNCTIONS[code](x)
            if "township" in found.columns:  # R11
                lookup = township_codes or {}
                found = found.with_columns(
                    township_code=pl.col("township").replace_strict(
                        lookup, default=None, return_dtype=pl.Utf8
                    )
                )
            found = conform(found, FINDING)
        except Exception as exc:  # one rule's defect must not cost the others their night
            failed[code] = _where(exc)
            continue
        missing = int(found["key"].is_null().sum())
        if missing:
            keyless[code] = missing
            found = found.filter(pl.col("key").is_not_null())
        frames.append(found)
        ran.append(code)
    result = pl.concat(frames) if frames else empty(FINDING)
    findings = result.with_columns(key=pl.col("rule") + ":" + pl.col("key")).unique(
        "key", keep="first", maintain_order=True
    )
    return RulesRun(findings, ran, failed, keyless)


def _where(exc: Exception) -> str:
    """An exception as its type and the code line it came from: its message may quote data."""
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if "/transforms/" in f.filename] or frames
    at = f"{Path(ours[-1].filename).name}:{ours[-1].lineno}" if ours else "?"
    return f"{type(exc).__name__} at {at}"
