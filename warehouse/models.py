"""The warehouse schema: SQLAlchemy 2 declarative models.

Bookkeeping tables (runs, files, findings, issues, indicators, alerts, snapshots) are written
out by hand.  The canonical tables are built from the column contracts in `transforms.frames`,
so a table cannot drift from the frame it stores; a change to a contract shows up as a failing
drift test until a migration is added.  Staged rows (every cell as read) are kept per file as
one Parquet document (`StagedRows`): they are written once and read only to trace a value
back, and 1.26M enrolment rows stored as SQL rows cost more than all the rest of ingest.

Type choices:
- polars Utf8 -> Text; Int64 -> BigInteger; Float64 -> Double (see `polars_to_sql`);
  Date -> Date; Boolean -> Boolean.
- JSON is stored as Text: most frames carry JSON as text already, both dialects take it as
  is, and COPY/executemany need no adaptation.  A finding's evidence, a list of structs in
  frames, is TEXT typed `JsonText`: `warehouse.bulk` encodes and decodes it
  (`warehouse.nested`).
- Timestamps are UTC (timezone-aware on PostgreSQL, naive UTC text on SQLite).
- Surrogate keys are BIGINT on PostgreSQL and INTEGER on SQLite (where only
  `INTEGER PRIMARY KEY` is the auto-incrementing rowid).
"""

from __future__ import annotations

from datetime import date, datetime

import polars as pl
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    Double,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeEngine

from transforms import frames
from warehouse.nested import JsonText

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

Id = BigInteger().with_variant(Integer(), "sqlite")
Timestamp = DateTime(timezone=True)

FLOWS = ("nightly", "report", "alerts", "snapshot")
# "abandoned": left "running" by a killed process, so marked when a later run starts.
RUN_STATUSES = ("running", "succeeded", "failed", "needs_attention", "abandoned")
FILE_SOURCES = ("townships", "dibao", "insurance", "claims")
# "loading": recorded, rows being written; a crash leaves it so and the next run starts it again.
# "duplicate": the same data as the file in force in new bytes (re-saved, renamed, re-encoded).
# "held": stored but not in force until the office releases it (it would gut the register).
FILE_STATUSES = (
    "loading",
    "accepted",
    "quarantined",
    "rejected",
    "superseded",
    "duplicate",
    "held",
)
FILE_EVENTS = ("held", "released")
LIFECYCLE_STATUSES = ("open", "resolved")
LIFECYCLE_EVENTS = ("opened", "resolved", "reopened")
LINK_SOURCES = ("roster", "dibao", "enrolment", "settlement")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {str: Text(), int: BigInteger(), float: Double(), datetime: Timestamp}


class Run(Base):
    """One execution of a flow; params and stats are JSON text."""

    __tablename__ = "run"
    __table_args__ = (
        CheckConstraint(_in("flow", FLOWS), name="flow"),
        CheckConstraint(_in("status", RUN_STATUSES), name="status"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    flow: Mapped[str] = mapped_column(String(16))
    as_of: Mapped[date]
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(16))
    params: Mapped[str | None]
    stats: Mapped[str | None]


class SourceFile(Base):
    """Every file that arrived, once per content hash, and what became of it."""

    __tablename__ = "source_file"
    __table_args__ = (
        CheckConstraint(_in("source", FILE_SOURCES), name="source"),
        CheckConstraint(_in("status", FILE_STATUSES), name="status"),
        Index(None, "source", "status", "township_code"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    source: Mapped[str] = mapped_column(String(16))
    name: Mapped[str]  # original file name
    rel_path: Mapped[str]  # inbox-relative path
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    size: Mapped[int]
    received_at: Mapped[datetime]
    run_id: Mapped[int | None] = mapped_column(ForeignKey("run.id"))
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None]  # Chinese, for people
    township_code: Mapped[str | None] = mapped_column(String(12))
    archive_path: Mapped[str | None]
    rows_loaded: Mapped[int | None]
    rows_reported: Mapped[int | None]
    sheets: Mapped[str | None]  # JSON: what was found in the file
    # Fingerprint of the expectation suites its rows were last validated with (file_issue).
    validated_with: Mapped[str | None] = mapped_column(String(64))
    # When the file was put in force, as a number that only grows: the newest submission of
    # a source is the one with the highest seq (arrival order, or the office's release).
    seq: Mapped[int | None] = mapped_column(unique=True)
    # SHA-256 of its rows as read (`transforms.submissions.data_digest`): new bytes with the
    # same data (re-saved, renamed, re-encoded) are known by it.
    data_digest: Mapped[str | None] = mapped_column(String(64))
    # The date the submission says its data is as of (title row, else file name), if any.
    data_date: Mapped[date | None]


class SourceFileEvent(Base):
    """What happened to a submission beyond its arrival: held for the office, released."""

    __tablename__ = "source_file_event"
    __table_args__ = (CheckConstraint(_in("event", FILE_EVENTS), name="event"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    file_id: Mapped[int] = mapped_column(ForeignKey("source_file.id"), index=True)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("run.id"))
    at: Mapped[datetime]
    event: Mapped[str] = mapped_column(String(16))
    detail: Mapped[str | None]  # Chinese: why held, who released and why


# --- staged and canonical tables, from the frame contracts -----------------------------------

POLARS_TO_SQL: dict[type[pl.DataType], TypeEngine] = {
    pl.Utf8: Text(),
    pl.Int64: BigInteger(),
    # Money and rates are compared with tolerances (R13 allows 0.5 yuan) and computed in
    # polars as Float64; a double holds yuan amounts to the cent exactly enough, and NUMERIC
    # would come back as Decimal and break the Float64 contract.
    pl.Float64: Double(),
    pl.Date: Date(),
    pl.Boolean: Boolean(),
}


def polars_to_sql(dtype: pl.DataType) -> TypeEngine:
    try:
        return POLARS_TO_SQL[type(dtype)]
    except KeyError:
        raise TypeError(f"no SQL type for polars {dtype}") from None


# The city-wide extracts' rows name their file without a foreign key: PostgreSQL checks one
# row by row, which doubled the cost of COPY (1.89M enrolment rows: 23.6 s with it, 11.4 s
# without, migration 0008).  Every file's rows are written after the file is registered and
# no file is ever deleted; `warehouse.bulk.write_frame` checks a batch's file ids in one query.
UNREFERENCED_FILE_ID = ("enrolment", "settlement")


def _contract_model(
    class_name: str,
    table_name: str,
    schema: dict[str, pl.DataType],
    *indexes: tuple[str, ...],
) -> type[Base]:
    """A declarative model whose columns are exactly `schema`, keyed by provenance."""
    attrs: dict[str, object] = {
        "__tablename__": table_name,
        "__doc__": f"Rows of the `{table_name}` frame contract, one per source row.",
    }
    for name, dtype in schema.items():
        if name == "file_id" and table_name in UNREFERENCED_FILE_ID:
            attrs[name] = mapped_column(BigInteger(), nullable=False)
        elif name == "file_id":
            attrs[name] = mapped_column(BigInteger(), ForeignKey("source_file.id"), nullable=False)
        elif name in ("sheet", "row_no"):
            attrs[name] = mapped_column(polars_to_sql(dtype), nullable=False)
        else:
            attrs[name] = mapped_column(polars_to_sql(dtype), nullable=True)
    attrs["__table_args__"] = (
        PrimaryKeyConstraint("file_id", "sheet", "row_no"),
        *(Index(None, *cols) for cols in indexes),
    )
    return type(class_name, (Base,), attrs)


_CANONICAL_NAMES = {
    "roster": ("RosterPerson", "roster_person"),
    "village": ("Village", "village"),
    "dibao": ("Dibao", "dibao"),
    "enrolment": ("Enrolment", "enrolment"),
    "settlement": ("Settlement", "settlement"),
}
_CANONICAL_INDEXES: dict[str, tuple[tuple[str, ...], ...]] = {
    "roster": (("id_norm",), ("household_id",), ("township_code",)),
    "village": (("township_code", "village"),),
    "dibao": (("id_norm",), ("family_id",)),
    "enrolment": (("year", "file_id"),),  # no id_norm index: nothing looks rows up by ID
    "settlement": (("id_norm",), ("settlement_id", "file_id")),
}

CANONICAL_MODELS: dict[str, type[Base]] = {
    kind: _contract_model(cls, table, schema, *_CANONICAL_INDEXES[kind])
    for kind, schema in frames.CANONICAL.items()
    for cls, table in [_CANONICAL_NAMES[kind]]
}
CANONICAL_TABLES = {kind: m.__tablename__ for kind, m in CANONICAL_MODELS.items()}


class StagedRows(Base):
    """The staged frame of one file and kind (`transforms.frames.staged_schema`: every cell
    as read, as text, with file/sheet/row) as a Parquet document.

    With the archived file itself, this is what lets any canonical value be traced back to
    what the clerk typed, and the canonical rows be rebuilt without reading the workbook again.
    """

    __tablename__ = "staged_rows"
    __table_args__ = (
        PrimaryKeyConstraint("file_id", "kind"),
        CheckConstraint(_in("kind", tuple(frames.STAGED_SOURCES)), name="kind"),
    )

    file_id: Mapped[int] = mapped_column(ForeignKey("source_file.id"))
    kind: Mapped[str] = mapped_column(String(16))
    rows: Mapped[int]
    parquet: Mapped[bytes] = mapped_column(LargeBinary())


RosterPerson, Village, Dibao, Enrolment, Settlement = CANONICAL_MODELS.values()


class RosterHousehold(Base):
    """One row per household (户编号) of a roster file, household columns filled."""

    __tablename__ = "roster_household"
    __table_args__ = (
        PrimaryKeyConstraint("file_id", "first_row_no"),
        Index(None, "household_id"),
        Index(None, "township_code"),
    )

    file_id: Mapped[int] = mapped_column(ForeignKey("source_file.id"))
    household_id: Mapped[str | None]
    township_code: Mapped[str | None]
    village: Mapped[str | None]
    attribute: Mapped[str | None]
    family_size: Mapped[int | None]
    income: Mapped[float | None]
    exit_status: Mapped[str | None]
    exit_year: Mapped[int | None]
    housing: Mapped[str | None]
    water_safe: Mapped[bool | None]
    support_unit: Mapped[str | None]
    support_cadre: Mapped[str | None]
    phone: Mapped[str | None]
    members: Mapped[int]  # roster rows of the household in the file
    first_row_no: Mapped[int]  # the household's first row in the sheet


class IdentityLink(Base):
    """Which resident each source row resolves to, as of the latest nightly run; `run_id` is
    the run that made the link as it stands (a night that resolves a row as before keeps it)."""

    __tablename__ = "identity_link"
    __table_args__ = (
        PrimaryKeyConstraint("source", "file_id", "sheet", "row_no"),
        CheckConstraint(_in("source", LINK_SOURCES), name="source"),
        Index(None, "identity"),
        Index(None, "id_norm"),
    )

    run_id: Mapped[int] = mapped_column(ForeignKey("run.id"))
    source: Mapped[str] = mapped_column(String(16))
    file_id: Mapped[int] = mapped_column(ForeignKey("source_file.id"))
    sheet: Mapped[str]
    row_no: Mapped[int]
    id_norm: Mapped[str | None]
    identity: Mapped[str | None]
    tier: Mapped[str] = mapped_column(String(16))  # transforms.identity tiers
    score: Mapped[float | None]
    evidence: Mapped[str | None]  # JSON


# --- life cycle: findings and data-quality issues ---------------------------------------------


class LifecycleColumns:
    """What findings and data-quality issues share: open/resolved, first and last seen."""

    status: Mapped[str] = mapped_column(String(8))
    first_seen: Mapped[date]
    last_seen: Mapped[date]
    resolved_on: Mapped[date | None]
    reopened: Mapped[int] = mapped_column(Integer())
    updated_run_id: Mapped[int | None] = mapped_column(ForeignKey("run.id"))


class Finding(LifecycleColumns, Base):
    """A reconciliation finding (findings.md); never deleted, only resolved and reopened."""

    __tablename__ = "finding"
    __table_args__ = (
        CheckConstraint(_in("status", LIFECYCLE_STATUSES), name="status"),
        Index(None, "status", "rule"),
        Index(None, "township_code"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    rule: Mapped[str] = mapped_column(String(8))
    key: Mapped[str] = mapped_column(unique=True)
    severity: Mapped[str | None] = mapped_column(String(8))
    township_code: Mapped[str | None]
    village: Mapped[str | None]
    household_id: Mapped[str | None]
    person_id: Mapped[str | None]
    id_as_written: Mapped[str | None]
    suggested_id: Mapped[str | None]
    record_key: Mapped[str | None]
    detail: Mapped[str | None]
    evidence: Mapped[str | None] = mapped_column(JsonText(frames.FINDING["evidence"]))


class FindingEvent(Base):
    __tablename__ = "finding_event"
    __table_args__ = (CheckConstraint(_in("event", LIFECYCLE_EVENTS), name="event"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    finding_id: Mapped[int] = mapped_column(ForeignKey("finding.id"), index=True)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("run.id"))
    on_date: Mapped[date]
    event: Mapped[str] = mapped_column(String(10))
    detail: Mapped[str | None]


class DqIssue(LifecycleColumns, Base):
    """A data-quality issue of one row or household (contract `transforms.frames.ISSUE`)."""

    __tablename__ = "dq_issue"
    __table_args__ = (
        CheckConstraint(_in("status", LIFECYCLE_STATUSES), name="status"),
        Index(None, "status", "source"),
        Index(None, "township_code"),
        Index(None, "file_id"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    key: Mapped[str] = mapped_column(unique=True)
    source: Mapped[str | None] = mapped_column(String(16))
    file_id: Mapped[int | None] = mapped_column(ForeignKey("source_file.id"))
    sheet: Mapped[str | None]
    row_no: Mapped[int | None]
    column: Mapped[str | None]
    township_code: Mapped[str | None]
    village: Mapped[str | None]
    household_id: Mapped[str | None]
    value: Mapped[str | None]
    message: Mapped[str | None]
    suggested_fix: Mapped[str | None]


class FileIssue(Base):
    """What was found in one file (contract `transforms.frames.ISSUE`): by the expectation
    suites in its canonical rows, kept so that a file is validated once, when it arrives, and
    again only when the suites change (`source_file.validated_with`); and while reading it
    (rows of another township, hidden sheets).  The nightly run's data-quality issues are the
    rows here whose source row (or, for what was found while reading, file) is in force.
    The same problem in two files has the same key."""

    __tablename__ = "file_issue"
    __table_args__ = (PrimaryKeyConstraint("file_id", "key"),)

    file_id: Mapped[int] = mapped_column(ForeignKey("source_file.id"))
    key: Mapped[str]
    kind: Mapped[str] = mapped_column(String(32))
    source: Mapped[str | None] = mapped_column(String(16))
    sheet: Mapped[str | None]
    row_no: Mapped[int | None]
    column: Mapped[str | None]
    township_code: Mapped[str | None]
    village: Mapped[str | None]
    household_id: Mapped[str | None]
    value: Mapped[str | None]
    message: Mapped[str | None]
    suggested_fix: Mapped[str | None]


class DqIssueEvent(Base):
    __tablename__ = "dq_issue_event"
    __table_args__ = (CheckConstraint(_in("event", LIFECYCLE_EVENTS), name="event"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    issue_id: Mapped[int] = mapped_column(ForeignKey("dq_issue.id"), index=True)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("run.id"))
    on_date: Mapped[date]
    event: Mapped[str] = mapped_column(String(10))
    detail: Mapped[str | None]


# --- outputs ------------------------------------------------------------------------------


class Indicator(Base):
    """One assessment indicator of one entity for one period (2018H1, 2018, ...)."""

    __tablename__ = "indicator"
    __table_args__ = (
        UniqueConstraint("period", "level", "entity_code", "indicator"),
        CheckConstraint(
            _in("level", ("city", "township", "village", "support_unit")), name="level"
        ),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("run.id"))
    period: Mapped[str] = mapped_column(String(8))
    level: Mapped[str] = mapped_column(String(16))
    entity_code: Mapped[str]
    entity_name: Mapped[str | None]
    indicator: Mapped[str] = mapped_column(String(64))
    value: Mapped[float | None]
    numerator: Mapped[float | None]
    denominator: Mapped[float | None]
    unit: Mapped[str | None] = mapped_column(String(16))


class Alert(Base):
    """One message sent (or attempted) to a township or, with no township, the office digest."""

    __tablename__ = "alert"
    __table_args__ = (Index(None, "township_code", "sent_at"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("run.id"))
    township_code: Mapped[str | None] = mapped_column(String(12))
    channel: Mapped[str | None]
    sent_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(16))
    counts: Mapped[str | None]  # JSON
    error: Mapped[str | None]


class Snapshot(Base):
    """A frozen year-end; never overwritten."""

    __tablename__ = "snapshot"

    year: Mapped[int] = mapped_column(Integer(), primary_key=True, autoincrement=False)
    created_at: Mapped[datetime]
    manifest_sha256: Mapped[str] = mapped_column(String(64))
    code_version: Mapped[str | None] = mapped_column(String(64))
    path: Mapped[str]


# --- annual snapshots: year-tagged copies of what the year-end reports read -------------------

# The tables a snapshot freezes, in the order they are written and archived.  Canonical rows
# are those in force (`warehouse.db.current`), enrolment only the snapshot year's; the run is
# the last finished nightly run, whose as-of date the reports print; findings and issues come
# with their life-cycle events; indicators of the periods up to the year.
SNAPSHOT_YEAR = "snapshot_year"
SNAPSHOT_SOURCES = (
    "run",
    "source_file",
    "roster_person",
    "roster_household",
    "village",
    "dibao",
    "enrolment",
    "identity_link",
    "finding",
    "finding_event",
    "dq_issue",
    "dq_issue_event",
    "indicator",
)


def _snapshot_table(source: Table) -> Table:
    """`snap_<source>`: the source's columns and types plus `snapshot_year`, keyed by
    (snapshot_year, the source's key); `snapshot_year` because enrolment has a `year` of its own.

    No foreign keys, checks or unique constraints: a snapshot is a record of what was, and
    must take any row its source held.
    """
    key = [c.name for c in source.primary_key.columns]
    columns = [Column(SNAPSHOT_YEAR, Integer(), nullable=False, autoincrement=False)]
    columns += [
        Column(c.name, c.type, nullable=c.name not in key, autoincrement=False)
        for c in source.columns
    ]
    return Table(
        f"snap_{source.name}",
        Base.metadata,
        *columns,
        PrimaryKeyConstraint(SNAPSHOT_YEAR, *key),
    )


SNAPSHOT_TABLES: dict[str, str] = {
    name: _snapshot_table(Base.metadata.tables[name]).name for name in SNAPSHOT_SOURCES
}


def table(name: str) -> Table:
    """The Table of `name`, or KeyError naming the tables there are."""
    try:
        return Base.metadata.tables[name]
    except KeyError:
        raise KeyError(
            f"no warehouse table {name!r}; known: {sorted(Base.metadata.tables)}"
        ) from None
