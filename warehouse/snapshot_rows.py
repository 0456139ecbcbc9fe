"""Writing a year's snapshot: its rows frozen, and the `snapshot` row that makes it official
(reading snapshots is `warehouse.queries`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import polars as pl
from sqlalchemy import delete, insert

from warehouse import models
from warehouse._values import check_columns
from warehouse.bulk import Bind, transaction, write_frame
from warehouse.queries import snapshot_of


def record_snapshot(bind: Bind, **cols: Any) -> None:
    """Insert the `snapshot` row that makes a year's snapshot official (year is the key: a
    second one for the same year fails)."""
    snap = models.table("snapshot")
    check_columns(snap.name, cols)
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
