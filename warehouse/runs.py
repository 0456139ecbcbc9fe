"""The `run` table's life: a run recorded as it starts and as it ends, and the nightly runs a
killed process left `running` marked `abandoned`."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import Engine, and_, insert, select, update

from warehouse import locks, models
from warehouse._values import json_text, new_id, now
from warehouse.bulk import Bind, transaction


def _engine_of(bind: Bind) -> Engine:
    return bind if isinstance(bind, Engine) else bind.engine


def start_run(bind: Bind, flow: str, as_of: date, params: dict[str, Any] | None = None) -> int:
    """Record a run as `running`; then mark `abandoned` the nightly runs a killed process
    left `running` (`abandon_dead_runs`)."""
    run = models.table("run")
    with transaction(bind) as conn:
        result = conn.execute(
            insert(run).values(
                flow=flow, as_of=as_of, started_at=now(), status="running", params=json_text(params)
            )
        )
        run_id = new_id(result)
    locks.run_started(locks.lock_key(_engine_of(bind)), run_id)
    abandon_dead_runs(bind, found_by=run_id)
    return run_id


def finish_run(bind: Bind, run_id: int, status: str, stats: dict[str, Any] | None = None) -> None:
    run = models.table("run")
    with transaction(bind) as conn:
        conn.execute(
            update(run)
            .where(run.c.id == run_id)
            .values(finished_at=now(), status=status, stats=json_text(stats))
        )
    if status != "running":
        locks.run_ended(locks.lock_key(_engine_of(bind)), run_id)


def abandon_dead_runs(bind: Bind, found_by: int | None = None) -> list[int]:
    """Mark `abandoned` the nightly runs still `running` whose process is gone (killed, or
    its machine restarted); returns their ids.

    A nightly run holds the run lock exclusively from its start to its end (`flows.nightly`),
    and a process that dies releases it (`run_lock`).  So when no process holds the lock
    exclusively, no nightly run is alive elsewhere: this is known when this process holds the
    lock itself (a nightly run records itself under its own exclusive lock), or when the lock
    can be taken shared right now.  Report and snapshot builds hold it shared and do not stand
    in the way; a nightly run holding it elsewhere does, and then nothing is marked.  The
    update is made while the lock is held, so no nightly run can start in between.  A run this
    process started and has not finished is never marked.

    Runs of other flows are left alone: a snapshot run releases the lock before it writes its
    archive and `fupin alerts` takes none, so the lock says nothing about whether they live.
    Works the same on PostgreSQL (advisory lock) and SQLite (`flock`); an in-memory database
    belongs to one process, whose live runs are known.
    """
    engine = _engine_of(bind)
    ours, live = locks.held_here(locks.lock_key(engine))
    release = (lambda: None) if ours else locks.try_shared(engine)
    if release is None:
        return []
    try:
        run = models.table("run")
        dead = and_(run.c.flow == "nightly", run.c.status == "running", run.c.id.not_in(live))
        stats: dict[str, Any] = {"abandoned": "a killed process left it running"}
        if found_by is not None:
            stats["found_by_run"] = found_by
        with transaction(bind) as conn:
            ids = [int(i) for i in conn.execute(select(run.c.id).where(dead)).scalars()]
            if ids:
                conn.execute(
                    update(run)
                    .where(run.c.id.in_(ids), run.c.status == "running")
                    .values(status="abandoned", finished_at=now(), stats=json_text(stats))
                )
        return ids
    finally:
        release()
