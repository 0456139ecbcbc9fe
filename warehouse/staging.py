"""Staged rows: a file's frame with every cell as read, kept as one Parquet document per file
and kind (encoded whole, or a batch at a time for a streamed extract)."""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

import polars as pl
from sqlalchemy import delete, insert, select

from warehouse import models
from warehouse.bulk import Bind, connection, transaction


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
