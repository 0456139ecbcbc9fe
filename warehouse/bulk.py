"""Frames in and out of the warehouse, on each dialect's fast path.

Writes: PostgreSQL takes CSV through COPY FROM STDIN (psycopg 3), written by polars in
chunks; SQLite takes an Arrow copy of the frame through ADBC and one INSERT ... SELECT from it
(`warehouse._sqlite_arrow`), all inside the caller's transaction.  Reads: PostgreSQL streams
COPY (query) TO STDOUT as CSV into `pl.read_csv`; SQLite, given an Engine on a file, reads
Arrow through ADBC from a scratch copy of the result, and given a Connection (whose open transaction
may hold uncommitted rows or a snapshot) fetches plain tuples from that connection's cursor.
Either way the result is cast to the column types of the table (or of the selected columns),
so frames come back in their `transforms.frames` contract.  Nested columns (a finding's
evidence) are stored as JSON text: encoded on write, decoded on read (`warehouse.nested`).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import polars as pl
from sqlalchemy import (
    Boolean,
    Connection,
    Date,
    DateTime,
    Engine,
    Float,
    Integer,
    LargeBinary,
    Numeric,
    Select,
    String,
    Table,
    TextClause,
    and_,
    bindparam,
    delete,
    select,
    text,
)
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import TypeEngine

from warehouse import _sqlite_arrow, models
from warehouse.nested import JsonText, decode_columns, encode, is_nested

Bind = Engine | Connection
CHUNK_ROWS = 100_000
# A SQLite result below this many rows is read as tuples, at or above it through Arrow.
SMALL_ROWS = 20_000
# Below this many rows, SQLite's plain executemany beats setting up the Arrow scratch file.
ARROW_MIN_ROWS = 2_000
# ... once its driver is loaded: loading it costs ~0.5 s, which the Arrow path (~4 µs a row
# faster) repays only on large inserts; a night that writes only links and indicators
# (~36k rows at scale 1) is faster without it.
ARROW_FIRST_ROWS = 150_000

# PostgreSQL type OIDs -> polars, for plain SQL whose result columns we don't know.
_PG_OIDS: dict[int, pl.DataType] = {
    16: pl.Boolean(),
    20: pl.Int64(),
    21: pl.Int64(),
    23: pl.Int64(),
    700: pl.Float64(),
    701: pl.Float64(),
    1700: pl.Float64(),
    1082: pl.Date(),
    1114: pl.Datetime("us", "UTC"),
    1184: pl.Datetime("us", "UTC"),
}


# --- transactions ---------------------------------------------------------------------------


# Set on a SQLite connection about to begin a write transaction: `warehouse.db` begins it
# IMMEDIATE.  A deferred transaction that reads first and writes later cannot take the write
# lock once another connection has committed since its read ("database is locked", at once,
# whatever the busy timeout); an immediate one waits for the lock up front.
WRITE_INTENT = "fupin_write"


@contextmanager
def transaction(bind: Bind) -> Iterator[Connection]:
    """A connection inside a write transaction: the caller's, or a new one committed on exit."""
    if isinstance(bind, Engine):
        with bind.connect() as conn:
            try:
                conn.info[WRITE_INTENT] = True
                with conn.begin():
                    yield conn
            finally:
                _release_scratch(conn)
    elif bind.in_transaction():
        yield bind
    else:
        try:
            bind.info[WRITE_INTENT] = True
            with bind.begin():
                yield bind
        finally:
            _release_scratch(bind)


def _release_scratch(conn: Connection) -> None:
    """Detach SQLite's bulk scratch files once the transaction that read them has ended."""
    if conn.dialect.name == "sqlite" and not conn.closed and not conn.invalidated:
        _sqlite_arrow.detach_stale(_driver(conn))


@contextmanager
def connection(bind: Bind) -> Iterator[Connection]:
    if isinstance(bind, Engine):
        with bind.connect() as conn:
            yield conn
    else:
        yield bind


def _driver(conn: Connection) -> Any:
    """The psycopg or sqlite3 connection under `conn`, for COPY and executemany."""
    return conn.connection.driver_connection


# --- types ----------------------------------------------------------------------------------


def polars_type(sql_type: TypeEngine[Any]) -> pl.DataType:
    """The polars type a column of `sql_type` is read as."""
    if isinstance(sql_type, JsonText):
        return sql_type.frame_type
    if isinstance(sql_type, Boolean):
        return pl.Boolean()
    if isinstance(sql_type, Integer):
        return pl.Int64()
    if isinstance(sql_type, (Float, Numeric)):  # Double is a Float
        return pl.Float64()
    if isinstance(sql_type, DateTime):
        return pl.Datetime("us", "UTC")
    if isinstance(sql_type, Date):
        return pl.Date()
    if isinstance(sql_type, String):
        return pl.Utf8()
    if isinstance(sql_type, LargeBinary):
        return pl.Binary()
    raise TypeError(f"no polars type for SQL {sql_type!r}")


def table_schema(name: str) -> dict[str, pl.DataType]:
    """The polars schema of a warehouse table, in column order."""
    return {c.name: polars_type(c.type) for c in models.table(name).columns}


# --- writing --------------------------------------------------------------------------------


def write_frame(bind: Bind, table: str, frame: pl.DataFrame) -> int:
    """Append `frame` to `table` in one transaction; returns the number of rows written.

    Columns the frame lacks are left to the database (NULL or the key's sequence); a column
    the table lacks is an error.  NUL characters are dropped from text (PostgreSQL cannot
    store them, and both dialects must hold the same data).
    """
    target = models.table(table)
    unknown = [c for c in frame.columns if c not in target.c]
    if unknown:
        raise ValueError(f"{table}: no column(s) {unknown}; the table has {list(target.c.keys())}")
    if frame.height == 0:
        return 0
    with transaction(bind) as conn:
        if table in models.UNREFERENCED_FILE_ID:
            _check_files(conn, table, frame)
        bulk_insert(conn, target, frame)
    return frame.height


def _check_files(conn: Connection, table: str, frame: pl.DataFrame) -> None:
    """What a foreign key would check row by row, once for the batch: every file id it names
    is a registered file (`models.UNREFERENCED_FILE_ID`)."""
    wanted = frame.get_column("file_id").drop_nulls().unique().to_list()
    files = models.table("source_file")
    known = set(conn.execute(select(files.c.id).where(files.c.id.in_(wanted))).scalars())
    missing = sorted(i for i in wanted if i not in known)
    if missing:
        raise ValueError(f"{table}: rows of file id(s) {missing[:5]}, which is not registered")


def bulk_insert(conn: Connection, target: Table, frame: pl.DataFrame) -> None:
    """Insert `frame` into `target` on `conn`'s current transaction, on the fast path."""
    schema = {c.name: polars_type(c.type) for c in target.columns if c.name in frame.columns}
    typed = [
        pl.col(c).cast(t).str.replace_all("\x00", "", literal=True)
        if t == pl.Utf8
        else encode(pl.col(c).cast(t), t).alias(c)
        if is_nested(t)
        else pl.col(c).cast(t)
        for c, t in schema.items()
    ]
    if conn.dialect.name == "postgresql":
        _copy_in(conn, target, frame.select(typed))
    else:
        _executemany(conn, target, frame, lambda piece: _sqlite_values(piece.select(typed)))


def _copy_in(conn: Connection, target: Table, frame: pl.DataFrame) -> None:
    q = conn.dialect.identifier_preparer
    columns = ", ".join(q.quote(c) for c in frame.columns)
    statement = f"COPY {q.format_table(target)} ({columns}) FROM STDIN (FORMAT csv)"
    raw = _driver(conn)
    with raw.cursor() as cur, cur.copy(statement) as copy:
        for chunk in frame.iter_slices(CHUNK_ROWS):
            buf = io.BytesIO()
            # Polars quotes empty strings and leaves nulls bare, which is how COPY tells them apart.
            chunk.write_csv(buf, include_header=False, datetime_format="%Y-%m-%d %H:%M:%S%.f%z")
            copy.write(buf.getvalue())


def _executemany(
    conn: Connection,
    target: Table,
    frame: pl.DataFrame,
    stored_form: Callable[[pl.DataFrame], pl.DataFrame],
) -> None:
    q = conn.dialect.identifier_preparer
    quoted = [q.quote(c.name) for c in target.columns if c.name in frame.columns]
    enough = ARROW_MIN_ROWS if _sqlite_arrow.loaded() else ARROW_FIRST_ROWS
    if frame.height >= enough and _sqlite_arrow.available():
        raw = _driver(conn)
        if _sqlite_arrow.insert(raw, q.format_table(target), quoted, frame, stored_form):
            return
    stored = stored_form(frame)
    marks = ", ".join("?" for _ in quoted)
    statement = f"INSERT INTO {q.format_table(target)} ({', '.join(quoted)}) VALUES ({marks})"
    cur = _driver(conn).cursor()
    try:
        for chunk in stored.iter_slices(CHUNK_ROWS):
            cur.executemany(statement, chunk.iter_rows())
    finally:
        cur.close()


def _sqlite_values(frame: pl.DataFrame) -> pl.DataFrame:
    """Dates, timestamps and booleans as SQLAlchemy stores them in SQLite."""
    out = []
    for name, dtype in frame.schema.items():
        col = pl.col(name)
        if dtype == pl.Date:
            col = col.dt.strftime("%Y-%m-%d")
        elif isinstance(dtype, pl.Datetime):
            if dtype.time_zone is not None:
                col = col.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
            col = col.dt.strftime("%Y-%m-%d %H:%M:%S.%6f")
        elif dtype == pl.Boolean:
            col = col.cast(pl.Int64)
        out.append(col)
    return frame.select(out)


def delete_rows(bind: Bind, table: str, file_id: int) -> int:
    """Delete the rows one file contributed to `table` (before reloading it)."""
    target = models.table(table)
    with transaction(bind) as conn:
        return conn.execute(delete(target).where(target.c.file_id == file_id)).rowcount


def replace_rows(
    bind: Bind,
    table: str,
    frame: pl.DataFrame,
    where: Mapping[str, Any] | None = None,
) -> int:
    """Delete the rows matching `where` (every row when None) and write `frame`, atomically.

    `where` maps a column to a value or a list of values, e.g. {"period": ["2018H1"]}.
    """
    target = models.table(table)
    conditions = _conditions(target, where or {})
    with transaction(bind) as conn:
        conn.execute(delete(target).where(*conditions))
        return write_frame(conn, table, frame)


def sync_rows(
    bind: Bind,
    table: str,
    frame: pl.DataFrame,
    key: Sequence[str],
    stamp: Mapping[str, Any],
) -> tuple[int, int]:
    """Make `table` hold exactly `frame`'s rows, each with `stamp`'s columns, touching only
    the rows that changed, atomically; returns (rows deleted, rows written).

    A stored row equal to a row of `frame` in every column of `frame` stays as it is, its
    `stamp` columns included (they tell when it was last written); a stored row that is no
    longer in `frame`, or changed, is deleted by its `key`; the new and changed rows are
    written with `stamp`.  When most rows changed, everything is replaced."""
    target = models.table(table)
    schema = {c: polars_type(target.c[c].type) for c in frame.columns}  # KeyError: no column
    if any(is_nested(t) for t in schema.values()) or set(stamp) & set(schema):
        raise ValueError(f"{table}: sync_rows compares flat columns, the stamp apart")
    incoming = frame.select(
        pl.col(c).cast(t).str.replace_all("\x00", "", literal=True)
        if t == pl.Utf8
        else pl.col(c).cast(t)
        for c, t in schema.items()
    )  # as stored (`bulk_insert`), so that equal rows compare equal
    stamped = [pl.lit(v).alias(c) for c, v in stamp.items()]
    with transaction(bind) as conn:
        stored = read_frame(conn, select(*(target.c[c] for c in schema)), schema=schema)
        gone = stored.join(incoming, on=list(schema), how="anti", nulls_equal=True)
        if 2 * gone.height > stored.height:
            conn.execute(delete(target))
            bulk_insert(conn, target, incoming.with_columns(stamped))
            return stored.height, incoming.height
        new = incoming.join(stored, on=list(schema), how="anti", nulls_equal=True)
        if gone.height:
            match = and_(*(target.c[k] == bindparam(f"old_{k}") for k in key))
            conn.execute(
                delete(target).where(match),
                [{f"old_{k}": v for k, v in row.items()} for row in gone.select(key).to_dicts()],
            )
        if new.height:
            bulk_insert(conn, target, new.with_columns(stamped))
    return gone.height, new.height


def _conditions(target: Table, where: Mapping[str, Any]) -> list[ColumnElement[bool]]:
    out: list[ColumnElement[bool]] = []
    for column, value in where.items():
        if column not in target.c:
            raise ValueError(f"{target.name}: no column {column!r}")
        if isinstance(value, (list, tuple, set, frozenset)):
            out.append(target.c[column].in_(list(value)))
        else:
            out.append(target.c[column] == value)
    return out


# --- reading --------------------------------------------------------------------------------


def read_frame(
    bind: Bind,
    sql_or_table: str | Select[Any] | TextClause,
    params: Mapping[str, Any] | None = None,
    *,
    schema: Mapping[str, pl.DataType] | None = None,
    large: bool = False,
) -> pl.DataFrame:
    """Rows of a table name, a SQLAlchemy select, or SQL text (`:name` parameters).

    Column types come from the table or the select's columns, overridden by name from
    `schema`; for plain SQL, PostgreSQL reports them and SQLite has them inferred from the
    values (dates then stay text: pass `schema`).  On SQLite a result is read as tuples
    while it stays below SMALL_ROWS, else through Arrow; `large` goes to Arrow at once (a
    query that must sort or group everything before its first row would run twice).
    """
    statement, positional = _statement(sql_or_table)
    with connection(bind) as conn:
        if conn.dialect.name == "postgresql":
            return _copy_out(conn, statement, params or {}, positional, schema or {})
        if isinstance(bind, Engine):
            if positional is not None and not large:  # a small result is read as tuples
                small = _fetch_sqlite(
                    conn, statement, params or {}, positional, schema or {}, at_most=SMALL_ROWS
                )
                conn.rollback()  # the probe's transaction; the fast path wants none
                if small is not None:
                    return small
            fast = _fetch_sqlite_arrow(conn, statement, params or {}, positional, schema or {})
            if fast is not None:
                return fast
        whole = _fetch_sqlite(conn, statement, params or {}, positional, schema or {})
        assert whole is not None
        return whole


def _statement(
    sql_or_table: str | Select[Any] | TextClause,
) -> tuple[Select[Any] | TextClause, list[pl.DataType] | None]:
    """The statement, and the types of its result columns in order when SQLAlchemy knows them."""
    if isinstance(sql_or_table, Select):
        return sql_or_table, [polars_type(c.type) for c in sql_or_table.selected_columns]
    if isinstance(sql_or_table, TextClause):
        return sql_or_table, None
    if sql_or_table in models.Base.metadata.tables:
        return select(models.table(sql_or_table)), list(table_schema(sql_or_table).values())
    return text(sql_or_table), None


def _result_types(
    names: list[str],
    positional: list[pl.DataType] | None,
    fallback: list[pl.DataType | None],
    schema: Mapping[str, pl.DataType],
) -> dict[str, pl.DataType | None]:
    known = positional if positional is not None else fallback
    return {n: schema.get(n, t) for n, t in zip(names, known, strict=True)}


def _compile(
    conn: Connection, statement: Select[Any] | TextClause, params: Mapping[str, Any]
) -> tuple[str, Mapping[str, Any]]:
    compiled = statement.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
    return compiled.string, compiled.construct_params(dict(params))


def _copy_out(
    conn: Connection,
    statement: Select[Any] | TextClause,
    params: Mapping[str, Any],
    positional: list[pl.DataType] | None,
    schema: Mapping[str, pl.DataType],
) -> pl.DataFrame:
    sql, bound = _compile(conn, statement, params)
    with _driver(conn).cursor() as cur:
        cur.execute(f"SELECT * FROM ({sql}) AS q LIMIT 0", bound)
        names = [d.name for d in cur.description]
        reported: list[pl.DataType | None] = [
            _PG_OIDS.get(d.type_code, pl.Utf8()) for d in cur.description
        ]
        types = {
            n: t or pl.Utf8() for n, t in _result_types(names, positional, reported, schema).items()
        }
        buf = io.BytesIO()
        with cur.copy(f"COPY ({sql}) TO STDOUT (FORMAT csv, HEADER true)", bound) as copy:
            for data in copy:
                buf.write(data)
    if buf.tell() == 0:
        return pl.DataFrame(schema=types)
    buf.seek(0)
    as_read = {n: (pl.Utf8() if _needs_parsing(t) else t) for n, t in types.items()}
    frame = pl.read_csv(buf, schema=as_read, has_header=True)
    return _finish(frame, types)


def _fetch_sqlite(
    conn: Connection,
    statement: Select[Any] | TextClause,
    params: Mapping[str, Any],
    positional: list[pl.DataType] | None,
    schema: Mapping[str, pl.DataType],
    at_most: int | None = None,
) -> pl.DataFrame | None:
    """The rows as Python tuples, a chunk at a time; with `at_most`, None when the result
    holds that many rows or more (a large result is read faster as Arrow, and a small one
    spares the Arrow path's scratch file and its driver's import, ~0.5 s)."""
    result = conn.execute(statement, dict(params))
    try:
        names = list(result.keys())
        types = _result_types(names, positional, [None] * len(names), schema)
        as_read = {n: _sqlite_read_type(t) for n, t in types.items()}
        raw = result.cursor  # plain tuples, no per-value processing
        if at_most is not None:
            head = raw.fetchmany(at_most)
            if len(head) >= at_most:
                return None
            batches = iter([head] if head else [])
        else:
            batches = iter(lambda: raw.fetchmany(CHUNK_ROWS), [])
        # Batches keep the Python tuples of only one chunk alive at a time.
        parts = [
            pl.DataFrame(batch, schema=as_read, orient="row", infer_schema_length=None)
            for batch in batches
        ]
    finally:
        result.close()
    if not parts:
        return pl.DataFrame(schema={n: t or pl.Null() for n, t in types.items()})
    frame = pl.concat(parts, how="vertical_relaxed", rechunk=True)
    return _finish(frame, {n: t or frame.schema[n] for n, t in types.items()})


def _fetch_sqlite_arrow(
    conn: Connection,
    statement: Select[Any] | TextClause,
    params: Mapping[str, Any],
    positional: list[pl.DataType] | None,
    schema: Mapping[str, pl.DataType],
) -> pl.DataFrame | None:
    """The rows as Arrow (see `warehouse._sqlite_arrow.fetch`), or None to use the tuples.

    Only on an Engine's fresh connection: a caller's Connection may hold a transaction whose
    uncommitted rows or snapshot the read must see.  Parameters SQLAlchemy would convert
    (dates, booleans) and any failure of the fast path leave the query to the tuple path,
    which then reports the error as SQLAlchemy does.
    """
    if not _sqlite_arrow.available() or conn.in_transaction():
        return None
    try:
        compiled = statement.compile(
            dialect=conn.dialect, compile_kwargs={"render_postcompile": True}
        )
        bound = compiled.construct_params(dict(params))
        values = [bound[name] for name in (compiled.positiontup or [])]
        if not _sqlite_arrow.plain_params(values):
            return None
        frame = _sqlite_arrow.fetch(_driver(conn), compiled.string, values)
        if frame is None:
            return None
        types = _result_types(frame.columns, positional, [None] * frame.width, schema)
        if frame.height == 0:
            return pl.DataFrame(schema={n: t or pl.Null() for n, t in types.items()})
        return _finish(frame, {n: t or frame.schema[n] for n, t in types.items()})
    except Exception:
        return None


def _needs_parsing(dtype: pl.DataType) -> bool:
    return dtype in (pl.Boolean, pl.Binary) or isinstance(dtype, pl.Datetime) or is_nested(dtype)


def _sqlite_read_type(dtype: pl.DataType | None) -> pl.DataType | None:
    if dtype is None:
        return None  # inferred from the values
    if dtype == pl.Date or isinstance(dtype, pl.Datetime) or is_nested(dtype):
        return pl.Utf8()
    if dtype == pl.Boolean:
        return pl.Int64()
    return dtype


def _finish(frame: pl.DataFrame, types: dict[str, pl.DataType]) -> pl.DataFrame:
    """Turn the text/integer forms the drivers return into the wanted types."""
    nested = {name: dtype for name, dtype in types.items() if is_nested(dtype)}
    out = []
    for name, dtype in types.items():
        col, have = pl.col(name), frame.schema[name]
        if have == dtype or name in nested:
            out.append(col)
        elif dtype == pl.Boolean and have == pl.Utf8:
            out.append(col.replace_strict({"t": True, "f": False}, return_dtype=pl.Boolean))
        elif dtype == pl.Binary and have == pl.Utf8:  # PostgreSQL's bytea text form: \\x<hex>
            out.append(col.str.strip_prefix("\\x").str.decode("hex"))
        elif dtype == pl.Date and have == pl.Utf8:
            out.append(col.str.to_date("%Y-%m-%d"))
        elif isinstance(dtype, pl.Datetime) and have == pl.Utf8:
            out.append(_parse_timestamp(col, dtype))
        else:
            out.append(col.cast(dtype))
    return decode_columns(frame.select(out), nested)


def _parse_timestamp(col: pl.Expr, dtype: pl.Datetime) -> pl.Expr:
    """'2024-01-02 03:04:05.123456' (SQLite, UTC) or '... +00' (PostgreSQL in UTC)."""
    naive = col.str.replace(r"[+-]\d\d(:?\d\d)?$", "").str.to_datetime(
        "%Y-%m-%d %H:%M:%S%.f", time_unit=dtype.time_unit
    )
    return naive.dt.replace_time_zone(dtype.time_zone)
