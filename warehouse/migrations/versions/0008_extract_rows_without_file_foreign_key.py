"""the city-wide extracts' rows without a foreign key to their file

PostgreSQL checks a foreign key row by row: loading the enrolment extract, the check on
`enrolment.file_id` cost as much as the rest of COPY together (1.89M rows: 23.6 s with it,
11.4 s without).  The rows of `enrolment` and `settlement` keep their `file_id` (NOT NULL,
first column of the key); the loader checks a batch's file ids once
(`warehouse.bulk.write_frame`), files are registered before their rows are written, and no
file is ever deleted.  SQLite rebuilds the two tables (Alembic's batch mode), once.

Revision ID: 0008
Revises: 0007
Create Date: 2027-03-01 08:00:00

"""

from collections.abc import Sequence

from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("enrolment", "settlement")


def upgrade() -> None:
    """Upgrade schema."""
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(f"fk_{table}_file_id_source_file", type_="foreignkey")


def downgrade() -> None:
    """Downgrade schema."""
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.create_foreign_key(
                f"fk_{table}_file_id_source_file", "source_file", ["file_id"], ["id"]
            )
