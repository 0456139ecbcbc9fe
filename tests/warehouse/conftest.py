"""A migrated, empty warehouse per test, on SQLite and on PostgreSQL (via `db_url`)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import date

import pytest
from sqlalchemy import Engine, text

from warehouse import db

_sha = itertools.count(1)


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = db.connect(db_url)
    db.upgrade(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def run_id(engine: Engine) -> int:
    return db.start_run(engine, "nightly", date(2018, 6, 30), {"inbox": "收件箱"})


def add_file(engine: Engine, source: str, township_code: str | None = None, **cols) -> int:
    """Record an accepted file of `source` with a fresh hash, put in force in the order
    recorded (its `seq`; accepted files of a source are not superseded here)."""
    n = next(_sha)
    cols.setdefault("status", "accepted")
    if cols["status"] in ("accepted", "superseded") and "seq" not in cols:
        with engine.connect() as conn:
            cols["seq"] = conn.execute(
                text("SELECT coalesce(max(seq), 0) + 1 FROM source_file")
            ).scalar()
    return db.record_file(
        engine,
        source=source,
        name=f"{source}-{n}.xlsx",
        rel_path=f"{source}/{source}-{n}.xlsx",
        sha256=f"{n:064x}",
        size=n,
        township_code=township_code,
        **cols,
    )
