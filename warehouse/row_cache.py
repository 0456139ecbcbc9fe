"""The rows in force, kept as Parquet beside the warehouse so that a night reads them back
cheaply (`db.current`).

The rows of an accepted file never change, so which rows of a kind are in force is decided
by which files of its source are accepted and in what order (`source_file.id`, `seq`).  A
copy is keyed by a *token*: a digest of those pairs, the schema revision and the request
(kind, year, columns).  A night on which nothing new of a kind was accepted computes the same
token and reads the copy; a night that accepts or releases a file of that source gets a new
token and reads SQL once, then keeps that.  Copies are verified by their SHA-256 before use;
a missing, damaged or foreign copy is read from SQL again (the warehouse is the truth, the
copy is only a cache, and deleting the folder is always safe).

The token names content, not a moment: besides id and seq it holds each accepted file's
SHA-256, data digest, row count and arrival time, so a copy can never stand for other rows
(a warehouse rebuilt with the same ids, a transaction later rolled back).  A connection reads
through the cache of its engine, inside its own transaction (the token is read there too).
The folder holds full IDs, so it is private (0700, files 0600).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
import weakref
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import polars as pl
from sqlalchemy import Connection, Engine, func, select, text

from config.private import open_private, private_dir
from transforms.intake import FOLDER_KINDS
from warehouse import models
from warehouse.bulk import Bind, connection

FORMAT = 1  # bump when what a copy holds changes meaning
_FOLDERS: weakref.WeakKeyDictionary[Engine, Path] = weakref.WeakKeyDictionary()

# The inbox folder (source_file.source) whose accepted files make up each kind in force.
SOURCE_OF: dict[str, str] = {
    kind: folder for folder, kinds in FOLDER_KINDS.items() for kind in kinds
} | {"household": "townships"}


def attach(engine: Engine, folder: Path) -> Engine:
    """Keep copies of `engine`'s rows in force in `folder` (created private on first write)."""
    _FOLDERS[engine] = Path(folder)
    return engine


def folder_of(bind: Engine | Connection) -> Path | None:
    return _FOLDERS.get(bind if isinstance(bind, Engine) else bind.engine)


def through(
    bind: Bind,
    kind: str,
    year: int | None,
    columns: Sequence[str] | None,
    token_of: Callable[[Connection], str],
    compute: Callable[[], pl.DataFrame],
) -> pl.DataFrame:
    """`compute()` read through the cache of `bind`'s engine: the copy for the token
    `token_of` gives (read on its own connection), else computed and kept under it; always
    computed when the engine keeps no copies."""
    folder = folder_of(bind)
    if folder is None:
        return compute()
    with connection(bind) as conn:
        tok = token_of(conn)
    kept = read(folder, kind, year, columns, tok)
    if kept is not None:
        return kept
    frame = compute()
    write(folder, kind, year, columns, tok, frame)
    return frame


def token(conn: Connection, kind: str, year: int | None, columns: Sequence[str] | None) -> str:
    """What decides `kind`'s rows in force, as a digest (see the module docstring)."""
    request = [kind, year, list(columns) if columns is not None else None]
    return _digest(conn, request, _accepted(conn, [SOURCE_OF[kind]]))


def issues_token(conn: Connection) -> str:
    """What decides the data-quality issues in force (`file_issues.issues_in_force`): the
    accepted files of every source, each with the suites it was validated with, and what
    the file_issue table holds, counted (a file's issues change only when it is validated,
    read or removed, and each of those changes one or the other; the table's figures also
    tell apart a file validated again with the same suites but other issues)."""
    files = _accepted(conn, sorted(set(SOURCE_OF.values())), validated=True)
    issues = models.table("file_issue").c
    held = conn.execute(
        select(
            func.count(),
            func.sum(func.length(issues.key)),
            func.sum(func.length(func.coalesce(issues.message, ""))),
            func.sum(func.coalesce(issues.row_no, 0)),
            func.min(issues.key),
            func.max(issues.key),
        )
    ).one()
    return _digest(conn, ["issues_in_force"], [*files, list(held)])


def derived_token(
    conn: Connection,
    name: str,
    inputs: Sequence[tuple[str, int | None, Sequence[str] | None]],
    depends_on: Sequence[str],
) -> str:
    """What decides a result computed from rows in force alone (`queries.derived`): the
    tokens of its inputs, each (kind, year, columns) as `current` reads it, and
    `depends_on` (the fingerprint of the code that computes it)."""
    return _digest(conn, [name, list(depends_on)], [token(conn, *i) for i in inputs])


def _accepted(conn: Connection, sources: Sequence[str], validated: bool = False) -> list[Any]:
    files = models.table("source_file")
    # id and seq decide what is in force; sha256, data_digest, rows_loaded and received_at
    # tell this warehouse's files from those of a warehouse rebuilt with the same ids.
    columns = [
        files.c.id,
        files.c.seq,
        files.c.sha256,
        files.c.data_digest,
        files.c.rows_loaded,
        files.c.received_at,
    ]
    if validated:
        columns += [files.c.source, files.c.validated_with]
    rows = conn.execute(
        select(*columns)
        .where(files.c.status == "accepted", files.c.source.in_(sources))
        .order_by(files.c.id)
    ).all()
    return [list(r) for r in rows]


def _digest(conn: Connection, request: list[Any], facts: list[Any]) -> str:
    revision = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    where = conn.engine.url.render_as_string(hide_password=True)
    payload = json.dumps([[FORMAT, where, *request], sorted(revision), facts], default=str)
    return hashlib.sha256(payload.encode()).hexdigest()


def _paths(
    folder: Path, kind: str, year: int | None, columns: Sequence[str] | None, tok: str
) -> tuple[str, Path, Path]:
    """The file-name stem of the request, its copy for `tok` and the copy's checksum."""
    variant = hashlib.sha256(
        json.dumps([year, list(columns) if columns is not None else None]).encode()
    ).hexdigest()[:12]
    stem = f"{kind}.{variant}."
    data = folder / f"{stem}{tok[:32]}.parquet"
    return stem, data, data.with_suffix(".sha256")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read(
    folder: Path, kind: str, year: int | None, columns: Sequence[str] | None, tok: str
) -> pl.DataFrame | None:
    """The copy for `tok`, or None when there is none or it does not verify."""
    _, data, check = _paths(folder, kind, year, columns, tok)
    try:
        expected = check.read_text(encoding="ascii").strip()
        if _sha256(data) != expected:
            return None
        return pl.read_parquet(data)
    except (OSError, ValueError, pl.exceptions.PolarsError):
        return None


def write(
    folder: Path,
    kind: str,
    year: int | None,
    columns: Sequence[str] | None,
    tok: str,
    frame: pl.DataFrame,
) -> None:
    """Keep `frame` as the copy for `tok`, replacing older copies of the same request.  A
    failure to write costs only the next night's speed, never the run."""
    stem, data, check = _paths(folder, kind, year, columns, tok)
    partial = data.with_name(f".{data.name}.{os.getpid()}.{threading.get_ident()}.partial")
    try:
        private_dir(folder)
        with open_private(partial, "wb") as fh:
            frame.write_parquet(fh, compression="zstd", compression_level=1)
        digest = _sha256(partial)
        os.replace(partial, data)
        with open_private(check, "w", encoding="ascii") as fh:
            fh.write(digest + "\n")
        for old in folder.glob(f"{stem}*"):
            if old not in (data, check):
                old.unlink(missing_ok=True)
    except OSError:  # a full disk, a folder made read-only: SQL answers next time too
        with contextlib.suppress(OSError):
            partial.unlink(missing_ok=True)
