"""abandoned runs; values that cannot be right left out of the canonical rows

- `run.status` gains `abandoned`: a run left `running` by a process that was killed, found so
  when a later run starts (`warehouse.db.start_run`).
- The normaliser now leaves out values that cannot be right (`transforms.values`: amounts that
  are negative, not finite or above the ceilings of policy.toml [values]; dates before 1900 or
  more than a year ahead): their typed column is null, their text stays in `*_raw`.  Rows
  stored before are brought to the same contract, so no rule, sum or indicator uses such a
  value; the suites' fingerprint changed with this release, so the next run validates the
  files again and reports each as `implausible_amount` / `implausible_income` /
  `implausible_date`.  The latest plausible date of rows already stored is a year after the
  day of the upgrade.  Snapshots (`snap_*`) stay as they were frozen.

Revision ID: 0006
Revises: 0005
Create Date: 2027-01-15 08:00:00

"""

from collections.abc import Sequence
from datetime import date

import sqlalchemy as sa
from alembic import op

from config.settings import value_limits

# revision identifiers, used by Alembic.
revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_STATUSES = "'running', 'succeeded', 'failed', 'needs_attention'"
NEW_STATUSES = OLD_STATUSES + ", 'abandoned'"

# (table, column, what it is): the typed columns the normaliser now bounds.
AMOUNTS = {
    "roster_person": {"income": "income"},
    "roster_household": {"income": "income"},
    "dibao": {"monthly_amount": "dibao"},
    "settlement": {
        c: "settlement"
        for c in ("total_cost", "eligible_cost", "basic_paid", "serious_paid", "assistance_paid")
    },
}
DATES = {
    "dibao": ("start_date", "stop_date"),
    "enrolment": ("birth_date",),
    "settlement": ("settle_date",),
}
YEARS = {"roster_person": ("exit_year",), "roster_household": ("exit_year",)}


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("run", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_run_status"), type_="check")
        batch_op.create_check_constraint(batch_op.f("ck_run_status"), f"status IN ({NEW_STATUSES})")

    limits = value_limits()
    ceilings = {
        "income": limits.income_max,
        "dibao": limits.dibao_monthly_max,
        "settlement": limits.settlement_max,
    }
    earliest, latest = limits.earliest_date, limits.latest_date(date.today())
    # +inf is above any ceiling, -inf below 0; PostgreSQL sorts NaN above everything (SQLite
    # stores NaN as NULL).
    for name, columns in AMOUNTS.items():
        for column, what in columns.items():
            _null_outside(name, column, sa.Float(), 0, ceilings[what])
    for name, days in DATES.items():
        for column in days:
            _null_outside(name, column, sa.Date(), earliest, latest)
    for name, years in YEARS.items():
        for column in years:
            _null_outside(name, column, sa.BigInteger(), earliest.year, latest.year)


def _null_outside(
    name: str, column: str, kind: sa.types.TypeEngine, low: object, high: object
) -> None:
    """`name.column` set to NULL where it lies outside [low, high]."""
    value = sa.column(column, kind)
    op.execute(
        sa.table(name, value)
        .update()
        .where(sa.or_(value < low, value > high))
        .values({column: None})
    )


def downgrade() -> None:
    """Downgrade schema.  Values left out stay left out (their text is in `*_raw`)."""
    runs = sa.table("run", sa.column("status"))
    op.execute(runs.update().where(runs.c.status == "abandoned").values(status="failed"))
    with op.batch_alter_table("run", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_run_status"), type_="check")
        batch_op.create_check_constraint(batch_op.f("ck_run_status"), f"status IN ({OLD_STATUSES})")
