"""SQLite's columnar fast path, through the ADBC SQLite driver.

Python's sqlite3 only takes and gives rows as Python tuples, which costs more than SQLite
itself.  ADBC moves Arrow columns in C, but on a connection of its own, and a SQLite file has
one writer at a time.  So:

- writes: ADBC writes the frame into a scratch database file; the caller's sqlite3 connection
  ATTACHes it and copies the rows with one INSERT ... SELECT, inside its own transaction (so
  atomicity, constraints and the caller's open transaction are exactly as before).  SQLite
  refuses to DETACH a database its open transaction has read, so the scratch file is unlinked
  at once and the schema detached when the connection next passes here outside that
  transaction.
- reads (an Engine's fresh connection, outside any transaction): SQLite copies the result
  into a scratch file with CREATE TABLE AS and detaches it, then ADBC reads that file as Arrow.

ADBC never opens the warehouse file: the driver links its own copy of SQLite, and two copies
in one process that open the same file drop each other's POSIX locks (sqlite.org,
"How To Corrupt An SQLite Database File", 2.2.1) -- tried, and it gives "disk I/O error".
"""

from __future__ import annotations

import contextlib
import itertools
import os
import sys
import tempfile
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import polars as pl

SCHEMA_PREFIX = "fupin_bulk_"
_names = itertools.count()
# Type inference looks at one whole batch; one batch for the whole result lets it upcast
# (integer -> real -> text) instead of failing when a later batch disagrees with the first.
_BATCH_ROWS = str(2**30)
_PARAM_TYPES = (str, int, float)
# SQLite's default limit is 10 attached databases besides main and temp; keep two for callers.
_MAX_ATTACHED = 2 + 8
# Slices of a large insert: small enough that the two threads overlap, large enough that
# per-slice costs (a scratch file, an ATTACH) stay negligible.
SLICE_ROWS = 200_000


def available() -> bool:
    try:
        import adbc_driver_sqlite.dbapi  # noqa: F401
    except ImportError:  # pragma: no cover - the driver is a locked dependency
        return False
    return True


def loaded() -> bool:
    """Whether the driver is imported already (its first import costs ~0.5 s)."""
    return "adbc_driver_sqlite.dbapi" in sys.modules


def _adbc_connect(path: str, **kwargs: Any) -> Any:
    import adbc_driver_sqlite.dbapi

    return adbc_driver_sqlite.dbapi.connect(path, **kwargs)


def _arrow(frame: pl.DataFrame) -> Any:
    """Arrow as polars holds it: the driver (1.13) binds string and binary views as TEXT and
    BLOB, so no copy into plain large strings (~0.5 s on 1.26M enrolment rows)."""
    return frame.to_arrow()


# --- writing --------------------------------------------------------------------------------


def detach_stale(raw: Any) -> None:
    """Detach scratch schemas left by earlier transactions on this sqlite3 connection."""
    for _, name, file in raw.execute("PRAGMA database_list").fetchall():
        if not name.startswith(SCHEMA_PREFIX):
            continue
        try:
            raw.execute(f'DETACH DATABASE "{name}"')
        except Exception:  # still read by the open transaction: next time
            continue
        if file:
            with contextlib.suppress(OSError):
                os.unlink(file)


def insert(
    raw: Any,
    target_sql: str,
    columns: Sequence[str],
    frame: pl.DataFrame,
    stored_form: Callable[[pl.DataFrame], pl.DataFrame],
) -> bool:
    """INSERT `frame` into `target_sql` on `raw`; `stored_form` turns a slice of it into
    SQLite's stored values, in `columns` order (`columns`: quoted column names).

    A large frame goes in slices, in two threads: one prepares slice i+1 and has ADBC write
    it to its scratch file while this one copies slice i into the table (both release the
    GIL), so the two copies SQLite makes cost little more than one.  False, having done
    nothing, when this transaction already holds as many scratch files as SQLite lets one
    connection attach: the caller then inserts the rows itself.
    """
    detach_stale(raw)
    held = [r[1] for r in raw.execute("PRAGMA database_list").fetchall()]
    free = _MAX_ATTACHED - len(held)
    if free <= 0:
        return False
    pieces = max(1, min(free, -(-frame.height // SLICE_ROWS)))
    size = -(-frame.height // pieces)
    scratch = Path(tempfile.mkdtemp(prefix="fupin-bulk-"))
    target_columns = ", ".join(columns)
    source = ", ".join(f"c{i}" for i in range(len(columns)))
    schemas: list[str] = []
    try:
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="fupin-scratch") as pool:
            files = [
                pool.submit(_scratch_file, stored_form, frame.slice(i * size, size), scratch, i)
                for i in range(pieces)
            ]
            for ready in files:
                path = ready.result()
                schema = f"{SCHEMA_PREFIX}{os.getpid()}_{next(_names)}"
                raw.execute("ATTACH DATABASE ? AS " + f'"{schema}"', (str(path),))
                schemas.append(schema)
                raw.execute(
                    f"INSERT INTO {target_sql} ({target_columns}) "
                    f'SELECT {source} FROM "{schema}".frame ORDER BY rowid'
                )
    finally:
        for schema in schemas:
            with contextlib.suppress(Exception):
                raw.execute(f'DETACH DATABASE "{schema}"')  # only outside a transaction
        # SQLite reads an unlinked file to the end; where unlinking an open file fails,
        # `detach_stale` removes it later.
        for path in scratch.glob("*.db"):
            with contextlib.suppress(OSError):
                path.unlink()
        with contextlib.suppress(OSError):
            scratch.rmdir()
    return True


def _scratch_file(
    stored_form: Callable[[pl.DataFrame], pl.DataFrame], piece: pl.DataFrame, folder: Path, i: int
) -> Path:
    """ADBC writes one slice, in its stored form, as table `frame` of a scratch database."""
    stored = stored_form(piece)
    stored = stored.rename({c: f"c{k}" for k, c in enumerate(stored.columns)})
    path = folder / f"slice{i}.db"
    adbc = _adbc_connect(str(path), autocommit=True)
    try:
        with adbc.cursor() as cur:
            cur.execute("PRAGMA journal_mode=OFF")
            cur.execute("PRAGMA synchronous=OFF")
            cur.execute("BEGIN")
            cur.adbc_ingest("frame", _arrow(stored), mode="create")
            cur.execute("COMMIT")
    finally:
        adbc.close()
    return path


# --- reading --------------------------------------------------------------------------------


def plain_params(values: Sequence[Any]) -> bool:
    """Whether sqlite3 binds these as SQLAlchemy's SQLite dialect would (no dates, booleans)."""
    return all(v is None or (type(v) in _PARAM_TYPES) for v in values)


def fetch(raw: Any, sql: str, params: Sequence[Any]) -> pl.DataFrame | None:
    """The result of `sql`, via a scratch file that ADBC reads as Arrow; None if `raw` is busy.

    SQLite itself copies the result into the scratch file (CREATE TABLE AS, in C) on `raw`,
    outside any transaction, and detaches it; only then does ADBC open that file.  ADBC
    never opens the warehouse file itself: its statically linked SQLite is a second copy in
    this process, and two copies holding one file lose each other's POSIX locks.
    """
    if raw.in_transaction:
        return None
    detach_stale(raw)
    names = [d[0] for d in raw.execute(f"SELECT * FROM ({sql}) LIMIT 0", params).description]
    if len(set(names)) != len(names):
        return None
    scratch = Path(tempfile.mkdtemp(prefix="fupin-read-"))
    path = scratch / "result.db"
    schema = f"{SCHEMA_PREFIX}{os.getpid()}_{next(_names)}"
    try:
        raw.execute("ATTACH DATABASE ? AS " + f'"{schema}"', (str(path),))
        try:
            raw.execute(f'PRAGMA "{schema}".journal_mode=OFF')
            raw.execute(f'PRAGMA "{schema}".synchronous=OFF')
            raw.execute(f'CREATE TABLE "{schema}".result AS {sql}', params)
        finally:
            raw.execute(f'DETACH DATABASE "{schema}"')
        adbc = _adbc_connect(str(path), autocommit=True)
        try:
            with adbc.cursor() as cur:
                cur.adbc_statement.set_options(**{"adbc.sqlite.query.batch_rows": _BATCH_ROWS})
                cur.execute("SELECT * FROM result ORDER BY rowid")
                table = cur.fetch_arrow_table()
        finally:
            adbc.close()
    finally:
        with contextlib.suppress(OSError):
            path.unlink()
        with contextlib.suppress(OSError):
            scratch.rmdir()
    frame: pl.DataFrame = pl.from_arrow(table)  # type: ignore[assignment]
    return frame.rename(dict(zip(frame.columns, names, strict=True)))
