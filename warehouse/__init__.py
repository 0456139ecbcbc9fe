"""The warehouse: SQLAlchemy models, Alembic migrations, and the functions that move frames
in and out of SQLite or PostgreSQL.  The only package that knows SQL dialects."""

from warehouse.db import (
    connect,
    current,
    delete_rows,
    file_by_sha,
    finish_run,
    put_in_force,
    read_frame,
    record_file,
    replace_rows,
    set_file_status,
    start_run,
    sync_rows,
    table_schema,
    upgrade,
    upsert_lifecycle,
    write_frame,
)

__all__ = [
    "connect",
    "current",
    "delete_rows",
    "file_by_sha",
    "finish_run",
    "read_frame",
    "record_file",
    "replace_rows",
    "sync_rows",
    "set_file_status",
    "start_run",
    "put_in_force",
    "table_schema",
    "upgrade",
    "upsert_lifecycle",
    "write_frame",
]
