"""After a bulk load PostgreSQL gets fresh planner statistics at once (not minutes later from
autovacuum); on SQLite the call does nothing and costs nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, text

from tests.warehouse.conftest import add_file
from warehouse import db


def test_tables_are_analyzed_after_a_load(engine: Engine) -> None:
    add_file(engine, "dibao")
    db.refresh_statistics(engine, ["source_file", "dibao"])
    if engine.dialect.name != "postgresql":
        return
    with engine.connect() as conn:
        analyzed = conn.execute(
            text(
                "SELECT relname FROM pg_stat_user_tables "
                "WHERE last_analyze IS NOT NULL AND relname IN ('source_file', 'dibao', 'enrolment')"
            )
        ).scalars()
        assert sorted(analyzed) == ["dibao", "source_file"]


def test_only_warehouse_tables_can_be_named(engine: Engine) -> None:
    with pytest.raises(KeyError):
        db.refresh_statistics(engine, ["run; DROP TABLE run"])
