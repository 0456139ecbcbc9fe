"""A nightly run killed mid-way stays `running` in the run table until the next run starts,
which marks it `abandoned`: only when no process holds the run lock exclusively (report and
snapshot builds, holding it shared, do not stand in the way), never a run this process is
still running; on SQLite (flock) and PostgreSQL (advisory lock)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from datetime import date
from pathlib import Path

import polars as pl
from sqlalchemy import Engine, text

from warehouse import db

ROOT = Path(__file__).resolve().parents[2]
AS_OF = date(2018, 6, 30)
HOLD = textwrap.dedent(
    """
    import sys
    from warehouse import db
    engine = db.connect(sys.argv[1])
    with db.run_lock(engine, exclusive=sys.argv[2] == "x"):
        print("held", flush=True)
        sys.stdin.read()  # until the test kills this process
    """
)


def _hold(url: str, mode: str) -> subprocess.Popen:
    """Another process holding the run lock (x: a nightly run, s: a report build)."""
    child = subprocess.Popen(
        [sys.executable, "-c", HOLD, url, mode],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None and child.stdout.readline().strip() == "held"
    return child


def _killed_run(engine: Engine, flow: str = "nightly") -> int:
    """A run row as a process killed mid-way leaves it: running, never finished."""
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO run (flow, as_of, started_at, status) "
                "VALUES (:flow, '2018-06-29', '2018-06-29 02:00:00', 'running')"
            ),
            {"flow": flow},
        )
        return int(conn.execute(text("SELECT max(id) FROM run")).scalar_one())


def _status(engine: Engine) -> dict[int, str]:
    runs = db.read_frame(engine, "run")
    return dict(zip(runs["id"].to_list(), runs["status"].to_list(), strict=True))


def test_the_next_run_marks_a_killed_nightly_abandoned(engine: Engine) -> None:
    killed = _killed_run(engine)
    snapshot = _killed_run(engine, "snapshot")  # no lock tells whether it lives: left alone
    first = db.start_run(engine, "nightly", AS_OF)
    second = db.start_run(engine, "alerts", AS_OF)  # ours, not finished: never marked
    assert _status(engine) == {
        killed: "abandoned",
        snapshot: "running",
        first: "running",
        second: "running",
    }
    row = db.read_frame(engine, "run").filter(pl.col("id") == killed).row(0, named=True)
    assert row["finished_at"] is not None
    assert json.loads(row["stats"])["found_by_run"] == first
    db.finish_run(engine, first, "succeeded")
    assert _status(engine)[first] == "succeeded"


def test_a_nightly_running_in_another_process_is_not_abandoned_until_it_is_killed(
    engine: Engine, db_url: str
) -> None:
    running = _killed_run(engine)  # its process holds the lock: alive
    nightly = _hold(db_url, "x")
    try:
        db.start_run(engine, "alerts", AS_OF)
        assert _status(engine)[running] == "running"
    finally:
        nightly.kill()  # killed mid-way: the lock goes with the process
        nightly.wait(10)
    deadline = time.monotonic() + 10  # PostgreSQL notices the closed session
    while not db.abandon_dead_runs(engine) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _status(engine)[running] == "abandoned"


def test_a_report_holding_the_lock_shared_does_not_keep_a_dead_run_running(
    engine: Engine, db_url: str
) -> None:
    killed = _killed_run(engine)
    report = _hold(db_url, "s")
    try:
        with db.run_lock(engine, exclusive=False):  # and one in this process, too
            db.start_run(engine, "snapshot", AS_OF)
        assert _status(engine)[killed] == "abandoned"
    finally:
        report.kill()
        report.wait(10)


def test_abandoned_is_a_run_status_of_the_schema(engine: Engine) -> None:
    """The CHECK constraint takes it (migration 0006)."""
    run_id = db.start_run(engine, "nightly", AS_OF)
    db.finish_run(engine, run_id, "abandoned")
    assert _status(engine)[run_id] == "abandoned"
