"""The warehouse API the flows call: engines, migrations, runs, files, and the data in force.

Frames go in and out through `warehouse.bulk`; finding and issue life cycles live in
`warehouse.lifecycle`.  Everything here is re-exported from this module so flows need one
import: `from warehouse import db`.
"""

from __future__ import annotations

import io
import json
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import cache
from pathlib import Path
from typing import Any

import polars as pl
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import (
    Connection,
    CursorResult,
    Engine,
    Table,
    and_,
    create_engine,
    delete,
    event,
    exists,
    func,
    insert,
    inspect,
    literal,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.engine import make_url

from config.private import private_database
from config.schema import READ_ISSUE_KINDS
from transforms.intake import FOLDER_KINDS
from warehouse import models, row_cache
from warehouse.bulk import (
    WRITE_INTENT,
    Bind,
    connection,
    delete_rows,
    read_frame,
    replace_rows,
    table_schema,
    transaction,
    write_frame,
)
from warehouse.lifecycle import upsert_lifecycle
from warehouse.queries import (
    CURRENT_KINDS,
    FINISHED,
    INSURED,
    LARGE_KINDS,
    current,
    failed_runs_since,
    finished_run_exists,
    first_row,
    in_force_select,
    insured_in,
    latest_finished_run,
    latest_finished_run_frame,
    lifecycle_since,
    read_snapshot,
    roster_links,
    roster_with_identity,
    run_by_id,
    snapshot_of,
    snapshot_row_counts,
    snapshots,
    submissions_put_in_force,
    with_identity,
)

__all__ = [
    "CURRENT_KINDS",
    "FINISHED",
    "INSURED",
    "LARGE_KINDS",
    "Bind",
    "abandon_dead_runs",
    "alembic_config",
    "canonical_of",
    "connect",
    "consistent_read",
    "current",
    "delete_rows",
    "failed_runs_since",
    "file_by_sha",
    "files_to_validate",
    "finished_run_exists",
    "in_force_select",
    "insured_in",
    "latest_finished_run",
    "latest_finished_run_frame",
    "lifecycle_since",
    "finish_run",
    "freeze_snapshot",
    "issues_in_force",
    "read_frame",
    "read_snapshot",
    "read_staged",
    "record_file",
    "record_file_issues",
    "record_read_issues",
    "record_snapshot",
    "roster_links",
    "roster_with_identity",
    "run_by_id",
    "replace_rows",
    "run_lock",
    "set_file_status",
    "snapshot_of",
    "snapshot_row_counts",
    "snapshots",
    "staged_document",
    "submissions_put_in_force",
    "start_run",
    "put_in_force",
    "in_force_file",
    "same_data_file",
    "record_file_event",
    "release_held",
    "table_schema",
    "transaction",
    "upgrade",
    "upsert_lifecycle",
    "with_identity",
    "write_frame",
    "write_staged",
]

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 30_000

# --- engines and migrations -----------------------------------------------------------------


def connect(url: str, *, cache_dir: Path | None = None, **engine_options: Any) -> Engine:
    """An engine for a SQLite file or a PostgreSQL database (psycopg 3); with `cache_dir`,
    `current` keeps Parquet copies of the rows in force there (`warehouse.row_cache`).

    SQLite: WAL journal, foreign keys on, a busy timeout, and SQLAlchemy issuing BEGIN itself
    so that DDL and reads are transactional too.  PostgreSQL: session time zone UTC.
    """
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "postgresql":
        if parsed.drivername in ("postgresql", "postgres"):
            parsed = parsed.set(drivername="postgresql+psycopg")
        elif parsed.drivername != "postgresql+psycopg":
            raise ValueError(f"PostgreSQL is used through psycopg 3, not {parsed.drivername}")
        engine = create_engine(
            parsed,
            pool_pre_ping=True,
            connect_args={"options": "-c timezone=UTC", "application_name": "fupin"},
            **engine_options,
        )
        return row_cache.attach(engine, cache_dir) if cache_dir else engine
    if backend == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            private_database(Path(parsed.database))  # 0600, and so its -wal/-shm
        engine = create_engine(parsed, **engine_options)
        event.listen(engine, "connect", _sqlite_on_connect)
        event.listen(engine, "begin", _sqlite_on_begin)
        return row_cache.attach(engine, cache_dir) if cache_dir else engine
    raise ValueError(f"unsupported database {backend!r}: use sqlite:///FILE or postgresql://…")


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # SQLAlchemy emits BEGIN (see _sqlite_on_begin)
    cur = dbapi_connection.cursor()
    for pragma in (
        "journal_mode=WAL",
        "synchronous=NORMAL",
        "foreign_keys=ON",
        f"busy_timeout={SQLITE_BUSY_TIMEOUT_MS}",
        "cache_size=-65536",
    ):
        cur.execute(f"PRAGMA {pragma}")
    cur.close()


def _sqlite_on_begin(conn: Connection) -> None:
    write = conn.info.pop(WRITE_INTENT, False)  # bulk.transaction: take the write lock now
    conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def alembic_config() -> Config:
    """Alembic configuration pointing at this package's migrations, whatever the cwd."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS).replace("%", "%%"))
    return cfg


@contextmanager
def migration_transaction(engine: Engine) -> Iterator[Connection]:
    """The transaction migrations run in.  SQLite changes a table's constraints by rebuilding
    it (Alembic's batch mode), which foreign keys referring to the table would refuse: they
    are switched off around the transaction (SQLite ignores the switch inside one) and every
    reference is checked before it commits."""
    with engine.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        driver: Any = conn.connection.driver_connection
        if sqlite:
            driver.execute("PRAGMA foreign_keys=OFF")
        try:
            with conn.begin():
                yield conn
                if sqlite:
                    broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                    if broken:
                        raise RuntimeError(
                            f"migration left {len(broken)} row(s) referring to nothing, "
                            f"e.g. {broken[:3]}"
                        )
        finally:
            if sqlite:
                driver.execute("PRAGMA foreign_keys=ON")


@cache
def head_revision() -> str:
    """The newest migration of this package."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def revision_of(engine: Engine) -> str | None:
    """The migration the database is at (None for a database Alembic has never touched)."""
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        return conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()


def upgrade(url_or_engine: str | Engine, revision: str = "head") -> None:
    """Bring the database to `revision` (alembic upgrade head), programmatically.  A database
    already at the head is left untouched: every run calls this, and the migration
    transaction's whole-database foreign-key check costs seconds on a city's warehouse."""
    engine = connect(url_or_engine) if isinstance(url_or_engine, str) else url_or_engine
    try:
        if revision == "head" and revision_of(engine) == head_revision():
            return
        with migration_transaction(engine) as conn:
            cfg = alembic_config()
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
    finally:
        if isinstance(url_or_engine, str):
            engine.dispose()


# --- runs -----------------------------------------------------------------------------------


def _now() -> datetime:
    return datetime.now(UTC)


def _json(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str, sort_keys=True)


def _new_id(result: CursorResult[Any]) -> int:
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


# Runs this process started and has not finished, per warehouse (`_lock_key`): alive whatever
# the run lock says, since the threads of a process share its lock.
_live_runs: set[tuple[str, int]] = set()


def _engine_of(bind: Bind) -> Engine:
    return bind if isinstance(bind, Engine) else bind.engine


def _lock_key(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=True)


def start_run(bind: Bind, flow: str, as_of: date, params: dict[str, Any] | None = None) -> int:
    """Record a run as `running`; then mark `abandoned` the nightly runs a killed process
    left `running` (`abandon_dead_runs`)."""
    run = models.table("run")
    with transaction(bind) as conn:
        result = conn.execute(
            insert(run).values(
                flow=flow, as_of=as_of, started_at=_now(), status="running", params=_json(params)
            )
        )
        run_id = _new_id(result)
    key = _lock_key(_engine_of(bind))
    with _held_guard:
        _live_runs.add((key, run_id))
    abandon_dead_runs(bind, found_by=run_id)
    return run_id


def finish_run(bind: Bind, run_id: int, status: str, stats: dict[str, Any] | None = None) -> None:
    run = models.table("run")
    with transaction(bind) as conn:
        conn.execute(
            update(run)
            .where(run.c.id == run_id)
            .values(finished_at=_now(), status=status, stats=_json(stats))
        )
    if status != "running":
        with _held_guard:
            _live_runs.discard((_lock_key(_engine_of(bind)), run_id))


def abandon_dead_runs(bind: Bind, found_by: int | None = None) -> list[int]:
    """Mark `abandoned` the nightly runs still `running` whose process is gone (killed, or
    its machine restarted); returns their ids.

    A nightly run holds the run lock exclusively from its start to its end (`flows.nightly`),
    and a process that dies releases it (`run_lock`).  So when no process holds the lock
    exclusively, no nightly run is alive elsewhere: this is known when this process holds the
    lock itself (a nightly run records itself under its own exclusive lock), or when the lock
    can be taken shared right now.  Report and snapshot builds hold it shared and do not stand
    in the way; a nightly run holding it elsewhere does, and then nothing is marked.  The
    update is made while the lock is held, so no nightly run can start in between.  A run this
    process started and has not finished is never marked.

    Runs of other flows are left alone: a snapshot run releases the lock before it writes its
    archive and `fupin alerts` takes none, so the lock says nothing about whether they live.
    Works the same on PostgreSQL (advisory lock) and SQLite (`flock`); an in-memory database
    belongs to one process, whose live runs are known.
    """
    engine = _engine_of(bind)
    key = _lock_key(engine)
    with _held_guard:
        ours = key in _held
        live = [run_id for k, run_id in _live_runs if k == key]
    release = (lambda: None) if ours else _try_shared(engine)
    if release is None:
        return []
    try:
        run = models.table("run")
        dead = and_(run.c.flow == "nightly", run.c.status == "running", run.c.id.not_in(live))
        stats: dict[str, Any] = {"abandoned": "a killed process left it running"}
        if found_by is not None:
            stats["found_by_run"] = found_by
        with transaction(bind) as conn:
            ids = [int(i) for i in conn.execute(select(run.c.id).where(dead)).scalars()]
            if ids:
                conn.execute(
                    update(run)
                    .where(run.c.id.in_(ids), run.c.status == "running")
                    .values(status="abandoned", finished_at=_now(), stats=_json(stats))
                )
        return ids
    finally:
        release()


# --- files ----------------------------------------------------------------------------------


def file_by_sha(bind: Bind, sha256: str) -> dict[str, Any] | None:
    files = models.table("source_file")
    return first_row(bind, select(files).where(files.c.sha256 == sha256))


def record_file(bind: Bind, **cols: Any) -> int:
    """Insert a source_file row (received_at defaults to now); returns its id."""
    files = models.table("source_file")
    _check_columns(files.name, cols)
    cols.setdefault("received_at", _now())
    cols["sheets"] = _json(cols.get("sheets"))
    with transaction(bind) as conn:
        return _new_id(conn.execute(insert(files).values(**cols)))


def set_file_status(
    bind: Bind, file_id: int, status: str, reason: str | None = None, **cols: Any
) -> None:
    """Set a file's status and reason (None clears an earlier reason) and any other columns."""
    files = models.table("source_file")
    _check_columns(files.name, cols)
    if "sheets" in cols:
        cols["sheets"] = _json(cols["sheets"])
    with transaction(bind) as conn:
        conn.execute(
            update(files).where(files.c.id == file_id).values(status=status, reason=reason, **cols)
        )


# Sources whose newest submission replaces the whole of the earlier ones (a township's
# roster, the 低保 roll); enrolment (per year) and settlements (per 结算编号) are only partly
# replaced and their files stay accepted, `current` picking their rows.
REPLACING = ("townships", "dibao")


def _scope(files: Table, source: str, township_code: str | None) -> list[Any]:
    """The files a submission of `source` competes with: a roster with its township's."""
    where = [files.c.source == source]
    if source == "townships":
        where.append(files.c.township_code == township_code)
    return where


def in_force_file(bind: Bind, source: str, township_code: str | None) -> dict[str, Any] | None:
    """The accepted file in force of a replacing source (a township's roster, the 低保 roll):
    the one put in force last (highest `seq`); None if there is none."""
    files = models.table("source_file")
    with connection(bind) as conn:
        row = (
            conn.execute(
                select(files)
                .where(*_scope(files, source, township_code), files.c.status == "accepted")
                .order_by(files.c.seq.desc())
                .limit(1)
            )
            .mappings()
            .first()
        )
    return None if row is None else dict(row)


def same_data_file(
    bind: Bind, source: str, township_code: str | None, digest: str
) -> dict[str, Any] | None:
    """The accepted file whose data a new submission repeats (same `data_digest`).  For a
    replacing source only the file in force counts (the same data as an older version is a
    change back, not a repeat); an enrolment or settlement extract repeating any accepted one
    changes nothing (an old extract sent again must not override the newer rows in force)."""
    if source in REPLACING:
        found = in_force_file(bind, source, township_code)
        return found if found is not None and found["data_digest"] == digest else None
    files = models.table("source_file")
    with connection(bind) as conn:
        row = (
            conn.execute(
                select(files)
                .where(
                    files.c.source == source,
                    files.c.status == "accepted",
                    files.c.data_digest == digest,
                )
                .order_by(files.c.seq.desc())
                .limit(1)
            )
            .mappings()
            .first()
        )
    return None if row is None else dict(row)


def put_in_force(bind: Bind, file_id: int) -> list[int]:
    """Make `file_id` the newest submission of its source (status accepted, the next `seq`)
    and mark the accepted files it replaces superseded; returns their ids."""
    files = models.table("source_file")
    with transaction(bind) as conn:
        new = conn.execute(select(files).where(files.c.id == file_id)).mappings().one()
        seq = conn.execute(select(func.coalesce(func.max(files.c.seq), 0))).scalar_one() + 1
        conn.execute(update(files).where(files.c.id == file_id).values(status="accepted", seq=seq))
        if new["source"] not in REPLACING:
            return []
        older = and_(
            *_scope(files, new["source"], new["township_code"]),
            files.c.status == "accepted",
            files.c.id != file_id,
        )
        ids = list(conn.execute(select(files.c.id).where(older).order_by(files.c.id)).scalars())
        if ids:
            conn.execute(
                update(files)
                .where(files.c.id.in_(ids))
                .values(status="superseded", reason=f"已被更新的报送替代（文件 #{file_id}）")
            )
    return ids


def record_file_event(
    bind: Bind, file_id: int, event: str, detail: str | None, run_id: int | None = None
) -> None:
    """Note what happened to a submission (held for the office, released by it)."""
    events = models.table("source_file_event")
    with transaction(bind) as conn:
        conn.execute(
            insert(events).values(
                file_id=file_id, run_id=run_id, at=_now(), event=event, detail=detail
            )
        )


def release_held(bind: Bind, file_id: int, detail: str) -> list[int]:
    """The office's decision: a held submission goes in force (replacing what is in force
    now), and the release is recorded; returns the ids it supersedes.  Its rows are
    validated by the next run (`files_to_validate`)."""
    files = models.table("source_file")
    with transaction(bind) as conn:
        status = conn.execute(select(files.c.status).where(files.c.id == file_id)).scalar()
        if status != "held":
            raise ValueError(f"file #{file_id} is {status or 'unknown'}, not held")
        conn.execute(
            update(files).where(files.c.id == file_id).values(reason=None, validated_with=None)
        )
        replaced = put_in_force(conn, file_id)
        record_file_event(conn, file_id, "released", detail)
    return replaced


def _check_columns(table: str, cols: dict[str, Any]) -> None:
    unknown = [c for c in cols if c not in models.table(table).c]
    if unknown:
        raise ValueError(f"{table}: no column(s) {unknown}")


# --- staged rows and per-file validation results ---------------------------------------------


def staged_document(frame: pl.DataFrame) -> bytes:
    """A staged frame as the Parquet document `write_staged` keeps (pure: callers may encode
    while the warehouse is busy writing something else)."""
    buffer = io.BytesIO()
    frame.write_parquet(buffer, compression="zstd", compression_level=1)
    return buffer.getvalue()


class StagedDocument:
    """`staged_document` of a frame given a batch at a time (a streamed extract): one
    Parquet row group per batch; it reads back as the batches concatenated."""

    def __init__(self) -> None:
        self._buffer = io.BytesIO()
        self._writer: Any = None

    def write(self, batch: pl.DataFrame) -> None:
        import pyarrow.parquet as pq

        table = batch.to_arrow()
        if self._writer is None:
            self._writer = pq.ParquetWriter(
                self._buffer, table.schema, compression="zstd", compression_level=1
            )
        else:
            table = table.cast(self._writer.schema)
        self._writer.write_table(table)

    def getvalue(self, schema: Mapping[str, pl.DataType]) -> bytes:
        """The document (`schema`: the frame's, for a stream that brought no batch)."""
        if self._writer is None:
            return staged_document(pl.DataFrame(schema=dict(schema)))
        self._writer.close()
        return self._buffer.getvalue()


def write_staged(bind: Bind, file_id: int, kind: str, frame: pl.DataFrame | bytes) -> None:
    """Keep a file's staged frame (every cell as read) as one Parquet document (`frame`, or
    `staged_document(frame)`)."""
    document = frame if isinstance(frame, bytes) else staged_document(frame)
    staged = models.table("staged_rows")
    with transaction(bind) as conn:
        where = (staged.c.file_id == file_id, staged.c.kind == kind)
        conn.execute(delete(staged).where(*where))
        conn.execute(
            insert(staged).values(
                file_id=file_id, kind=kind, rows=_parquet_rows(document), parquet=document
            )
        )


def _parquet_rows(document: bytes) -> int:
    import pyarrow.parquet as pq

    return int(pq.ParquetFile(io.BytesIO(document)).metadata.num_rows)


def read_staged(bind: Bind, file_id: int, kind: str) -> pl.DataFrame | None:
    """A file's staged frame as `write_staged` kept it; None if it has none of `kind`."""
    staged = models.table("staged_rows")
    with connection(bind) as conn:
        data = conn.execute(
            select(staged.c.parquet).where(staged.c.file_id == file_id, staged.c.kind == kind)
        ).scalar()
    return None if data is None else pl.read_parquet(io.BytesIO(data))


def record_file_issues(
    bind: Bind, file_ids: Sequence[int], issues: pl.DataFrame, fingerprint: str
) -> int:
    """Replace what validation found in `file_ids` with `issues` (contract ISSUE, rows of
    those files only) and mark the files validated with `fingerprint`; returns the count.
    What was found while reading the files (`READ_ISSUE_KINDS`) stays.  A problem found on
    several rows of a file (a row typed twice) is one issue, seen on its first row."""
    table = models.table("file_issue")
    files = models.table("source_file")
    ids = sorted(set(file_ids))
    unknown = set(issues["file_id"].unique().to_list()) - set(ids) if issues.height else set()
    if unknown:
        raise ValueError(f"issues of files {sorted(unknown)} not among {ids}")
    if issues.height and issues["kind"].is_in(READ_ISSUE_KINDS).any():
        raise ValueError(f"validation cannot report {READ_ISSUE_KINDS}: they are found reading")
    with transaction(bind) as conn:
        conn.execute(
            delete(table).where(table.c.file_id.in_(ids), table.c.kind.not_in(READ_ISSUE_KINDS))
        )
        if issues.height:
            write_frame(conn, "file_issue", issues.unique(["file_id", "key"], maintain_order=True))
        conn.execute(update(files).where(files.c.id.in_(ids)).values(validated_with=fingerprint))
    return issues.height


def record_read_issues(bind: Bind, file_id: int, issues: pl.DataFrame) -> int:
    """Keep what was found while reading a file (rows of another township, hidden sheets:
    `READ_ISSUE_KINDS`); in force while the file is."""
    if issues.height and not issues["kind"].is_in(READ_ISSUE_KINDS).all():
        raise ValueError(f"only {READ_ISSUE_KINDS} are found while reading")
    rows = issues.with_columns(file_id=pl.lit(file_id, pl.Int64)).unique("key", maintain_order=True)
    with transaction(bind) as conn:
        if rows.height:
            write_frame(conn, "file_issue", rows)
    return rows.height


def files_to_validate(bind: Bind, fingerprint: str) -> dict[str, list[int]]:
    """Accepted files not validated with `fingerprint` (new suites, or a run that stopped
    between loading and validating), as {kind: [file_id, ...]}."""
    files = models.table("source_file")
    with connection(bind) as conn:
        stale = conn.execute(
            select(files.c.id, files.c.source)
            .where(
                files.c.status == "accepted",
                or_(files.c.validated_with.is_(None), files.c.validated_with != fingerprint),
            )
            .order_by(files.c.id)
        ).all()
    out: dict[str, list[int]] = {}
    for file_id, source in stale:
        for kind in FOLDER_KINDS[source]:
            out.setdefault(kind, []).append(file_id)
    return out


def canonical_of(bind: Bind, kind: str, file_ids: Sequence[int]) -> pl.DataFrame:
    """The canonical rows of `kind` that `file_ids` contributed, in file and row order."""
    rows = models.table(models.CANONICAL_TABLES[kind])
    stmt = (
        select(rows)
        .where(rows.c.file_id.in_(list(file_ids)))
        .order_by(rows.c.file_id, rows.c.sheet, rows.c.row_no)
    )
    return read_frame(bind, stmt, schema=table_schema(rows.name))


def refresh_statistics(bind: Bind, tables: Sequence[str]) -> None:
    """PostgreSQL: ANALYZE `tables` after a bulk load, so that the next queries are planned
    on what they now hold.  Autovacuum gets there minutes later: at city scale the nightly's
    `issues_in_force`, planned on a roster_person the planner believed empty, ran for over
    12 minutes instead of seconds.  SQLite: nothing to do."""
    names = [models.table(name).name for name in tables]  # KeyError for anything else
    with connection(bind) as conn:
        if conn.dialect.name != "postgresql":
            return
        quote = conn.dialect.identifier_preparer.quote
        for name in names:
            conn.execute(text(f"ANALYZE {quote(name)}"))
        if isinstance(bind, Engine):
            conn.commit()


def issues_in_force(bind: Bind) -> pl.DataFrame:
    """The data-quality issues whose row is in force now (see `current`), and what was found
    reading the files in force; one row per key (the same problem in two files in force is
    one problem, seen last in the newer file)."""
    found = models.table("file_issue")
    suite = found.c.kind.not_in(READ_ISSUE_KINDS)
    parts = []
    for kind in models.CANONICAL_TABLES:
        stmt, rows, _ = in_force_select(kind)
        same_row = stmt.with_only_columns(literal(1)).where(
            rows.c.file_id == found.c.file_id,
            rows.c.sheet == func.coalesce(found.c.sheet, ""),  # an issue has no sheet for CSV
            rows.c.row_no == found.c.row_no,
        )
        parts.append(select(found).where(found.c.source == kind, suite, exists(same_row)))
        same_file = stmt.with_only_columns(literal(1)).where(rows.c.file_id == found.c.file_id)
        parts.append(select(found).where(found.c.source == kind, ~suite, exists(same_file)))
    union = parts[0].union_all(*parts[1:]).subquery()
    frame = read_frame(
        bind,
        select(union).order_by(union.c.key, union.c.file_id.desc()),
        schema=table_schema("file_issue"),
    )
    return frame.unique("key", keep="first", maintain_order=True)


# --- consistent reads and the run lock ------------------------------------------------------


@contextmanager
def consistent_read(engine: Engine) -> Iterator[Connection]:
    """A connection whose reads all see one committed state of the warehouse.

    PostgreSQL: a REPEATABLE READ transaction.  SQLite (WAL): one deferred transaction, whose
    first read fixes the state every later read sees.  Each nightly step commits a table at a
    time, so no read ever sees a table half-written; `run_lock` keeps whole runs apart.
    """
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            yield conn


# A number of our own for PostgreSQL advisory locks ("fupin" in ASCII).
RUN_LOCK_KEY = 0x667570696E
RUN_LOCK_POLL_SECONDS = 2.0


@dataclass
class _HeldLock:
    exclusive: bool
    depth: int
    release: Callable[[], None]


_held: dict[str, _HeldLock] = {}
_gates: dict[str, threading.Lock] = {}
_held_guard = threading.Lock()


@contextmanager
def run_lock(
    engine: Engine,
    *,
    exclusive: bool,
    on_wait: Callable[[], None] | None = None,
    poll_seconds: float = RUN_LOCK_POLL_SECONDS,
) -> Iterator[None]:
    """The warehouse's run lock: a nightly run holds it exclusively while it writes; report
    and snapshot builds hold it shared while they read, so they see what a finished run left,
    never a run half-way.

    Waits as long as it takes (`on_wait` is called once when it has to).  The lock belongs
    to the process: a PostgreSQL session advisory lock, or on SQLite `flock` on the file
    `<database>.lock`; a process that dies releases it, so a crashed run never leaves it
    held.  Re-entrant within a process (a nightly run renders its reports under its own
    lock).  An in-memory SQLite database, or a platform without `fcntl`, has no lock to take.
    """
    key = engine.url.render_as_string(hide_password=True)
    with _held_guard:
        held = _held.get(key)
        if held is not None:
            held.depth += 1
        gate = _gates.setdefault(key, threading.Lock())
    if held is None:
        with gate:  # one thread of a process takes the lock for all of it
            with _held_guard:
                held = _held.get(key)
                if held is not None:
                    held.depth += 1
            if held is None:
                release = _acquire(engine, exclusive, on_wait, poll_seconds)
                assert release is not None  # waiting, it is always taken in the end
                with _held_guard:
                    held = _held[key] = _HeldLock(exclusive, 1, release)
    try:
        yield
    finally:
        with _held_guard:
            held.depth -= 1
            last = held.depth == 0
            if last:
                del _held[key]
        if last:
            held.release()


def _try_shared(engine: Engine) -> Callable[[], None] | None:
    """The run lock taken shared if nobody holds it exclusively now (its release), else None."""
    return _acquire(engine, exclusive=False, on_wait=None, poll_seconds=0.0, wait=False)


def _acquire(
    engine: Engine,
    exclusive: bool,
    on_wait: Callable[[], None] | None,
    poll_seconds: float,
    wait: bool = True,
) -> Callable[[], None] | None:
    """The run lock taken (its release); with `wait=False`, None when it is held now."""
    if engine.dialect.name == "postgresql":
        return _acquire_advisory(engine, exclusive, on_wait, poll_seconds, wait)
    return _acquire_flock(engine, exclusive, on_wait, poll_seconds, wait)


def _acquire_advisory(
    engine: Engine,
    exclusive: bool,
    on_wait: Callable[[], None] | None,
    poll_seconds: float,
    wait: bool,
) -> Callable[[], None] | None:
    suffix = "" if exclusive else "_shared"
    conn = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
    try:
        waited = False
        while not conn.execute(
            text(f"SELECT pg_try_advisory_lock{suffix}(:key)"), {"key": RUN_LOCK_KEY}
        ).scalar():
            if not wait:
                conn.close()
                return None
            if not waited and on_wait is not None:
                on_wait()
            waited = True
            time.sleep(poll_seconds)
    except BaseException:
        conn.close()
        raise

    def release() -> None:
        try:
            conn.execute(text(f"SELECT pg_advisory_unlock{suffix}(:key)"), {"key": RUN_LOCK_KEY})
            conn.close()
        except Exception:
            conn.invalidate()  # closing the session releases the lock

    return release


def _acquire_flock(
    engine: Engine,
    exclusive: bool,
    on_wait: Callable[[], None] | None,
    poll_seconds: float,
    wait: bool,
) -> Callable[[], None] | None:
    database = engine.url.database
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        return lambda: None
    if not database or database == ":memory:":
        return lambda: None
    path = Path(database + ".lock")
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = path.open("a+b")
    mode = fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH
    try:
        waited = False
        while True:
            try:
                fcntl.flock(handle.fileno(), mode | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not wait:
                    handle.close()
                    return None
                if not waited and on_wait is not None:
                    on_wait()
                waited = True
                time.sleep(poll_seconds)
    except BaseException:
        handle.close()
        raise

    def release() -> None:
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        handle.close()

    return release


# --- annual snapshots -----------------------------------------------------------------------


def record_snapshot(bind: Bind, **cols: Any) -> None:
    """Insert the `snapshot` row that makes a year's snapshot official (year is the key: a
    second one for the same year fails)."""
    snap = models.table("snapshot")
    _check_columns(snap.name, cols)
    with transaction(bind) as conn:
        conn.execute(insert(snap).values(**cols))


def freeze_snapshot(bind: Bind, year: int, frames: Mapping[str, pl.DataFrame]) -> dict[str, int]:
    """Write `frames` (keyed by source table) as the snapshot rows of `year`, atomically,
    replacing rows an interrupted attempt left; returns the rows written per table.

    Refuses a year already recorded in `snapshot`: those rows are never changed.
    """
    unknown = sorted(set(frames) - set(models.SNAPSHOT_TABLES))
    if unknown:
        raise ValueError(f"no snapshot table for {unknown}; known: {models.SNAPSHOT_SOURCES}")
    written: dict[str, int] = {}
    with transaction(bind) as conn:
        if snapshot_of(conn, year) is not None:
            raise ValueError(f"the snapshot of {year} exists and is never rewritten")
        for source in models.SNAPSHOT_SOURCES:
            target = models.table(models.SNAPSHOT_TABLES[source])
            conn.execute(delete(target).where(target.c[models.SNAPSHOT_YEAR] == year))
            if source in frames:
                frame = frames[source].with_columns(
                    pl.lit(year, pl.Int64).alias(models.SNAPSHOT_YEAR)
                )
                written[source] = write_frame(conn, target.name, frame)
    return written
