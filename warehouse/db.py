"""The warehouse API the flows call, in one place: `from warehouse import db`, then
`db.start_run`, `db.current`, `db.upgrade` ...

Nothing is defined here; each group lives in a module of its own and is re-exported:
engines and migrations (`warehouse.schema`), runs (`warehouse.runs`), the run lock and
consistent reads (`warehouse.locks`), the file registry (`warehouse.files`), staged rows
(`warehouse.staging`), issues per file (`warehouse.file_issues`), annual snapshots written
(`warehouse.snapshot_rows`); frames in and out (`warehouse.bulk`), the named reads
(`warehouse.queries`) and the finding and issue life cycles (`warehouse.lifecycle`).
"""

from __future__ import annotations

from warehouse.bulk import (
    Bind,
    delete_rows,
    read_frame,
    replace_rows,
    sync_rows,
    table_schema,
    transaction,
    write_frame,
)
from warehouse.file_issues import (
    files_to_validate,
    issues_in_force,
    record_file_issues,
    record_read_issues,
)
from warehouse.files import (
    REPLACING,
    canonical_of,
    file_by_sha,
    in_force_file,
    put_in_force,
    record_file,
    record_file_event,
    release_held,
    same_data_file,
    set_file_status,
)
from warehouse.lifecycle import upsert_lifecycle
from warehouse.locks import consistent_read, run_lock
from warehouse.queries import (
    CURRENT_KINDS,
    FINISHED,
    INSURED,
    LARGE_KINDS,
    current,
    derived,
    enrolment_years,
    failed_runs_since,
    finished_run_exists,
    in_force_select,
    insured_in,
    latest_finished_run,
    latest_finished_run_frame,
    lifecycle_since,
    read_snapshot,
    roster_links,
    roster_with_identity,
    run_by_id,
    snapshot_of,
    snapshot_row_counts,
    snapshots,
    submissions_put_in_force,
    with_identity,
)
from warehouse.runs import abandon_dead_runs, finish_run, start_run
from warehouse.schema import (
    CITY_CODE,
    SQLITE_BUSY_TIMEOUT_MS,
    alembic_config,
    connect,
    counties_in,
    head_revision,
    refresh_statistics,
    revision_of,
    upgrade,
)
from warehouse.snapshot_rows import freeze_snapshot, record_snapshot
from warehouse.staging import StagedDocument, read_staged, staged_document, write_staged

__all__ = [
    "CITY_CODE",
    "CURRENT_KINDS",
    "FINISHED",
    "INSURED",
    "LARGE_KINDS",
    "Bind",
    "abandon_dead_runs",
    "alembic_config",
    "canonical_of",
    "connect",
    "counties_in",
    "enrolment_years",
    "consistent_read",
    "current",
    "derived",
    "delete_rows",
    "failed_runs_since",
    "file_by_sha",
    "files_to_validate",
    "finished_run_exists",
    "in_force_select",
    "insured_in",
    "latest_finished_run",
    "latest_finished_run_frame",
    "lifecycle_since",
    "finish_run",
    "freeze_snapshot",
    "issues_in_force",
    "read_frame",
    "read_snapshot",
    "read_staged",
    "record_file",
    "record_file_issues",
    "record_read_issues",
    "record_snapshot",
    "roster_links",
    "roster_with_identity",
    "run_by_id",
    "replace_rows",
    "sync_rows",
    "run_lock",
    "set_file_status",
    "snapshot_of",
    "snapshot_row_counts",
    "snapshots",
    "staged_document",
    "submissions_put_in_force",
    "start_run",
    "put_in_force",
    "in_force_file",
    "same_data_file",
    "record_file_event",
    "release_held",
    "table_schema",
    "transaction",
    "upgrade",
    "upsert_lifecycle",
    "with_identity",
    "write_frame",
    "write_staged",
    "REPLACING",
    "SQLITE_BUSY_TIMEOUT_MS",
    "StagedDocument",
    "head_revision",
    "refresh_statistics",
    "revision_of",
]
