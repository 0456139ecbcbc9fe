"""Frames in and out: typed round trips, nulls, Chinese text, dates; runs and files."""

from __future__ import annotations

from datetime import UTC, date, datetime

import polars as pl
import pytest
from sqlalchemy import Engine, func, select

from tests.warehouse.conftest import add_file
from transforms import frames
from warehouse import db, models

# Text that breaks naive CSV or encodings: separators, quotes, line breaks, full-width and
# ideographic spaces, the empty string (which is not NULL).
AWKWARD_TEXT = ["张　三", "", None, 'a,"b"\n第二行', "４４０２８２", "  尾随空格  ", "\\N", "NULL"]


def _sample(
    schema: dict[str, pl.DataType], file_id: int, n: int = len(AWKWARD_TEXT)
) -> pl.DataFrame:
    """N rows of every column type of `schema`, with a null in each column."""
    values: dict[str, list] = {}
    for i, (name, dtype) in enumerate(schema.items()):
        if name == "file_id":
            values[name] = [file_id] * n
        elif name == "sheet":
            values[name] = ["花名册", ""] * (n // 2) + ["花名册"] * (n % 2)
        elif name == "row_no":
            values[name] = list(range(2, n + 2))
        elif dtype == pl.Utf8:
            values[name] = [AWKWARD_TEXT[(i + k) % len(AWKWARD_TEXT)] for k in range(n)]
        elif dtype == pl.Int64:
            values[name] = [2**53 + 1, -1, 0, None, 2016, 7, 42, 2**62][:n]
        elif dtype == pl.Float64:
            values[name] = [7365.55, 1 / 3, None, -0.0, 1e-9, 123456789.125, 0.1, 3e15][:n]
        elif dtype == pl.Date:
            values[name] = [date(2016, 5, 1), None, date(1900, 1, 1), date(2099, 12, 31)] * (
                n // 4
            ) + [None] * (n % 4)
        elif dtype == pl.Boolean:
            values[name] = [True, False, None, True, False, True, None, False][:n]
    return pl.DataFrame(values, schema=schema)


@pytest.mark.parametrize("kind", list(frames.CANONICAL))
def test_canonical_round_trip(engine: Engine, kind: str) -> None:
    schema = frames.CANONICAL[kind]
    frame = _sample(schema, add_file(engine, "townships", "440282100"))
    assert db.write_frame(engine, models.CANONICAL_TABLES[kind], frame) == frame.height
    back = db.read_frame(engine, models.CANONICAL_TABLES[kind])
    assert back.schema == frame.schema
    assert back.sort("row_no").equals(frame)


@pytest.mark.parametrize("kind", list(frames.STAGED_SOURCES))
def test_staged_round_trip(engine: Engine, kind: str) -> None:
    schema = frames.staged_schema(frames.STAGED_SOURCES[kind])
    frame = _sample(schema, add_file(engine, "dibao")).with_columns(
        extra=pl.lit('{"备注": "手写, \\"补录\\""}')
    )
    db.write_staged(engine, frame["file_id"][0], kind, frame)
    assert db.read_staged(engine, frame["file_id"][0], kind).equals(frame)
    assert db.read_staged(engine, frame["file_id"][0] + 1, kind) is None


def test_staged_rows_of_a_file_are_replaced_not_doubled(engine: Engine) -> None:
    schema = frames.staged_schema(frames.STAGED_SOURCES["dibao"])
    file_id = add_file(engine, "dibao")
    db.write_staged(engine, file_id, "dibao", _sample(schema, file_id))
    db.write_staged(engine, file_id, "dibao", _sample(schema, file_id, n=2))
    assert db.read_staged(engine, file_id, "dibao").height == 2


def test_write_frame_takes_a_subset_of_columns_and_casts(engine: Engine) -> None:
    file_id = add_file(engine, "claims")
    frame = pl.DataFrame(
        {
            "file_id": [file_id],
            "sheet": [""],
            "row_no": [2],
            "settlement_id": ["JS001"],
            "eligible_cost": [100],
        }
    )
    db.write_frame(engine, "settlement", frame)
    back = db.read_frame(engine, "settlement")
    assert back.schema == frames.CANONICAL["settlement"]
    assert back.row(0, named=True)["eligible_cost"] == 100.0
    assert back.row(0, named=True)["assistance_paid"] is None


def test_write_frame_refuses_unknown_columns(engine: Engine) -> None:
    frame = pl.DataFrame({"file_id": [1], "sheet": [""], "row_no": [1], "nickname": ["x"]})
    with pytest.raises(ValueError, match="nickname"):
        db.write_frame(engine, "settlement", frame)
    with pytest.raises(KeyError, match="no warehouse table"):
        db.write_frame(engine, "settlements", frame)


def test_empty_frame_writes_nothing(engine: Engine) -> None:
    assert db.write_frame(engine, "dibao", frames.empty(frames.CANONICAL["dibao"])) == 0
    assert db.read_frame(engine, "dibao").schema == frames.CANONICAL["dibao"]


def test_write_frame_is_one_transaction(engine: Engine) -> None:
    """A row that breaks the key rolls back the whole frame (COPY and executemany alike)."""
    file_id = add_file(engine, "insurance")
    frame = frames.conform(
        pl.DataFrame({"file_id": [file_id] * 3, "sheet": [""] * 3, "row_no": [2, 3, 2]}),
        frames.CANONICAL["enrolment"],
    )
    with pytest.raises(Exception, match="(?i)unique|duplicate"):
        db.write_frame(engine, "enrolment", frame)
    assert db.read_frame(engine, "enrolment").is_empty()


def test_writes_join_the_callers_transaction(engine: Engine) -> None:
    file_id = add_file(engine, "insurance")
    frame = frames.conform(
        pl.DataFrame({"file_id": [file_id], "sheet": [""], "row_no": [2], "year": [2018]}),
        frames.CANONICAL["enrolment"],
    )
    with pytest.raises(RuntimeError), engine.begin() as conn:
        db.delete_rows(conn, "enrolment", file_id)
        db.write_frame(conn, "enrolment", frame)
        assert db.read_frame(conn, "enrolment").height == 1  # visible inside
        raise RuntimeError
    assert db.read_frame(engine, "enrolment").is_empty()


def test_foreign_key_to_source_file_is_enforced(engine: Engine) -> None:
    frame = pl.DataFrame({"file_id": [999], "sheet": [""], "row_no": [2]})
    with pytest.raises(Exception, match="(?i)foreign key"):
        db.write_frame(engine, "dibao", frame)


def test_nul_characters_are_dropped(engine: Engine) -> None:
    file_id = add_file(engine, "dibao")
    frame = pl.DataFrame({"file_id": [file_id], "sheet": [""], "row_no": [2], "name": ["李\x00四"]})
    db.write_frame(engine, "dibao", frame)
    assert db.read_frame(engine, "dibao")["name"].to_list() == ["李四"]


def test_read_frame_sql_text_select_and_params(engine: Engine) -> None:
    f = add_file(engine, "insurance")
    frame = frames.conform(
        pl.DataFrame(
            {
                "file_id": [f] * 3,
                "sheet": [""] * 3,
                "row_no": [2, 3, 4],
                "name": ["王五", "赵六", None],
                "year": [2017, 2018, 2018],
                "birth_date": [date(1950, 3, 1), None, date(2010, 12, 31)],
            }
        ),
        frames.CANONICAL["enrolment"],
    )
    db.write_frame(engine, "enrolment", frame)

    typed = db.read_frame(
        engine,
        "SELECT name, birth_date, year FROM enrolment WHERE year = :y ORDER BY row_no",
        {"y": 2018},
        schema={"name": pl.Utf8, "birth_date": pl.Date, "year": pl.Int64},
    )
    assert typed.to_dicts() == [
        {"name": "赵六", "birth_date": None, "year": 2018},
        {"name": None, "birth_date": date(2010, 12, 31), "year": 2018},
    ]

    enrolment = models.Enrolment.__table__
    stmt = select(enrolment.c.row_no, enrolment.c.birth_date).where(
        enrolment.c.year.in_([2017, 2018]), enrolment.c.name.like("%五%")
    )
    assert db.read_frame(engine, stmt).to_dicts() == [{"row_no": 2, "birth_date": date(1950, 3, 1)}]

    summary = select(func.count(), func.max(enrolment.c.birth_date), enrolment.c.year + 1)
    got = db.read_frame(engine, summary.group_by(enrolment.c.year).order_by(enrolment.c.year))
    assert got.dtypes == [pl.Int64, pl.Date, pl.Int64]
    assert got.rows() == [(1, date(1950, 3, 1), 2018), (2, date(2010, 12, 31), 2019)]

    late = db.read_frame(engine, "SELECT name, year FROM enrolment ORDER BY row_no DESC")
    assert late.to_dicts()[0] == {"name": None, "year": 2018}  # a leading null: still inferred

    counted = db.read_frame(
        engine, "SELECT year, count(*) AS n FROM enrolment GROUP BY year ORDER BY year"
    )
    assert counted.to_dicts() == [{"year": 2017, "n": 1}, {"year": 2018, "n": 2}]

    empty = db.read_frame(engine, "SELECT name, year FROM enrolment WHERE year > 3000")
    assert empty.height == 0 and empty.columns == ["name", "year"]


def test_delete_and_replace_rows(engine: Engine, run_id: int) -> None:
    a, b = add_file(engine, "dibao"), add_file(engine, "dibao")
    for f in (a, b):
        db.write_frame(
            engine, "dibao", pl.DataFrame({"file_id": [f, f], "sheet": ["", ""], "row_no": [2, 3]})
        )
    assert db.delete_rows(engine, "dibao", a) == 2
    assert db.read_frame(engine, "dibao")["file_id"].unique().to_list() == [b]

    def indicators(period: str, value: float) -> pl.DataFrame:
        return pl.DataFrame(
            {
                "run_id": [run_id],
                "period": [period],
                "level": ["city"],
                "entity_code": ["440282"],
                "entity_name": ["南雄市"],
                "indicator": ["insured_share"],
                "value": [value],
                "unit": ["%"],
            }
        )

    db.replace_rows(engine, "indicator", indicators("2018H1", 0.9), {"period": "2018H1"})
    db.replace_rows(engine, "indicator", indicators("2018", 0.95), {"period": ["2018"]})
    db.replace_rows(engine, "indicator", indicators("2018H1", 0.97), {"period": "2018H1"})
    got = db.read_frame(engine, "indicator").sort("period")
    assert got.select("period", "value").to_dicts() == [
        {"period": "2018", "value": 0.95},
        {"period": "2018H1", "value": 0.97},
    ]
    db.replace_rows(engine, "indicator", indicators("2019", 1.0))  # no filter: the whole table
    assert db.read_frame(engine, "indicator")["period"].to_list() == ["2019"]


def test_runs(engine: Engine) -> None:
    run_id = db.start_run(
        engine, "report", date(2018, 12, 31), {"period": "2018H2", "乡镇": "全部"}
    )
    db.finish_run(engine, run_id, "needs_attention", {"quarantined": 2})
    run = db.read_frame(engine, "run").row(0, named=True)
    assert run["flow"] == "report" and run["as_of"] == date(2018, 12, 31)
    assert run["status"] == "needs_attention"
    assert run["params"] == '{"period": "2018H2", "乡镇": "全部"}'
    assert run["stats"] == '{"quarantined": 2}'
    assert run["started_at"] <= run["finished_at"] <= datetime.now(UTC)
    with pytest.raises(Exception, match="(?i)check"):
        db.start_run(engine, "weekly", date(2018, 1, 1))


def test_files(engine: Engine, run_id: int) -> None:
    sha = "f" * 64
    assert db.file_by_sha(engine, sha) is None
    file_id = db.record_file(
        engine,
        source="townships",
        name="珠玑镇花名册（2018年6月）.xlsx",
        rel_path="townships/珠玑镇花名册（2018年6月）.xlsx",
        sha256=sha,
        size=12345,
        run_id=run_id,
        status="loading",
        sheets={"花名册": 120},
    )
    db.set_file_status(engine, file_id, "quarantined", "文件已加密，无法读取")
    got = db.file_by_sha(engine, sha)
    assert got is not None
    assert got["id"] == file_id and got["status"] == "quarantined"
    assert got["reason"] == "文件已加密，无法读取"
    assert got["sheets"] == '{"花名册": 120}'
    assert got["received_at"].tzinfo is not None

    db.set_file_status(engine, file_id, "accepted", township_code="440282104", rows_loaded=118)
    got = db.file_by_sha(engine, sha)
    assert got is not None
    assert (got["status"], got["reason"], got["township_code"], got["rows_loaded"]) == (
        "accepted",
        None,
        "440282104",
        118,
    )
    with pytest.raises(Exception, match="(?i)unique"):
        db.record_file(
            engine, source="dibao", name="x", rel_path="x", sha256=sha, size=1, status="accepted"
        )
    with pytest.raises(ValueError, match="colour"):
        db.set_file_status(engine, file_id, "accepted", colour="red")


def test_put_in_force(engine: Engine) -> None:
    a1 = add_file(engine, "townships", "440282100")
    b1 = add_file(engine, "townships", "440282101")
    bad = add_file(engine, "townships", "440282100", status="rejected")
    a2 = add_file(engine, "townships", "440282100")
    d1, d2 = add_file(engine, "dibao"), add_file(engine, "dibao")
    e1, e2 = add_file(engine, "insurance"), add_file(engine, "insurance")

    assert db.put_in_force(engine, a2) == [a1]
    assert db.put_in_force(engine, d2) == [d1]
    assert db.put_in_force(engine, e2) == []
    status = dict(db.read_frame(engine, "SELECT id, status FROM source_file").iter_rows())
    assert status == {
        a1: "superseded",
        b1: "accepted",
        bad: "rejected",
        a2: "accepted",
        d1: "superseded",
        d2: "accepted",
        e1: "accepted",
        e2: "accepted",
    }
    reasons = db.read_frame(engine, "source_file").filter(pl.col("id") == a1)["reason"]
    assert reasons.to_list() == [f"已被更新的报送替代（文件 #{a2}）"]
    # The newest is the one put in force last, whatever its arrival: a1 back in force.
    held = add_file(engine, "townships", "440282100", status="held")
    assert db.in_force_file(engine, "townships", "440282100")["id"] == a2
    assert db.put_in_force(engine, held) == [a2]
    assert db.in_force_file(engine, "townships", "440282100")["id"] == held
    seqs = db.read_frame(engine, "SELECT seq FROM source_file WHERE seq IS NOT NULL")["seq"]
    assert seqs.n_unique() == seqs.len()


def test_timestamps_are_utc(engine: Engine, run_id: int) -> None:
    aware = datetime(2018, 7, 1, 2, 0, 5, 123456, tzinfo=UTC)
    frame = pl.DataFrame(
        {
            "run_id": [run_id, run_id],
            "township_code": ["440282100", None],  # None: the office's city digest
            "channel": ["wecom", "email"],
            "sent_at": [aware, None],
            "status": ["sent", "failed"],
            "counts": ['{"new": 3}', None],
        }
    )
    db.write_frame(engine, "alert", frame)
    naive = frame.head(1).with_columns(pl.col("sent_at").dt.replace_time_zone(None))
    db.write_frame(engine, "alert", naive)  # naive timestamps are taken as UTC
    got = db.read_frame(engine, "alert").sort("id")
    assert got.schema["sent_at"] == pl.Datetime("us", "UTC")
    assert got["sent_at"].to_list() == [aware, None, aware]
    assert got["id"].to_list() == [1, 2, 3]


def test_staged_rows_read_as_a_table_give_the_document_back(engine: Engine) -> None:
    schema = frames.staged_schema(frames.STAGED_SOURCES["dibao"])
    file_id = add_file(engine, "dibao")
    frame = _sample(schema, file_id)
    db.write_staged(engine, file_id, "dibao", frame)
    row = db.read_frame(engine, "staged_rows").row(0, named=True)
    assert (row["file_id"], row["kind"], row["rows"]) == (file_id, "dibao", frame.height)
    assert row["parquet"] == db.staged_document(frame)
