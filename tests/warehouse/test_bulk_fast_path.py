"""SQLite's Arrow fast path (ADBC scratch file + ATTACH) holds the same data and transactions
as the row path; on PostgreSQL the same tests check that nothing changed."""

from __future__ import annotations

import tempfile
from datetime import date
from pathlib import Path

import polars as pl
import pytest
from sqlalchemy import Engine, select, text

from tests.warehouse.conftest import add_file
from tests.warehouse.test_frames_io import _sample
from transforms import frames
from warehouse import _sqlite_arrow, bulk, db, models


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, int]:
    """Every write takes the Arrow path; counts the fast writes and reads that really ran."""
    calls = {"insert": 0, "fetch": 0}
    insert, fetch = _sqlite_arrow.insert, _sqlite_arrow.fetch

    def counted_insert(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls["insert"] += 1
        return insert(*args, **kwargs)

    def counted_fetch(*args, **kwargs):  # type: ignore[no-untyped-def]
        got = fetch(*args, **kwargs)
        calls["fetch"] += got is not None
        return got

    monkeypatch.setattr(bulk, "ARROW_MIN_ROWS", 1)
    monkeypatch.setattr(bulk, "ARROW_FIRST_ROWS", 1)
    monkeypatch.setattr(bulk, "SMALL_ROWS", 0)
    monkeypatch.setattr(_sqlite_arrow, "insert", counted_insert)
    monkeypatch.setattr(_sqlite_arrow, "fetch", counted_fetch)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    calls["scratch"] = scratch  # type: ignore[assignment]
    return calls


def _sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def _attached(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        rows = conn.exec_driver_sql("PRAGMA database_list").all()
    return [r[1] for r in rows if r[1].startswith(_sqlite_arrow.SCHEMA_PREFIX)]


@pytest.mark.parametrize("kind", ["roster", "enrolment", "settlement"])
def test_fast_round_trip_keeps_every_value(engine: Engine, spy: dict, kind: str) -> None:
    """NULLs, Chinese and awkward text, dates, booleans, big integers and floats, exactly."""
    schema = frames.CANONICAL[kind]
    frame = _sample(schema, add_file(engine, "townships", "440282100"))
    db.write_frame(engine, models.CANONICAL_TABLES[kind], frame)
    back = db.read_frame(engine, models.CANONICAL_TABLES[kind])
    assert back.schema == frame.schema
    assert back.sort("row_no").equals(frame)
    if _sqlite(engine):
        assert spy["insert"] == 1 and spy["fetch"] == 1
        assert _attached(engine) == []
        assert list(spy["scratch"].iterdir()) == []


def test_fast_path_stores_what_the_row_path_stores(
    engine: Engine, spy: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Same text in the file either way: dates, timestamps, booleans as SQLAlchemy writes them."""
    file_id = add_file(engine, "insurance")
    frame = _sample(frames.CANONICAL["enrolment"], file_id)
    table = models.CANONICAL_TABLES["enrolment"]
    db.write_frame(engine, table, frame.filter(pl.col("row_no") % 2 == 0))
    monkeypatch.setattr(bulk, "ARROW_MIN_ROWS", 10**9)  # the row path
    monkeypatch.setattr(bulk, "ARROW_FIRST_ROWS", 10**9)
    db.write_frame(engine, table, frame.filter(pl.col("row_no") % 2 == 1))
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(f"SELECT * FROM {table} ORDER BY row_no").all()
        types = (
            conn.exec_driver_sql(
                f"SELECT typeof(birth_date), typeof(row_no) FROM {table} ORDER BY row_no"
            ).all()
            if _sqlite(engine)
            else []
        )
    assert len(rows) == frame.height
    if _sqlite(engine):
        assert {t for t in types} <= {("text", "integer"), ("null", "integer")}
        stored = dict(
            db.read_frame(
                engine,
                f"SELECT row_no, birth_date FROM {table} WHERE birth_date IS NOT NULL",
                schema={"birth_date": pl.Utf8},
            ).iter_rows()
        )
        assert set(stored.values()) <= {"2016-05-01", "1900-01-01", "2099-12-31"}
    assert db.read_frame(engine, table).sort("row_no").equals(frame)


def test_a_sliced_write_keeps_every_row_in_order(
    engine: Engine, spy: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_sqlite_arrow, "SLICE_ROWS", 3)  # 8 rows: three slices, two threads
    frame = _sample(frames.CANONICAL["settlement"], add_file(engine, "claims"))
    db.write_frame(engine, "settlement", frame)
    assert db.read_frame(engine, "settlement").sort("row_no").equals(frame)
    if _sqlite(engine):
        assert _attached(engine) == []
        assert list(spy["scratch"].iterdir()) == []


def test_nul_characters_are_dropped_on_the_fast_path(engine: Engine, spy: dict) -> None:
    file_id = add_file(engine, "dibao")
    frame = pl.DataFrame(
        {"file_id": [file_id] * 2, "sheet": [""] * 2, "row_no": [2, 3], "name": ["李\x00四", None]}
    )
    db.write_frame(engine, "dibao", frame)
    assert db.read_frame(engine, "dibao").sort("row_no")["name"].to_list() == ["李四", None]


@pytest.mark.parametrize("slice_rows", [None, 1_000], ids=["one slice", "sliced"])
def test_fast_write_is_one_transaction(
    engine: Engine, spy: dict, monkeypatch: pytest.MonkeyPatch, slice_rows: int | None
) -> None:
    if slice_rows:
        monkeypatch.setattr(_sqlite_arrow, "SLICE_ROWS", slice_rows)
    file_id = add_file(engine, "insurance")
    rows = list(range(2, 5_002)) + [2]  # the last row (so the last slice) breaks the key
    frame = frames.conform(
        pl.DataFrame({"file_id": [file_id] * len(rows), "sheet": [""] * len(rows), "row_no": rows}),
        frames.CANONICAL["enrolment"],
    )
    with pytest.raises(Exception, match="(?i)unique|duplicate"):
        db.write_frame(engine, "enrolment", frame)
    assert db.read_frame(engine, "enrolment").is_empty()
    with pytest.raises(Exception, match="(?i)foreign key"):
        db.write_frame(
            engine, "dibao", pl.DataFrame({"file_id": [999], "sheet": [""], "row_no": [2]})
        )
    assert db.read_frame(engine, "dibao").is_empty()
    if _sqlite(engine):
        assert _attached(engine) == []
        assert list(spy["scratch"].iterdir()) == []


def test_fast_writes_join_the_callers_transaction(engine: Engine, spy: dict) -> None:
    file_id = add_file(engine, "insurance")

    def rows(start: int) -> pl.DataFrame:
        return frames.conform(
            pl.DataFrame(
                {
                    "file_id": [file_id] * 3,
                    "sheet": [""] * 3,
                    "row_no": [start, start + 1, start + 2],
                    "name": ["张三", None, "王五"],
                    "year": [2018] * 3,
                }
            ),
            frames.CANONICAL["enrolment"],
        )

    with pytest.raises(RuntimeError), engine.begin() as conn:
        for start in range(2, 40, 3):  # more scratch files than SQLite's 10 attachments
            db.write_frame(conn, "enrolment", rows(start))
        assert db.read_frame(conn, "enrolment").height == 39  # uncommitted, seen inside
        raise RuntimeError
    assert db.read_frame(engine, "enrolment").is_empty()

    with engine.begin() as conn:
        db.replace_rows(conn, "enrolment", rows(2), {"file_id": file_id})
        db.write_frame(conn, "enrolment", rows(5))
    got = db.read_frame(engine, "enrolment").sort("row_no")
    assert got["row_no"].to_list() == [2, 3, 4, 5, 6, 7]
    assert got["name"].to_list() == ["张三", None, "王五"] * 2
    if _sqlite(engine):
        assert spy["insert"] == 13 + 2  # the last five of the 13 took the row path
        assert _attached(engine) == []  # detached once the transactions ended
        assert list(spy["scratch"].iterdir()) == []


def test_fast_read_agrees_with_the_row_read(engine: Engine, spy: dict) -> None:
    """current(), SQL text with parameters, empty and date-parameter reads."""
    f = add_file(engine, "insurance")
    n = 3_000
    frame = frames.conform(
        pl.DataFrame(
            {
                "file_id": [f] * n,
                "sheet": [""] * n,
                "row_no": list(range(2, n + 2)),
                "name": [None] * 2_000 + ["赵六"] * 1_000,  # leading nulls: still text
                "year": [2018] * n,
                "birth_date": [date(1950, 3, 1), None, date(2010, 12, 31)] * 1_000,
            }
        ),
        frames.CANONICAL["enrolment"],
    )
    db.write_frame(engine, "enrolment", frame)
    now = db.current(engine, "enrolment")
    assert now.equals(frame)
    with engine.connect() as conn:  # a Connection: the row path
        assert db.current(conn, "enrolment").equals(now)

    named = db.read_frame(
        engine,
        "SELECT name, count(*) AS n FROM enrolment WHERE year = :y GROUP BY name ORDER BY n DESC",
        {"y": 2018},
    )
    assert named.to_dicts() == [{"name": None, "n": 2_000}, {"name": "赵六", "n": 1_000}]
    dated = db.read_frame(
        engine,
        text("SELECT row_no FROM enrolment WHERE birth_date = :d ORDER BY row_no LIMIT 2"),
        {"d": date(2010, 12, 31)},
    )
    assert dated["row_no"].to_list() == [4, 7]
    empty = db.read_frame(engine, "SELECT name, year FROM enrolment WHERE year > 3000")
    assert empty.height == 0 and empty.columns == ["name", "year"]
    with pytest.raises(Exception, match="(?i)no such column|does not exist"):
        db.read_frame(engine, "SELECT nickname FROM enrolment")
    if _sqlite(engine):
        assert spy["fetch"] >= 3  # current, named, empty; the date parameter took the rows
        assert _attached(engine) == []
        assert list(spy["scratch"].iterdir()) == []


def test_the_path_follows_the_size(
    tmp_path: Path, spy: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite: a typed read below SMALL_ROWS is read as tuples, one at or above it (or one
    marked `large`) through Arrow, with the same frame; before the driver is loaded only an
    insert of ARROW_FIRST_ROWS or more takes the Arrow path."""
    engine = db.connect(f"sqlite:///{tmp_path / 'w.db'}")
    db.upgrade(engine)
    monkeypatch.setattr(bulk, "SMALL_ROWS", 50)
    f = add_file(engine, "insurance")
    frame = _sample(frames.CANONICAL["enrolment"], f)
    assert frame.height < 50
    monkeypatch.setattr(_sqlite_arrow, "loaded", lambda: False)
    monkeypatch.setattr(bulk, "ARROW_FIRST_ROWS", frame.height + 1)
    db.write_frame(engine, "enrolment", frame)
    assert spy["insert"] == 0
    monkeypatch.setattr(bulk, "ARROW_FIRST_ROWS", frame.height)
    db.write_frame(
        engine, "enrolment", frame.with_columns(file_id=pl.lit(add_file(engine, "insurance")))
    )
    assert spy["insert"] == 1

    small = db.read_frame(engine, "enrolment")
    assert spy["fetch"] == 0
    assert small.height == 2 * frame.height
    monkeypatch.setattr(bulk, "SMALL_ROWS", small.height)  # exactly at the bound: Arrow
    assert db.read_frame(engine, "enrolment").equals(small)
    assert spy["fetch"] == 1
    monkeypatch.setattr(bulk, "SMALL_ROWS", 10**6)
    stmt = select(models.table("enrolment")).order_by(text("file_id, row_no"))
    assert db.read_frame(engine, stmt, large=True).equals(db.read_frame(engine, stmt))
    assert spy["fetch"] == 2
    engine.dispose()


EVIDENCE = [
    [{"source": "roster", "file_id": 1, "sheet": "花名册", "row_no": 5}],
    [
        {"source": "roster", "file_id": 1, "sheet": 'a,"b"\n第二行\\', "row_no": None},
        {"source": "dibao", "file_id": 2, "sheet": "", "row_no": 3},
    ],
    [],
    None,
]
EVIDENCE_TEXT = [
    '[{"source":"roster","file_id":1,"sheet":"花名册","row_no":5}]',
    '[{"source":"roster","file_id":1,"sheet":"a,\\"b\\"\\n第二行\\\\","row_no":null},'
    '{"source":"dibao","file_id":2,"sheet":"","row_no":3}]',
    "[]",
    None,
]


def _findings(prefix: str) -> pl.DataFrame:
    n = len(EVIDENCE)
    return pl.DataFrame(
        {
            "rule": ["R01"] * n,
            "key": [f"R01:{prefix}{i}" for i in range(n)],
            "status": ["open"] * n,
            "first_seen": [date(2018, 6, 30)] * n,
            "last_seen": [date(2018, 6, 30)] * n,
            "reopened": [0] * n,
            "evidence": EVIDENCE,
        },
        schema_overrides={"evidence": frames.FINDING["evidence"]},
    )


def test_evidence_is_stored_as_json_text_and_read_back_on_every_path(
    engine: Engine, spy: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A finding's evidence (a list of structs) is the same JSON text whichever path wrote
    it, and the same rows whichever path reads it."""
    db.write_frame(engine, "finding", _findings("fast-"))
    monkeypatch.setattr(bulk, "ARROW_MIN_ROWS", 10**9)  # the row path
    monkeypatch.setattr(bulk, "ARROW_FIRST_ROWS", 10**9)
    db.write_frame(engine, "finding", _findings("rows-"))
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT evidence FROM finding ORDER BY key")).scalars().all()
        by_rows = db.read_frame(conn, "finding")  # a Connection: plain tuples
    assert stored == EVIDENCE_TEXT * 2
    by_arrow = db.read_frame(engine, "finding")
    for back in (by_rows, by_arrow):
        assert back.schema["evidence"] == frames.FINDING["evidence"]
        assert back.sort("key")["evidence"].to_list() == EVIDENCE * 2
    if _sqlite(engine):
        assert spy["insert"] == 1 and spy["fetch"] == 1
