"""Initial schema: runs, files, staged and canonical rows, identity links, findings and
issues with their events, indicators, alerts, snapshots.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "run",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("flow", sa.String(length=16), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("params", sa.Text(), nullable=True),
        sa.Column("stats", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "flow IN ('nightly', 'report', 'alerts', 'snapshot')", name=op.f("ck_run_flow")
        ),
        sa.CheckConstraint(
            "status IN ('running', 'succeeded', 'failed', 'needs_attention')",
            name=op.f("ck_run_status"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_run")),
    )
    op.create_table(
        "snapshot",
        sa.Column("year", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("manifest_sha256", sa.String(length=64), nullable=False),
        sa.Column("code_version", sa.String(length=64), nullable=True),
        sa.Column("path", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("year", name=op.f("pk_snapshot")),
    )
    op.create_table(
        "alert",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("run_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("township_code", sa.String(length=12), nullable=True),
        sa.Column("channel", sa.Text(), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("counts", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["run_id"], ["run.id"], name=op.f("fk_alert_run_id_run")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert")),
    )
    op.create_index(
        op.f("ix_alert_township_code_sent_at"), "alert", ["township_code", "sent_at"], unique=False
    )

    op.create_table(
        "finding",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("rule", sa.String(length=8), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("severity", sa.String(length=8), nullable=True),
        sa.Column("township_code", sa.Text(), nullable=True),
        sa.Column("village", sa.Text(), nullable=True),
        sa.Column("household_id", sa.Text(), nullable=True),
        sa.Column("person_id", sa.Text(), nullable=True),
        sa.Column("id_as_written", sa.Text(), nullable=True),
        sa.Column("suggested_id", sa.Text(), nullable=True),
        sa.Column("record_key", sa.Text(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("evidence", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("first_seen", sa.Date(), nullable=False),
        sa.Column("last_seen", sa.Date(), nullable=False),
        sa.Column("resolved_on", sa.Date(), nullable=True),
        sa.Column("reopened", sa.Integer(), nullable=False),
        sa.Column(
            "updated_run_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.CheckConstraint("status IN ('open', 'resolved')", name=op.f("ck_finding_status")),
        sa.ForeignKeyConstraint(
            ["updated_run_id"], ["run.id"], name=op.f("fk_finding_updated_run_id_run")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_finding")),
        sa.UniqueConstraint("key", name=op.f("uq_finding_key")),
    )
    op.create_index(op.f("ix_finding_status_rule"), "finding", ["status", "rule"], unique=False)
    op.create_index(op.f("ix_finding_township_code"), "finding", ["township_code"], unique=False)

    op.create_table(
        "indicator",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("run_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("period", sa.String(length=8), nullable=False),
        sa.Column("level", sa.String(length=16), nullable=False),
        sa.Column("entity_code", sa.Text(), nullable=False),
        sa.Column("entity_name", sa.Text(), nullable=True),
        sa.Column("indicator", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Double(), nullable=True),
        sa.Column("numerator", sa.Double(), nullable=True),
        sa.Column("denominator", sa.Double(), nullable=True),
        sa.Column("unit", sa.String(length=16), nullable=True),
        sa.CheckConstraint(
            "level IN ('city', 'township', 'village', 'support_unit')",
            name=op.f("ck_indicator_level"),
        ),
        sa.ForeignKeyConstraint(["run_id"], ["run.id"], name=op.f("fk_indicator_run_id_run")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_indicator")),
        sa.UniqueConstraint(
            "period",
            "level",
            "entity_code",
            "indicator",
            name=op.f("uq_indicator_period_level_entity_code_indicator"),
        ),
    )
    op.create_table(
        "source_file",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("rel_path", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("run_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("township_code", sa.String(length=12), nullable=True),
        sa.Column("archive_path", sa.Text(), nullable=True),
        sa.Column("rows_loaded", sa.BigInteger(), nullable=True),
        sa.Column("rows_reported", sa.BigInteger(), nullable=True),
        sa.Column("sheets", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "source IN ('townships', 'dibao', 'insurance', 'claims')",
            name=op.f("ck_source_file_source"),
        ),
        sa.CheckConstraint(
            "status IN ('loading', 'accepted', 'quarantined', 'rejected', 'superseded', 'duplicate')",
            name=op.f("ck_source_file_status"),
        ),
        sa.ForeignKeyConstraint(["run_id"], ["run.id"], name=op.f("fk_source_file_run_id_run")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_source_file")),
        sa.UniqueConstraint("sha256", name=op.f("uq_source_file_sha256")),
    )
    op.create_index(
        op.f("ix_source_file_source_status_township_code"),
        "source_file",
        ["source", "status", "township_code"],
        unique=False,
    )

    op.create_table(
        "dibao",
        sa.Column("file_id", sa.BigInteger(), nullable=False),
        sa.Column("sheet", sa.Text(), nullable=False),
        sa.Column("row_no", sa.BigInteger(), nullable=False),
        sa.Column("township", sa.Text(), nullable=True),
        sa.Column("village", sa.Text(), nullable=True),
        sa.Column("family_id", sa.Text(), nullable=True),
        sa.Column("name_raw", sa.Text(), nullable=True),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("id_raw", sa.Text(), nullable=True),
        sa.Column("id_norm", sa.Text(), nullable=True),
        sa.Column("id_status", sa.Text(), nullable=True),
        sa.Column("relation", sa.Text(), nullable=True),
        sa.Column("category", sa.Text(), nullable=True),
        sa.Column("family_size", sa.BigInteger(), nullable=True),
        sa.Column("monthly_amount", sa.Double(), nullable=True),
        sa.Column("status", sa.Text(), nullable=True),
        sa.Column("start_date", sa.Date(), nullable=True),
        sa.Column("start_date_raw", sa.Text(), nullable=True),
        sa.Column("stop_date", sa.Date(), nullable=True),
        sa.Column("stop_date_raw", sa.Text(), nullable=True),
        sa.Column("stop_reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["file_id"], ["source_file.id"], name=op.f("fk_dibao_file_id_source_file")
        ),
        sa.PrimaryKeyConstraint("file_id", "sheet", "row_no", name=op.f("pk_dibao")),
    )
    op.create_index(op.f("ix_dibao_family_id"), "dibao", ["family_id"], unique=False)
    op.create_index(op.f("ix_dibao_id_norm"), "dibao", ["id_norm"], unique=False)

    op.create_table(
        "dq_issue",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=True),
        sa.Column("file_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("sheet", sa.Text(), nullable=True),
        sa.Column("row_no", sa.BigInteger(), nullable=True),
        sa.Column("column", sa.Text(), nullable=True),
        sa.Column("township_code", sa.Text(), nullable=True),
        sa.Column("village", sa.Text(), nullable=True),
        sa.Column("household_id", sa.Text(), nullable=True),
        sa.Column("value", sa.Text(), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("suggested_fix", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("first_seen", sa.Date(), nullable=False),
        sa.Column("last_seen", sa.Date(), nullable=False),
        sa.Column("resolved_on", sa.Date(), nullable=True),
        sa.Column("reopened", sa.Integer(), nullable=False),
        sa.Column(
            "updated_run_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.CheckConstraint("status IN ('open', 'resolved')", name=op.f("ck_dq_issue_status")),
        sa.ForeignKeyConstraint(
            ["file_id"], ["source_file.id"], name=op.f("fk_dq_issue_file_id_source_file")
        ),
        sa.ForeignKeyConstraint(
            ["updated_run_id"], ["run.id"], name=op.f("fk_dq_issue_updated_run_id_run")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dq_issue")),
        sa.UniqueConstraint("key", name=op.f("uq_dq_issue_key")),
    )
    op.create_index(op.f("ix_dq_issue_file_id"), "dq_issue", ["file_id"], unique=False)
    op.create_index(
        op.f("ix_dq_issue_status_source"), "dq_issue", ["status", "source"], unique=False
    )
    op.create_index(op.f("ix_dq_issue_township_code"), "dq_issue", ["township_code"], unique=False)

    op.create_table(
        "enrolment",
        sa.Column("file_id", sa.BigInteger(), nullable=False),
        sa.Column("sheet", sa.Text(), nullable=False),
        sa.Column("row_no", sa.BigInteger(), nullable=False),
        sa.Column("insured_key", sa.Text(), nullable=True),
        sa.Column("name_raw", sa.Text(), nullable=True),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("id_raw", sa.Text(), nullable=True),
        sa.Column("id_norm", sa.Text(), nullable=True),
        sa.Column("id_status", sa.Text(), nullable=True),
        sa.Column("sex", sa.Text(), nullable=True),
        sa.Column("birth_date", sa.Date(), nullable=True),
        sa.Column("year", sa.BigInteger(), nullable=True),
        sa.Column("enrol_status", sa.Text(), nullable=True),
        sa.Column("person_status", sa.Text(), nullable=True),
        sa.Column("subsidy", sa.Text(), nullable=True),
        sa.Column("township", sa.Text(), nullable=True),
        sa.Column("village", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["file_id"], ["source_file.id"], name=op.f("fk_enrolment_file_id_source_file")
        ),
        sa.PrimaryKeyConstraint("file_id", "sheet", "row_no", name=op.f("pk_enrolment")),
    )
    op.create_index(op.f("ix_enrolment_id_norm"), "enrolment", ["id_norm"], unique=False)
    op.create_index(
        op.f("ix_enrolment_year_file_id"), "enrolment", ["year", "file_id"], unique=False
    )

    op.create_table(
        "finding_event",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "finding_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("run_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("on_date", sa.Date(), nullable=False),
        sa.Column("event", sa.String(length=10), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "event IN ('opened', 'resolved', 'reopened')", name=op.f("ck_finding_event_event")
        ),
        sa.ForeignKeyConstraint(
            ["finding_id"], ["finding.id"], name=op.f("fk_finding_event_finding_id_finding")
        ),
        sa.ForeignKeyConstraint(["run_id"], ["run.id"], name=op.f("fk_finding_event_run_id_run")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_finding_event")),
    )
    op.create_index(
        op.f("ix_finding_event_finding_id"), "finding_event", ["finding_id"], unique=False
    )

    op.create_table(
        "identity_link",
        sa.Column("run_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("file_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("sheet", sa.Text(), nullable=False),
        sa.Column("row_no", sa.BigInteger(), nullable=False),
        sa.Column("id_norm", sa.Text(), nullable=True),
        sa.Column("identity", sa.Text(), nullable=True),
        sa.Column("tier", sa.String(length=16), nullable=False),
        sa.Column("score", sa.Double(), nullable=True),
        sa.Column("evidence", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "source IN ('roster', 'dibao', 'enrolment', 'settlement')",
            name=op.f("ck_identity_link_source"),
        ),
        sa.ForeignKeyConstraint(
            ["file_id"], ["source_file.id"], name=op.f("fk_identity_link_file_id_source_file")
        ),
        sa.ForeignKeyConstraint(["run_id"], ["run.id"], name=op.f("fk_identity_link_run_id_run")),
        sa.PrimaryKeyConstraint(
            "source", "file_id", "sheet", "row_no", name=op.f("pk_identity_link")
        ),
    )
    op.create_index(op.f("ix_identity_link_id_norm"), "identity_link", ["id_norm"], unique=False)
    op.create_index(op.f("ix_identity_link_identity"), "identity_link", ["identity"], unique=False)

    op.create_table(
        "roster_household",
        sa.Column("file_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("household_id", sa.Text(), nullable=True),
        sa.Column("township_code", sa.Text(), nullable=True),
        sa.Column("village", sa.Text(), nullable=True),
        sa.Column("attribute", sa.Text(), nullable=True),
        sa.Column("family_size", sa.BigInteger(), nullable=True),
        sa.Column("income", sa.Double(), nullable=True),
        sa.Column("exit_status", sa.Text(), nullable=True),
        sa.Column("exit_year", sa.BigInteger(), nullable=True),
        sa.Column("housing", sa.Text(), nullable=True),
        sa.Column("water_safe", sa.Boolean(), nullable=True),
        sa.Column("support_unit", sa.Text(), nullable=True),
        sa.Column("support_cadre", sa.Text(), nullable=True),
        sa.Column("phone", sa.Text(), nullable=True),
        sa.Column("members", sa.BigInteger(), nullable=False),
        sa.Column("first_row_no", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["file_id"], ["source_file.id"], name=op.f("fk_roster_household_file_id_source_file")
        ),
        sa.PrimaryKeyConstraint("file_id", "first_row_no", name=op.f("pk_roster_household")),
    )
    op.create_index(
        op.f("ix_roster_household_household_id"), "roster_household", ["household_id"], unique=False
    )
    op.create_index(
        op.f("ix_roster_household_township_code"),
        "roster_household",
        ["township_code"],
        unique=False,
    )

    op.create_table(
        "roster_person",
        sa.Column("file_id", sa.BigInteger(), nullable=False),
        sa.Column("sheet", sa.Text(), nullable=False),
        sa.Column("row_no", sa.BigInteger(), nullable=False),
        sa.Column("township_code", sa.Text(), nullable=True),
        sa.Column("township", sa.Text(), nullable=True),
        sa.Column("village", sa.Text(), nullable=True),
        sa.Column("household_id", sa.Text(), nullable=True),
        sa.Column("name_raw", sa.Text(), nullable=True),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("id_raw", sa.Text(), nullable=True),
        sa.Column("id_norm", sa.Text(), nullable=True),
        sa.Column("id_status", sa.Text(), nullable=True),
        sa.Column("sex", sa.Text(), nullable=True),
        sa.Column("relation", sa.Text(), nullable=True),
        sa.Column("labour", sa.Text(), nullable=True),
        sa.Column("health", sa.Text(), nullable=True),
        sa.Column("school", sa.Text(), nullable=True),
        sa.Column("person_status", sa.Text(), nullable=True),
        sa.Column("attribute", sa.Text(), nullable=True),
        sa.Column("family_size", sa.BigInteger(), nullable=True),
        sa.Column("family_size_raw", sa.Text(), nullable=True),
        sa.Column("income", sa.Double(), nullable=True),
        sa.Column("income_raw", sa.Text(), nullable=True),
        sa.Column("exit_status", sa.Text(), nullable=True),
        sa.Column("exit_year", sa.BigInteger(), nullable=True),
        sa.Column("exit_year_raw", sa.Text(), nullable=True),
        sa.Column("housing", sa.Text(), nullable=True),
        sa.Column("water_safe", sa.Boolean(), nullable=True),
        sa.Column("water_safe_raw", sa.Text(), nullable=True),
        sa.Column("support_unit", sa.Text(), nullable=True),
        sa.Column("support_cadre", sa.Text(), nullable=True),
        sa.Column("phone", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["file_id"], ["source_file.id"], name=op.f("fk_roster_person_file_id_source_file")
        ),
        sa.PrimaryKeyConstraint("file_id", "sheet", "row_no", name=op.f("pk_roster_person")),
    )
    op.create_index(
        op.f("ix_roster_person_household_id"), "roster_person", ["household_id"], unique=False
    )
    op.create_index(op.f("ix_roster_person_id_norm"), "roster_person", ["id_norm"], unique=False)
    op.create_index(
        op.f("ix_roster_person_township_code"), "roster_person", ["township_code"], unique=False
    )

    op.create_table(
        "settlement",
        sa.Column("file_id", sa.BigInteger(), nullable=False),
        sa.Column("sheet", sa.Text(), nullable=False),
        sa.Column("row_no", sa.BigInteger(), nullable=False),
        sa.Column("settlement_id", sa.Text(), nullable=True),
        sa.Column("id_raw", sa.Text(), nullable=True),
        sa.Column("id_norm", sa.Text(), nullable=True),
        sa.Column("id_status", sa.Text(), nullable=True),
        sa.Column("name_raw", sa.Text(), nullable=True),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("settle_date", sa.Date(), nullable=True),
        sa.Column("institution", sa.Text(), nullable=True),
        sa.Column("total_cost", sa.Double(), nullable=True),
        sa.Column("eligible_cost", sa.Double(), nullable=True),
        sa.Column("basic_paid", sa.Double(), nullable=True),
        sa.Column("serious_paid", sa.Double(), nullable=True),
        sa.Column("assistance_paid", sa.Double(), nullable=True),
        sa.ForeignKeyConstraint(
            ["file_id"], ["source_file.id"], name=op.f("fk_settlement_file_id_source_file")
        ),
        sa.PrimaryKeyConstraint("file_id", "sheet", "row_no", name=op.f("pk_settlement")),
    )
    op.create_index(op.f("ix_settlement_id_norm"), "settlement", ["id_norm"], unique=False)
    op.create_index(
        op.f("ix_settlement_settlement_id_file_id"),
        "settlement",
        ["settlement_id", "file_id"],
        unique=False,
    )

    op.create_table(
        "stg_dibao",
        sa.Column("file_id", sa.BigInteger(), nullable=False),
        sa.Column("sheet", sa.Text(), nullable=False),
        sa.Column("row_no", sa.BigInteger(), nullable=False),
        sa.Column("township", sa.Text(), nullable=True),
        sa.Column("village", sa.Text(), nullable=True),
        sa.Column("family_id", sa.Text(), nullable=True),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("id_number", sa.Text(), nullable=True),
        sa.Column("relation", sa.Text(), nullable=True),
        sa.Column("category", sa.Text(), nullable=True),
        sa.Column("family_size", sa.Text(), nullable=True),
        sa.Column("monthly_amount", sa.Text(), nullable=True),
        sa.Column("status", sa.Text(), nullable=True),
        sa.Column("start_date", sa.Text(), nullable=True),
        sa.Column("stop_date", sa.Text(), nullable=True),
        sa.Column("stop_reason", sa.Text(), nullable=True),
        sa.Column("extra", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["file_id"], ["source_file.id"], name=op.f("fk_stg_dibao_file_id_source_file")
        ),
        sa.PrimaryKeyConstraint("file_id", "sheet", "row_no", name=op.f("pk_stg_dibao")),
    )
    op.create_table(
        "stg_enrolment",
        sa.Column("file_id", sa.BigInteger(), nullable=False),
        sa.Column("sheet", sa.Text(), nullable=False),
        sa.Column("row_no", sa.BigInteger(), nullable=False),
        sa.Column("insured_key", sa.Text(), nullable=True),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("id_number", sa.Text(), nullable=True),
        sa.Column("sex", sa.Text(), nullable=True),
        sa.Column("birth_date", sa.Text(), nullable=True),
        sa.Column("year", sa.Text(), nullable=True),
        sa.Column("enrol_status", sa.Text(), nullable=True),
        sa.Column("person_status", sa.Text(), nullable=True),
        sa.Column("subsidy", sa.Text(), nullable=True),
        sa.Column("township", sa.Text(), nullable=True),
        sa.Column("village", sa.Text(), nullable=True),
        sa.Column("extra", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["file_id"], ["source_file.id"], name=op.f("fk_stg_enrolment_file_id_source_file")
        ),
        sa.PrimaryKeyConstraint("file_id", "sheet", "row_no", name=op.f("pk_stg_enrolment")),
    )
    op.create_table(
        "stg_roster",
        sa.Column("file_id", sa.BigInteger(), nullable=False),
        sa.Column("sheet", sa.Text(), nullable=False),
        sa.Column("row_no", sa.BigInteger(), nullable=False),
        sa.Column("township", sa.Text(), nullable=True),
        sa.Column("village", sa.Text(), nullable=True),
        sa.Column("household_id", sa.Text(), nullable=True),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("id_number", sa.Text(), nullable=True),
        sa.Column("sex", sa.Text(), nullable=True),
        sa.Column("relation", sa.Text(), nullable=True),
        sa.Column("labour", sa.Text(), nullable=True),
        sa.Column("health", sa.Text(), nullable=True),
        sa.Column("school", sa.Text(), nullable=True),
        sa.Column("person_status", sa.Text(), nullable=True),
        sa.Column("attribute", sa.Text(), nullable=True),
        sa.Column("family_size", sa.Text(), nullable=True),
        sa.Column("income", sa.Text(), nullable=True),
        sa.Column("exit_status", sa.Text(), nullable=True),
        sa.Column("exit_year", sa.Text(), nullable=True),
        sa.Column("housing", sa.Text(), nullable=True),
        sa.Column("water_safe", sa.Text(), nullable=True),
        sa.Column("support_unit", sa.Text(), nullable=True),
        sa.Column("support_cadre", sa.Text(), nullable=True),
        sa.Column("phone", sa.Text(), nullable=True),
        sa.Column("extra", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["file_id"], ["source_file.id"], name=op.f("fk_stg_roster_file_id_source_file")
        ),
        sa.PrimaryKeyConstraint("file_id", "sheet", "row_no", name=op.f("pk_stg_roster")),
    )
    op.create_table(
        "stg_settlement",
        sa.Column("file_id", sa.BigInteger(), nullable=False),
        sa.Column("sheet", sa.Text(), nullable=False),
        sa.Column("row_no", sa.BigInteger(), nullable=False),
        sa.Column("settlement_id", sa.Text(), nullable=True),
        sa.Column("id_number", sa.Text(), nullable=True),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("settle_date", sa.Text(), nullable=True),
        sa.Column("institution", sa.Text(), nullable=True),
        sa.Column("total_cost", sa.Text(), nullable=True),
        sa.Column("eligible_cost", sa.Text(), nullable=True),
        sa.Column("basic_paid", sa.Text(), nullable=True),
        sa.Column("serious_paid", sa.Text(), nullable=True),
        sa.Column("assistance_paid", sa.Text(), nullable=True),
        sa.Column("extra", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["file_id"], ["source_file.id"], name=op.f("fk_stg_settlement_file_id_source_file")
        ),
        sa.PrimaryKeyConstraint("file_id", "sheet", "row_no", name=op.f("pk_stg_settlement")),
    )
    op.create_table(
        "stg_village",
        sa.Column("file_id", sa.BigInteger(), nullable=False),
        sa.Column("sheet", sa.Text(), nullable=False),
        sa.Column("row_no", sa.BigInteger(), nullable=False),
        sa.Column("village", sa.Text(), nullable=True),
        sa.Column("is_poor", sa.Text(), nullable=True),
        sa.Column("registered_population", sa.Text(), nullable=True),
        sa.Column("income", sa.Text(), nullable=True),
        sa.Column("health_station", sa.Text(), nullable=True),
        sa.Column("bus", sa.Text(), nullable=True),
        sa.Column("water_safe", sa.Text(), nullable=True),
        sa.Column("coverage_4g", sa.Text(), nullable=True),
        sa.Column("info_point", sa.Text(), nullable=True),
        sa.Column("waste", sa.Text(), nullable=True),
        sa.Column("sewage", sa.Text(), nullable=True),
        sa.Column("toilet_rate", sa.Text(), nullable=True),
        sa.Column("support_unit", sa.Text(), nullable=True),
        sa.Column("unit_type", sa.Text(), nullable=True),
        sa.Column("first_secretary", sa.Text(), nullable=True),
        sa.Column("extra", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["file_id"], ["source_file.id"], name=op.f("fk_stg_village_file_id_source_file")
        ),
        sa.PrimaryKeyConstraint("file_id", "sheet", "row_no", name=op.f("pk_stg_village")),
    )
    op.create_table(
        "village",
        sa.Column("file_id", sa.BigInteger(), nullable=False),
        sa.Column("sheet", sa.Text(), nullable=False),
        sa.Column("row_no", sa.BigInteger(), nullable=False),
        sa.Column("township_code", sa.Text(), nullable=True),
        sa.Column("village", sa.Text(), nullable=True),
        sa.Column("is_poor", sa.Boolean(), nullable=True),
        sa.Column("registered_population", sa.BigInteger(), nullable=True),
        sa.Column("income", sa.Double(), nullable=True),
        sa.Column("health_station", sa.Boolean(), nullable=True),
        sa.Column("bus", sa.Boolean(), nullable=True),
        sa.Column("water_safe", sa.Boolean(), nullable=True),
        sa.Column("coverage_4g", sa.Boolean(), nullable=True),
        sa.Column("info_point", sa.Boolean(), nullable=True),
        sa.Column("waste", sa.Boolean(), nullable=True),
        sa.Column("sewage", sa.Boolean(), nullable=True),
        sa.Column("toilet_rate", sa.Double(), nullable=True),
        sa.Column("support_unit", sa.Text(), nullable=True),
        sa.Column("unit_type", sa.Text(), nullable=True),
        sa.Column("first_secretary", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["file_id"], ["source_file.id"], name=op.f("fk_village_file_id_source_file")
        ),
        sa.PrimaryKeyConstraint("file_id", "sheet", "row_no", name=op.f("pk_village")),
    )
    op.create_index(
        op.f("ix_village_township_code_village"),
        "village",
        ["township_code", "village"],
        unique=False,
    )

    op.create_table(
        "dq_issue_event",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("issue_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("run_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("on_date", sa.Date(), nullable=False),
        sa.Column("event", sa.String(length=10), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "event IN ('opened', 'resolved', 'reopened')", name=op.f("ck_dq_issue_event_event")
        ),
        sa.ForeignKeyConstraint(
            ["issue_id"], ["dq_issue.id"], name=op.f("fk_dq_issue_event_issue_id_dq_issue")
        ),
        sa.ForeignKeyConstraint(["run_id"], ["run.id"], name=op.f("fk_dq_issue_event_run_id_run")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dq_issue_event")),
    )
    op.create_index(
        op.f("ix_dq_issue_event_issue_id"), "dq_issue_event", ["issue_id"], unique=False
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index(op.f("ix_dq_issue_event_issue_id"), table_name="dq_issue_event")

    op.drop_table("dq_issue_event")
    op.drop_index(op.f("ix_village_township_code_village"), table_name="village")

    op.drop_table("village")
    op.drop_table("stg_village")
    op.drop_table("stg_settlement")
    op.drop_table("stg_roster")
    op.drop_table("stg_enrolment")
    op.drop_table("stg_dibao")
    op.drop_index(op.f("ix_settlement_settlement_id_file_id"), table_name="settlement")
    op.drop_index(op.f("ix_settlement_id_norm"), table_name="settlement")

    op.drop_table("settlement")
    op.drop_index(op.f("ix_roster_person_township_code"), table_name="roster_person")
    op.drop_index(op.f("ix_roster_person_id_norm"), table_name="roster_person")
    op.drop_index(op.f("ix_roster_person_household_id"), table_name="roster_person")

    op.drop_table("roster_person")
    op.drop_index(op.f("ix_roster_household_township_code"), table_name="roster_household")
    op.drop_index(op.f("ix_roster_household_household_id"), table_name="roster_household")

    op.drop_table("roster_household")
    op.drop_index(op.f("ix_identity_link_identity"), table_name="identity_link")
    op.drop_index(op.f("ix_identity_link_id_norm"), table_name="identity_link")

    op.drop_table("identity_link")
    op.drop_index(op.f("ix_finding_event_finding_id"), table_name="finding_event")

    op.drop_table("finding_event")
    op.drop_index(op.f("ix_enrolment_year_file_id"), table_name="enrolment")
    op.drop_index(op.f("ix_enrolment_id_norm"), table_name="enrolment")

    op.drop_table("enrolment")
    op.drop_index(op.f("ix_dq_issue_township_code"), table_name="dq_issue")
    op.drop_index(op.f("ix_dq_issue_status_source"), table_name="dq_issue")
    op.drop_index(op.f("ix_dq_issue_file_id"), table_name="dq_issue")

    op.drop_table("dq_issue")
    op.drop_index(op.f("ix_dibao_id_norm"), table_name="dibao")
    op.drop_index(op.f("ix_dibao_family_id"), table_name="dibao")

    op.drop_table("dibao")
    op.drop_index(op.f("ix_source_file_source_status_township_code"), table_name="source_file")

    op.drop_table("source_file")
    op.drop_table("indicator")
    op.drop_index(op.f("ix_finding_township_code"), table_name="finding")
    op.drop_index(op.f("ix_finding_status_rule"), table_name="finding")

    op.drop_table("finding")
    op.drop_index(op.f("ix_alert_township_code_sent_at"), table_name="alert")

    op.drop_table("alert")
    op.drop_table("snapshot")
    op.drop_table("run")
