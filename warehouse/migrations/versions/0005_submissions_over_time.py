"""submissions over time: problems keyed by the register, held submissions, put-in-force order

- `dq_issue.key` no longer names the file: an issue is what is wrong where in the register
  (`transforms.issue_identity`).  Existing issues are keyed anew from the rows they cite; two
  rows that turn out to be the same problem (the same issue seen in an earlier and a later
  submission, which the old keys told apart) become one, keeping the earliest first_seen and
  every life-cycle event.
- `file_issue` is keyed by (file_id, key): the same problem in two files of a township is the
  same key.  It is a cache of validation, so it is emptied and every accepted file is
  validated again by the next run; what was found while reading the accepted files (rows of
  another township) is carried over from dq_issue, since reading is not repeated.
- `source_file` gains `seq` (the order files were put in force: the newest submission of a
  source has the highest), `data_digest` (what the file says, to know the same data in new
  bytes), `data_date` (the date it says it is as of) and the status `held`;
  `source_file_event` records holds and the office's releases.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 08:00:00

"""

import io
from collections.abc import Sequence

import polars as pl
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
OLD_STATUSES = "'loading', 'accepted', 'quarantined', 'rejected', 'superseded', 'duplicate'"
NEW_STATUSES = OLD_STATUSES + ", 'held'"
HOUSEHOLD_KINDS = ("household_head", "family_size_mismatch")


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("source_file", schema=None) as batch_op:
        batch_op.add_column(sa.Column("seq", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("data_digest", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("data_date", sa.Date(), nullable=True))
        batch_op.create_unique_constraint(batch_op.f("uq_source_file_seq"), ["seq"])
        batch_op.drop_constraint(batch_op.f("ck_source_file_status"), type_="check")
        batch_op.create_check_constraint(
            batch_op.f("ck_source_file_status"), f"status IN ({NEW_STATUSES})"
        )
    files = sa.table("source_file", sa.column("id"), sa.column("status"), sa.column("seq"))
    op.execute(
        files.update().where(files.c.status.in_(("accepted", "superseded"))).values(seq=files.c.id)
    )

    with op.batch_alter_table("snap_source_file", schema=None) as batch_op:
        batch_op.add_column(sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=True))
        batch_op.add_column(
            sa.Column("data_digest", sa.String(length=64), autoincrement=False, nullable=True)
        )
        batch_op.add_column(sa.Column("data_date", sa.Date(), autoincrement=False, nullable=True))

    op.create_table(
        "source_file_event",
        sa.Column("id", Id, nullable=False),
        sa.Column("file_id", Id, nullable=False),
        sa.Column("run_id", Id, nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("event", sa.String(length=16), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "event IN ('held', 'released')", name=op.f("ck_source_file_event_event")
        ),
        sa.ForeignKeyConstraint(
            ["file_id"], ["source_file.id"], name=op.f("fk_source_file_event_file_id_source_file")
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["run.id"], name=op.f("fk_source_file_event_run_id_run")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_source_file_event")),
    )
    with op.batch_alter_table("source_file_event", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_source_file_event_file_id"), ["file_id"], unique=False)

    op.drop_table("file_issue")
    _create_file_issue(("file_id", "key"))
    _rekey_issues(op.get_bind())
    _carry_read_issues(op.get_bind())
    op.execute(
        sa.table("source_file", sa.column("validated_with")).update().values(validated_with=None)
    )


def downgrade() -> None:
    """Downgrade schema.  Issue keys stay in the new form (the old ones named files that the
    merged issues no longer have); file_issue is emptied and refilled by the next run."""
    op.drop_table("file_issue")
    _create_file_issue(("key",))
    op.execute(
        sa.table("source_file", sa.column("validated_with")).update().values(validated_with=None)
    )
    with op.batch_alter_table("source_file_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_source_file_event_file_id"))
    op.drop_table("source_file_event")
    with op.batch_alter_table("snap_source_file", schema=None) as batch_op:
        batch_op.drop_column("data_date")
        batch_op.drop_column("data_digest")
        batch_op.drop_column("seq")
    files = sa.table("source_file", sa.column("status"))
    op.execute(files.update().where(files.c.status == "held").values(status="quarantined"))
    with op.batch_alter_table("source_file", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_source_file_status"), type_="check")
        batch_op.create_check_constraint(
            batch_op.f("ck_source_file_status"), f"status IN ({OLD_STATUSES})"
        )
        batch_op.drop_constraint(batch_op.f("uq_source_file_seq"), type_="unique")
        batch_op.drop_column("data_date")
        batch_op.drop_column("data_digest")
        batch_op.drop_column("seq")


def _create_file_issue(key: tuple[str, ...]) -> None:
    op.create_table(
        "file_issue",
        sa.Column("file_id", Id, nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=True),
        sa.Column("sheet", sa.Text(), nullable=True),
        sa.Column("row_no", sa.BigInteger(), nullable=True),
        sa.Column("column", sa.Text(), nullable=True),
        sa.Column("township_code", sa.Text(), nullable=True),
        sa.Column("village", sa.Text(), nullable=True),
        sa.Column("household_id", sa.Text(), nullable=True),
        sa.Column("value", sa.Text(), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("suggested_fix", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["file_id"], ["source_file.id"], name=op.f("fk_file_issue_file_id_source_file")
        ),
        sa.PrimaryKeyConstraint(*key, name=op.f("pk_file_issue")),
    )
    if key == ("key",):
        with op.batch_alter_table("file_issue", schema=None) as batch_op:
            batch_op.create_index(batch_op.f("ix_file_issue_file_id"), ["file_id"], unique=False)


# --- issues keyed by the register -----------------------------------------------------------

_CITED = {  # source -> (table, columns the key needs besides provenance)
    "village": ("village", ("village",)),
    "dibao": ("dibao", ("family_id", "id_norm", "name")),
    "enrolment": ("enrolment", ("year", "year_raw", "id_norm", "insured_key", "name")),
    "settlement": ("settlement", ("settlement_id",)),
}


def _read(conn: sa.Connection, sql: str, **params: object) -> pl.DataFrame:
    result = conn.execute(sa.text(sql), params)
    return pl.DataFrame([tuple(r) for r in result], schema=list(result.keys()), orient="row")


def _cited_rows(conn: sa.Connection, source: str, file_ids: list[int]) -> pl.DataFrame:
    """The rows issues of `source` cite, with what their keys need: the roster from its
    staged rows (rows of another township were never loaded), the rest from their tables."""
    from config.settings import load_divisions, value_limits
    from transforms.normalise import normalise_roster

    if source == "roster":
        parts = []
        for file_id in file_ids:
            data = conn.execute(
                sa.text("SELECT parquet FROM staged_rows WHERE file_id = :f AND kind = 'roster'"),
                {"f": file_id},
            ).scalar()
            if data is not None:
                roster = normalise_roster(
                    pl.read_parquet(io.BytesIO(data)),
                    None,
                    divisions=load_divisions(),
                    limits=value_limits(),
                )
                parts.append(roster.select("file_id", "sheet", "row_no", "id_norm", "name"))
        return pl.concat(parts) if parts else pl.DataFrame()
    table, columns = _CITED[source]
    frame = _read(
        conn,
        f"SELECT file_id, sheet, row_no, {', '.join(columns)} FROM {table} "
        f"WHERE file_id IN ({', '.join(str(int(i)) for i in file_ids) or 'NULL'})",
    )
    return frame


def _new_keys(conn: sa.Connection, issues: pl.DataFrame) -> pl.DataFrame:
    """id -> new key of every issue whose cited row is found (the others keep theirs)."""
    from config.schema import ROSTER
    from transforms.issue_identity import issue_key

    household_headers = [f.canonical for f in ROSTER.fields if f.household]
    parts = []
    for source in ("roster", *_CITED):
        mine = issues.filter(pl.col("source") == source)
        if mine.is_empty():
            continue
        cited = _cited_rows(conn, source, sorted(set(mine["file_id"].drop_nulls().to_list())))
        if cited.is_empty():
            continue
        cited = cited.with_columns(
            pl.col("file_id").cast(pl.Int64),
            pl.col("sheet").cast(pl.Utf8).fill_null(""),
            pl.col("row_no").cast(pl.Int64),
        ).unique(["file_id", "sheet", "row_no"])
        joined = mine.with_columns(pl.col("sheet").fill_null("")).join(
            cited.drop("household_id", "village", strict=False)
            if source != "village"
            else cited.drop("household_id", strict=False).rename({"village": "_village"}),
            on=["file_id", "sheet", "row_no"],
            how="inner",
        )
        if source == "village":
            joined = joined.with_columns(pl.coalesce("_village", "village").alias("village"))
        level = pl.col("kind").is_in(HOUSEHOLD_KINDS) | pl.col("column").is_in(household_headers)
        parts.append(joined.select("id", new_key=issue_key(source, household_level=level)))
    return pl.concat(parts) if parts else pl.DataFrame(schema={"id": pl.Int64, "new_key": pl.Utf8})


_DQ = sa.table(
    "dq_issue",
    sa.column("id", sa.BigInteger),
    sa.column("key", sa.Text),
    sa.column("kind", sa.Text),
    sa.column("source", sa.Text),
    sa.column("file_id", sa.BigInteger),
    sa.column("sheet", sa.Text),
    sa.column("row_no", sa.BigInteger),
    sa.column("column", sa.Text),
    sa.column("township_code", sa.Text),
    sa.column("village", sa.Text),
    sa.column("household_id", sa.Text),
    sa.column("status", sa.Text),
    sa.column("first_seen", sa.Date),
    sa.column("last_seen", sa.Date),
    sa.column("resolved_on", sa.Date),
    sa.column("reopened", sa.Integer),
    sa.column("value", sa.Text),
    sa.column("message", sa.Text),
    sa.column("suggested_fix", sa.Text),
)


def _rekey_issues(conn: sa.Connection) -> None:
    result = conn.execute(sa.select(_DQ).order_by(_DQ.c.id))
    types: dict[type, type[pl.DataType]] = {
        sa.BigInteger: pl.Int64,
        sa.Integer: pl.Int64,
        sa.Date: pl.Date,
    }
    schema = {c.name: types.get(type(c.type), pl.Utf8) for c in _DQ.columns}
    issues = pl.DataFrame([tuple(r) for r in result], schema=schema, orient="row")
    if issues.is_empty():
        return
    keyed = issues.join(_new_keys(conn, issues), on="id", how="left").with_columns(
        new_key=pl.coalesce("new_key", "key")
    )
    groups = (
        keyed.sort("first_seen", "id")
        .group_by("new_key", maintain_order=True)
        .agg(
            survivor=pl.col("id").first(),
            ids=pl.col("id"),
            latest=pl.col("id").sort_by("last_seen", "id").last(),
            open=(pl.col("status") == "open").any(),
            first_seen=pl.col("first_seen").min(),
            last_seen=pl.col("last_seen").max(),
            resolved_on=pl.col("resolved_on").max(),
            reopened=pl.col("reopened").max(),
        )
    )
    dq = _DQ
    events = sa.table("dq_issue_event", sa.column("issue_id"))
    evidence = ("file_id", "sheet", "row_no", "value", "message", "suggested_fix", "village")
    for group in groups.filter(pl.col("ids").list.len() > 1).iter_rows(named=True):
        others = [i for i in group["ids"] if i != group["survivor"]]
        conn.execute(
            events.update().where(events.c.issue_id.in_(others)).values(issue_id=group["survivor"])
        )
        latest = conn.execute(
            sa.select(*(dq.c[c] for c in evidence)).where(dq.c.id == group["latest"])
        ).one()
        conn.execute(dq.delete().where(dq.c.id.in_(others)))
        conn.execute(
            dq.update()
            .where(dq.c.id == group["survivor"])
            .values(
                status="open" if group["open"] else "resolved",
                first_seen=group["first_seen"],
                last_seen=group["last_seen"],
                resolved_on=None if group["open"] else group["resolved_on"],
                reopened=group["reopened"],
                **dict(zip(evidence, latest, strict=True)),
            )
        )
    renamed = groups.select(b_id="survivor", b_key="new_key").to_dicts()
    conn.execute(
        dq.update().where(dq.c.id == sa.bindparam("b_id")).values(key=sa.bindparam("b_key")),
        renamed,
    )


def _carry_read_issues(conn: sa.Connection) -> None:
    """Rows of another township found reading the accepted workbooks: kept in file_issue,
    as ingest now keeps them (reading is not repeated)."""
    conn.execute(
        sa.text(
            'INSERT INTO file_issue (file_id, key, kind, source, sheet, row_no, "column", '
            "township_code, village, household_id, value, message, suggested_fix) "
            'SELECT i.file_id, i.key, i.kind, i.source, i.sheet, i.row_no, i."column", '
            "i.township_code, i.village, i.household_id, i.value, i.message, i.suggested_fix "
            "FROM dq_issue i JOIN source_file f ON f.id = i.file_id "
            "WHERE i.kind = 'foreign_township' AND f.status = 'accepted'"
        )
    )
