"""A transaction that reads before it writes must not fail because another connection wrote
in between: on SQLite (WAL), a deferred transaction whose snapshot went stale cannot take the
write lock and fails at once with "database is locked", whatever the busy timeout.  Ingest
stores a file in one transaction that first reads what is in force, while other lanes record
quarantined files."""

from __future__ import annotations

import threading
from datetime import date

from sqlalchemy import select

from warehouse import db, models


def test_a_transaction_that_reads_first_still_writes_after_another_connection_did(
    sqlite_url: str,
) -> None:
    db.upgrade(sqlite_url)
    engine = db.connect(sqlite_url)
    run = models.table("run")
    read_done, other_done = threading.Event(), threading.Event()
    failures: list[BaseException] = []

    def other_writer() -> None:
        read_done.wait(10)
        try:
            db.start_run(engine, "report", date(2018, 6, 30))  # waits for the lock if need be
        except BaseException as exc:  # pragma: no cover - the failure is reported below
            failures.append(exc)
        finally:
            other_done.set()

    thread = threading.Thread(target=other_writer)
    thread.start()
    with db.transaction(engine) as conn:
        conn.execute(select(run.c.id)).all()  # reads first, as store() does
        read_done.set()
        other_done.wait(2)  # the other connection commits meanwhile (or waits for us)
        db.start_run(conn, "nightly", date(2018, 6, 30))
    thread.join(60)
    assert not failures, failures
    flows = db.read_frame(engine, "run")["flow"].to_list()
    assert sorted(flows) == ["nightly", "report"]
    engine.dispose()
