"""Where is GX fast: pandas frames converted from polars, or GX's SQL data source?

    uv run python benchmarks/validation.py                     # 16,000 roster + 1,260,000 enrolment rows
    uv run python benchmarks/validation.py --enrolment-rows 300000 --repeat 1

Builds a synthetic roster (16k persons) and enrolment extract (1.26M rows: 420k people x 3
years) in the canonical contracts with a few percent of injected problems, then runs the
*same* suites (expectations.suites) both ways and prints each phase:

(a) pandas: `prepare` (contract, blanks → null, `_row`) → the suite's columns to pandas →
    GX on the pandas batch → issue rows.
(b) SQL: the prepared frame staged into a SQLite table (shaped like the contract, plus
    `_row`) → GX's SQLite data source → issue rows.  Staging is printed separately: in
    production the warehouse load pays it anyway, so (b) is credited without it too.

Both must report the same issues; the script says so (or fails).

Since then (issue 4, session 2) the pandas path skips GX's per-batch fingerprint (an md5
over every cell, ~2 s per pass on 1.26M rows, paid twice per run) and runs the costly
row-wise checks on distinct value tuples (`expectations.run.run_pandas`): `validate` on the
1.26M-row enrolment extract went from 6.3-7.2 s to 1.9-2.1 s with identical issues, which
widens the gap below.  The figures below are from before that change.

Decision: **pandas** (expectations.run.validate).  Measured on this machine (2 vCPU, shared
with other jobs: load average 5-9 during the runs, so wall seconds are inflated ~2x and CPU
seconds are the fair comparison), command above, two runs each:

                 pandas (prepare+GX+issues)   SQL (GX+issues)          SQLite staging
    roster 16k     0.8-1.0 s cpu, 1.4-3.7 wall  1.5 s cpu, 2.3-4.6 wall  0.2 s cpu, 0.3-0.8 wall
    enrol. 1.26M   3.0-3.7 s cpu, 6-10 wall     14-20 s cpu, 28-53 wall  9-11 s cpu, 20-29 wall

(the script prints every phase; both engines reported the same 941 and 8,795 issues).  On
SQL every expectation is 2-4 queries that each scan the table (count, unexpected count,
failing `_row`s) and the ID check is arithmetic over 17 substr() calls per row; the pandas
engine evaluates each condition vectorised on columns already in memory.  The nightly flow
holds polars frames when it validates, so pandas also needs no staging (which alone costs
more than the whole pandas run) and no second copy of the data in the warehouse before it
has been checked.

GX on pandas is fast enough only because of two settings in `expectations/context.py`:
results are never stored, and GX reports failing rows by `_row` only
(`exclude_unexpected_values`; the values are read from our own frame).  A first try, two
expectations on 1.26M rows with 1% failing: `ValidationDefinition.run` (stores the result,
serialising every failing index, and builds one Python dict per failing row) 3.0 s;
`Batch.validate` with those settings 0.25 s.  A fixed cost remains: ~25 ms of GX
bookkeeping per expectation per run (about 0.8 s for the 34-expectation roster suite,
whatever the row count), plus ~10 s to import GX once per process.  The household checks
have no SQL form as map expectations (GX puts the condition in WHERE, where a window
function is not allowed), so on SQL they are `UnexpectedRowsExpectation`s, which GX caps at
200 rows: one more reason SQL is the comparison here, not the product.
"""

from __future__ import annotations

import argparse
import gc
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from config import schema  # noqa: E402
from config.settings import load_divisions, village_short  # noqa: E402
from transforms import ids  # noqa: E402
from transforms.frames import ENROLMENT_ROW, ROSTER_PERSON, conform  # noqa: E402

SURNAMES = list("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗叶曾邓钟")
GIVEN = list("伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂华建国志")


# ---------------------------------------------------------------- synthetic data


def make_ids(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """n valid IDs (mostly Nanxiong's area code) and the sex each one implies."""
    areas = np.where(rng.random(n) < 0.9, 440282, 360702).astype(np.int64)
    born = np.datetime64("1930-01-01") + rng.integers(0, 32_000, n).astype("timedelta64[D]")
    year = born.astype("datetime64[Y]").astype(np.int64) + 1970
    month = born.astype("datetime64[M]").astype(np.int64) % 12 + 1
    day = (born - born.astype("datetime64[M]")).astype(np.int64) + 1
    seq = rng.integers(0, 1000, n)
    body = areas * 10**11 + (year * 10_000 + month * 100 + day) * 1000 + seq
    total = np.zeros(n, dtype=np.int64)
    rest = body.copy()
    for weight in reversed(ids.WEIGHTS):
        total += (rest % 10) * weight
        rest //= 10
    checks = np.array(list(ids.CHECK_CHARS))[total % 11]
    bodies = pl.Series(body).cast(pl.Utf8).str.zfill(17)
    text = (bodies + pl.Series(checks)).to_numpy()
    return text, np.where(seq % 2 == 1, "男", "女")


def _names(rng: np.random.Generator, n: int) -> np.ndarray:
    s = np.array(SURNAMES)[rng.integers(0, len(SURNAMES), n)]
    g1 = np.array(GIVEN)[rng.integers(0, len(GIVEN), n)]
    g2 = np.where(rng.random(n) < 0.6, np.array(GIVEN)[rng.integers(0, len(GIVEN), n)], "")
    return np.char.add(np.char.add(s, g1), g2)


def _corrupt_ids(
    id_raw: np.ndarray, rng: np.random.Generator, share_bad: float, share_excel: float
) -> np.ndarray:
    out = id_raw.copy()
    r = rng.random(len(out))
    for i in np.flatnonzero(r < share_bad):
        v = out[i]
        out[i] = (
            v[:10] + v[11] + v[10] + v[12:]
            if v[10] != v[11]
            else v[:17] + ("0" if v[17] != "0" else "1")
        )
    for i in np.flatnonzero((r >= share_bad) & (r < share_bad + share_excel)):
        v = out[i]
        out[i] = f"{v[0]}.{v[1:15]}E+17"
    return out


def _with_id_columns(frame: pl.DataFrame, generated: np.ndarray) -> pl.DataFrame:
    """id_norm/id_status as the normaliser makes them: generated IDs are valid, the ones we
    corrupted go through transforms.ids.parse_id."""
    written = frame["id_raw"].to_numpy()
    changed = sorted(set(written[written != generated].tolist()))
    parsed = {v: ids.parse_id(v) for v in changed}
    return frame.with_columns(
        id_norm=pl.col("id_raw").replace_strict(
            {k: p.normalised for k, p in parsed.items()},
            default=pl.col("id_raw"),
            return_dtype=pl.Utf8,
        ),
        id_status=pl.col("id_raw").replace_strict(
            {k: p.status for k, p in parsed.items()},
            default=pl.lit(ids.VALID),
            return_dtype=pl.Utf8,
        ),
    )


def synthetic_roster(persons: int, seed: int = 1) -> pl.DataFrame:
    """A city-wide roster in ROSTER_PERSON, households of 1-5, ~1% of each problem injected."""
    rng = np.random.default_rng(seed)
    divisions = load_divisions()
    villages = divisions.villages
    rows: list[dict[str, object]] = []
    id_text, id_sex = make_ids(rng, persons + 10)
    names = _names(rng, persons + 10)
    labour, attribute = list(schema.LABOUR), list(schema.ATTRIBUTE)
    hh_no = 0
    while len(rows) < persons:
        hh_no += 1
        v = villages[rng.integers(0, len(villages))]
        size = int(min(rng.integers(1, 6), persons - len(rows)))
        exit_status = "已脱贫" if rng.random() < 0.6 else "未脱贫"
        hh = {
            "township_code": v.township_code,
            "township": divisions.short_name(v.township_code),
            "village": village_short(v.name) if rng.random() < 0.7 else v.name,
            "household_id": f"{v.township_code}{hh_no:05d}",
            "attribute": attribute[rng.integers(0, 3)],
            "family_size": size,
            "income": float(rng.integers(2_000, 15_000)),
            "exit_status": exit_status,
            "exit_year": int(rng.integers(2016, 2019)) if exit_status == "已脱贫" else None,
            "housing": "安全",
        }
        for m in range(size):
            i = len(rows)
            rows.append(
                {
                    **hh,
                    "file_id": int(v.township_code[-3:]),
                    "sheet": "花名册",
                    "row_no": 4 + i,
                    "name_raw": names[i],
                    "name": names[i],
                    "id_raw": id_text[i],
                    "sex": id_sex[i],
                    "relation": "户主" if m == 0 else ("配偶", "之子", "之女", "之母")[m % 4],
                    "labour": labour[rng.integers(0, len(labour))],
                    "health": "健康",
                    "school": "非在校生",
                    "person_status": "正常" if rng.random() > 0.01 else "死亡",
                }
            )
    frame = pl.DataFrame(rows, infer_schema_length=None)
    n = frame.height
    pick = lambda share: pl.Series(rng.random(n) < share)  # noqa: E731
    generated = frame["id_raw"].to_numpy()
    frame = frame.with_columns(
        id_raw=pl.Series(_corrupt_ids(generated, rng, 0.01, 0.005)),
        labour=pl.when(pick(0.01)).then(pl.lit("劳力")).otherwise("labour"),
        sex=pl.when(pick(0.01))
        .then(pl.when(pl.col("sex") == "男").then(pl.lit("女")).otherwise(pl.lit("男")))
        .otherwise("sex"),
        village=pl.when(pick(0.005)).then(pl.lit("不存在村")).otherwise("village"),
        name=pl.when(pick(0.003)).then(None).otherwise("name"),
        relation=pl.when(pick(0.005)).then(pl.lit("户主")).otherwise("relation"),
        income=pl.when(pick(0.003)).then(-pl.col("income")).otherwise("income"),
        family_size=pl.when(pick(0.005)).then(pl.col("family_size") + 1).otherwise("family_size"),
        exit_year=pl.when(pick(0.005)).then(None).otherwise("exit_year"),
    ).with_columns(
        income_raw=pl.col("income").cast(pl.Int64).cast(pl.Utf8),
        family_size_raw=pl.col("family_size").cast(pl.Utf8),
        exit_year_raw=pl.col("exit_year").cast(pl.Utf8),
    )
    return conform(_with_id_columns(frame, generated), ROSTER_PERSON)


def synthetic_enrolment(rows: int, seed: int = 2) -> pl.DataFrame:
    """An enrolment extract in ENROLMENT_ROW: one row per person and year (3 years)."""
    rng = np.random.default_rng(seed)
    people = -(-rows // 3)
    id_text, id_sex = make_ids(rng, people)
    townships = [load_divisions().short_name(c) for c in load_divisions().townships]
    person = pl.DataFrame(
        {
            "insured_key": pl.int_range(0, people, eager=True).cast(pl.Utf8).str.zfill(9),
            "name": _names(rng, people),
            "id_raw": id_text,
            "sex": id_sex,
            "township": np.array(townships)[rng.integers(0, len(townships), people)],
        }
    )
    frame = (
        person.join(pl.DataFrame({"year": [2016, 2017, 2018]}), how="cross")
        .head(rows)
        .with_row_index("row_no", offset=2)
    )
    n = frame.height
    pick = lambda share: pl.Series(rng.random(n) < share)  # noqa: E731
    generated = frame["id_raw"].to_numpy()
    frame = frame.with_columns(
        file_id=pl.lit(900),
        sheet=pl.lit(""),
        row_no=pl.col("row_no").cast(pl.Int64),
        name_raw=pl.col("name"),
        id_raw=pl.Series(_corrupt_ids(generated, rng, 0.003, 0.001)),
        enrol_status=pl.when(pick(0.002)).then(pl.lit("已参保")).otherwise(pl.lit("参保缴费")),
        person_status=pl.when(pick(0.01)).then(pl.lit("死亡")).otherwise(pl.lit("正常")),
        subsidy=pl.when(pick(0.05)).then(pl.lit("建档立卡贫困人口")).otherwise(pl.lit("无")),
    ).with_columns(name=pl.when(pick(0.001)).then(None).otherwise("name"))
    return conform(_with_id_columns(frame, generated), ENROLMENT_ROW)


# ---------------------------------------------------------------- staging and timing


def stage_sqlite(prepared: pl.DataFrame, path: Path, table: str) -> None:
    """The prepared frame as a SQLite table with `_row` as primary key."""
    kinds = {pl.Int64: "INTEGER", pl.Float64: "REAL", pl.Boolean: "INTEGER"}
    columns = [
        f'"{c}" {"INTEGER PRIMARY KEY" if c == "_row" else kinds.get(t, "TEXT")}'  # type: ignore[call-overload]
        for c, t in prepared.schema.items()
    ]
    data = prepared.with_columns(pl.col(pl.Date).cast(pl.Utf8), pl.col(pl.Boolean).cast(pl.Int64))
    con = sqlite3.connect(path)
    con.execute("PRAGMA journal_mode=OFF")
    con.execute("PRAGMA synchronous=OFF")
    con.execute(f'DROP TABLE IF EXISTS "{table}"')
    con.execute(f'CREATE TABLE "{table}" ({", ".join(columns)})')
    marks = ", ".join("?" * len(prepared.columns))
    con.executemany(f'INSERT INTO "{table}" VALUES ({marks})', data.iter_rows())
    if "household_id" in prepared.columns:
        con.execute(f'CREATE INDEX "{table}_household" ON "{table}" (township_code, household_id)')
    con.commit()
    con.close()


class Clock:
    """Wall and CPU seconds of one phase (CPU too, because the machine may be shared)."""

    def __init__(self, wall: float = 0.0, cpu: float = 0.0) -> None:
        self.wall, self.cpu = wall, cpu

    def __add__(self, other: Clock) -> Clock:
        return Clock(self.wall + other.wall, self.cpu + other.cpu)

    def __str__(self) -> str:
        return f"{self.wall:7.2f} /{self.cpu:6.2f}"


def _timed(fn, *args):  # type: ignore[no-untyped-def]
    gc.collect()
    wall, cpu = time.perf_counter(), time.process_time()
    value = fn(*args)
    return value, Clock(time.perf_counter() - wall, time.process_time() - cpu)


def measure(kind: str, frame: pl.DataFrame, workdir: Path) -> dict[str, object]:
    from expectations import adapter, run, suites

    pandas_suite, sql_suite = suites.build(kind, "pandas"), suites.build(kind, "sql")
    prepared, t_prepare = _timed(run.prepare, kind, frame)
    pdf, t_convert = _timed(run.to_pandas, prepared, pandas_suite.columns)
    del pdf
    hits_p, t_gx_p = _timed(run.run_pandas, pandas_suite, prepared)
    issues_p, t_adapt_p = _timed(adapter.issues_from_hits, pandas_suite, hits_p, prepared)

    db = workdir / f"{kind}.db"
    _, t_stage = _timed(stage_sqlite, prepared, db, kind)
    hits_s, t_gx_s = _timed(run.run_sql, sql_suite, f"sqlite:///{db}", kind)
    issues_s, t_adapt_s = _timed(adapter.issues_from_hits, sql_suite, hits_s, prepared)
    same = issues_p.sort("key").equals(issues_s.sort("key"))
    return {
        "kind": kind,
        "rows": frame.height,
        "issues": issues_p.height,
        "same_issues": same,
        "prepare": t_prepare,
        "to_pandas": t_convert,
        "gx_pandas": t_gx_p,
        "adapter": t_adapt_p,
        "pandas_total": t_prepare + t_gx_p + t_adapt_p,  # run_pandas includes the conversion
        "stage_sqlite": t_stage,
        "gx_sql": t_gx_s,
        "sql_total": t_prepare + t_gx_s + t_adapt_s,
        "sql_total_with_staging": t_prepare + t_stage + t_gx_s + t_adapt_s,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--roster-rows", type=int, default=16_000)
    parser.add_argument("--enrolment-rows", type=int, default=1_260_000)
    parser.add_argument("--repeat", type=int, default=2, help="runs per frame, each printed")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    from expectations.context import gx_context

    gx_context()
    print(f"GX import + context: {time.perf_counter() - started:.1f} s")
    started = time.perf_counter()
    frames = {
        "roster": synthetic_roster(args.roster_rows),
        "enrolment": synthetic_enrolment(args.enrolment_rows),
    }
    print(
        f"synthetic data: {time.perf_counter() - started:.1f} s "
        f"({', '.join(f'{k} {v.height:,} rows' for k, v in frames.items())})"
    )

    phases = [
        "prepare",
        "to_pandas",
        "gx_pandas",
        "adapter",
        "pandas_total",
        "stage_sqlite",
        "gx_sql",
        "sql_total",
        "sql_total_with_staging",
    ]
    with tempfile.TemporaryDirectory(prefix="fupin-bench-") as tmp:
        for kind, frame in frames.items():
            runs = [measure(kind, frame, Path(tmp)) for _ in range(args.repeat)]
            if not all(r["same_issues"] for r in runs):
                print(f"{kind}: pandas and SQL disagree on the issues", file=sys.stderr)
                return 1
            print(
                f"\n{kind}: {runs[0]['rows']:,} rows, {runs[0]['issues']:,} issues (pandas = SQL: yes)"
            )
            print(
                f"  {'seconds: wall / cpu':<24}"
                + "".join(f"{f'run {i + 1}':>17}" for i in range(len(runs)))
            )
            for p in phases:
                print(f"  {p:<24}" + "".join(f"{r[p]!s:>17}" for r in runs))
        print("\n(gx_pandas includes to_pandas; *_total = prepare + GX + adapter)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
