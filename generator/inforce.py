"""What is in force on one night of a timeline, and the truth derived from it alone.

The pipeline keeps, per source, the data in force: for each township its newest accepted
workbook, the newest 低保 roll, per 参保年度 the newest accepted enrolment file holding that
year, per 结算编号 the newest settlement file holding it.  `InForce` is exactly that, as the
generator's logical tables (the values a correct reader gets back from those files), with
the data-quality issues each row carries kept on the row itself.  `derive_truth` applies the
rules (`truth.derive_findings`) and collects the issues from the data in force and nothing
else: no night's truth depends on the night before.

An issue is identified by what is wrong and where in the register, never by the file
(findings.md): see `issue_identity`.  File, sheet and row are the evidence of where it is in
the file in force.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

import polars as pl

from config.settings import Policy
from transforms.ids import parse_id

from .core import ISSUE_TRUTH_SCHEMA
from .layout import SheetModel
from .roster import HouseholdRecord, Roster, RosterRow
from .truth import derive_findings, norm_name, written_key
from .world import DibaoRow

ISSUE_SCHEMA: dict[str, type[pl.DataType]] = {**ISSUE_TRUTH_SCHEMA, "identity": pl.Utf8}
HIDDEN_SHEET = "hidden_sheet"


@dataclass
class TownshipFile:
    """An accepted township workbook: its households as laid out and how it was written."""

    code: str
    rel: str  # inbox-relative path
    night: int
    fmt: str  # xlsx | xls
    records: list[HouseholdRecord]  # as laid out; pasted households of other townships included
    sheets: list[SheetModel]
    stamp: datetime
    title: str
    hidden_sheet: str = ""  # a hidden sheet holding an old roster (never read)

    @property
    def own(self) -> list[HouseholdRecord]:
        return [h for h in self.records if not h.foreign_copy]


@dataclass
class DibaoRoll:
    """The 低保/特困 roll in force: the whole roll, replaced by every newer roll."""

    rel: str
    night: int
    as_of: date  # the month the roll is of
    rows: list[DibaoRow]
    logical: pl.DataFrame  # extracts.dibao_frame
    line: dict[int, int]  # DibaoRow.uid -> CSV line


@dataclass(frozen=True)
class EnrolmentTag:
    """A data-quality issue on a person's enrolment rows (`year` None: every year's row)."""

    pid: int
    year: int | None
    kind: str
    column: str
    township_code: str


@dataclass
class EnrolmentYear:
    """One 参保年度 as the newest accepted file holding it says."""

    rel: str
    night: int
    year: int
    rows: pl.DataFrame  # the bureau's rows: pid, year, enrol_status, person_status, subsidy
    logical: pl.DataFrame  # extracts.enrolment_frames' logical frame, every row
    tags: list[EnrolmentTag] = field(default_factory=list)


@dataclass
class Settlements:
    """The settlement extract (never sent again in a timeline)."""

    logical: pl.DataFrame
    where: dict[str, tuple[str, str, int]]  # settlement_id -> (file, sheet, row) of tagged ones
    tags: list[tuple[str, str, str]]  # (settlement_id, kind, column)


@dataclass
class InForce:
    townships: dict[str, TownshipFile]
    dibao: DibaoRoll
    enrolment: dict[int, EnrolmentYear]
    settlements: Settlements

    def roster(self) -> Roster:
        return Roster({code: self.townships[code].records for code in sorted(self.townships)})

    def enrolment_frame(self) -> pl.DataFrame:
        return pl.concat([self.enrolment[y].logical for y in sorted(self.enrolment)])


# ---------------------------------------------------------------- identity


def person_key(written: str, name: str, row_no: int | None) -> str:
    """The written ID, else 姓名:name, else 第n行 (findings.md: issue identity)."""
    if written:
        return written
    if name:
        return f"姓名:{name}"
    return f"第{row_no}行"


def roster_row_identity(
    code: str, rec: HouseholdRecord, row: RosterRow, kind: str, col: str
) -> str:
    written = written_key(row.id_raw)[0] if str(row.id_raw).strip() else ""
    who = person_key(written, norm_name(row.name), row.row_no)
    return "|".join(("roster", kind, code, rec.hh_id, who, col))


def roster_household_identity(code: str, rec: HouseholdRecord, kind: str, col: str) -> str:
    return "|".join(("roster", kind, code, rec.hh_id, "", col))


def hidden_sheet_identity(code: str, sheet: str) -> str:
    return "|".join(("file", HIDDEN_SHEET, "roster", code, sheet))


def dibao_identity(row: DibaoRow, kind: str, col: str) -> str:
    written = parse_id(row.text.get("id_number", row.written_id)).normalised
    name = norm_name(row.text.get("name", row.written_name))
    who = person_key(written, name, None)
    return "|".join(("dibao", kind, row.family_id, who, col))


def enrolment_identity(year: int, written: str, kind: str, col: str) -> str:
    return "|".join(("enrolment", kind, str(year), written, col))


def settlement_identity(sid: str, kind: str, col: str) -> str:
    return "|".join(("settlement", kind, sid, col))


# ---------------------------------------------------------------- truth


def derive_truth(state: InForce, as_of: date, policy: Policy) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(findings, issues) of the data in force at `as_of`; issues carry their `identity`."""
    findings = derive_findings(
        state.roster(),
        state.dibao.logical,
        state.enrolment_frame(),
        state.settlements.logical,
        as_of,
        policy.exit_lines(),
        policy.housing_deadline,
    )
    return findings, collect_issues(state)


def collect_issues(state: InForce) -> pl.DataFrame:
    rows: list[dict] = []

    def add(
        kind: str,
        town: str,
        file: str,
        sheet: str,
        row_no: int | None,
        col: str | None,
        hh: str | None,
        ident: str,
    ) -> None:
        rows.append(
            {
                "kind": kind,
                "township_code": town,
                "file": file,
                "sheet": sheet,
                "row_no": row_no,
                "column": col,
                "household_id": hh,
                "identity": ident,
            }
        )

    for code in sorted(state.townships):
        tf = state.townships[code]
        for rec in tf.records:
            for kind, col in rec.issues:
                row_no = rec.first_row if col else None
                ident = roster_household_identity(code, rec, kind, col)
                add(kind, code, rec.file, rec.sheet, row_no, col, rec.hh_id, ident)
            for row in rec.rows:
                for kind, col in row.issues:
                    ident = roster_row_identity(code, rec, row, kind, col)
                    add(kind, code, row.file, row.sheet, row.row_no, col, rec.hh_id, ident)
        if tf.hidden_sheet:
            ident = hidden_sheet_identity(code, tf.hidden_sheet)
            add(HIDDEN_SHEET, code, tf.rel, tf.hidden_sheet, None, None, None, ident)

    roll = state.dibao
    for d in roll.rows:
        for kind, col in d.issues:
            ident = dibao_identity(d, kind, col)
            add(kind, d.township_code, roll.rel, "", roll.line[d.uid], col, "", ident)

    for year in sorted(state.enrolment):
        part = state.enrolment[year]
        tagged = sorted({t.pid for t in part.tags if t.year is None or t.year == year})
        if not tagged:
            continue
        found = part.logical.filter(pl.col("pid").is_in(tagged)).select("pid", "line", "id_norm")
        where = {p: (int(n), w or "") for p, n, w in found.iter_rows()}
        for t in part.tags:
            if (t.year is not None and t.year != year) or t.pid not in where:
                continue
            line, written = where[t.pid]
            ident = enrolment_identity(year, written, t.kind, t.column)
            add(t.kind, t.township_code, part.rel, "", line, t.column, "", ident)

    s = state.settlements
    for sid, kind, col in s.tags:
        file, sheet, row_no = s.where[sid]
        add(kind, "", file, sheet, row_no, col, "", settlement_identity(sid, kind, col))

    frame = pl.DataFrame(rows, schema=ISSUE_SCHEMA) if rows else pl.DataFrame(schema=ISSUE_SCHEMA)
    return frame.unique().sort(
        "file", "sheet", "row_no", "column", "kind", "household_id", "identity", nulls_last=True
    )
