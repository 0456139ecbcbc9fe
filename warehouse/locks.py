"""Keeping runs apart: the warehouse's run lock (a PostgreSQL advisory lock, or `flock` on
SQLite's file), the runs this process has started and not finished, and a read that sees one
committed state."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Connection, Engine, text


@contextmanager
def consistent_read(engine: Engine) -> Iterator[Connection]:
    """A connection whose reads all see one committed state of the warehouse.

    PostgreSQL: a REPEATABLE READ transaction.  SQLite (WAL): one deferred transaction, whose
    first read fixes the state every later read sees.  Each nightly step commits a table at a
    time, so no read ever sees a table half-written; `run_lock` keeps whole runs apart.
    """
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            yield conn


# A number of our own for PostgreSQL advisory locks ("fupin" in ASCII).
RUN_LOCK_KEY = 0x667570696E
RUN_LOCK_POLL_SECONDS = 2.0


def _county(engine: Engine) -> str | None:
    county: str | None = engine.get_execution_options().get("fupin_county")  # schema.COUNTY_OPTION
    return county


def advisory_key(engine: Engine) -> int:
    """The advisory lock of `engine`'s warehouse: each county of a multi-county database has
    its own, so that counties run side by side while runs of one county stay apart."""
    county = _county(engine)
    return RUN_LOCK_KEY if county is None else (RUN_LOCK_KEY << 20) + int(county)


@dataclass
class _HeldLock:
    exclusive: bool
    depth: int
    release: Callable[[], None]


_held: dict[str, _HeldLock] = {}
_gates: dict[str, threading.Lock] = {}
_held_guard = threading.Lock()


def lock_key(engine: Engine) -> str:
    """The warehouse's name for its run lock and its live runs (no password); a county of a
    multi-county database is a warehouse of its own."""
    name = engine.url.render_as_string(hide_password=True)
    county = _county(engine)
    return name if county is None else f"{name}#{county}"


# Runs this process started and has not finished, per warehouse (`lock_key`): alive whatever
# the run lock says, since the threads of a process share its lock.
_live_runs: set[tuple[str, int]] = set()


def run_started(key: str, run_id: int) -> None:
    with _held_guard:
        _live_runs.add((key, run_id))


def run_ended(key: str, run_id: int) -> None:
    with _held_guard:
        _live_runs.discard((key, run_id))


def held_here(key: str) -> tuple[bool, list[int]]:
    """Whether this process holds the run lock of warehouse `key`, and the runs it started
    there and has not finished (both read at one moment)."""
    with _held_guard:
        return key in _held, [run_id for k, run_id in _live_runs if k == key]


@contextmanager
def run_lock(
    engine: Engine,
    *,
    exclusive: bool,
    on_wait: Callable[[], None] | None = None,
    poll_seconds: float = RUN_LOCK_POLL_SECONDS,
) -> Iterator[None]:
    """The warehouse's run lock: a nightly run holds it exclusively while it writes; report
    and snapshot builds hold it shared while they read, so they see what a finished run left,
    never a run half-way.

    Waits as long as it takes (`on_wait` is called once when it has to).  The lock belongs
    to the process: a PostgreSQL session advisory lock, or on SQLite `flock` on the file
    `<database>.lock`; a process that dies releases it, so a crashed run never leaves it
    held.  Re-entrant within a process (a nightly run renders its reports under its own
    lock).  An in-memory SQLite database, or a platform without `fcntl`, has no lock to take.
    """
    key = lock_key(engine)
    with _held_guard:
        held = _held.get(key)
        if held is not None:
            held.depth += 1
        gate = _gates.setdefault(key, threading.Lock())
    if held is None:
        with gate:  # one thread of a process takes the lock for all of it
            with _held_guard:
                held = _held.get(key)
                if held is not None:
                    held.depth += 1
            if held is None:
                release = _acquire(engine, exclusive, on_wait, poll_seconds)
                assert release is not None  # waiting, it is always taken in the end
                with _held_guard:
                    held = _held[key] = _HeldLock(exclusive, 1, release)
    try:
        yield
    finally:
        with _held_guard:
            held.depth -= 1
            last = held.depth == 0
            if last:
                del _held[key]
        if last:
            held.release()


def try_shared(engine: Engine) -> Callable[[], None] | None:
    """The run lock taken shared if nobody holds it exclusively now (its release), else None."""
    return _acquire(engine, exclusive=False, on_wait=None, poll_seconds=0.0, wait=False)


def _acquire(
    engine: Engine,
    exclusive: bool,
    on_wait: Callable[[], None] | None,
    poll_seconds: float,
    wait: bool = True,
) -> Callable[[], None] | None:
    """The run lock taken (its release); with `wait=False`, None when it is held now."""
    if engine.dialect.name == "postgresql":
        return _acquire_advisory(engine, exclusive, on_wait, poll_seconds, wait)
    return _acquire_flock(engine, exclusive, on_wait, poll_seconds, wait)


def _acquire_advisory(
    engine: Engine,
    exclusive: bool,
    on_wait: Callable[[], None] | None,
    poll_seconds: float,
    wait: bool,
) -> Callable[[], None] | None:
    suffix = "" if exclusive else "_shared"
    key = advisory_key(engine)
    conn = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
    try:
        waited = False
        while not conn.execute(
            text(f"SELECT pg_try_advisory_lock{suffix}(:key)"), {"key": key}
        ).scalar():
            if not wait:
                conn.close()
                return None
            if not waited and on_wait is not None:
                on_wait()
            waited = True
            time.sleep(poll_seconds)
    except BaseException:
        conn.close()
        raise

    def release() -> None:
        try:
            conn.execute(text(f"SELECT pg_advisory_unlock{suffix}(:key)"), {"key": key})
            conn.close()
        except Exception:
            conn.invalidate()  # closing the session releases the lock

    return release


def _acquire_flock(
    engine: Engine,
    exclusive: bool,
    on_wait: Callable[[], None] | None,
    poll_seconds: float,
    wait: bool,
) -> Callable[[], None] | None:
    database = engine.url.database
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        return lambda: None
    if not database or database == ":memory:":
        return lambda: None
    path = Path(database + ".lock")
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = path.open("a+b")
    mode = fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH
    try:
        waited = False
        while True:
            try:
                fcntl.flock(handle.fileno(), mode | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not wait:
                    handle.close()
                    return None
                if not waited and on_wait is not None:
                    on_wait()
                waited = True
                time.sleep(poll_seconds)
    except BaseException:
        handle.close()
        raise

    def release() -> None:
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        handle.close()

    return release
