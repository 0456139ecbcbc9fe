"""Data-quality issues per file: what validation found in a file's rows, what was found while
reading it (`READ_ISSUE_KINDS`), the files still to validate, and the issues in force."""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl
from sqlalchemy import delete, exists, func, literal, or_, select, update

from config.schema import READ_ISSUE_KINDS
from transforms.intake import FOLDER_KINDS
from warehouse import models, row_cache
from warehouse.bulk import Bind, connection, read_frame, table_schema, transaction, write_frame
from warehouse.queries import enrolment_in_force, in_force_select


def record_file_issues(
    bind: Bind, file_ids: Sequence[int], issues: pl.DataFrame, fingerprint: str
) -> int:
    """Replace what validation found in `file_ids` with `issues` (contract ISSUE, rows of
    those files only) and mark the files validated with `fingerprint`; returns the count.
    What was found while reading the files (`READ_ISSUE_KINDS`) stays.  A problem found on
    several rows of a file (a row typed twice) is one issue, seen on its first row."""
    table = models.table("file_issue")
    files = models.table("source_file")
    ids = sorted(set(file_ids))
    unknown = set(issues["file_id"].unique().to_list()) - set(ids) if issues.height else set()
    if unknown:
        raise ValueError(f"issues of files {sorted(unknown)} not among {ids}")
    if issues.height and issues["kind"].is_in(READ_ISSUE_KINDS).any():
        raise ValueError(f"validation cannot report {READ_ISSUE_KINDS}: they are found reading")
    with transaction(bind) as conn:
        conn.execute(
            delete(table).where(table.c.file_id.in_(ids), table.c.kind.not_in(READ_ISSUE_KINDS))
        )
        if issues.height:
            write_frame(conn, "file_issue", issues.unique(["file_id", "key"], maintain_order=True))
        conn.execute(update(files).where(files.c.id.in_(ids)).values(validated_with=fingerprint))
    return issues.height


def record_read_issues(bind: Bind, file_id: int, issues: pl.DataFrame) -> int:
    """Keep what was found while reading a file (rows of another township, hidden sheets:
    `READ_ISSUE_KINDS`); in force while the file is."""
    if issues.height and not issues["kind"].is_in(READ_ISSUE_KINDS).all():
        raise ValueError(f"only {READ_ISSUE_KINDS} are found while reading")
    rows = issues.with_columns(file_id=pl.lit(file_id, pl.Int64)).unique("key", maintain_order=True)
    with transaction(bind) as conn:
        if rows.height:
            write_frame(conn, "file_issue", rows)
    return rows.height


def files_to_validate(bind: Bind, fingerprint: str) -> dict[str, list[int]]:
    """Accepted files not validated with `fingerprint` (new suites, or a run that stopped
    between loading and validating), as {kind: [file_id, ...]}."""
    files = models.table("source_file")
    with connection(bind) as conn:
        stale = conn.execute(
            select(files.c.id, files.c.source)
            .where(
                files.c.status == "accepted",
                or_(files.c.validated_with.is_(None), files.c.validated_with != fingerprint),
            )
            .order_by(files.c.id)
        ).all()
    out: dict[str, list[int]] = {}
    for file_id, source in stale:
        for kind in FOLDER_KINDS[source]:
            out.setdefault(kind, []).append(file_id)
    return out


def issues_in_force(bind: Bind) -> pl.DataFrame:
    """The data-quality issues whose row is in force now (see `current`), and what was found
    reading the files in force; one row per key (the same problem in two files in force is
    one problem, seen last in the newer file).  Kept in the row cache like the rows in force
    (`row_cache.issues_token`): a night on which no file was accepted, validated or released
    reads the copy instead of joining every table in force."""
    return row_cache.through(
        bind, "issues_in_force", None, None, row_cache.issues_token, lambda: _issues_in_force(bind)
    )


def _issues_in_force(bind: Bind) -> pl.DataFrame:
    found = models.table("file_issue")
    suite = found.c.kind.not_in(READ_ISSUE_KINDS)
    parts = []
    enrolment = enrolment_in_force(bind)  # as values: PostgreSQL then probes, not hashes
    for kind in models.CANONICAL_TABLES:
        stmt, rows, _ = in_force_select(kind, enrolment)
        same_row = stmt.with_only_columns(literal(1)).where(
            rows.c.file_id == found.c.file_id,
            rows.c.sheet == func.coalesce(found.c.sheet, ""),  # an issue has no sheet for CSV
            rows.c.row_no == found.c.row_no,
        )
        parts.append(select(found).where(found.c.source == kind, suite, exists(same_row)))
        same_file = stmt.with_only_columns(literal(1)).where(rows.c.file_id == found.c.file_id)
        parts.append(select(found).where(found.c.source == kind, ~suite, exists(same_file)))
    union = parts[0].union_all(*parts[1:]).subquery()
    frame = read_frame(
        bind,
        select(union).order_by(union.c.key, union.c.file_id.desc()),
        schema=table_schema("file_issue"),
    )
    return frame.unique("key", keep="first", maintain_order=True)
