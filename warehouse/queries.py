"""Every read of the warehouse the flows make, by name: the rows in force, runs, what a report
and the alerts read, the annual snapshots.  `warehouse.db` re-exports these; callers write
`db.latest_finished_run(engine)` and never SQL of their own.

"In force" (`in_force_select`), "the latest finished run" (`latest_finished_run`),
"insured" (`insured_in`) and a roster person's identity (`with_identity`) are each defined
here once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from typing import Any

import polars as pl
from sqlalchemy import Select, Table, and_, func, inspect, or_, select, text, tuple_

from transforms import ids
from transforms.frames import INSURED
from warehouse import models, row_cache
from warehouse.bulk import Bind, connection, read_frame, table_schema
from warehouse.nested import is_nested

__all__ = [
    "CURRENT_KINDS",
    "FINISHED",
    "INSURED",
    "LARGE_KINDS",
    "current",
    "derived",
    "enrolment_in_force",
    "failed_runs_since",
    "finished_run_exists",
    "in_force_select",
    "insured_in",
    "latest_finished_run",
    "latest_finished_run_frame",
    "lifecycle_since",
    "read_snapshot",
    "roster_links",
    "roster_with_identity",
    "run_by_id",
    "snapshot_of",
    "snapshot_row_counts",
    "snapshots",
    "submissions_put_in_force",
    "utc",
    "with_identity",
]


def utc(moment: datetime) -> datetime:
    """SQLite hands timestamps back naive; they were written in UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def first_row(bind: Bind, stmt: Select[Any]) -> dict[str, Any] | None:
    """The first row of `stmt` as a dict, timestamps in UTC; None when there is none."""
    with connection(bind) as conn:
        row = conn.execute(stmt).mappings().first()
    if row is None:
        return None
    return {k: utc(v) if isinstance(v, datetime) else v for k, v in row.items()}


# --- data in force --------------------------------------------------------------------------

CURRENT_KINDS = ("roster", "village", "household", "dibao", "enrolment", "settlement")
LARGE_KINDS = ("enrolment", "settlement")  # the bureaus' city-wide extracts


def current(
    bind: Bind, kind: str, year: int | None = None, columns: Sequence[str] | None = None
) -> pl.DataFrame:
    """The canonical rows in force now, in the `transforms.frames` contract of `kind` (or
    only `columns` of it).

    roster, village, household: the newest accepted workbook of each township.
    dibao: the newest accepted roll.  enrolment: per 参保年度, the newest accepted file holding
    that year (rows without a year are in force nowhere; `year`: that year's rows only).
    settlement: every accepted file, the newest file winning per 结算编号 (rows without one
    are in force nowhere).  "Newest" is the file put in force last (`source_file.seq`:
    arrival order, or the office's release of a held submission).
    """
    return row_cache.through(
        bind,
        kind,
        year,
        columns,
        lambda conn: row_cache.token(conn, kind, year, columns),
        lambda: _current_from_sql(bind, kind, year, columns),
    )


def derived(
    bind: Bind,
    name: str,
    inputs: Sequence[tuple[str, int | None, Sequence[str] | None]],
    depends_on: Sequence[str],
    compute: Callable[[], pl.DataFrame],
) -> pl.DataFrame:
    """`compute()`, a frame that depends only on the rows in force `inputs` ((kind, year,
    columns) each, as `current` reads them) and the code `depends_on` names: kept in the
    row cache beside them and read back while none of them changed."""
    return row_cache.through(
        bind,
        name,
        None,
        None,
        lambda conn: row_cache.derived_token(conn, name, inputs, depends_on),
        compute,
    )


def enrolment_years(bind: Bind) -> list[int]:
    """The 参保年度 that have rows in force (each read with `current(..., year=)`)."""
    return [int(year) for year, _ in enrolment_in_force(bind)]


def _current_from_sql(
    bind: Bind, kind: str, year: int | None, columns: Sequence[str] | None
) -> pl.DataFrame:
    # On PostgreSQL the enrolment in force is found first, as values; SQLite keeps the
    # subquery, with which it reads the rows in primary-key order, unsorted (see below).
    pairs = None
    if kind == "enrolment" and _dialect(bind) == "postgresql":
        pairs = enrolment_in_force(bind)
    stmt, rows, order = in_force_select(kind, pairs)
    if year is not None:
        if kind != "enrolment":
            raise ValueError(f"only enrolment is in force per year, not {kind!r}")
        stmt = stmt.where(rows.c.year == year)
    schema = table_schema(rows.name)
    if columns is not None:
        stmt = stmt.with_only_columns(*(rows.c[c] for c in columns))
        schema = {c: schema[c] for c in columns}
    return read_frame(bind, stmt.order_by(*order), schema=schema, large=kind in LARGE_KINDS)


def enrolment_in_force(bind: Bind) -> list[tuple[int, int]]:
    """(year, file_id) of the enrolment in force, by year: per 参保年度, the newest accepted
    file that holds rows of it (what `in_force_select("enrolment")` selects, as values)."""
    rows, files = models.table(models.CANONICAL_TABLES["enrolment"]), models.table("source_file")
    with connection(bind) as conn:
        if conn.dialect.name == "postgresql":
            # A loose index scan of (year, file_id): one index descent per pair, where a
            # DISTINCT reads every row (2 ms against 600 ms for a city's 3.8M rows).
            pairs = conn.execute(text(_PAIRS.format(table=rows.name))).all()
        else:  # SQLite reads the covering index whole, fast enough for one county
            pairs = conn.execute(
                select(rows.c.year, rows.c.file_id).distinct().where(rows.c.year.is_not(None))
            ).all()
        seq = dict(
            conn.execute(select(files.c.id, files.c.seq).where(files.c.status == "accepted")).all()
        )
    newest: dict[int, int] = {}
    for year, file_id in pairs:
        if file_id in seq and (year not in newest or seq[file_id] > seq[newest[year]]):
            newest[year] = file_id
    return sorted(newest.items())


_PAIRS = """
WITH RECURSIVE pairs AS (
  (SELECT year, file_id FROM {table} WHERE year IS NOT NULL ORDER BY year, file_id LIMIT 1)
  UNION ALL
  SELECT later.year, later.file_id FROM pairs CROSS JOIN LATERAL (
    SELECT r.year, r.file_id FROM {table} r
    WHERE (r.year, r.file_id) > (pairs.year, pairs.file_id)
    ORDER BY r.year, r.file_id LIMIT 1) later
)
SELECT year, file_id FROM pairs"""


def _dialect(bind: Bind) -> str:
    return str(bind.dialect.name)


def in_force_select(
    kind: str, enrolment: Sequence[tuple[int, int]] | None = None
) -> tuple[Select[Any], Table, list[Any]]:
    """The SELECT of `kind`'s rows in force (see `current`), its table and its row order.

    `enrolment`: the (year, file_id) pairs in force (`enrolment_in_force`), given as values
    instead of found by a subquery.  PostgreSQL then reads a city's extract by its index, and
    plans an EXISTS against it as probes, not by hashing every row (the issues in force:
    2.6 s to 0.01 s)."""
    if kind not in CURRENT_KINDS:
        raise ValueError(f"unknown kind {kind!r}; one of {CURRENT_KINDS}")
    files = models.table("source_file")
    accepted = files.c.status == "accepted"
    if kind == "household":
        rows = models.table("roster_household")
        order = [rows.c.file_id, rows.c.first_row_no]
    else:
        rows = models.table(models.CANONICAL_TABLES[kind])
        order = [rows.c.file_id, rows.c.sheet, rows.c.row_no]
    if kind in ("roster", "village", "household", "dibao"):
        source = "dibao" if kind == "dibao" else "townships"
        newest = select(func.max(files.c.seq)).where(accepted, files.c.source == source)
        if source == "townships":
            newest = newest.group_by(files.c.township_code)
        in_force = select(files.c.id).where(accepted, files.c.seq.in_(newest.scalar_subquery()))
        stmt = select(rows).where(rows.c.file_id.in_(in_force.scalar_subquery()))
    elif kind == "enrolment" and enrolment is not None:
        stmt = select(rows).where(tuple_(rows.c.year, rows.c.file_id).in_(list(enrolment)))
    elif kind == "enrolment":
        years = select(rows.c.year, rows.c.file_id).distinct().subquery()
        holding = (
            select(years.c.year, years.c.file_id, files.c.seq)
            .join(files, files.c.id == years.c.file_id)
            .where(accepted)
            .subquery()
        )
        newest = select(holding.c.year, func.max(holding.c.seq)).group_by(holding.c.year)
        winners = select(holding.c.year, holding.c.file_id).where(
            tuple_(holding.c.year, holding.c.seq).in_(newest)
        )
        # A row-value IN, not a join: SQLite then reads the rows in primary-key order, which
        # is `order`, instead of sorting 1.26M rows (CREATE TABLE AS 2.1 s against 4.0 s).
        stmt = select(rows).where(tuple_(rows.c.year, rows.c.file_id).in_(winners))
    else:
        ranked = (
            select(rows.c.settlement_id, rows.c.file_id, files.c.seq)
            .join(files, files.c.id == rows.c.file_id)
            .where(accepted, rows.c.settlement_id.is_not(None))
            .subquery()
        )
        best = (
            select(ranked.c.settlement_id, func.max(ranked.c.seq).label("seq"))
            .group_by(ranked.c.settlement_id)
            .subquery()
        )
        latest = (
            select(best.c.settlement_id, files.c.id.label("file_id"))
            .join(files, files.c.seq == best.c.seq)
            .subquery()
        )
        stmt = select(rows).join(
            latest,
            and_(
                rows.c.settlement_id == latest.c.settlement_id,
                rows.c.file_id == latest.c.file_id,
            ),
        )
    return stmt, rows, order


# --- runs -----------------------------------------------------------------------------------

FINISHED = ("succeeded", "needs_attention")  # a run whose results stand


def _runs(snapshot_year: int | None) -> tuple[Select[Any], Table]:
    """SELECT of the `run` rows: live, or as frozen with `snapshot_year`."""
    if snapshot_year is None:
        run = models.table("run")
        return select(run), run
    return _snapshot_select("run", snapshot_year)


def latest_finished_run_frame(
    bind: Bind, flow: str = "nightly", *, snapshot_year: int | None = None
) -> pl.DataFrame:
    """The latest finished run of `flow` (zero or one row, the `run` table's columns): what a
    report's 数据截至 and a snapshot's year-end stand on."""
    stmt, run = _runs(snapshot_year)
    stmt = stmt.where(run.c.flow == flow, run.c.status.in_(FINISHED))
    stmt = stmt.order_by(None).order_by(run.c.id.desc()).limit(1)
    return read_frame(bind, stmt, schema=table_schema("run"))


def latest_finished_run(
    bind: Bind, flow: str = "nightly", *, snapshot_year: int | None = None
) -> dict[str, Any] | None:
    """`latest_finished_run_frame` as a dict of the run's columns, or None."""
    frame = latest_finished_run_frame(bind, flow, snapshot_year=snapshot_year)
    return frame.row(0, named=True) if frame.height else None


def run_by_id(bind: Bind, run_id: int, flow: str = "nightly") -> dict[str, Any] | None:
    """Run `run_id` of `flow`, finished or not, or None."""
    run = models.table("run")
    stmt = select(run).where(run.c.id == run_id, run.c.flow == flow)
    frame = read_frame(bind, stmt, schema=table_schema("run"))
    return frame.row(0, named=True) if frame.height else None


def finished_run_exists(bind: Bind, flow: str = "nightly") -> bool:
    """Whether `flow` has finished once; creates nothing (False for a warehouse without the
    `run` table yet)."""
    run = models.table("run")
    with connection(bind) as conn:
        if not inspect(conn).has_table(run.name):
            return False
        stmt = select(run.c.id).where(run.c.flow == flow, run.c.status.in_(FINISHED)).limit(1)
        return conn.execute(stmt).first() is not None


def failed_runs_since(bind: Bind, started: datetime) -> list[int]:
    """Ids of the runs recorded as failed that started at or after `started`."""
    run = models.table("run")
    stmt = select(run.c.id).where(run.c.status == "failed", run.c.started_at >= started)
    with connection(bind) as conn:
        return [int(i) for i in conn.execute(stmt.order_by(run.c.id)).scalars()]


# --- submissions -------------------------------------------------------------------------


def submissions_put_in_force(bind: Bind, source: str, township_code: str | None) -> pl.DataFrame:
    """The `source_file` rows of `source` (of `township_code`) that were put in force at some
    time, the one in force now last (`seq` order): held, duplicate and refused files were
    never submissions of the register."""
    files = models.table("source_file")
    township = (
        files.c.township_code.is_(None)
        if township_code is None
        else files.c.township_code == township_code
    )
    stmt = select(files).where(
        files.c.source == source,
        township,
        files.c.status.in_(("accepted", "superseded")),
        files.c.seq.is_not(None),
    )
    return read_frame(bind, stmt.order_by(files.c.seq), schema=table_schema("source_file"))


# --- what reports and alerts read -------------------------------------------------------------

LINK_SCHEMA: dict[str, pl.DataType] = {
    "file_id": pl.Int64(),
    "sheet": pl.Utf8(),
    "row_no": pl.Int64(),
    "identity": pl.Utf8(),
}


def roster_links(bind: Bind, *, snapshot_year: int | None = None) -> pl.DataFrame:
    """The identity links of roster rows (file_id, sheet, row_no, identity) the latest
    reconciliation resolved: live, or as frozen with `snapshot_year`."""
    if snapshot_year is None:
        link = models.table("identity_link")
        stmt = select(*(link.c[c] for c in LINK_SCHEMA)).where(link.c.source == "roster")
        return read_frame(bind, stmt, schema=LINK_SCHEMA)
    stmt, link = _snapshot_select("identity_link", snapshot_year)
    stmt = stmt.where(link.c.source == "roster")
    frame = read_frame(bind, stmt, schema=table_schema("identity_link"))
    return frame.select(list(LINK_SCHEMA))


def with_identity(persons: pl.DataFrame, links: pl.DataFrame) -> pl.DataFrame:
    """Roster persons with `identity`: the linked one, else their own valid ID."""
    valid = pl.when(pl.col("id_status").is_in([ids.VALID, ids.LEGACY15])).then(pl.col("id_norm"))
    if links.height == 0:
        return persons.with_columns(identity=valid)
    return persons.join(links, on=["file_id", "sheet", "row_no"], how="left").with_columns(
        identity=pl.coalesce(pl.col("identity"), valid)
    )


def roster_with_identity(bind: Bind, *, snapshot_year: int | None = None) -> pl.DataFrame:
    """Roster persons in force with the identity the latest reconciliation resolved (or as
    frozen with `snapshot_year`)."""
    if snapshot_year is None:
        persons = current(bind, "roster")
    else:
        persons = read_snapshot(bind, "roster_person", snapshot_year)
    return with_identity(persons, roster_links(bind, snapshot_year=snapshot_year))


def insured_in(bind: Bind, year: int, *, snapshot_year: int | None = None) -> pl.DataFrame:
    """The enrolment rows in force that insure someone in `year` (id_norm, id_status, year,
    enrol_status: only what the indicator reads; every column of three insurance years costs
    ~9 s on SQLite), or those frozen with `snapshot_year`."""
    columns = ["id_norm", "id_status", "year", "enrol_status"]
    if snapshot_year is None:
        rows = current(
            bind, "enrolment", year=year, columns=["id_norm", "id_status", "enrol_status"]
        )
        return rows.filter(pl.col("enrol_status") == INSURED).select(
            "id_norm", "id_status", year=pl.lit(year, pl.Int64), enrol_status=pl.lit(INSURED)
        )
    stmt, rows_t = _snapshot_select("enrolment", snapshot_year, columns)
    stmt = stmt.where(rows_t.c.year == year, rows_t.c.enrol_status == INSURED)
    schema = table_schema("enrolment")
    return read_frame(bind, stmt, schema={c: schema[c] for c in columns})


def lifecycle_since(bind: Bind, table: str, since: date) -> pl.DataFrame:
    """Rows of a life-cycle table (finding, dq_issue) open now or resolved on or after
    `since`."""
    t = models.table(table)
    return read_frame(bind, select(t).where(or_(t.c.status == "open", t.c.resolved_on >= since)))


# --- annual snapshots -----------------------------------------------------------------------


def snapshot_of(bind: Bind, year: int) -> dict[str, Any] | None:
    """The `snapshot` row of `year`, or None when the year has not been frozen."""
    snap = models.table("snapshot")
    return first_row(bind, select(snap).where(snap.c.year == year))


def snapshots(bind: Bind) -> pl.DataFrame:
    """Every recorded snapshot, by year."""
    snap = models.table("snapshot")
    return read_frame(bind, select(snap).order_by(snap.c.year))


def _snapshot_select(
    source: str, year: int, columns: Sequence[str] | None = None
) -> tuple[Select[Any], Table]:
    """SELECT of `source`'s rows frozen for `year` (its columns, or `columns`), in key order,
    and the snapshot table."""
    target = models.table(models.SNAPSHOT_TABLES[source])
    names = columns if columns is not None else [c.name for c in models.table(source).columns]
    key = [c for c in target.primary_key.columns if c.name != models.SNAPSHOT_YEAR]
    stmt = select(*(target.c[c] for c in names)).where(target.c[models.SNAPSHOT_YEAR] == year)
    return stmt.order_by(*key), target


def read_snapshot(bind: Bind, source: str, year: int, *, stored: bool = False) -> pl.DataFrame:
    """The rows of `source` frozen for `year`, in the source table's columns and types, in
    key order.  `stored`: nested columns (evidence) as the text the table holds, not decoded,
    so an archive rebuilt from them is the archive frozen, whatever the reader of the day."""
    stmt, _ = _snapshot_select(source, year)
    schema = table_schema(source)
    if stored:
        schema = {k: pl.String() if is_nested(t) else t for k, t in schema.items()}
    return read_frame(bind, stmt, schema=schema)


def snapshot_row_counts(bind: Bind, year: int) -> dict[str, int]:
    """Rows frozen for `year`, per source table."""
    counts: dict[str, int] = {}
    with connection(bind) as conn:
        for source, name in models.SNAPSHOT_TABLES.items():
            t = models.table(name)
            stmt = select(func.count()).select_from(t).where(t.c[models.SNAPSHOT_YEAR] == year)
            counts[source] = int(conn.execute(stmt).scalar_one())
    return counts
