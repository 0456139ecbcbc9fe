"""Life cycle of findings and data-quality issues (findings.md): open, resolved, reopened.

A run hands over everything it found now; set logic in SQL against a temporary table of those
keys decides what is new, still open, back again, or gone.  Rows are never deleted.  The same
frame on the same date twice changes nothing: rows are only updated when a value differs, so
`updated_run_id` names the run that last changed a row.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

import polars as pl
from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Date,
    Integer,
    MetaData,
    String,
    Table,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)

from config.rules import RULES
from transforms.frames import FINDING, ISSUE, conform
from warehouse import models
from warehouse.bulk import Bind, bulk_insert, transaction

# table -> (model, event model, event's foreign key, frame contract, column copied to events)
_KINDS: dict[str, tuple[type[models.Base], type[models.Base], str, dict[str, pl.DataType], str]] = {
    "finding": (
        models.Finding,
        models.FindingEvent,
        "finding_id",
        {**FINDING, "severity": pl.Utf8()},
        "detail",
    ),
    "dq_issue": (models.DqIssue, models.DqIssueEvent, "issue_id", ISSUE, "message"),
}


def upsert_lifecycle(
    bind: Bind,
    table: str,
    current: pl.DataFrame,
    run_id: int | None,
    run_date: date,
    scope: Mapping[str, Sequence[Any]] | None = None,
) -> dict[str, int]:
    """Merge what a run found now into `finding` or `dq_issue`; returns the counts
    {new, still_open, reopened, resolved}.

    `current` follows `transforms.frames.FINDING` (optionally with `severity`; filled from
    config.rules when absent) or `ISSUE`, with `key` unique.  `scope`, e.g. {"rule": ["R01"]}
    or {"source": ["dibao"]}, limits which open rows may be resolved: what the run did not
    evaluate stays as it was.
    """
    if table not in _KINDS:
        raise ValueError(f"life cycle applies to {list(_KINDS)}, not {table!r}")
    model, event_model, event_fk, contract, said = _KINDS[table]
    target, events = models.table(model.__tablename__), models.table(event_model.__tablename__)
    frame = _prepare(table, current, contract)
    payload = [c for c in contract if c != "key"]

    scope_conditions = []
    for column, values in (scope or {}).items():
        if column not in target.c:
            raise ValueError(f"{table}: scope column {column!r} does not exist")
        scope_conditions.append(target.c[column].in_(list(values)))

    d = literal(run_date, Date())
    r = literal(run_id, BigInteger())

    with transaction(bind) as conn:
        if frame.is_empty() and not _any_open(conn, target, scope_conditions):
            # Nothing found and nothing to resolve (most submissions' foreign-township check):
            # one query instead of a temporary table and ten statements.
            return {"new": 0, "still_open": 0, "reopened": 0, "resolved": 0}
        now = _temporary(conn, table, contract)
        bulk_insert(conn, now, frame)
        known = select(target.c.status).where(target.c.key == now.c.key).scalar_subquery()
        conn.execute(update(now).values(state=known))
        states: dict[str | None, int] = dict(
            conn.execute(select(now.c.state, func.count()).group_by(now.c.state)).all()
        )

        def log(event: str, rows: Any, detail: Any) -> None:
            conn.execute(
                insert(events).from_select(
                    [event_fk, "run_id", "on_date", "event", "detail"],
                    rows.with_only_columns(target.c.id, r, d, literal(event, String()), detail),
                )
            )

        joined = select(target).select_from(target.join(now, target.c.key == now.c.key))

        # gone: open rows in scope that the run no longer finds
        gone = [
            target.c.status == "open",
            ~exists().where(now.c.key == target.c.key),
            *scope_conditions,
        ]
        log("resolved", select(target).where(*gone), target.c[said])
        resolved = conn.execute(
            update(target).where(*gone).values(status="resolved", resolved_on=d, updated_run_id=r)
        ).rowcount

        # back again: resolved rows found once more
        log("reopened", joined.where(target.c.status == "resolved"), now.c[said])
        conn.execute(
            update(target)
            .where(target.c.key == now.c.key, target.c.status == "resolved")
            .values(
                status="open",
                reopened=target.c.reopened + 1,
                resolved_on=None,
                last_seen=d,
                updated_run_id=r,
                **{c: now.c[c] for c in payload},
            )
        )

        # still open: refresh only what changed
        changed = or_(
            target.c.last_seen != d,
            *(target.c[c].is_distinct_from(now.c[c]) for c in payload),
        )
        conn.execute(
            update(target)
            .where(target.c.key == now.c.key, target.c.status == "open", changed)
            .values(last_seen=d, updated_run_id=r, **{c: now.c[c] for c in payload})
        )

        # new
        conn.execute(
            insert(target).from_select(
                [*contract, "status", "first_seen", "last_seen", "reopened", "updated_run_id"],
                select(
                    *(now.c[c] for c in contract),
                    literal("open", String()),
                    d,
                    d,
                    literal(0, Integer()),
                    r,
                ).where(now.c.state.is_(None)),
            )
        )
        log("opened", joined.where(now.c.state.is_(None)), target.c[said])
        now.drop(conn)

    return {
        "new": states.get(None, 0),
        "still_open": states.get("open", 0),
        "reopened": states.get("resolved", 0),
        "resolved": resolved,
    }


def _any_open(conn: Connection, target: Table, scope: list[Any]) -> bool:
    return bool(conn.execute(select(exists().where(target.c.status == "open", *scope))).scalar())


def _prepare(table: str, current: pl.DataFrame, contract: dict[str, pl.DataType]) -> pl.DataFrame:
    if table == "finding" and "severity" not in current.columns and "rule" in current.columns:
        severity = {code: rule.severity for code, rule in RULES.items()}
        current = current.with_columns(
            severity=pl.col("rule").replace_strict(severity, default=None, return_dtype=pl.Utf8)
        )
    frame = conform(current, contract)
    if frame["key"].null_count():
        raise ValueError(f"{table}: {frame['key'].null_count()} row(s) without a key")
    dup = frame["key"].filter(frame["key"].is_duplicated()).unique()
    if len(dup):
        raise ValueError(f"{table}: {len(dup)} duplicate key(s), e.g. {dup.head(3).to_list()}")
    return frame


def _temporary(conn: Connection, table: str, contract: dict[str, pl.DataType]) -> Table:
    """A session-private table of the keys found now, with the state they were in before."""
    target = models.table(table)
    columns = [Column(name, target.c[name].type, primary_key=(name == "key")) for name in contract]
    now = Table(
        f"now_{table}",
        MetaData(),
        *columns,
        Column("state", String(8)),
        prefixes=["TEMPORARY"],
    )
    now.create(conn)
    return now
