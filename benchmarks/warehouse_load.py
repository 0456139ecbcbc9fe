"""Load and read back N enrolment-shaped rows on SQLite and PostgreSQL, and print rows/s.

    uv run python benchmarks/warehouse_load.py                      # 1,000,000 rows, both
    uv run python benchmarks/warehouse_load.py --rows 200000 --db sqlite

PostgreSQL: a throwaway database is created on FUPIN_TEST_PG_URL's server (default
postgres@127.0.0.1:5432) and dropped afterwards.  The numbers printed are what was measured
on this machine, this time; nothing is assumed.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import uuid
from datetime import date
from pathlib import Path

import polars as pl
from sqlalchemy import create_engine, text

from transforms.frames import CANONICAL, ISSUE, conform
from warehouse import db

PG_ADMIN_URL = os.environ.get(
    "FUPIN_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
SURNAMES = list("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗")
GIVEN = list("伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂")
TOWNSHIPS = ["雄州街道", "乌迳镇", "界址镇", "坪田镇", "黄坑镇", "邓坊镇", "油山镇", "南亩镇"]


def enrolment_rows(n: int, file_id: int) -> pl.DataFrame:
    """N synthetic enrolment rows in the canonical contract (values plausible, not valid IDs)."""
    i = pl.int_range(0, n, dtype=pl.Int64, eager=True)
    pick = lambda values, k: pl.Series(values).gather(k % len(values))  # noqa: E731
    names = pick(SURNAMES, i) + pick(GIVEN, i // 20) + pick(GIVEN, i // 500)
    frame = pl.DataFrame({"i": i, "name": names, "township": pick(TOWNSHIPS, i)}).with_columns(
        file_id=pl.lit(file_id, pl.Int64),
        sheet=pl.lit(""),
        row_no=pl.col("i") + 2,
        insured_key=pl.format("YB{}", pl.col("i").cast(pl.Utf8).str.zfill(9)),
        birth_date=(pl.lit(date(1930, 1, 1)) + pl.duration(days=pl.col("i") * 7919 % 31000)),
        year=2016 + pl.col("i") % 3,
        enrol_status=pl.when(pl.col("i") % 50 == 0)
        .then(pl.lit("暂停参保"))
        .otherwise(pl.lit("参保缴费")),
        person_status=pl.when(pl.col("i") % 997 == 0)
        .then(pl.lit("死亡"))
        .otherwise(pl.lit("正常")),
        subsidy=pl.when(pl.col("i") % 9 == 0)
        .then(pl.lit("建档立卡贫困人口"))
        .otherwise(pl.lit("无")),
        village=pl.format("第{}村", pl.col("i") % 208),
    )
    frame = frame.with_columns(
        id_norm=pl.format(
            "440282{}{}",
            pl.col("birth_date").dt.strftime("%Y%m%d"),
            (pl.col("i") % 10000).cast(pl.Utf8).str.zfill(4),
        ),
        name_raw=pl.col("name"),
        id_status=pl.lit("valid"),
        sex=pl.when(pl.col("i") % 2 == 0).then(pl.lit("男")).otherwise(pl.lit("女")),
    ).with_columns(id_raw=pl.col("id_norm"))
    return conform(frame, CANONICAL["enrolment"])


def issue_rows(n: int, file_id: int, shift: int = 0) -> pl.DataFrame:
    """N data-quality issues; `shift` replaces the first `shift` keys with new ones."""
    i = pl.int_range(shift, n + shift, dtype=pl.Int64, eager=True)
    return conform(
        pl.DataFrame({"i": i}).with_columns(
            kind=pl.lit("invalid_id"),
            key=pl.format("invalid_id:{}", pl.col("i")),
            source=pl.lit("insurance"),
            file_id=pl.lit(file_id, pl.Int64),
            sheet=pl.lit(""),
            row_no=pl.col("i") + 2,
            column=pl.lit("证件号码"),
            township_code=pl.lit("440282100"),
            message=pl.lit("证件号码校验位错误"),
        ),
        ISSUE,
    )


def measure_lifecycle(engine, file_id: int, n: int) -> None:  # type: ignore[no-untyped-def]
    dialect = engine.dialect.name
    steps = [
        ("first night", issue_rows(n, file_id), date(2018, 6, 1)),
        ("same again", issue_rows(n, file_id), date(2018, 6, 1)),
        ("10% changed", issue_rows(n, file_id, shift=n // 10), date(2018, 6, 2)),
    ]
    for label, frame, day in steps:
        run_id = db.start_run(engine, "nightly", day)
        t0 = time.perf_counter()
        counts = db.upsert_lifecycle(engine, "dq_issue", frame, run_id, day)
        took = time.perf_counter() - t0
        print(f"{dialect:10s} lifecycle    {n:>9,} keys {took:7.2f} s  {label}: {counts}")


def measure(url: str, rows: int, lifecycle_rows: int) -> None:
    engine = db.connect(url)
    try:
        db.upgrade(engine)
        file_id = db.record_file(
            engine,
            source="insurance",
            name="bench.csv",
            rel_path="insurance/bench.csv",
            sha256=uuid.uuid4().hex * 2,
            size=0,
            status="accepted",
        )
        frame = enrolment_rows(rows, file_id)
        dialect = engine.dialect.name

        t0 = time.perf_counter()
        written = db.write_frame(engine, "enrolment", frame)
        t_write = time.perf_counter() - t0
        print(
            f"{dialect:10s} write_frame  {written:>9,} rows {t_write:7.2f} s {written / t_write:>11,.0f} rows/s"
        )

        t0 = time.perf_counter()
        back = db.read_frame(engine, "enrolment")
        t_read = time.perf_counter() - t0
        print(
            f"{dialect:10s} read_frame   {back.height:>9,} rows {t_read:7.2f} s {back.height / t_read:>11,.0f} rows/s"
        )

        t0 = time.perf_counter()
        now = db.current(engine, "enrolment")
        t_cur = time.perf_counter() - t0
        print(
            f"{dialect:10s} current()    {now.height:>9,} rows {t_cur:7.2f} s {now.height / t_cur:>11,.0f} rows/s"
        )

        same = back.sort("row_no").equals(frame)
        print(f"{dialect:10s} round trip identical: {same}")

        t0 = time.perf_counter()
        db.delete_rows(engine, "enrolment", file_id)
        print(f"{dialect:10s} delete_rows  {rows:>9,} rows {time.perf_counter() - t0:7.2f} s")

        if lifecycle_rows:
            measure_lifecycle(engine, file_id, lifecycle_rows)
    finally:
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--lifecycle", type=int, default=200_000, help="issue keys (0: skip)")
    args = parser.parse_args()

    if args.db in ("sqlite", "both"):
        with tempfile.TemporaryDirectory() as tmp:
            measure(f"sqlite:///{Path(tmp) / 'bench.db'}", args.rows, args.lifecycle)
    if args.db in ("postgres", "both"):
        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        name = f"fupin_bench_{uuid.uuid4().hex[:8]}"
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            measure(PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}", args.rows, args.lifecycle)
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()


if __name__ == "__main__":
    main()
