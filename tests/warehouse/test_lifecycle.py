"""Finding and issue life cycles: new, still open, resolved, reopened; idempotent; scoped."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest
from sqlalchemy import Engine, text

from tests.warehouse.conftest import add_file
from transforms import frames
from warehouse import db

D1, D2, D3, D4 = date(2018, 6, 1), date(2018, 6, 2), date(2018, 6, 3), date(2018, 6, 4)
ROSTER_ROW = {"source": "roster", "file_id": 1, "sheet": "花名册", "row_no": 5}


def findings(*rows: tuple[str, str] | tuple[str, str, str]) -> pl.DataFrame:
    """(rule, entity[, detail]) -> a FINDING frame keyed rule:entity."""
    return frames.conform(
        pl.DataFrame(
            {
                "rule": [r[0] for r in rows],
                "key": [f"{r[0]}:{r[1]}" for r in rows],
                "township_code": ["440282100"] * len(rows),
                "person_id": [r[1] for r in rows],
                "detail": [r[2] if len(r) > 2 else f"{r[1]} 未参保" for r in rows],
                "evidence": [[ROSTER_ROW]] * len(rows),
            },
            schema_overrides={"rule": pl.Utf8, "key": pl.Utf8},
        ),
        frames.FINDING,
    )


def state(engine: Engine) -> dict[str, dict]:
    rows = db.read_frame(engine, "finding").to_dicts()
    return {r["key"]: r for r in rows}


def events(engine: Engine, table: str = "finding_event") -> list[tuple]:
    frame = db.read_frame(engine, table).sort("id")
    return frame.select(frame.columns[1], "on_date", "event").rows()


def test_life_of_a_finding(engine: Engine) -> None:
    r1 = db.start_run(engine, "nightly", D1)
    counts = db.upsert_lifecycle(engine, "finding", findings(("R01", "A"), ("R01", "B")), r1, D1)
    assert counts == {"new": 2, "still_open": 0, "reopened": 0, "resolved": 0}
    s = state(engine)
    a = s["R01:A"]
    assert (a["status"], a["first_seen"], a["last_seen"], a["resolved_on"], a["reopened"]) == (
        "open",
        D1,
        D1,
        None,
        0,
    )
    assert a["severity"] == "高"  # from config.rules
    assert a["updated_run_id"] == r1

    r2 = db.start_run(engine, "nightly", D2)
    counts = db.upsert_lifecycle(engine, "finding", findings(("R01", "A", "新的说明")), r2, D2)
    assert counts == {"new": 0, "still_open": 1, "reopened": 0, "resolved": 1}
    s = state(engine)
    assert (s["R01:A"]["status"], s["R01:A"]["last_seen"], s["R01:A"]["detail"]) == (
        "open",
        D2,
        "新的说明",
    )
    assert (s["R01:B"]["status"], s["R01:B"]["resolved_on"], s["R01:B"]["last_seen"]) == (
        "resolved",
        D2,
        D1,
    )

    r3 = db.start_run(engine, "nightly", D3)
    counts = db.upsert_lifecycle(engine, "finding", findings(("R01", "A"), ("R01", "B")), r3, D3)
    assert counts == {"new": 0, "still_open": 1, "reopened": 1, "resolved": 0}
    b = state(engine)["R01:B"]
    assert (b["status"], b["resolved_on"], b["reopened"], b["first_seen"], b["last_seen"]) == (
        "open",
        None,
        1,
        D1,
        D3,
    )
    assert b["updated_run_id"] == r3

    ids = {k: v["id"] for k, v in state(engine).items()}
    assert sorted(events(engine)) == sorted(
        [
            (ids["R01:A"], D1, "opened"),
            (ids["R01:B"], D1, "opened"),
            (ids["R01:B"], D2, "resolved"),
            (ids["R01:B"], D3, "reopened"),
        ]
    )
    assert db.read_frame(engine, "finding").height == 2  # never deleted


def test_same_frame_same_date_changes_nothing(engine: Engine) -> None:
    r1 = db.start_run(engine, "nightly", D1)
    db.upsert_lifecycle(engine, "finding", findings(("R01", "A"), ("R14", "H1")), r1, D1)
    r2 = db.start_run(engine, "nightly", D2)
    frame = findings(("R01", "A"), ("R05", "C"))
    first = db.upsert_lifecycle(engine, "finding", frame, r2, D2)
    before, before_events = db.read_frame(engine, "finding"), events(engine)

    r3 = db.start_run(engine, "nightly", D2)  # the same night run again
    again = db.upsert_lifecycle(engine, "finding", frame, r3, D2)
    assert first == {"new": 1, "still_open": 1, "reopened": 0, "resolved": 1}
    assert again == {"new": 0, "still_open": 2, "reopened": 0, "resolved": 0}
    assert db.read_frame(engine, "finding").sort("id").equals(before.sort("id"))
    assert events(engine) == before_events


def test_evidence_is_where_a_finding_was_last_seen(engine: Engine) -> None:
    """Stored as the JSON text the rules always wrote, read back as rows; a finding seen on
    another row keeps its identity and only its evidence (and last run) change."""
    r1 = db.start_run(engine, "nightly", D1)
    db.upsert_lifecycle(engine, "finding", findings(("R01", "A")), r1, D1)
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT evidence FROM finding")).scalar()
    assert stored == '[{"source":"roster","file_id":1,"sheet":"花名册","row_no":5}]'
    assert state(engine)["R01:A"]["evidence"] == [ROSTER_ROW]

    r2 = db.start_run(engine, "nightly", D1)  # the same night again: nothing changes
    db.upsert_lifecycle(engine, "finding", findings(("R01", "A")), r2, D1)
    assert state(engine)["R01:A"]["updated_run_id"] == r1

    moved = findings(("R01", "A")).with_columns(
        evidence=pl.lit(
            [{**ROSTER_ROW, "sheet": 'Sheet "2"', "row_no": 9}, {**ROSTER_ROW, "row_no": 5}],
            dtype=frames.FINDING["evidence"],
        )
    )
    r3 = db.start_run(engine, "nightly", D1)
    counts = db.upsert_lifecycle(engine, "finding", moved, r3, D1)
    assert counts == {"new": 0, "still_open": 1, "reopened": 0, "resolved": 0}
    a = state(engine)["R01:A"]
    assert (a["first_seen"], a["status"], a["updated_run_id"]) == (D1, "open", r3)
    assert [(e["sheet"], e["row_no"]) for e in a["evidence"]] == [('Sheet "2"', 9), ("花名册", 5)]


def test_evidence_that_is_not_its_json_fails_the_read(engine: Engine) -> None:
    r1 = db.start_run(engine, "nightly", D1)
    db.upsert_lifecycle(engine, "finding", findings(("R01", "A")), r1, D1)
    with engine.begin() as conn:
        conn.execute(text("""UPDATE finding SET evidence = '[{"source":"roster","file_id":}]'"""))
    with pytest.raises(ValueError, match="'evidence'"):
        db.read_frame(engine, "finding")


def test_scope_limits_what_may_be_resolved(engine: Engine) -> None:
    r1 = db.start_run(engine, "nightly", D1)
    db.upsert_lifecycle(
        engine, "finding", findings(("R01", "A"), ("R13", "S1"), ("R14", "H1")), r1, D1
    )
    r2 = db.start_run(engine, "nightly", D2)
    # A run that evaluated R01 and R14 only, and found nothing: R13's finding must stay open.
    counts = db.upsert_lifecycle(
        engine, "finding", findings(), r2, D2, scope={"rule": ["R01", "R14"]}
    )
    assert counts == {"new": 0, "still_open": 0, "reopened": 0, "resolved": 2}
    assert {k: v["status"] for k, v in state(engine).items()} == {
        "R01:A": "resolved",
        "R13:S1": "open",
        "R14:H1": "resolved",
    }
    with pytest.raises(ValueError, match="colour"):
        db.upsert_lifecycle(engine, "finding", findings(), r2, D2, scope={"colour": ["red"]})


def test_an_empty_run_with_nothing_open_in_scope_changes_nothing(engine: Engine) -> None:
    r1 = db.start_run(engine, "nightly", D1)
    db.upsert_lifecycle(engine, "finding", findings(("R01", "A"), ("R13", "S1")), r1, D1)
    r2 = db.start_run(engine, "nightly", D2)
    db.upsert_lifecycle(engine, "finding", findings(), r2, D2, scope={"rule": ["R01"]})
    before, logged = state(engine), events(engine)
    assert before["R01:A"]["status"] == "resolved" and before["R13:S1"]["status"] == "open"

    r3 = db.start_run(engine, "nightly", D3)
    counts = db.upsert_lifecycle(engine, "finding", findings(), r3, D3, scope={"rule": ["R01"]})
    assert counts == {"new": 0, "still_open": 0, "reopened": 0, "resolved": 0}
    assert state(engine) == before and events(engine) == logged
    # Out of scope, R13's open finding was never a reason to do more; in scope it resolves.
    counts = db.upsert_lifecycle(engine, "finding", findings(), r3, D3, scope={"rule": ["R13"]})
    assert counts["resolved"] == 1 and state(engine)["R13:S1"]["status"] == "resolved"


def test_keys_must_be_unique_and_present(engine: Engine, run_id: int) -> None:
    with pytest.raises(ValueError, match="duplicate"):
        db.upsert_lifecycle(engine, "finding", findings(("R01", "A"), ("R01", "A")), run_id, D1)
    with pytest.raises(ValueError, match="without a key"):
        db.upsert_lifecycle(
            engine,
            "finding",
            findings(("R01", "A")).with_columns(key=pl.lit(None, pl.Utf8)),
            run_id,
            D1,
        )
    with pytest.raises(ValueError, match="life cycle"):
        db.upsert_lifecycle(engine, "alert", findings(), run_id, D1)
    assert db.read_frame(engine, "finding").is_empty()


def test_issue_life_cycle_scoped_by_source(engine: Engine) -> None:
    f = add_file(engine, "townships", "440282100")

    def issues(*keys: str, source: str = "townships") -> pl.DataFrame:
        return frames.conform(
            pl.DataFrame(
                {
                    "kind": ["invalid_id"] * len(keys),
                    "key": list(keys),
                    "source": [source] * len(keys),
                    "file_id": [f] * len(keys),
                    "sheet": ["花名册"] * len(keys),
                    "row_no": list(range(5, 5 + len(keys))),
                    "column": ["证件号码"] * len(keys),
                    "value": ["440282********1234"] * len(keys),
                    "message": ["证件号码校验位错误"] * len(keys),
                    "suggested_fix": ["核对身份证原件后更正"] * len(keys),
                },
                schema_overrides={"kind": pl.Utf8, "key": pl.Utf8, "source": pl.Utf8},
            ),
            frames.ISSUE,
        )

    r1 = db.start_run(engine, "nightly", D1)
    both = pl.concat([issues("t1", "t2"), issues("d1", source="dibao")])
    assert db.upsert_lifecycle(engine, "dq_issue", both, r1, D1)["new"] == 3
    r2 = db.start_run(engine, "nightly", D2)
    counts = db.upsert_lifecycle(
        engine, "dq_issue", issues("t2"), r2, D2, scope={"source": ["townships"]}
    )
    assert counts == {"new": 0, "still_open": 1, "reopened": 0, "resolved": 1}
    got = {r["key"]: r for r in db.read_frame(engine, "dq_issue").to_dicts()}
    assert {k: r["status"] for k, r in got.items()} == {
        "t1": "resolved",
        "t2": "open",
        "d1": "open",
    }
    assert got["t2"]["column"] == "证件号码" and got["t2"]["row_no"] == 5
    r3 = db.start_run(engine, "nightly", D4)
    assert db.upsert_lifecycle(engine, "dq_issue", issues("t1", "t2"), r3, D4)["reopened"] == 1
    assert [e[2] for e in events(engine, "dq_issue_event")].count("reopened") == 1


def test_severity_given_in_the_frame_is_kept(engine: Engine, run_id: int) -> None:
    frame = findings(("R12", "H9")).with_columns(severity=pl.lit("中"))
    db.upsert_lifecycle(engine, "finding", frame, run_id, D1)
    assert state(engine)["R12:H9"]["severity"] == "中"
