"""What the writers of single rows (runs, files, snapshots) share: the time now in UTC, a
JSON column's text, the id a new row got, and column names checked before an insert."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import CursorResult

from warehouse import models


def now() -> datetime:
    return datetime.now(UTC)


def json_text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str, sort_keys=True)


def new_id(result: CursorResult[Any]) -> int:
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


def check_columns(table: str, cols: dict[str, Any]) -> None:
    unknown = [c for c in cols if c not in models.table(table).c]
    if unknown:
        raise ValueError(f"{table}: no column(s) {unknown}")
