"""`current`: which canonical rows are in force (sources.md: a newer submission replaces)."""

from __future__ import annotations

from collections.abc import Iterator

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, text

from tests.warehouse.conftest import add_file
from transforms import frames
from warehouse import db, queries

WUJING, ZHUJI = "440282100", "440282104"


@pytest.fixture(params=["sql", "cached"])
def engine(
    request: pytest.FixtureRequest, db_url: str, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Engine]:
    """Every test twice: reading SQL, and through the Parquet copies of `warehouse.row_cache`
    (each `current` asked twice there, the second answer served from the copy, and both must
    equal what SQL says)."""
    cached = request.param == "cached"
    eng = db.connect(db_url, cache_dir=tmp_path / "rows" if cached else None)
    db.upgrade(eng)
    if cached:
        from_sql = queries._current_from_sql
        plain = db.current

        def twice(bind, kind, year=None, columns=None):  # type: ignore[no-untyped-def]
            truth = from_sql(bind, kind, year, columns)
            first = plain(bind, kind, year, columns)
            monkeypatch.setattr(queries, "_current_from_sql", _no_sql)
            try:
                second = plain(bind, kind, year, columns)
            finally:
                monkeypatch.setattr(queries, "_current_from_sql", from_sql)
            assert first.equals(truth) and second.equals(truth)
            assert first.schema == truth.schema == second.schema
            return second

        monkeypatch.setattr(db, "current", twice)
    yield eng
    eng.dispose()


def _no_sql(*_args, **_kwargs):  # type: ignore[no-untyped-def]
    raise AssertionError("read from SQL although the copy in force was kept")


def _rows(kind: str, file_id: int, n: int, sheet: str = "", **cols: list) -> pl.DataFrame:
    base = {"file_id": [file_id] * n, "sheet": [sheet] * n, "row_no": list(range(2, n + 2)), **cols}
    return frames.conform(pl.DataFrame(base), frames.CANONICAL[kind])


def _households(file_id: int, ids: list[str], township: str) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "file_id": [file_id] * len(ids),
            "household_id": ids,
            "township_code": [township] * len(ids),
            "members": [3] * len(ids),
            "first_row_no": list(range(2, 2 * len(ids) + 2, 2)),
        }
    )


def _load_roster(engine: Engine, township: str, ids: list[str], **file_cols) -> int:
    f = add_file(engine, "townships", township, **file_cols)
    db.write_frame(
        engine,
        "roster_person",
        _rows(
            "roster", f, len(ids), "花名册", household_id=ids, township_code=[township] * len(ids)
        ),
    )
    db.write_frame(
        engine,
        "village",
        _rows("village", f, 1, "贫困村情况表", village=[f"村{f}"], township_code=[township]),
    )
    db.write_frame(engine, "roster_household", _households(f, ids, township))
    return f


def test_empty_warehouse_has_nothing_in_force(engine: Engine) -> None:
    for kind in ("roster", "village", "dibao", "enrolment", "settlement"):
        got = db.current(engine, kind)
        assert got.is_empty() and got.schema == frames.CANONICAL[kind]
    assert db.current(engine, "household").schema == db.table_schema("roster_household")


def test_newer_workbook_replaces_only_its_township(engine: Engine) -> None:
    old = _load_roster(engine, WUJING, ["WJ1", "WJ2"])
    other = _load_roster(engine, ZHUJI, ["ZJ1"])
    new = _load_roster(engine, WUJING, ["WJ1", "WJ3", "WJ4"])
    _load_roster(engine, WUJING, ["BAD"], status="rejected")  # newer, but not accepted
    _load_roster(engine, WUJING, ["LOADING"], status="loading")

    roster = db.current(engine, "roster")
    assert roster.schema == frames.CANONICAL["roster"]
    assert sorted(roster["household_id"]) == ["WJ1", "WJ3", "WJ4", "ZJ1"]
    assert set(roster["file_id"]) == {new, other}
    assert sorted(db.current(engine, "village")["file_id"]) == sorted([new, other])
    assert sorted(db.current(engine, "household")["household_id"]) == ["WJ1", "WJ3", "WJ4", "ZJ1"]

    # Putting the newest in force again changes nothing in force; history stays in the tables.
    assert db.put_in_force(engine, new) == [old]
    assert sorted(db.current(engine, "roster")["household_id"]) == ["WJ1", "WJ3", "WJ4", "ZJ1"]
    assert db.read_frame(engine, "roster_person").filter(pl.col("file_id") == old).height == 2


def test_quarantined_workbook_keeps_the_previous_in_force(engine: Engine) -> None:
    first = _load_roster(engine, WUJING, ["WJ1"])
    bad = add_file(engine, "townships", WUJING, status="quarantined")
    assert bad > first
    assert db.current(engine, "roster")["file_id"].to_list() == [first]


def test_latest_dibao_roll(engine: Engine) -> None:
    d1, d2 = add_file(engine, "dibao"), add_file(engine, "dibao")
    add_file(engine, "dibao", status="rejected")
    db.write_frame(engine, "dibao", _rows("dibao", d1, 3, family_id=["F1", "F2", "F3"]))
    db.write_frame(engine, "dibao", _rows("dibao", d2, 2, family_id=["F2", "F4"]))
    got = db.current(engine, "dibao")
    assert got["family_id"].to_list() == ["F2", "F4"]
    assert got.schema == frames.CANONICAL["dibao"]


def test_enrolment_per_year_from_the_latest_file_holding_it(engine: Engine) -> None:
    f1, f2 = add_file(engine, "insurance"), add_file(engine, "insurance")
    f3 = add_file(engine, "insurance", status="quarantined")
    db.write_frame(
        engine,
        "enrolment",
        _rows(
            "enrolment",
            f1,
            5,
            year=[2016, 2016, 2017, 2017, None],
            insured_key=["a16", "b16", "a17", "b17", "x"],
        ),
    )
    db.write_frame(
        engine,
        "enrolment",
        _rows("enrolment", f2, 3, year=[2017, 2018, 2018], insured_key=["a17'", "a18", "b18"]),
    )
    db.write_frame(engine, "enrolment", _rows("enrolment", f3, 1, year=[2018], insured_key=["q18"]))

    got = db.current(engine, "enrolment")
    assert got.schema == frames.CANONICAL["enrolment"]
    by_year = {y: sorted(g["insured_key"]) for (y,), g in got.group_by("year")}
    assert by_year == {2016: ["a16", "b16"], 2017: ["a17'"], 2018: ["a18", "b18"]}


def test_settlements_union_latest_file_wins_per_key(engine: Engine) -> None:
    c1, c2 = add_file(engine, "claims"), add_file(engine, "claims")
    c3 = add_file(engine, "claims", status="rejected")
    db.write_frame(
        engine,
        "settlement",
        _rows(
            "settlement", c1, 3, settlement_id=["S1", "S2", None], assistance_paid=[1.0, 2.0, 3.0]
        ),
    )
    db.write_frame(
        engine,
        "settlement",
        _rows("settlement", c2, 2, settlement_id=["S2", "S3"], assistance_paid=[20.0, 30.0]),
    )
    db.write_frame(
        engine,
        "settlement",
        _rows("settlement", c3, 1, settlement_id=["S3"], assistance_paid=[999.0]),
    )

    got = db.current(engine, "settlement").sort("settlement_id")
    assert got.select("settlement_id", "file_id", "assistance_paid").rows() == [
        ("S1", c1, 1.0),
        ("S2", c2, 20.0),
        ("S3", c2, 30.0),
    ]


def _issues(file_id: int, rows: list[tuple[str | None, int]], source: str) -> pl.DataFrame:
    return frames.conform(
        pl.DataFrame(
            {
                "kind": ["invalid_id"] * len(rows),
                "key": [f"{source}|{file_id}|{s}|{r}" for s, r in rows],
                "source": [source] * len(rows),
                "file_id": [file_id] * len(rows),
                "sheet": [s for s, _ in rows],
                "row_no": [r for _, r in rows],
            }
        ),
        frames.ISSUE,
    )


def test_issues_in_force_follow_the_rows_in_force(engine: Engine) -> None:
    old = _load_roster(engine, WUJING, ["H1", "H2"])
    new = _load_roster(engine, WUJING, ["H1"])
    db.put_in_force(engine, new)
    f1, f2 = add_file(engine, "insurance"), add_file(engine, "insurance")
    db.write_frame(engine, "enrolment", _rows("enrolment", f1, 2, year=[2016, 2017]))
    db.write_frame(engine, "enrolment", _rows("enrolment", f2, 1, year=[2017]))
    db.record_file_issues(engine, [old], _issues(old, [("花名册", 2)], "roster"), "v1")
    db.record_file_issues(engine, [new], _issues(new, [("花名册", 2)], "roster"), "v1")
    # CSV rows have sheet '' but the issue adapter leaves an issue's empty sheet null
    db.record_file_issues(engine, [f1], _issues(f1, [(None, 2), (None, 3)], "enrolment"), "v1")
    db.record_file_issues(engine, [f2], _issues(f2, [(None, 2), (None, 9)], "enrolment"), "v1")

    got = db.issues_in_force(engine)
    assert got.schema == db.table_schema("file_issue")
    assert sorted(zip(got["file_id"], got["row_no"], strict=True)) == [
        (new, 2),  # the superseded roster's issue is not in force
        (f1, 2),  # f1's 2016 row is in force, its 2017 row (3) is not
        (f2, 2),  # row 9 names no row at all
    ]


def test_file_issues_replace_and_stamp_their_files(engine: Engine) -> None:
    f1, f2 = add_file(engine, "dibao"), add_file(engine, "dibao")
    db.record_file_issues(engine, [f1, f2], _issues(f1, [(None, 2), (None, 3)], "dibao"), "v1")
    assert db.files_to_validate(engine, "v1") == {}
    assert db.files_to_validate(engine, "v2") == {"dibao": [f1, f2]}
    db.record_file_issues(engine, [f1], _issues(f1, [(None, 4)], "dibao"), "v2")
    assert db.read_frame(engine, "file_issue")["row_no"].to_list() == [4]
    assert db.files_to_validate(engine, "v2") == {"dibao": [f2]}
    with pytest.raises(ValueError, match="not among"):
        db.record_file_issues(engine, [f2], _issues(f1, [(None, 5)], "dibao"), "v2")


def test_a_new_township_file_needs_validating_for_both_its_kinds(engine: Engine) -> None:
    f = add_file(engine, "townships", WUJING)
    add_file(engine, "townships", ZHUJI, status="quarantined")
    assert db.files_to_validate(engine, "v1") == {"roster": [f], "village": [f]}


# Files of the insurance source: (status, years of its rows) in the order recorded; the
# accepted ones are put in force in a random order (their seq).
_FILES = st.lists(
    st.tuples(
        st.sampled_from(["accepted", "accepted", "quarantined"]),
        st.lists(st.one_of(st.none(), st.integers(2014, 2019)), min_size=1, max_size=6),
    ),
    min_size=0,
    max_size=5,
)


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(files=_FILES, order=st.randoms(use_true_random=False))
def test_enrolment_in_force_as_values_equals_the_subquery(
    db_url: str, tmp_path, files: list[tuple[str, list[int | None]]], order
) -> None:
    """`enrolment_in_force` (a loose index scan on PostgreSQL) names exactly the rows the
    subquery of `in_force_select` selects, and so do the values given back to it."""
    engine = db.connect(db_url)
    db.upgrade(engine)
    try:
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM enrolment"))
            conn.execute(text("DELETE FROM source_file"))
        seqs = list(range(1, len(files) + 1))
        order.shuffle(seqs)
        for (status, years), seq in zip(files, seqs, strict=True):
            extra = {"seq": seq} if status == "accepted" else {}
            f = add_file(engine, "insurance", status=status, **extra)
            db.write_frame(engine, "enrolment", _rows("enrolment", f, len(years), year=years))
        by_subquery, _, order_by = queries.in_force_select("enrolment")
        pairs = queries.enrolment_in_force(engine)
        by_values, _, _ = queries.in_force_select("enrolment", pairs)
        want = db.read_frame(engine, by_subquery.order_by(*order_by))
        assert db.read_frame(engine, by_values.order_by(*order_by)).equals(want)
        assert sorted(set(zip(want["year"], want["file_id"], strict=True))) == pairs
        assert db.enrolment_years(engine) == sorted(set(want["year"]))
    finally:
        engine.dispose()
