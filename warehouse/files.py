"""The registry of submitted files (`source_file`): a file recorded, its status, the file in
force of a source, a submission put in force or held for the office and released, and the
rows a file contributed."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import polars as pl
from sqlalchemy import Table, and_, func, insert, select, text, update

from warehouse import models
from warehouse._values import check_columns, json_text, new_id, now
from warehouse.bulk import Bind, connection, read_frame, table_schema, transaction
from warehouse.queries import first_row


def file_by_sha(bind: Bind, sha256: str) -> dict[str, Any] | None:
    files = models.table("source_file")
    return first_row(bind, select(files).where(files.c.sha256 == sha256))


def record_file(bind: Bind, **cols: Any) -> int:
    """Insert a source_file row (received_at defaults to now); returns its id."""
    files = models.table("source_file")
    check_columns(files.name, cols)
    cols.setdefault("received_at", now())
    cols["sheets"] = json_text(cols.get("sheets"))
    with transaction(bind) as conn:
        return new_id(conn.execute(insert(files).values(**cols)))


def set_file_status(
    bind: Bind, file_id: int, status: str, reason: str | None = None, **cols: Any
) -> None:
    """Set a file's status and reason (None clears an earlier reason) and any other columns."""
    files = models.table("source_file")
    check_columns(files.name, cols)
    if "sheets" in cols:
        cols["sheets"] = json_text(cols["sheets"])
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


# Taken for the transaction that numbers a file's `seq`: two processes storing files of one
# warehouse at once would otherwise both take max(seq) + 1 (the column is unique).
SEQ_LOCK_KEY = 0x667570696E5351  # "fupinSQ"


def put_in_force(bind: Bind, file_id: int) -> list[int]:
    """Make `file_id` the newest submission of its source (status accepted, the next `seq`)
    and mark the accepted files it replaces superseded; returns their ids."""
    files = models.table("source_file")
    with transaction(bind) as conn:
        if conn.dialect.name == "postgresql":  # files stored side by side (a city's extracts)
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SEQ_LOCK_KEY})
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
                file_id=file_id, run_id=run_id, at=now(), event=event, detail=detail
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


def canonical_of(bind: Bind, kind: str, file_ids: Sequence[int]) -> pl.DataFrame:
    """The canonical rows of `kind` that `file_ids` contributed, in file and row order."""
    rows = models.table(models.CANONICAL_TABLES[kind])
    stmt = (
        select(rows)
        .where(rows.c.file_id.in_(list(file_ids)))
        .order_by(rows.c.file_id, rows.c.sheet, rows.c.row_no)
    )
    return read_frame(bind, stmt, schema=table_schema(rows.name))
