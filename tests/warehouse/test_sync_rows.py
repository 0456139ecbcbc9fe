"""`db.sync_rows`: a table made to hold a frame's rows, writing only the rows that changed."""

from __future__ import annotations

from datetime import date

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from tests.warehouse.conftest import add_file
from warehouse import db

KEY = ("source", "file_id", "sheet", "row_no")
COMPARED = [*KEY, "id_norm", "identity", "tier", "score", "evidence"]


def links(file_id: int, rows: list[tuple]) -> pl.DataFrame:
    """identity_link rows: (row_no, identity, score) each, the rest fixed or derived."""
    schema = {c: t for c, t in db.table_schema("identity_link").items() if c in COMPARED}
    return pl.DataFrame(
        {
            "source": ["roster"] * len(rows),
            "file_id": [file_id] * len(rows),
            "sheet": ["花名册"] * len(rows),
            "row_no": [r[0] for r in rows],
            "id_norm": [r[1] for r in rows],
            "identity": [r[1] for r in rows],
            "tier": ["exact"] * len(rows),
            "score": [r[2] for r in rows],
            "evidence": [None if r[2] is None else '{"名":"张三\x00"}' for r in rows],
        },
        schema=schema,
    ).select(COMPARED)


def stored(engine: Engine) -> pl.DataFrame:
    return db.read_frame(engine, "identity_link").sort("row_no")


def same_rows(engine: Engine, frame: pl.DataFrame) -> bool:
    want = frame.with_columns(pl.col("evidence").str.replace_all("\x00", "", literal=True))
    return stored(engine).select(COMPARED).equals(want.sort("row_no").select(COMPARED))


def test_unchanged_rows_keep_the_run_that_wrote_them(engine: Engine) -> None:
    file_id = add_file(engine, "townships", "440282100")
    runs = [db.start_run(engine, "nightly", date(2018, 6, d), {}) for d in (1, 2, 3, 4)]
    first = links(file_id, [(n, f"ID{n}", n / 3 if n % 3 else None) for n in range(2, 12)])
    assert db.sync_rows(engine, "identity_link", first, KEY, {"run_id": runs[0]}) == (0, 10)
    # The same links (a NUL, a null score, a float as floats round-trip): nothing is written.
    assert db.sync_rows(engine, "identity_link", first, KEY, {"run_id": runs[1]}) == (0, 0)
    assert set(stored(engine)["run_id"]) == {runs[0]}

    # One row changed, one gone, one new: only those are touched.
    second = pl.concat(
        [
            first.filter(~pl.col("row_no").is_in([3, 4])),
            links(file_id, [(3, "OTHER", 1.0), (40, "ID40", None)]),
        ]
    )
    assert db.sync_rows(engine, "identity_link", second, KEY, {"run_id": runs[2]}) == (2, 2)
    assert same_rows(engine, second)
    by_row = dict(stored(engine).select("row_no", "run_id").iter_rows())
    assert by_row[3] == by_row[40] == runs[2] and by_row[2] == runs[0] and 4 not in by_row

    # Most rows changed (a township's new roster): everything is replaced.
    other = add_file(engine, "townships", "440282101")
    third = pl.concat([first.head(2), links(other, [(n, f"N{n}", 0.5) for n in range(2, 12)])])
    assert db.sync_rows(engine, "identity_link", third, KEY, {"run_id": runs[3]}) == (10, 12)
    assert same_rows(engine, third)
    assert set(stored(engine)["run_id"]) == {runs[3]}
    # And to nothing at all.
    assert db.sync_rows(engine, "identity_link", third.head(0), KEY, {"run_id": runs[3]}) == (
        12,
        0,
    )
    assert stored(engine).height == 0


# A night's links as (row_no, identity, score) with row_no unique: drawn small, so that
# consecutive nights share, change and drop rows.
night = st.dictionaries(
    st.integers(2, 30),
    st.tuples(st.sampled_from(["A", "B", None]), st.sampled_from([0.5, 1 / 3, None])),
    max_size=20,
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(nights=st.lists(night, min_size=1, max_size=4))
def test_the_table_always_holds_the_last_frame(sqlite_url: str, nights: list[dict]) -> None:
    engine = db.connect(sqlite_url)
    try:
        db.upgrade(engine)
        db.sync_rows(engine, "identity_link", links(1, []).head(0), KEY, {"run_id": 1})  # empty
        file_id = add_file(engine, "townships", "440282100")
        before = pl.DataFrame()
        for rows in nights:
            run = db.start_run(engine, "nightly", date(2018, 6, 30), {})
            frame = links(file_id, [(n, *v) for n, v in sorted(rows.items())])
            db.sync_rows(engine, "identity_link", frame, KEY, {"run_id": run})
            assert same_rows(engine, frame)
            now = stored(engine)
            if before.height:  # a row written before and equal now still has its old run
                kept = now.join(before, on=COMPARED, how="inner", nulls_equal=True)
                changed = now.height - kept.height
                if 2 * (before.height - kept.height) <= before.height:
                    assert (kept["run_id"] == kept["run_id_right"]).all()
                assert now.filter(pl.col("run_id") == run).height >= changed
            before = now
    finally:
        engine.dispose()
