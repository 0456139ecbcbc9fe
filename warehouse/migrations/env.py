"""Alembic environment: run by `warehouse.db.upgrade` (which hands over a connection) or by
the alembic command line: `uv run alembic -c warehouse/alembic.ini upgrade head`, with the
database from `-x url=…`, else FUPIN_DATABASE_URL, else the default SQLite file."""

from __future__ import annotations

from logging.config import fileConfig
from typing import Any

from alembic import context
from sqlalchemy import Connection

from warehouse.models import Base

config = context.config
target_metadata = Base.metadata
if config.config_file_name is not None:  # the command line; upgrade() leaves logging alone
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def _url() -> str:
    from config.settings import load_settings

    return context.get_x_argument(as_dictionary=True).get("url") or load_settings().database_url


def _configure(**kw: Any) -> None:
    context.configure(
        target_metadata=target_metadata,
        compare_type=True,
        render_as_batch=True,  # SQLite can only ALTER through table copies
        **kw,
    )


def _run(connection: Connection) -> None:
    _configure(connection=connection)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    _configure(url=_url(), literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
elif (given := config.attributes.get("connection")) is not None:
    _run(given)
else:
    from warehouse.schema import connect, migration_transaction

    engine = connect(_url())
    try:
        with migration_transaction(engine) as conn:
            _run(conn)
    finally:
        engine.dispose()
