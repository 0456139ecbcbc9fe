"""A multi-county warehouse: one PostgreSQL database, one schema per county (and one for the
city's extracts), the same tables, migrations, file numbering and run locks in each."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect, text

from tests.warehouse.conftest import add_file
from warehouse import db
from warehouse.locks import try_shared
from warehouse.schema import (
    CITY_CODE,
    SingleCountyDatabase,
    county_of,
    county_schema,
    first_file_id,
)


@pytest.mark.postgres
def test_each_county_has_its_own_tables_and_file_numbers(pg_url: str) -> None:
    engines = {code: db.connect(pg_url, county=code) for code in ("440282", "440281", CITY_CODE)}
    try:
        for engine in engines.values():
            db.upgrade(engine)
            db.upgrade(engine)  # at head: left alone
        with engines["440282"].connect() as conn:
            schemas = set(inspect(conn).get_schema_names())
        assert {"c440282", "c440281", "c440200"} <= schemas
        assert db.counties_in(engines[CITY_CODE]) == ["440281", "440282"]  # the city's is not one
        ids = {code: add_file(e, "townships", f"{code}100") for code, e in engines.items()}
        assert ids == {code: first_file_id(code) for code in engines}
        assert ids["440282"] == 282_000_001 and ids[CITY_CODE] == 200_000_001
        assert add_file(engines["440282"], "dibao") == 282_000_002
        # a county sees its own rows only
        for code, engine in engines.items():
            files = db.read_frame(engine, "source_file")
            assert files["id"].to_list() == (
                [ids[code], ids[code] + 1] if code == "440282" else [ids[code]]
            )
            assert county_of(engine) == code
        # the single-county tables of the database's default schema are not touched
        plain = db.connect(pg_url)
        try:
            with plain.connect() as conn:
                assert not inspect(conn).has_table("source_file", schema="public")
            db.upgrade(plain)  # a single-county warehouse beside them
            assert db.counties_in(plain) == ["440281", "440282"]
            assert county_of(plain) is None
        finally:
            plain.dispose()
    finally:
        for engine in engines.values():
            engine.dispose()


@pytest.mark.postgres
def test_counties_run_side_by_side_but_a_county_runs_once(pg_url: str) -> None:
    a, b, a_again = (db.connect(pg_url, county=c) for c in ("440282", "440281", "440282"))
    try:
        with db.run_lock(a, exclusive=True):
            other = try_shared(b)  # another county is free
            assert other is not None
            other()
            assert try_shared(a_again) is None  # the same county is held
    finally:
        for engine in (a, b, a_again):
            engine.dispose()


def test_sqlite_holds_one_county_and_says_so(sqlite_url: str) -> None:
    with pytest.raises(SingleCountyDatabase, match="PostgreSQL"):
        db.connect(sqlite_url, county="440281")
    engine = db.connect(sqlite_url)
    db.upgrade(engine)
    assert db.counties_in(engine) == []
    engine.dispose()


def test_schema_names_are_county_codes() -> None:
    assert county_schema("440282") == "c440282"
    for bad in ("4402", "44028x", "440282; DROP"):
        with pytest.raises(ValueError):
            county_schema(bad)


@pytest.mark.postgres
@pytest.mark.parametrize("county", [None, "440282"])
def test_sessions_have_no_jit_and_utc(pg_url: str, county: str | None) -> None:
    """JIT compiling cost the issues in force 4.5 of their 7.7 s on a city's extracts."""
    engine = db.connect(pg_url, county=county)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SHOW jit")).scalar() == "off"
            assert conn.execute(text("SHOW timezone")).scalar() == "UTC"
            workers = conn.execute(text("SHOW max_parallel_workers_per_gather")).scalar()
            assert (workers == "0") == (county is not None)  # a city's: Dask is the parallelism
    finally:
        engine.dispose()
