"""The schema: migrations reach head on empty databases and agree with the models."""

from __future__ import annotations

import io
import re
from datetime import date
from pathlib import Path

import alembic.command
import polars as pl
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect, text

from transforms import frames
from warehouse import db, models
from warehouse import schema as warehouse_schema
from warehouse.bulk import table_schema


def test_upgrade_head_on_an_empty_database(db_url: str) -> None:
    db.upgrade(db_url)
    engine = db.connect(db_url)
    try:
        names = set(inspect(engine).get_table_names())
        assert names == set(models.Base.metadata.tables) | {"alembic_version"}
        head = ScriptDirectory.from_config(db.alembic_config()).get_current_head()
        with engine.connect() as conn:
            assert MigrationContext.configure(conn).get_current_revision() == head
        db.upgrade(engine)  # again: nothing to do, nothing breaks
    finally:
        engine.dispose()


def test_the_head_read_off_the_files_is_alembics() -> None:
    """`head_revision` reads the revision headers without importing Alembic; Alembic's
    own script directory must agree."""
    script = ScriptDirectory.from_config(warehouse_schema.alembic_config())
    assert db.head_revision() == script.get_current_head()


def test_a_database_at_head_is_not_migrated_again(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every run calls upgrade; at head it runs no migration (nor its whole-database
    foreign-key check), below head it migrates."""
    engine = db.connect(db_url)
    try:
        db.upgrade(engine, "0005")
        assert db.revision_of(engine) == "0005"
        db.upgrade(engine)
        assert db.revision_of(engine) == db.head_revision() != "0005"

        def refuse(*args: object, **kwargs: object) -> None:
            raise AssertionError("migrated a database at head")

        monkeypatch.setattr(alembic.command, "upgrade", refuse)
        db.upgrade(engine)
    finally:
        engine.dispose()


def test_models_and_migrations_do_not_drift(engine: Engine) -> None:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, models.Base.metadata) == []


def _normal(sql: str) -> str:
    return re.sub(r"[\s()\"]", "", sql).lower()


def _undo_postgres(sql: str) -> str:
    """PostgreSQL reports `x IN ('a')` as `(x)::text = ANY ((ARRAY['a'::character varying])::text[])`."""
    sql = re.sub(r"::[a-z ]+(\[\])?", "", sql)
    return re.sub(r"=\s*ANY\s*\(\(?ARRAY\[(.*?)\]\)?\)", r"IN (\1)", sql)


def test_check_constraints_match_models(engine: Engine) -> None:
    """Autogenerate ignores CHECK constraints; compare them here."""
    inspector = inspect(engine)
    for table in models.Base.metadata.sorted_tables:
        expected = {
            c.name: _normal(str(c.sqltext))
            for c in table.constraints
            if c.__class__.__name__ == "CheckConstraint"
        }
        found = {
            c["name"]: _normal(_undo_postgres(c["sqltext"]))
            for c in inspector.get_check_constraints(table.name)
        }
        assert found == expected, table.name


def test_upgrade_needs_no_working_directory(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    db.upgrade(sqlite_url)
    engine = db.connect(sqlite_url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM finding")).scalar() == 0
    engine.dispose()


def test_contract_tables_mirror_the_frames() -> None:
    for kind, schema in frames.CANONICAL.items():
        assert table_schema(models.CANONICAL_TABLES[kind]) == schema
    for table, contract in (
        ("finding", frames.FINDING),
        ("dq_issue", frames.ISSUE),
        ("file_issue", frames.ISSUE),
    ):
        have = table_schema(table)
        assert {c: have[c] for c in contract} == contract
    assert table_schema("identity_link")["score"] == pl.Float64


def test_contract_tables_are_keyed_by_provenance() -> None:
    for name in models.CANONICAL_TABLES.values():
        pk = [c.name for c in models.table(name).primary_key.columns]
        assert pk == ["file_id", "sheet", "row_no"], name


def test_sqlite_connection_settings(sqlite_url: str) -> None:
    engine = db.connect(sqlite_url)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == db.SQLITE_BUSY_TIMEOUT_MS
    engine.dispose()


def test_sqlite_transactions_cover_ddl(sqlite_url: str) -> None:
    """SQLAlchemy emits BEGIN itself, so a failed migration step leaves nothing behind."""
    engine = db.connect(sqlite_url)
    with pytest.raises(RuntimeError), engine.begin() as conn:
        conn.execute(text("CREATE TABLE scratch (x INTEGER)"))
        raise RuntimeError
    assert "scratch" not in inspect(engine).get_table_names()
    engine.dispose()


def test_connect_urls() -> None:
    pg = db.connect("postgresql://postgres@127.0.0.1:5432/x")
    assert pg.dialect.driver == "psycopg"
    pg.dispose()
    with pytest.raises(ValueError, match="psycopg"):
        db.connect("postgresql+psycopg2://postgres@127.0.0.1/x")
    with pytest.raises(ValueError, match="unsupported"):
        db.connect("mysql://u@h/x")


def test_0004_keeps_the_staged_rows_it_moves_out_of_the_stg_tables(db_url: str) -> None:
    db.upgrade(db_url, "0003")
    engine = db.connect(db_url)
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO source_file (id, source, name, rel_path, sha256, size, "
                    "received_at, status) VALUES (7, 'dibao', 'd.csv', 'dibao/d.csv', 'ab', 1, "
                    "'2018-06-30 00:00:00', 'accepted')"
                )
            )
            for row_no, name in ((3, "李四"), (2, "张　三")):
                conn.execute(
                    text(
                        "INSERT INTO stg_dibao (file_id, sheet, row_no, name, extra) "
                        "VALUES (7, '', :row_no, :name, '{\"备注\": \"补录\"}')"
                    ),
                    {"row_no": row_no, "name": name},
                )
        db.upgrade(engine)
        staged = db.read_staged(engine, 7, "dibao")
        assert staged is not None
        assert staged["row_no"].to_list() == [2, 3]
        assert staged["name"].to_list() == ["张　三", "李四"]
        assert staged["extra"][0] == '{"备注": "补录"}'
        assert staged["id_number"].to_list() == [None, None]
        assert "stg_dibao" not in inspect(engine).get_table_names()
    finally:
        engine.dispose()


def test_0005_keys_issues_by_the_register_and_merges_the_same_problem_in_two_files(
    db_url: str,
) -> None:
    """A warehouse of the file-keyed era: a township sent its roster twice, the old key told
    the same problem in the two files apart (resolved in one, opened anew in the other)."""
    from config.schema import ROSTER
    from transforms.frames import staged_schema

    db.upgrade(db_url, "0004")
    engine = db.connect(db_url)
    zhuji, person = "440282113", "440282196309020427"
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO run (id, flow, as_of, started_at, status) VALUES "
                    "(1, 'nightly', '2018-06-30', '2018-06-30 02:00:00', 'succeeded'), "
                    "(2, 'nightly', '2018-07-31', '2018-07-31 02:00:00', 'succeeded')"
                )
            )
            for file_id, status in ((1, "superseded"), (2, "accepted")):
                conn.execute(
                    text(
                        "INSERT INTO source_file (id, source, name, rel_path, sha256, size, "
                        "received_at, status, township_code, validated_with) VALUES (:id, "
                        "'townships', :name, :name, :sha, 1, '2018-06-30 00:00:00', :status, "
                        ":code, 'old-suites')"
                    ),
                    {
                        "id": file_id,
                        "name": f"珠玑镇{file_id}.xlsx",
                        "sha": f"{file_id:064x}",
                        "status": status,
                        "code": zhuji,
                    },
                )
                staged = pl.DataFrame(
                    {
                        "file_id": [file_id, file_id],
                        "sheet": ["花名册", "花名册"],
                        "row_no": [
                            4 + file_id,
                            5 + file_id,
                        ],  # the second file has a row more on top
                        "township": ["珠玑镇", "乌迳镇"],
                        "household_id": ["H1", "W9"],
                        "name": ["张三", "李四"],
                        "id_number": [person, "440282196309020443"],
                    }
                )
                doc = io.BytesIO()
                frames.conform(staged, staged_schema(ROSTER)).write_parquet(doc)
                conn.execute(
                    text(
                        "INSERT INTO staged_rows (file_id, kind, rows, parquet) "
                        "VALUES (:f, 'roster', 2, :p)"
                    ),
                    {"f": file_id, "p": doc.getvalue()},
                )
            issues = [  # id, key, kind, file, row, column, household, status, first, last, resolved
                (
                    1,
                    "invalid_value|珠玑镇1.xlsx|花名册|5|劳动技能",
                    "invalid_value",
                    1,
                    5,
                    "劳动技能",
                    "H1",
                    "resolved",
                    "2018-06-30",
                    "2018-06-30",
                    "2018-07-31",
                ),
                (
                    2,
                    "invalid_value|珠玑镇2.xlsx|花名册|6|劳动技能",
                    "invalid_value",
                    2,
                    6,
                    "劳动技能",
                    "H1",
                    "open",
                    "2018-07-31",
                    "2018-07-31",
                    None,
                ),
                (
                    3,
                    "household_head|H1",
                    "household_head",
                    2,
                    6,
                    "与户主关系",
                    "H1",
                    "open",
                    "2018-06-30",
                    "2018-07-31",
                    None,
                ),
                (
                    4,
                    "foreign_township|2|花名册|7|乡镇",
                    "foreign_township",
                    2,
                    7,
                    "乡镇",
                    "W9",
                    "open",
                    "2018-07-31",
                    "2018-07-31",
                    None,
                ),
            ]
            for i in issues:
                conn.execute(
                    text(
                        "INSERT INTO dq_issue (id, key, kind, source, file_id, sheet, row_no, "
                        '"column", township_code, household_id, status, first_seen, last_seen, '
                        "resolved_on, reopened, message) VALUES (:id, :key, :kind, 'roster', "
                        ":file, '花名册', :row, :col, :code, :hh, :status, :first, :last, "
                        ":resolved, 0, :msg)"
                    ),
                    dict(
                        zip(
                            (
                                "id",
                                "key",
                                "kind",
                                "file",
                                "row",
                                "col",
                                "hh",
                                "status",
                                "first",
                                "last",
                                "resolved",
                            ),
                            i,
                            strict=True,
                        ),
                        code=zhuji,
                        msg=f"第{i[4]}行",
                    ),
                )
            conn.execute(
                text(
                    "INSERT INTO dq_issue_event (issue_id, run_id, on_date, event) VALUES "
                    "(1, 1, '2018-06-30', 'opened'), (1, 2, '2018-07-31', 'resolved'), "
                    "(2, 2, '2018-07-31', 'opened'), (3, 1, '2018-06-30', 'opened'), "
                    "(4, 2, '2018-07-31', 'opened')"
                )
            )
            conn.execute(
                text(
                    "INSERT INTO file_issue (key, kind, source, file_id, sheet, row_no) VALUES "
                    "('invalid_value|珠玑镇2.xlsx|花名册|6|劳动技能', 'invalid_value', 'roster', "
                    "2, '花名册', 6)"
                )
            )
        db.upgrade(engine)

        issues = db.read_frame(engine, "dq_issue").sort("id")
        assert issues.select("id", "key", "status", "first_seen", "last_seen", "row_no").rows() == [
            (
                1,
                f"roster|invalid_value|{zhuji}|H1|{person}|劳动技能",
                "open",
                date(2018, 6, 30),
                date(2018, 7, 31),
                6,
            ),  # merged: the first age, the latest row
            (
                3,
                f"roster|household_head|{zhuji}|H1||与户主关系",
                "open",
                date(2018, 6, 30),
                date(2018, 7, 31),
                6,
            ),
            (
                4,
                f"roster|foreign_township|{zhuji}|W9|440282196309020443|乡镇",
                "open",
                date(2018, 7, 31),
                date(2018, 7, 31),
                7,
            ),
        ]
        assert issues["resolved_on"].to_list() == [None, None, None]
        events = db.read_frame(engine, "dq_issue_event").sort("id")
        assert events.select("issue_id", "event").rows() == [
            (1, "opened"),
            (1, "resolved"),
            (1, "opened"),
            (3, "opened"),
            (4, "opened"),
        ]
        # validation is redone by the next run; what was read stays, keyed anew
        kept = db.read_frame(engine, "file_issue")
        assert kept.select("file_id", "key").rows() == [(2, issues["key"][2])]
        files = db.read_frame(engine, "source_file").sort("id")
        assert files["validated_with"].to_list() == [None, None]
        assert files["seq"].to_list() == [1, 2]
        db.upgrade(engine)  # at head: nothing more to do
    finally:
        engine.dispose()


def test_0006_leaves_out_stored_values_that_cannot_be_right_and_knows_abandoned_runs(
    db_url: str,
) -> None:
    """Rows stored before the normaliser bounded amounts and dates are brought to the same
    contract: the typed value null, the text kept in `*_raw`."""
    db.upgrade(db_url, "0005")
    engine = db.connect(db_url)
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO source_file (id, source, name, rel_path, sha256, size, "
                    "received_at, status) VALUES (9, 'claims', 'c.csv', 'claims/c.csv', 'cd', 1, "
                    "'2018-06-30 00:00:00', 'accepted')"
                )
            )
            bills = [
                ("S1", -5000.0, 800.0, date(2018, 3, 1)),
                ("S2", 1000.0, float("inf"), date(2099, 12, 31)),
                ("S3", 1000.0, 1e15, date(1850, 1, 1)),
                ("S4", 1000.0, 800.0, date(2018, 3, 4)),
            ]
            for row_no, (sid, total, eligible, day) in enumerate(bills, start=2):
                conn.execute(
                    text(
                        "INSERT INTO settlement (file_id, sheet, row_no, settlement_id, "
                        "total_cost, total_cost_raw, eligible_cost, settle_date) "
                        "VALUES (9, '', :row_no, :sid, :total, :raw, :eligible, :day)"
                    ),
                    {
                        "row_no": row_no,
                        "sid": sid,
                        "total": total,
                        "raw": str(total),
                        "eligible": eligible,
                        "day": day,
                    },
                )
        db.upgrade(engine)
        rows = db.read_frame(engine, "settlement").sort("row_no")
        assert rows["total_cost"].to_list() == [None, 1000.0, 1000.0, 1000.0]
        assert rows["total_cost_raw"].to_list()[0] == "-5000.0"
        assert rows["eligible_cost"].to_list() == [800.0, None, None, 800.0]
        assert rows["settle_date"].to_list() == [date(2018, 3, 1), None, None, date(2018, 3, 4)]
        run_id = db.start_run(engine, "nightly", date(2018, 6, 30))
        db.finish_run(engine, run_id, "abandoned")
    finally:
        engine.dispose()


def test_0007_repairs_evidence_the_old_rules_wrote_without_escaping(db_url: str) -> None:
    """A sheet named with a quote gave evidence that is not JSON; the strict reader would
    refuse the whole table.  0007 rewrites such rows (and only them) to the encoder's form."""
    db.upgrade(db_url, "0006")
    engine = db.connect(db_url)
    good = '[{"source":"roster","file_id":1,"sheet":"花名册","row_no":4}]'
    old = (
        '[{"source":"roster","file_id":1,"sheet":"2018"终"稿","row_no":4},'
        '{"source":"enrolment","file_id":null,"sheet":"a\\b","row_no":7}]'
    )
    try:
        with engine.begin() as conn:
            for n, evidence in enumerate([good, old, "not json at all", None], start=1):
                conn.execute(
                    text(
                        "INSERT INTO finding (id, rule, key, evidence, status, first_seen, "
                        "last_seen, reopened) VALUES (:id, 'R01', :key, :ev, 'open', "
                        "'2018-06-30', '2018-06-30', 0)"
                    ),
                    {"id": n, "key": f"k{n}", "ev": evidence},
                )
        db.upgrade(engine)
        with engine.connect() as conn:
            stored = dict(conn.execute(text("SELECT id, evidence FROM finding")).all())
        assert stored[1] == good  # valid rows are left byte for byte
        rows = db.read_frame(engine, "finding").sort("id")["evidence"].to_list()
        assert rows[1] == [
            {"source": "roster", "file_id": 1, "sheet": '2018"终"稿', "row_no": 4},
            {"source": "enrolment", "file_id": None, "sheet": "a\\b", "row_no": 7},
        ]
        assert rows[2] == [] and rows[3] is None  # not the old shape: emptied, not fatal
    finally:
        engine.dispose()


def test_0008_keeps_the_extracts_rows_and_their_loader_checks_the_file(db_url: str) -> None:
    """0008 drops only the extracts' foreign key to their file (its row-by-row check doubled
    the cost of COPY); their rows stay, and a batch naming an unregistered file is refused
    by the loader instead."""
    db.upgrade(db_url, "0007")
    engine = db.connect(db_url)
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO source_file (id, source, name, rel_path, sha256, size, "
                    "received_at, status) VALUES (7, 'insurance', 'e.csv', 'insurance/e.csv', "
                    "'ab', 1, '2018-06-30 00:00:00', 'accepted')"
                )
            )
            conn.execute(
                text(
                    "INSERT INTO enrolment (file_id, sheet, row_no, id_norm, year) "
                    "VALUES (7, '', 2, '440282199001011234', 2018)"
                )
            )
        assert [fk["name"] for fk in inspect(engine).get_foreign_keys("enrolment")]
        db.upgrade(engine)
        for table in models.UNREFERENCED_FILE_ID:
            assert inspect(engine).get_foreign_keys(table) == []
        assert inspect(engine).get_foreign_keys("roster_person") != []  # the others keep theirs
        assert db.read_frame(engine, "enrolment")["id_norm"].to_list() == ["440282199001011234"]
        row = {"sheet": [""], "row_no": [3], "year": [2018]}
        db.write_frame(engine, "enrolment", pl.DataFrame({"file_id": [7], **row}))
        with pytest.raises(ValueError, match=r"file id\(s\) \[8\]"):
            db.write_frame(engine, "enrolment", pl.DataFrame({"file_id": [8], **row}))
        with pytest.raises(ValueError, match="not registered"):
            two = {"file_id": [7, 9], "sheet": ["", ""], "row_no": [4, 5]}
            db.write_frame(engine, "settlement", pl.DataFrame(two))
        assert db.read_frame(engine, "enrolment").height == 2
    finally:
        engine.dispose()
