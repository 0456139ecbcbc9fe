"""Township data-quality alerts (outputs.md §3) as pure functions of frames.

An alert is one recipient's view of the open problems: a township sees its own findings and
data-quality issues, the office sees all of them.  What a recipient is told depends on what it
was told last (its `Baseline`: the as-of date and the fingerprint of the open keys of its last
delivered alert), so that nothing is sent when nothing changed, "resolved" means resolved
since the last alert, and an escalation is raised once, when items pass the deadline.

Everything here is polars and plain Python: the flow (`flows.alerts`) reads the warehouse,
delivers through Apprise and writes the XLSX; this module decides what to say.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import polars as pl

from config.rules import (
    DEFAULT_ISSUE_SEVERITY,
    DEFAULT_RULE_SEVERITY,
    ISSUE_SEVERITY,
    RULES,
    SEVERITIES,
)
from config.schema import ISSUE_KINDS
from config.settings import HOME_COUNTY, HOME_COUNTY_NAME
from transforms.county import County
from transforms.privacy import mask_id_expr, scrub

S, I, D = pl.Utf8(), pl.Int64(), pl.Date()  # noqa: E741

WORST_ITEMS = 10
HOUSEHOLD, DIBAO_FAMILY = "户编号", "低保家庭编号"
DETAIL_CHARS = 90  # a worst item's sentence in a message body, before "…"
SEVERITY_RANK = {s: i for i, s in enumerate(SEVERITIES)}  # severities: config.rules

# One row per open or recently resolved problem, findings and issues alike.
ITEM: dict[str, pl.DataType] = {
    "item_type": S,  # finding / issue
    "key": S,  # "F:" or "I:" + the table's key: unique across both tables
    "code": S,  # rule (R01) or issue kind (invalid_id)
    "problem": S,  # Chinese name of the rule or issue kind
    "severity": S,  # 高 / 中 / 低
    "status": S,  # open / resolved
    "township_code": S,
    "village": S,
    "household_id": S,
    "household_label": S,  # 户编号, or 低保家庭编号 for 低保 rows and R11
    "person": S,  # masked ID of the person a finding is about
    "file": S,  # original file name of the (first own) source row
    "origin": S,  # the inbox folder of that file: townships, dibao, insurance, claims
    "sheet": S,
    "row_no": I,
    "column": S,  # Chinese header (issues)
    "value": S,  # the offending value as stored (masked when personal)
    "other_locations": S,  # further source rows of a finding the township may see
    "detail": S,  # Chinese sentence (finding detail or issue message), masked
    "suggested_fix": S,
    "first_seen": D,
    "resolved_on": D,
}

# The fix-list sheets: column -> Chinese header, in order (the flow writes them as typed cells).
ISSUE_SHEET = "数据质量问题"
FINDING_SHEET = "核查发现"
ISSUE_COLUMNS: dict[str, str] = {
    "seq": "序号",
    "state": "状态",
    "severity": "严重程度",
    "origin": "数据来源",
    "file": "文件",
    "sheet": "工作表",
    "row_no": "行号",
    "column": "列",
    "problem": "问题",
    "value": "当前值",
    "detail": "问题说明",
    "suggested_fix": "整改建议",
    "village": "行政村",
    "household_id": "户编号/家庭编号",
    "first_seen": "首次发现",
    "days_open": "已持续天数",
}
FINDING_COLUMNS: dict[str, str] = {
    "seq": "序号",
    "state": "状态",
    "severity": "严重程度",
    "code": "规则",
    "problem": "规则名称",
    "village": "行政村",
    "household_id": "户编号/家庭编号",
    "person": "人员证件号码（脱敏）",
    "detail": "问题说明",
    "origin": "数据来源",
    "file": "文件",
    "sheet": "工作表",
    "row_no": "行号",
    "other_locations": "其他出处",
    "first_seen": "首次发现",
    "days_open": "已持续天数",
}


# Where a fix-list row is: the township's own workbook, or a bureau's data, which the
# township cannot correct; it checks the person and tells the office, which takes it up with
# the bureau (the 说明 sheet says so).
def origin_zh(office: str = "市扶贫办") -> dict[str, str]:
    """Where a fix-list row is, in Chinese, naming the county's poverty office
    (`County.office_short`: 市扶贫办, 县扶贫办, 区扶贫办)."""
    return {
        "townships": "本单位报送",
        "dibao": f"民政局低保名册（核实后报{office}）",
        "insurance": f"医保局参保数据（核实后报{office}）",
        "claims": f"医保局结算数据（核实后报{office}）",
    }


ORIGIN_ZH: dict[str, str] = origin_zh()  # a 市's wording, as the home county's


def _county(county: County | None) -> County:
    """The county a message is about: `county` (the flows pass the run's), else the home
    county (a transform reads no file, so it does not look the county up itself)."""
    return county or County(HOME_COUNTY, HOME_COUNTY_NAME)


# ---------------------------------------------------------------- items
def alert_items(findings: pl.DataFrame, issues: pl.DataFrame, files: pl.DataFrame) -> pl.DataFrame:
    """Findings (`finding` table rows) and issues (`dq_issue` rows) as one ITEM frame.

    `files` has the `source_file` columns id, name, source, township_code.  A finding's
    location is its first source row the township may see: rows of its own workbook and of
    the city-wide extracts; rows in another township's workbook are only counted.
    """
    parts = [_finding_items(findings, files), _issue_items(issues, files)]
    return pl.concat(parts, how="vertical")


def _empty(schema: Mapping[str, pl.DataType]) -> pl.DataFrame:
    return pl.DataFrame(schema=dict(schema))


def _conform(frame: pl.DataFrame, schema: Mapping[str, pl.DataType]) -> pl.DataFrame:
    return frame.select(
        [
            (pl.col(c) if c in frame.columns else pl.lit(None)).cast(t).alias(c)
            for c, t in schema.items()
        ]
    )


def _file_lookup(files: pl.DataFrame) -> pl.DataFrame:
    return files.select(
        file_id=pl.col("id").cast(pl.Int64),
        file=pl.col("name").cast(pl.Utf8),
        file_source=pl.col("source").cast(pl.Utf8),
        file_township=pl.col("township_code").cast(pl.Utf8),
    )


def _location(file: pl.Expr, sheet: pl.Expr, row_no: pl.Expr) -> pl.Expr:
    sheet_part = pl.when(sheet.fill_null("") == "").then(pl.lit("")).otherwise("／" + sheet)
    return pl.format("{}{}／第{}行", file.fill_null("未知文件"), sheet_part, row_no)


def _finding_items(findings: pl.DataFrame, files: pl.DataFrame) -> pl.DataFrame:
    if findings.is_empty():
        return _empty(ITEM)
    names = {code: rule.name_zh for code, rule in RULES.items()}
    severity = {code: rule.severity for code, rule in RULES.items()}
    base = findings.with_row_index("_i").with_columns(
        pl.col("township_code").cast(pl.Utf8),
        _person=pl.coalesce(pl.col("person_id"), pl.col("id_as_written")),
    )
    rows = (
        _evidence_rows(base)
        .filter(pl.col("file_id").is_not_null())
        .with_row_index("_pos")
        .join(_file_lookup(files), on="file_id", how="left")
        .with_columns(
            own=(pl.col("file_source") != "townships")
            | (pl.col("file_township") == pl.col("township_code")),
            roster=pl.col("source") == "roster",
        )
    )
    own = rows.filter(pl.col("own")).sort("_i", ~pl.col("roster"), "_pos")
    first = own.group_by("_i", maintain_order=True).agg(
        pl.col("file").first(),
        pl.col("file_source").first().alias("origin"),
        pl.col("sheet").first(),
        pl.col("row_no").first(),
    )
    others = (
        own.filter(pl.int_range(pl.len()).over("_i") > 0)
        .group_by("_i")
        .agg(_others=_location(pl.col("file"), pl.col("sheet"), pl.col("row_no")).str.join("；"))
    )
    foreign = rows.filter(~pl.col("own")).group_by("_i").agg(_foreign=pl.len())
    out = (
        base.join(first, on="_i", how="left")
        .join(others, on="_i", how="left")
        .join(foreign, on="_i", how="left")
        .with_columns(
            item_type=pl.lit("finding"),
            key="F:" + pl.col("key"),
            code=pl.col("rule"),
            problem=pl.col("rule").replace_strict(names, default=None, return_dtype=pl.Utf8),
            severity=pl.coalesce(
                pl.col("severity"),
                pl.col("rule").replace_strict(
                    severity, default=DEFAULT_RULE_SEVERITY, return_dtype=pl.Utf8
                ),
            ),
            household_label=pl.when(pl.col("rule") == "R11")
            .then(pl.lit(DIBAO_FAMILY))
            .otherwise(pl.lit(HOUSEHOLD)),
            person=pl.when(pl.col("_person").is_not_null()).then(mask_id_expr(pl.col("_person"))),
            other_locations=pl.concat_str(
                pl.col("_others"),
                pl.when(pl.col("_foreign") > 0).then(
                    pl.format("另有{}处在其他乡镇花名册中", pl.col("_foreign"))
                ),
                separator="；",
                ignore_nulls=True,
            ),
        )
        .with_columns(
            other_locations=pl.when(pl.col("other_locations") != "").then("other_locations")
        )
        .sort("_i")
    )
    return _conform(out, ITEM)


def _evidence_rows(base: pl.DataFrame) -> pl.DataFrame:
    """One row per evidence source row: _i, township_code, source, file_id, sheet, row_no
    (a finding without evidence keeps one row of nulls)."""
    return base.select("_i", "township_code", "evidence").explode("evidence").unnest("evidence")


def _issue_items(issues: pl.DataFrame, files: pl.DataFrame) -> pl.DataFrame:
    if issues.is_empty():
        return _empty(ITEM)
    kinds = {k: v[0] for k, v in ISSUE_KINDS.items()}
    if "source" not in issues.columns:
        issues = issues.with_columns(source=pl.lit(None, pl.Utf8))
    out = issues.join(
        _file_lookup(files).select("file_id", "file", origin="file_source"),
        on="file_id",
        how="left",
    )
    out = out.with_columns(
        item_type=pl.lit("issue"),
        key="I:" + pl.col("key"),
        code=pl.col("kind"),
        problem=pl.col("kind").replace_strict(kinds, default=pl.col("kind"), return_dtype=pl.Utf8),
        severity=pl.col("kind").replace_strict(
            ISSUE_SEVERITY, default=DEFAULT_ISSUE_SEVERITY, return_dtype=pl.Utf8
        ),
        detail=pl.col("message"),
        household_label=pl.when(pl.col("source") == "dibao")
        .then(pl.lit(DIBAO_FAMILY))
        .otherwise(pl.lit(HOUSEHOLD)),
    )
    return _conform(out, ITEM)


# ---------------------------------------------------------------- baselines
@dataclass(frozen=True)
class Baseline:
    """What a recipient was last told: the as-of date and open-key fingerprint it was sent."""

    as_of: date
    fingerprint: str


def fingerprint(keys: Iterable[str]) -> str:
    """SHA-256 of the sorted keys: compares open sets without storing personal keys."""
    digest = hashlib.sha256()
    for key in sorted(set(keys)):
        digest.update(key.encode("utf-8"))
        digest.update(b"\n")
    return digest.hexdigest()


def baselines(alerts: pl.DataFrame) -> dict[tuple[str | None, str], Baseline]:
    """The latest delivered alert per (township_code, channel) from `alert` table rows.

    Only status `sent` counts: a failed delivery leaves the recipient's baseline where it was,
    so the next run tries again.  Rows whose counts lack as_of/fingerprint are ignored.
    """
    out: dict[tuple[str | None, str], Baseline] = {}
    if alerts.is_empty():
        return out
    sent = alerts.filter(pl.col("status") == "sent").sort("id")
    for row in sent.iter_rows(named=True):
        try:
            counts = json.loads(row["counts"] or "{}")
            baseline = Baseline(date.fromisoformat(counts["as_of"]), str(counts["fingerprint"]))
        except (ValueError, KeyError, TypeError):
            continue
        out[(row["township_code"], row["channel"])] = baseline
    return out


# ---------------------------------------------------------------- one recipient's alert
@dataclass(frozen=True)
class Counts:
    new: int  # open, first seen on the run's date
    still_open: int  # open, seen before
    open: int
    resolved: int  # resolved since the baseline (or on the run's date when there is none)
    overdue: int  # open longer than overdue_days
    newly_overdue: int  # overdue now but not at the baseline: the escalation
    findings: int  # open findings
    issues: int  # open data-quality issues

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Alert:
    recipient: str | None  # township code; None: the office (the whole city)
    name: str
    as_of: date
    overdue_days: int
    baseline: Baseline | None
    counts: Counts
    fingerprint: str
    worst: pl.DataFrame = field(repr=False)  # ITEM rows + days_open, overdue; worst first

    @property
    def escalated(self) -> bool:
        return self.counts.newly_overdue > 0

    @property
    def changed(self) -> bool:
        """Whether there is anything to tell this recipient (outputs.md: no message otherwise)."""
        if self.escalated:
            return True
        if self.baseline is None:
            return self.counts.open > 0 or self.counts.resolved > 0
        return self.fingerprint != self.baseline.fingerprint

    def record(self) -> dict[str, Any]:
        """The `alert.counts` JSON: what the next run compares with."""
        return {
            **self.counts.as_dict(),
            "as_of": self.as_of.isoformat(),
            "fingerprint": self.fingerprint,
            "escalated": self.escalated,
            "baseline_as_of": self.baseline.as_of.isoformat() if self.baseline else None,
        }


def with_age(items: pl.DataFrame, as_of: date, overdue_days: int) -> pl.DataFrame:
    """Add days_open (open items, to the run date) and overdue."""
    days = (pl.lit(as_of) - pl.col("first_seen")).dt.total_days()
    return items.with_columns(
        days_open=pl.when(pl.col("status") == "open").then(days).cast(pl.Int64),
        overdue=(pl.col("status") == "open") & (days > overdue_days),
    )


def worst_first(items: pl.DataFrame) -> pl.DataFrame:
    """高 before 中 before 低, then oldest first; findings before issues on a tie."""
    rank = pl.col("severity").replace_strict(SEVERITY_RANK, default=9, return_dtype=pl.Int64)
    return (
        items.with_columns(_rank=rank)
        .sort("_rank", "first_seen", "item_type", "code", "key", nulls_last=True)
        .drop("_rank")
    )


def compute_alert(
    items: pl.DataFrame,
    recipient: str | None,
    name: str,
    as_of: date,
    overdue_days: int,
    baseline: Baseline | None,
    worst_n: int = WORST_ITEMS,
) -> Alert:
    """The alert of one township (`recipient` = its code) or of the office (None: all items)."""
    mine = items if recipient is None else items.filter(pl.col("township_code") == recipient)
    mine = with_age(mine, as_of, overdue_days)
    is_open = pl.col("status") == "open"
    if baseline is None:
        resolved = pl.col("resolved_on") == as_of
        newly = pl.col("overdue")
    else:
        resolved = (pl.col("resolved_on") > baseline.as_of) & (pl.col("resolved_on") <= as_of)
        was_overdue = (pl.lit(baseline.as_of) - pl.col("first_seen")).dt.total_days() > overdue_days
        newly = pl.col("overdue") & ~was_overdue
    stats = mine.select(
        new=(is_open & (pl.col("first_seen") == as_of)).sum(),
        open=is_open.sum(),
        resolved=((pl.col("status") == "resolved") & resolved.fill_null(False)).sum(),
        overdue=pl.col("overdue").sum(),
        newly_overdue=newly.fill_null(False).sum(),
        findings=(is_open & (pl.col("item_type") == "finding")).sum(),
        issues=(is_open & (pl.col("item_type") == "issue")).sum(),
    ).row(0, named=True)
    counts = Counts(
        new=int(stats["new"]),
        still_open=int(stats["open"] - stats["new"]),
        open=int(stats["open"]),
        resolved=int(stats["resolved"]),
        overdue=int(stats["overdue"]),
        newly_overdue=int(stats["newly_overdue"]),
        findings=int(stats["findings"]),
        issues=int(stats["issues"]),
    )
    open_items = mine.filter(is_open)
    return Alert(
        recipient=recipient,
        name=name,
        as_of=as_of,
        overdue_days=overdue_days,
        baseline=baseline,
        counts=counts,
        fingerprint=fingerprint(open_items["key"].to_list()),
        worst=worst_first(open_items).head(worst_n),
    )


# ---------------------------------------------------------------- fix list
def fix_list(
    items: pl.DataFrame,
    township_code: str,
    as_of: date,
    overdue_days: int,
    county: County | None = None,
) -> dict[str, pl.DataFrame]:
    """The township's open rows only, worst first, as {sheet name: frame in sheet column order}.

    The frames keep English column names (see ISSUE_COLUMNS / FINDING_COLUMNS for headers)
    and real types: row numbers and days as integers, dates as dates.  `county` (default:
    the one the process works for) names the office a bureau's row is reported to.
    """
    origins = origin_zh(_county(county).office_short)
    mine = with_age(
        items.filter((pl.col("township_code") == township_code) & (pl.col("status") == "open")),
        as_of,
        overdue_days,
    )
    state = (
        pl.when(pl.col("overdue"))
        .then(pl.lit("逾期"))
        .when(pl.col("first_seen") == as_of)
        .then(pl.lit("新增"))
        .otherwise(pl.lit("未整改"))
    )
    out: dict[str, pl.DataFrame] = {}
    for sheet, item_type, columns in (
        (ISSUE_SHEET, "issue", ISSUE_COLUMNS),
        (FINDING_SHEET, "finding", FINDING_COLUMNS),
    ):
        rows = worst_first(mine.filter(pl.col("item_type") == item_type)).with_columns(
            seq=pl.int_range(1, pl.len() + 1, dtype=pl.Int64),
            state=state,
            origin=pl.col("origin").replace_strict(origins, default=None, return_dtype=S),
        )
        out[sheet] = rows.select(list(columns))
    return out


# ---------------------------------------------------------------- messages
def zh_date(day: date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


def _short(text: str | None, limit: int = DETAIL_CHARS) -> str:
    text = scrub((text or "").strip())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _worst_line(n: int, row: Mapping[str, Any]) -> str:
    where: list[str] = []
    if row["village"]:
        where.append(str(row["village"]))
    detail = row["detail"] or row["problem"] or ""
    if row["household_id"] and str(row["household_id"]) not in detail:
        where.append(f"{row['household_label'] or HOUSEHOLD}{row['household_id']}")
    if row["item_type"] == "issue" and row["file"]:
        cell = f"{row['file']}"
        if row["sheet"]:
            cell += f"／{row['sheet']}"
        if row["row_no"] is not None:
            cell += f"／第{row['row_no']}行"
        if row["column"]:
            cell += f"“{row['column']}”列"
        where.append(cell)
    text = _short(detail)
    if row["item_type"] == "issue" and row["suggested_fix"]:
        fix = str(row["suggested_fix"]).strip()
        text = _short(f"{detail.strip().rstrip('。；;')}；建议：{fix}", DETAIL_CHARS + 30)
    days = row["days_open"] or 0
    age = "今日新增" if days == 0 else f"已{days}天" + ("，逾期" if row["overdue"] else "")
    parts = [
        f"{n}.【{row['severity'] or DEFAULT_RULE_SEVERITY}】{row['problem'] or row['code']}",
        *where,
        text,
    ]
    return "｜".join(parts) + f"（{age}）"


# ---------------------------------------------------------------- submissions needing a person
FILE_STATES = {
    "held": "暂未启用，待扶贫办确认",
    "quarantined": "无法读取，已隔离",
    "rejected": "已退回",
}


@dataclass(frozen=True)
class FileNotice:
    """A file of the run that a person must look at: held, quarantined or rejected."""

    file_id: int
    township_code: str | None
    name: str
    status: str
    reason: str

    def sentence(self, for_office: bool, office: str = "市扶贫办") -> str:
        """The notice as a sentence; `office`: the county's (`County.office_short`)."""
        state = FILE_STATES[self.status]
        text = f"《{self.name}》（#{self.file_id}）{state}：{self.reason.rstrip('。')}。"
        if self.status != "held":
            return text
        if for_office:
            return text + f"核实后启用：fupin accept {self.file_id}；在用数据不变。"
        return (
            text
            + f"在用的仍是此前报送的花名册。如报送有误，请重新报送；如确需启用，请报{office}确认。"
        )


def file_notices(files: pl.DataFrame, run_id: int) -> list[FileNotice]:
    """The files `run_id` received that need a person (`source_file` rows: id, name,
    township_code, status, reason, run_id), oldest first."""
    mine = files.filter(
        (pl.col("run_id") == run_id) & pl.col("status").is_in(list(FILE_STATES))
    ).sort("id")
    return [
        FileNotice(r["id"], r["township_code"], r["name"], r["status"], r["reason"] or "")
        for r in mine.iter_rows(named=True)
    ]


def township_message(
    alert: Alert,
    run_label: str,
    attachment_name: str | None = None,
    sources: str | None = None,
    attached: bool = True,
    notices: Iterable[FileNotice] = (),
    county: County | None = None,
) -> tuple[str, str]:
    """(title, body) of a township's alert, Chinese, every ID and phone masked.

    `attached`: whether the channel carries the fix list (e-mail and webhooks do, WeCom and
    DingTalk bots do not); `notices`: the township's files of this run a person must look at;
    `county`: the county the alert is about (default: the one the process works for).
    """
    notices = list(notices)
    c = alert.counts
    county = _county(county)
    office = county.office_short
    title = f"{county.name}扶贫数据质量预警：{alert.name}（{zh_date(alert.as_of)}）"
    if alert.escalated:
        title = "【逾期升级】" + title
    facts: list[str] = []
    if c.open:
        facts.append(
            f"新增问题{c.new}项，仍未整改{c.still_open}项，合计未整改{c.open}项"
            f"（核查发现{c.findings}项，数据质量问题{c.issues}项）。"
        )
    else:
        facts.append("目前无未整改问题。")
    if alert.baseline is not None:
        facts.append(f"自上次预警（{zh_date(alert.baseline.as_of)}）以来已整改{c.resolved}项。")
    elif c.resolved:
        facts.append(f"本次核查已整改{c.resolved}项。")
    if c.overdue:
        escalation = (
            f"，其中本次新超期{c.newly_overdue}项，已升级报{office}" if c.newly_overdue else ""
        )
        facts.append(f"超过{alert.overdue_days}天未整改（逾期）{c.overdue}项{escalation}。")
    if notices:
        facts.append(
            "本次报送的文件需要处理：" + "".join(n.sentence(False, office) for n in notices)
        )
    numerals = "一二三四五六"
    lines = [
        f"{alert.name}：",
        f"根据{zh_date(alert.as_of)}夜间数据核查（{run_label}），贵单位数据质量情况如下。",
        *(f"{numerals[i]}、{fact}" for i, fact in enumerate(facts)),
    ]
    if alert.worst.height:
        lines.append("需优先处理的问题（高风险在前，发现最早在前）：")
        lines += [_worst_line(i, row) for i, row in enumerate(alert.worst.iter_rows(named=True), 1)]
        if c.open > alert.worst.height:
            lines.append(f"其余{c.open - alert.worst.height}项见整改清单。")
    if attachment_name and c.open and attached:
        lines.append(
            f"整改清单见附件《{attachment_name}》（仅含本单位数据），"
            "请逐项整改或说明情况；整改后下次夜间核查自动核销。"
        )
    elif attachment_name and c.open:
        lines.append(
            f"整改清单《{attachment_name}》已生成（仅含本单位数据），本渠道不能附带文件，"
            f"请从本单位预警邮箱查收或向{office}索取；整改后下次夜间核查自动核销。"
        )
    if sources:
        lines.append(f"数据来源：{sources}")
    lines.append(f"{county.office}（系统自动发送）")
    return scrub(title), scrub("\n".join(lines))


@dataclass(frozen=True)
class DigestRow:
    code: str
    name: str
    counts: Counts
    escalated: bool


def digest_rows(
    items: pl.DataFrame,
    townships: Mapping[str, str],
    as_of: date,
    overdue_days: int,
    baseline: Baseline | None,
) -> list[DigestRow]:
    """Every township's counts relative to the office's own last digest."""
    rows = []
    for code, name in townships.items():
        alert = compute_alert(items, code, name, as_of, overdue_days, baseline, worst_n=0)
        rows.append(DigestRow(code, name, alert.counts, alert.escalated))
    return rows


def digest_message(
    office: Alert,
    rows: list[DigestRow],
    run_label: str,
    failed: Mapping[str, int] | None = None,
    unconfigured: Iterable[str] = (),
    notices: Iterable[FileNotice] = (),
    county: County | None = None,
) -> tuple[str, str]:
    """(title, body) of the office's digest of the county: a per-township table of counts,
    and the files of the run that need a person (`notices`); `county`: the county it is
    about (default: the one the process works for)."""
    c = office.counts
    escalated = [r for r in rows if r.escalated]
    county = _county(county)
    us = county.office_short
    title = f"{county.name}扶贫数据质量日报（{zh_date(office.as_of)}）"
    if office.escalated or escalated:
        title = "【逾期升级】" + title
    since = f"自上次汇总（{zh_date(office.baseline.as_of)}）以来" if office.baseline else "本次核查"
    lines = [
        f"{us}：",
        f"{zh_date(office.as_of)}夜间数据核查（{run_label}）后，{county.whole}未整改问题{c.open}项"
        f"（核查发现{c.findings}项，数据质量问题{c.issues}项），其中新增{c.new}项、"
        f"逾期（超过{office.overdue_days}天）{c.overdue}项；{since}已整改{c.resolved}项。",
        "各乡镇（镇街｜新增｜未整改｜逾期｜已整改）：",
    ]
    for r in rows:
        mark = "【逾期升级】" if r.escalated else ""
        lines.append(
            f"{r.name}｜{r.counts.new}｜{r.counts.open}｜{r.counts.overdue}｜{r.counts.resolved}{mark}"
        )
    assigned = sum(r.counts.open for r in rows)
    if c.open > assigned:
        lines.append(f"未能确定所属乡镇的问题{c.open - assigned}项，请{us}核处。")
    if escalated:
        lines.append(
            "逾期升级："
            + "、".join(f"{r.name}（新超期{r.counts.newly_overdue}项）" for r in escalated)
            + "。"
        )
    if failed:
        lines.append(
            "预警发送失败："
            + "、".join(f"{name}（{n}个渠道）" for name, n in failed.items())
            + "，请检查渠道配置或网络。"
        )
    missing = list(unconfigured)
    if missing:
        lines.append("未配置预警渠道：" + "、".join(missing) + "。")
    notices = list(notices)
    if notices:
        lines.append(f"需要处理的报送文件{len(notices)}份：")
        lines += [f"{i}. {n.sentence(True, us)}" for i, n in enumerate(notices, 1)]
    lines.append(f"{county.office}数据核查系统（自动发送）")
    return scrub(title), scrub("\n".join(lines))
