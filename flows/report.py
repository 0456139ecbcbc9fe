"""The report flow: read the warehouse, compute the period's indicators, render.

`build_report` is plain Python (tests and the CLI call it directly); `report` is the same as a
Prefect flow for the on-demand deployment.  `compute_indicators` is what the nightly flow
calls on the frames it already holds; the lead stores its result in the `indicator` table.

A report reads a consistent state: the live warehouse under the run lock in one transaction
(`read_state`), or, for a year that has been frozen, that year's snapshot.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Annotated, Any

import polars as pl
from prefect import flow
from pydantic import Field
from sqlalchemy import Engine

from config.private import private_dir
from config.settings import Divisions, Policy, Resources, load_divisions, load_policy
from reports import KINDS, ReportFormat, ReportKind, render
from reports import context as ctx
from transforms import indicators as ind
from warehouse import db

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
    this run's update.  `targets` defaults to the township targets the policy sets.
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
    policy = policy or load_policy()
    if targets is None:
        targets = ind.targets_from_policy(policy, divisions)
    return ind.IndicatorInputs(
        persons=persons,
        villages=villages,
        period=ind.parse_period(period),
        policy=policy,
        as_of=as_of,
        dibao=dibao,
        enrolment=enrolment,
        findings=findings,
        issues=issues,
        targets=targets,
        divisions=divisions,
    )


# --------------------------------------------------------------------------- warehouse reads
def latest_run(bind: db.Bind, snapshot_year: int | None = None) -> dict[str, Any] | None:
    """The latest finished nightly run: its id and as-of date are the report's 数据截至."""
    run = db.latest_finished_run(bind, snapshot_year=snapshot_year)
    return None if run is None else {"id": run["id"], "as_of": run["as_of"]}


def accepted_sources(
    bind: db.Bind, divisions: Divisions
) -> tuple[list[dict[str, Any]], dict[int, str]]:
    return _sources(db.read_frame(bind, "source_file"), divisions)


def _sources(
    files: pl.DataFrame, divisions: Divisions
) -> tuple[list[dict[str, Any]], dict[int, str]]:
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


@dataclass(frozen=True)
class WarehouseState:
    """Everything a report reads from the warehouse: live, or a year's snapshot."""

    run: dict[str, Any] | None
    files: pl.DataFrame  # source_file rows
    persons: pl.DataFrame  # roster persons in force, with `identity`
    villages: pl.DataFrame
    dibao: pl.DataFrame
    insured: pl.DataFrame  # the year's enrolment rows that insure someone
    findings: pl.DataFrame
    issues: pl.DataFrame
    history: pl.DataFrame  # the indicators the nightly runs stored


def read_live(bind: db.Bind, year: int) -> WarehouseState:
    """What the warehouse holds now (read on one connection: see `db.consistent_read`)."""
    return WarehouseState(
        run=latest_run(bind),
        files=db.read_frame(bind, "source_file"),
        persons=db.roster_with_identity(bind),
        villages=db.current(bind, "village"),
        dibao=db.current(bind, "dibao"),
        insured=db.insured_in(bind, year),
        findings=db.read_frame(bind, "finding"),
        issues=db.read_frame(bind, "dq_issue"),
        history=db.read_frame(bind, "indicator"),
    )


def read_snapshot(bind: db.Bind, year: int) -> WarehouseState:
    """What the warehouse held when `year` was frozen (`flows.snapshot`): the same frames as
    `read_live` then, from the `snap_*` tables."""
    return WarehouseState(
        run=latest_run(bind, snapshot_year=year),
        files=db.read_snapshot(bind, "source_file", year),
        persons=db.roster_with_identity(bind, snapshot_year=year),
        villages=db.read_snapshot(bind, "village", year),
        dibao=db.read_snapshot(bind, "dibao", year),
        insured=db.insured_in(bind, year, snapshot_year=year),
        findings=db.read_snapshot(bind, "finding", year),
        issues=db.read_snapshot(bind, "dq_issue", year),
        history=db.read_snapshot(bind, "indicator", year),
    )


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


def _wait_notice() -> None:
    logging.getLogger("fupin").warning("夜间核查正在运行：报告将在其完成后读取数据……")


def read_state(engine: Engine, year: int, snapshot: bool | None = None) -> WarehouseState:
    """The state a report of `year` is built from: the year's snapshot when the warehouse has
    one (or `snapshot=True`), else what the warehouse holds now, read under the run lock
    (never half a nightly run) and in one transaction."""
    if snapshot is None:
        snapshot = db.snapshot_of(engine, year) is not None
    if snapshot:
        with db.consistent_read(engine) as conn:
            return read_snapshot(conn, year)
    with (
        db.run_lock(engine, exclusive=False, on_wait=_wait_notice),
        db.consistent_read(engine) as conn,
    ):
        return read_live(conn, year)


def snapshot_policy(engine: Engine, year: int) -> Policy | None:
    """The policy parameters archived with `year`'s snapshot, when it has them."""
    row = db.snapshot_of(engine, year)
    if row is None:
        return None
    path = Path(row["path"]) / "policy.toml"
    return load_policy(path) if path.is_file() else None


def build_report(
    engine: Engine,
    kind: str | Sequence[str],
    period: str,
    township: str | None = None,
    formats: tuple[str, ...] | list[str] = ("html",),
    out_dir: Path = Path("."),
    *,
    policy: Policy | None = None,
    resources: Resources | None = None,
    pdf_engine: str = "auto",
    snapshot: bool | None = None,
) -> list[Path]:
    """Render one report of `period` (2018H1 / 2018H2 / 2018) from what the warehouse holds
    (or several: `kind` may list them, read and computed once for all).

    The indicators are computed afresh from the data in force, evaluated at the period's end
    (or at the latest run's as-of date if the period is still running); the trend chart reads
    the indicators the nightly runs stored for the other periods.

    A period of a year that has been snapshotted is built from the snapshot and its archived
    policy parameters, so it comes out as it did at year end whatever the warehouse holds
    now; `snapshot=False` builds it from the live data instead, `snapshot=True` from the
    snapshot tables even before the snapshot is recorded (how the snapshot renders them).
    `resources` are the caller's (its policy is the live one); without them, the settings'.
    """
    kinds = [kind] if isinstance(kind, str) else list(kind)
    for k in kinds:
        if k not in KINDS:
            raise ValueError(f"unknown report {k!r}: one of {KINDS}")
    p = ind.parse_period(period)
    divisions = resources.divisions if resources else load_divisions()
    code = resolve_township(township, divisions)
    if snapshot is None:
        snapshot = db.snapshot_of(engine, p.year) is not None
    if snapshot and policy is None:
        policy = snapshot_policy(engine, p.year)
    policy = policy or (resources.policy if resources else load_policy())
    state = read_state(engine, p.year, snapshot)
    sources, file_names = _sources(state.files, divisions)
    run = state.run

    x = _inputs(
        state.persons,
        state.villages,
        state.dibao,
        state.insured,
        state.findings,
        state.issues,
        p.label,
        run["as_of"] if run else None,
        policy,
        None,
        divisions,
    )
    indicators = ind.compute_all(x)
    paths: list[Path] = []
    for k in kinds:  # several reports of one period share the state and its indicators
        meta = ctx.build_meta(k, x, township=code, run=run, sources=sources)
        if k == "assessment":
            history = state.history.filter(pl.col("level").is_in(["city", "township"]))
            data = ctx.assessment_data(x, indicators, meta, history=history, township=code)
        else:
            data = ctx.accountability_data(
                x, indicators, meta, township=code, file_names=file_names
            )
        paths += render(k, data, list(formats), Path(out_dir), pdf_engine=pdf_engine)
    return paths


def _formats(formats: Sequence[str] | str | None) -> tuple[str, ...]:
    """["html", "pdf"], "html,pdf" or None (HTML) — the UI and the CLI hand over either."""
    if formats is None:
        return ("html",)
    if isinstance(formats, str):
        formats = formats.split(",")
    return tuple(f.strip().lower() for f in formats if f.strip()) or ("html",)


# 2018H1, 2018H2 or 2018: the run form shows the pattern and refuses anything else.
Period = Annotated[str, Field(pattern=r"^20\d\d(H[12])?$", examples=["2018H1", "2018"])]
FORMAT_ZH = {"html": "网页（HTML）", "pdf": "PDF", "xlsx": "Excel"}
KIND_ZH = {"assessment": "考核报告", "accountability": "问责通报"}


def report_markdown(
    kind: str, period: str, township: str | None, paths: list[Path], run: dict[str, Any] | None
) -> str:
    """What a report run leaves on its page in Prefect: the files and the headline figures
    of the nightly run the report stands on (no personal data)."""
    lines = [
        f"# {KIND_ZH.get(kind, kind)} {period}（{township or '全市'}）",
        "",
        "| 文件 | 格式 | 大小 |",
        "|---|---|---|",
    ]
    for path in paths:
        size = path.stat().st_size if path.exists() else 0
        fmt = FORMAT_ZH.get(path.suffix.lstrip("."), path.suffix)
        lines.append(f"| {path} | {fmt} | {size / 1024:.0f} KB |")
    if run:
        stats = json.loads(run.get("stats") or "{}") if isinstance(run.get("stats"), str) else {}
        f, i = stats.get("findings", {}), stats.get("issues", {})
        lines += [
            "",
            f"数据截至 {run['as_of']}（夜间核查运行 #{run['id']}）。",
            "",
            "| 指标 | 数量 |",
            "|---|---|",
            f"| 核查发现：未整改 | {f.get('new', 0) + f.get('still_open', 0) + f.get('reopened', 0)} |",
            f"| 核查发现：当晚已整改 | {f.get('resolved', 0)} |",
            f"| 数据质量问题：未整改 | {i.get('new', 0) + i.get('still_open', 0) + i.get('reopened', 0)} |",
        ]
    return "\n".join(lines) + "\n"


@flow(name="report", log_prints=True)
def report(
    kind: ReportKind,
    period: Period | int,
    township: str | None = None,
    formats: list[ReportFormat] | None = None,
    out_dir: str | None = None,
) -> list[str]:
    """On-demand report run: any report (assessment / accountability), any period (2018H1,
    2018), one township or all, any formats (html, pdf, xlsx); files go to `out_dir`
    (default $FUPIN_HOME/reports).  `period` may come as a number: `prefect deployment run
    -p period=2018` hands over JSON.  The warehouse comes from the environment
    (FUPIN_DATABASE_URL), never from a parameter Prefect would store and show."""
    from prefect.artifacts import create_markdown_artifact

    from config.settings import load_resources, load_settings

    settings = load_settings()
    resources = load_resources(settings)
    engine = db.connect(settings.database_url, cache_dir=settings.row_cache_dir)
    try:
        db.upgrade(engine)
        paths = build_report(
            engine,
            kind,
            str(period),
            township,
            _formats(formats),
            Path(out_dir) if out_dir else private_dir(settings.reports_dir),
            resources=resources,
        )
        run = db.latest_finished_run(engine)
    finally:
        engine.dispose()
    for path in paths:
        print(f"已生成：{path}")
    try:
        create_markdown_artifact(
            report_markdown(kind, str(period), township, paths, run),
            key=f"report-{kind}",
            description=f"{KIND_ZH.get(kind, kind)}：生成的文件与主要数字",
        )
    except Exception as exc:  # noqa: BLE001 - an artifact is a courtesy
        logging.getLogger("fupin").warning("report artifact not published: %s", type(exc).__name__)
    return [str(p) for p in paths]
