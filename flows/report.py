"""The report flow: read the warehouse, compute the period's indicators, render.

`build_report` is plain Python (tests and the CLI call it directly); `report` is the same as a
Prefect flow for the on-demand deployment.  `compute_indicators` is what the nightly flow
calls on the frames it already holds; the lead stores its result in the `indicator` table.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from functools import cache
from pathlib import Path
from typing import Any

import polars as pl
from sqlalchemy import Engine, text

from config.settings import CONFIG_DIR, Divisions, Policy, load_divisions, load_policy
from reports import KINDS, render
from reports import context as ctx
from transforms import ids
from transforms import indicators as ind
from warehouse import db

TARGETS_CSV = CONFIG_DIR / "targets.csv"
SHANGHAI = timezone(timedelta(hours=8))
SOURCE_ORDER = {"townships": 0, "dibao": 1, "insurance": 2, "claims": 3}


def compute_indicators(
    persons: pl.DataFrame,
    villages: pl.DataFrame,
    dibao: pl.DataFrame | None,
    enrolment: pl.DataFrame | None,
    findings: pl.DataFrame | None,
    issues: pl.DataFrame | None,
    *,
    period: str,
    as_of: date | None,
    policy: Policy | None = None,
    targets: pl.DataFrame | None = None,
    divisions: Divisions | None = None,
) -> pl.DataFrame:
    """Every indicator of `period` in the long format of the `indicator` table (no run_id).

    `persons` are the roster persons in force (with `identity` when resolved), the extracts
    with `identity` or their normalised IDs, `findings`/`issues` the life-cycle tables after
    this run's update.  `targets` defaults to config/targets.csv when that file exists.
    """
    return ind.compute_all(
        _inputs(
            persons,
            villages,
            dibao,
            enrolment,
            findings,
            issues,
            period,
            as_of,
            policy,
            targets,
            divisions,
        )
    )


def _inputs(
    persons: pl.DataFrame,
    villages: pl.DataFrame,
    dibao: pl.DataFrame | None,
    enrolment: pl.DataFrame | None,
    findings: pl.DataFrame | None,
    issues: pl.DataFrame | None,
    period: str,
    as_of: date | None,
    policy: Policy | None,
    targets: pl.DataFrame | None,
    divisions: Divisions | None,
) -> ind.IndicatorInputs:
    divisions = divisions or load_divisions()
    if targets is None and TARGETS_CSV.exists():
        targets = ind.targets_from_frame(pl.read_csv(TARGETS_CSV, infer_schema_length=0), divisions)
    return ind.IndicatorInputs(
        persons=persons,
        villages=villages,
        period=ind.parse_period(period),
        policy=policy or load_policy(),
        as_of=as_of,
        dibao=dibao,
        enrolment=enrolment,
        findings=findings,
        issues=issues,
        targets=targets,
        divisions=divisions,
    )


# --------------------------------------------------------------------------- warehouse reads
def latest_run(engine: Engine) -> dict[str, Any] | None:
    """The latest finished nightly run: its id and as-of date are the report's 数据截至."""
    runs = db.read_frame(engine, "run")
    done = runs.filter(
        (pl.col("flow") == "nightly") & pl.col("status").is_in(["succeeded", "needs_attention"])
    ).sort("id")
    if done.height == 0:
        return None
    row = done.row(-1, named=True)
    return {"id": row["id"], "as_of": row["as_of"]}


def accepted_sources(
    engine: Engine, divisions: Divisions
) -> tuple[list[dict[str, Any]], dict[int, str]]:
    files = db.read_frame(engine, "source_file")
    names = {int(r["id"]): r["name"] for r in files.select("id", "name").iter_rows(named=True)}
    accepted = files.filter(pl.col("status") == "accepted")
    rows = []
    for r in accepted.iter_rows(named=True):
        received = r["received_at"]
        if isinstance(received, datetime):
            received = (received if received.tzinfo else received.replace(tzinfo=UTC)).astimezone(
                SHANGHAI
            )
            received = received.strftime("%Y-%m-%d %H:%M")
        code = r.get("township_code")
        rows.append(
            {
                "source": r["source"],
                "name": r["name"],
                "township": divisions.short_name(code) if code in divisions.townships else "",
                "loaded": received or "",
                "rows": r.get("rows_loaded"),
                "sha256": r.get("sha256") or "",
                "_order": (SOURCE_ORDER.get(r["source"], 9), code or "", r["id"]),
            }
        )
    rows.sort(key=lambda r: r["_order"])
    for r in rows:
        del r["_order"]
    return rows, names


def roster_with_identity(engine: Engine) -> pl.DataFrame:
    """Roster persons in force with the identity the latest reconciliation resolved."""
    persons = db.current(engine, "roster")
    links = db.read_frame(
        engine,
        text("SELECT file_id, sheet, row_no, identity FROM identity_link WHERE source = 'roster'"),
        schema={
            "file_id": pl.Int64(),
            "sheet": pl.Utf8(),
            "row_no": pl.Int64(),
            "identity": pl.Utf8(),
        },
    )
    valid = pl.when(pl.col("id_status").is_in([ids.VALID, ids.LEGACY15])).then(pl.col("id_norm"))
    if links.height == 0:
        return persons.with_columns(identity=valid)
    return persons.join(links, on=["file_id", "sheet", "row_no"], how="left").with_columns(
        identity=pl.coalesce(pl.col("identity"), valid)
    )


def insured_in(engine: Engine, year: int) -> pl.DataFrame:
    """The enrolment rows in force that insure someone in `year` (only what the indicator reads).

    Same rule as `db.current(engine, "enrolment")` (per year, the latest accepted file holding
    it), filtered in SQL: reading all 1.2M rows of three insurance years costs ~9 s on SQLite,
    this 1-2 s.  TODO(lead): a `year` filter on `db.current` would let this go.
    """
    sql = text(
        """
        SELECT e.id_norm, e.id_status
        FROM enrolment e
        WHERE e.year = :year AND e.enrol_status = '参保缴费'
          AND e.file_id = (
            SELECT MAX(e2.file_id) FROM enrolment e2
            JOIN source_file f ON f.id = e2.file_id
            WHERE f.status = 'accepted' AND e2.year = :year)
        """
    )
    schema = {"id_norm": pl.Utf8(), "id_status": pl.Utf8()}
    rows = db.read_frame(engine, sql, {"year": year}, schema=schema)
    return rows.with_columns(year=pl.lit(year, pl.Int64), enrol_status=pl.lit("参保缴费"))


def resolve_township(township: str | None, divisions: Divisions) -> str | None:
    if township is None or township == "":
        return None
    if township in divisions.townships:
        return township
    code = divisions.township_code(township)
    if code is None:
        known = "、".join(divisions.short_name(c) for c in sorted(divisions.townships))
        raise ValueError(f"未知的镇（街道）“{township}”；可选：{known}")
    return code


def build_report(
    engine: Engine,
    kind: str,
    period: str,
    township: str | None = None,
    formats: tuple[str, ...] | list[str] = ("html",),
    out_dir: Path = Path("."),
    *,
    policy: Policy | None = None,
    pdf_engine: str = "auto",
) -> list[Path]:
    """Render one report of `period` (2018H1 / 2018H2 / 2018) from what the warehouse holds.

    The indicators are computed afresh from the data in force, evaluated at the period's end
    (or at the latest run's as-of date if the period is still running); the trend chart reads
    the indicators the nightly runs stored for the other periods.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown report {kind!r}: one of {KINDS}")
    p = ind.parse_period(period)
    divisions = load_divisions()
    code = resolve_township(township, divisions)
    policy = policy or load_policy()
    run = latest_run(engine)
    sources, file_names = accepted_sources(engine, divisions)

    enrolment = insured_in(engine, p.year)
    x = _inputs(
        roster_with_identity(engine),
        db.current(engine, "village"),
        db.current(engine, "dibao"),
        enrolment,
        db.read_frame(engine, "finding"),
        db.read_frame(engine, "dq_issue"),
        p.label,
        run["as_of"] if run else None,
        policy,
        None,
        divisions,
    )
    indicators = ind.compute_all(x)
    meta = ctx.build_meta(kind, x, township=code, run=run, sources=sources)
    if kind == "assessment":
        history = db.read_frame(engine, "indicator").filter(
            pl.col("level").is_in(["city", "township"])
        )
        data = ctx.assessment_data(x, indicators, meta, history=history, township=code)
    else:
        data = ctx.accountability_data(x, indicators, meta, township=code, file_names=file_names)
    return render(kind, data, list(formats), Path(out_dir), pdf_engine=pdf_engine)


@cache
def _flow():  # pragma: no cover - exercised through the deployment
    from prefect import flow

    @flow(name="report", log_prints=True)
    def report(
        kind: str,
        period: str,
        township: str | None = None,
        formats: list[str] | None = None,
        out_dir: str = "./var/reports",
        database_url: str | None = None,
    ) -> list[str]:
        """On-demand report run: any report, any period, one township or all, any format."""
        from config.settings import load_settings

        settings = load_settings(database_url)
        engine = db.connect(settings.database_url)
        try:
            paths = build_report(
                engine, kind, period, township, tuple(formats or ["html"]), Path(out_dir)
            )
        finally:
            engine.dispose()
        for path in paths:
            print(f"已生成：{path}")
        return [str(p) for p in paths]

    return report


def __getattr__(name: str) -> Any:
    """`flows.report.report` is the Prefect flow, built on first use (Prefect imports slowly)."""
    if name == "report":
        return _flow()
    raise AttributeError(name)
