"""The database itself: an engine for a SQLite file or a PostgreSQL database, the Alembic
migrations that bring it to this version, and the planner's statistics after a bulk load."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url

from config.private import private_database
from warehouse import models, row_cache
from warehouse.bulk import WRITE_INTENT, Bind, connection

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 30_000


# A county's warehouse in a multi-county deployment is a PostgreSQL schema of its own; the
# city's extracts live in the schema of the city's code.  See `county_schema`.
COUNTY_OPTION = "fupin_county"
CITY_CODE = "440200"  # 韶关市
FILE_IDS_PER_UNIT = 1_000_000


class SingleCountyDatabase(ValueError):
    """More than one county asked of a warehouse that can hold only one (SQLite)."""

    MESSAGE = (
        "多县（市级、省级）部署须使用 PostgreSQL 仓库：SQLite 只能保存一个县的数据。"
        "请把 FUPIN_DATABASE_URL（或 --db）设为 postgresql://… 后重试。"
    )


def county_schema(code: str) -> str:
    """The PostgreSQL schema of a county (or of the city's extracts): `c440282`."""
    if not (len(code) == 6 and code.isdigit()):
        raise ValueError(f"县级区划代码应为 6 位数字：{code!r}")
    return f"c{code}"


def first_file_id(code: str) -> int:
    """Where a unit's `source_file` ids start, so that a file id names one file in the whole
    city (findings cite rows of other counties' 低保 rolls and of the city extracts)."""
    return int(code[-4:]) * FILE_IDS_PER_UNIT + 1


def county_of(engine: Engine) -> str | None:
    """The county (or city) whose schema `engine` works in; None for a single-county warehouse."""
    county: str | None = engine.get_execution_options().get(COUNTY_OPTION)
    return county


def connect(
    url: str, *, cache_dir: Path | None = None, county: str | None = None, **engine_options: Any
) -> Engine:
    """An engine for a SQLite file or a PostgreSQL database (psycopg 3); with `cache_dir`,
    `current` keeps Parquet copies of the rows in force there (`warehouse.row_cache`).

    SQLite: WAL journal, foreign keys on, a busy timeout, and SQLAlchemy issuing BEGIN itself
    so that DDL and reads are transactional too.  PostgreSQL: session time zone UTC, no JIT.

    With `county` (a multi-county deployment), every table is the county's own: the session's
    search path is the county's schema (`county_schema`), so the same SQL, migrations, COPY
    and locks serve each county apart; its queries run without parallel workers of their
    own (Dask's are the parallelism).  SQLite holds one county only and refuses.
    """
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "postgresql":
        if parsed.drivername in ("postgresql", "postgres"):
            parsed = parsed.set(drivername="postgresql+psycopg")
        elif parsed.drivername != "postgresql+psycopg":
            raise ValueError(f"PostgreSQL is used through psycopg 3, not {parsed.drivername}")
        # No JIT: compiling a plan of a few dozen nodes (the issues in force, a UNION over
        # every table) took 4.5 of its 7.7 s on a city's extracts; our queries are many
        # and short, and none runs long enough to win the compile back.
        options = "-c timezone=UTC -c jit=off"
        if county is not None:
            options += f" -c search_path={county_schema(county)}"
            # Many counties run on Dask: the workers are the parallelism.  A query's own
            # parallel workers only oversubscribe the cores (a year of a city's enrolment
            # in force read in 1.9 s without them, 2.8 s with).
            options += " -c max_parallel_workers_per_gather=0"
            engine_options.setdefault("execution_options", {})[COUNTY_OPTION] = county
        engine = create_engine(
            parsed,
            pool_pre_ping=True,
            connect_args={"options": options, "application_name": "fupin"},
            **engine_options,
        )
        return row_cache.attach(engine, cache_dir) if cache_dir else engine
    if backend == "sqlite":
        if county is not None:
            raise SingleCountyDatabase(SingleCountyDatabase.MESSAGE)
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            private_database(Path(parsed.database))  # 0600, and so its -wal/-shm
        engine = create_engine(parsed, **engine_options)
        event.listen(engine, "connect", _sqlite_on_connect)
        event.listen(engine, "begin", _sqlite_on_begin)
        return row_cache.attach(engine, cache_dir) if cache_dir else engine
    raise ValueError(f"unsupported database {backend!r}: use sqlite:///FILE or postgresql://…")


def _prepare_county(engine: Engine, county: str) -> None:
    """Create the county's schema (on first use) before Alembic creates its tables there."""
    with engine.connect() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA IF NOT EXISTS {county_schema(county)}")
        conn.commit()


def _number_files(engine: Engine, county: str) -> None:
    """Start a new county's file ids at `first_file_id` (once: while no file has an id)."""
    with engine.connect() as conn:
        seq = conn.exec_driver_sql("SELECT pg_get_serial_sequence('source_file', 'id')").scalar()
        used = conn.exec_driver_sql("SELECT count(*) FROM source_file").scalar()
        if seq and not used:
            last = conn.execute(text(f"SELECT last_value, is_called FROM {seq}")).one()
            if not last.is_called:
                conn.execute(
                    text("SELECT setval(:seq, :first, false)"),
                    {"seq": seq, "first": first_file_id(county)},
                )
        conn.commit()


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
    """Alembic configuration pointing at this package's migrations, whatever the cwd.
    (Alembic is imported only to migrate: reading commands check the revision without it.)"""
    from alembic.config import Config

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


_REVISION = re.compile(r'^revision: str = "([^"]+)"', re.M)
_DOWN = re.compile(r'^down_revision: [^=]+= (?:"([^"]+)"|None)', re.M)


@cache
def head_revision() -> str:
    """The newest migration of this package, read off the revision files' headers (the one
    no other file revises) without importing Alembic, which costs ~0.4 s a command;
    `tests/warehouse/test_migrations.py` checks it against Alembic's own answer."""
    revisions, revised = set(), set()
    for path in (MIGRATIONS / "versions").glob("*.py"):
        text = path.read_text(encoding="utf-8")
        found, down = _REVISION.search(text), _DOWN.search(text)
        if found is None or down is None:
            raise RuntimeError(f"migration {path.name} has no revision header")
        revisions.add(found.group(1))
        if down.group(1):
            revised.add(down.group(1))
    heads = revisions - revised
    if len(heads) != 1:
        raise RuntimeError(f"migrations have {len(heads)} heads: {sorted(heads)}")
    return heads.pop()


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
    county = county_of(engine)
    try:
        if revision == "head" and revision_of(engine) == head_revision():
            return
        from alembic import command

        if county is not None:
            _prepare_county(engine, county)
        with migration_transaction(engine) as conn:
            cfg = alembic_config()
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
        if county is not None:
            _number_files(engine, county)
    finally:
        if isinstance(url_or_engine, str):
            engine.dispose()


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


def counties_in(engine: Engine) -> list[str]:
    """The counties a multi-county PostgreSQL warehouse holds (their schemas, migrated), in
    code order; [] for a single-county warehouse (SQLite, or PostgreSQL without them)."""
    if engine.dialect.name != "postgresql":
        return []
    with engine.connect() as conn:
        names = inspect(conn).get_schema_names()
        held = [
            n[1:]
            for n in names
            if re.fullmatch(r"c\d{6}", n) and inspect(conn).has_table("alembic_version", schema=n)
        ]
    return sorted(c for c in held if c != CITY_CODE)
