"""The named readers the flows call instead of writing SQL (`warehouse.queries`)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
from sqlalchemy import Engine

from tests.warehouse.conftest import add_file
from tests.warehouse.test_lifecycle import findings
from warehouse import db, queries

AS_OF = date(2017, 12, 31)


def _run(engine: Engine, status: str, flow: str = "nightly", as_of: date = AS_OF) -> int:
    run_id = db.start_run(engine, flow, as_of)
    if status != "running":
        db.finish_run(engine, run_id, status)
    return run_id


def test_latest_finished_run_is_the_newest_that_succeeded_or_needs_attention(
    engine: Engine,
) -> None:
    assert db.latest_finished_run(engine) is None
    assert db.latest_finished_run_frame(engine).height == 0
    assert not db.finished_run_exists(engine)
    _run(engine, "succeeded", as_of=date(2017, 12, 30))
    attention = _run(engine, "needs_attention")
    _run(engine, "running")
    _run(engine, "failed")
    snapshot = _run(engine, "succeeded", flow="snapshot")

    run = db.latest_finished_run(engine)
    assert run is not None
    assert (run["id"], run["as_of"], run["status"]) == (attention, AS_OF, "needs_attention")
    frame = db.latest_finished_run_frame(engine)
    assert frame.columns == db.read_frame(engine, "run").columns and frame.height == 1
    assert db.finished_run_exists(engine)
    snap = db.latest_finished_run(engine, "snapshot")
    assert snap is not None and snap["id"] == snapshot


def test_run_by_id_whatever_its_status_but_of_its_flow(engine: Engine) -> None:
    running = _run(engine, "running")
    snapshot = _run(engine, "succeeded", flow="snapshot")
    run = db.run_by_id(engine, running)
    assert run is not None and run["status"] == "running" and run["as_of"] == AS_OF
    assert db.run_by_id(engine, snapshot) is None
    assert db.run_by_id(engine, snapshot, "snapshot") is not None
    assert db.run_by_id(engine, 999) is None


def test_no_finished_run_in_a_warehouse_without_tables(tmp_path: Path) -> None:
    engine = db.connect(f"sqlite:///{tmp_path / 'new.db'}")
    try:
        assert not db.finished_run_exists(engine)
    finally:
        engine.dispose()


def test_failed_runs_since(engine: Engine) -> None:
    before = datetime.now(UTC) - timedelta(minutes=1)
    first = _run(engine, "failed")
    _run(engine, "succeeded")
    second = _run(engine, "failed")
    assert db.failed_runs_since(engine, before) == [first, second]
    assert db.failed_runs_since(engine, datetime.now(UTC) + timedelta(minutes=1)) == []


def test_lifecycle_since_keeps_open_rows_and_those_resolved_since(engine: Engine) -> None:
    r1 = _run(engine, "succeeded")
    db.upsert_lifecycle(engine, "finding", findings(("R01", "A"), ("R01", "B")), r1, AS_OF)
    r2 = _run(engine, "succeeded")
    db.upsert_lifecycle(engine, "finding", findings(("R01", "A")), r2, AS_OF + timedelta(days=2))
    assert sorted(db.lifecycle_since(engine, "finding", AS_OF)["key"]) == ["R01:A", "R01:B"]
    later = db.lifecycle_since(engine, "finding", AS_OF + timedelta(days=3))
    assert later["key"].to_list() == ["R01:A"]


def test_submissions_put_in_force_in_seq_order(engine: Engine) -> None:
    code, other = "440282100", "440282104"
    old = add_file(engine, "townships", code, status="superseded", seq=1)
    add_file(engine, "townships", other)
    add_file(engine, "townships", code, status="held")
    add_file(engine, "townships", code, status="duplicate")
    new = add_file(engine, "townships", code)
    frame = db.submissions_put_in_force(engine, "townships", code)
    assert frame["id"].to_list() == [old, new]
    assert frame.columns == db.read_frame(engine, "source_file").columns


def test_a_snapshot_answers_as_the_warehouse_did(engine: Engine) -> None:
    _run(engine, "succeeded")
    live = db.latest_finished_run(engine)
    db.freeze_snapshot(engine, 2017, {"run": db.read_frame(engine, "run")})
    _run(engine, "succeeded", as_of=date(2018, 1, 1))  # after the freeze: not in it
    assert db.latest_finished_run(engine, snapshot_year=2017) == live
    assert db.latest_finished_run(engine, snapshot_year=2016) is None
    assert db.roster_links(engine, snapshot_year=2017).height == 0
    assert db.insured_in(engine, 2017, snapshot_year=2017).columns == [
        "id_norm",
        "id_status",
        "year",
        "enrol_status",
    ]


def test_with_identity_takes_the_link_else_a_valid_id() -> None:
    persons = pl.DataFrame(
        {
            "file_id": [1, 1, 1],
            "sheet": ["s", "s", "s"],
            "row_no": [2, 3, 4],
            "id_norm": ["110", "220", "330"],
            "id_status": ["valid", "bad_check", "bad_check"],
        }
    )
    links = pl.DataFrame(
        {"file_id": [1], "sheet": ["s"], "row_no": [3], "identity": ["221"]},
        schema=queries.LINK_SCHEMA,
    )
    out = db.with_identity(persons, links)
    assert out["identity"].to_list() == ["110", "221", None]
    assert db.with_identity(persons, links.clear())["identity"].to_list() == ["110", None, None]
