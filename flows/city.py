"""The nightly of a city or province: many counties in one warehouse, run on Dask.

A multi-county inbox (sources.md) holds a folder per county (its 花名册 and 低保 roll) and
the city-wide medical-insurance extracts at the top.  Each county is a warehouse of its own
(a PostgreSQL schema, `warehouse.schema.county_schema`; its home under FUPIN_HOME/<code>),
and so are the city's extracts (the city's code, 440200).  The flow maps the per-county
work over its task runner -- a local Dask cluster, or the scheduler at FUPIN_DASK_ADDRESS --
and the tasks pass Parquet paths, never frames:

1. intake (per county, and the city's extracts): archive, parse, store and validate what is
   new; write the register in force (roster, villages, 低保 roll) as Parquet.
2. resolve (per county): the county's roster resolved to identities against the city-wide
   低保 union and the parts of the city extracts it can match (`wanted`: its identities and
   the IDs one slip away from its invalid ones, broadcast to the extract's row groups, which
   are scanned with that filter, so no task holds the whole extract).
3. judge (per county): R01-R15 with every lookup city-wide (transforms.reconcile), R16 over
   every county's identities, life cycles, indicators and reports, in the county's schema.

Every task reads the warehouse and FUPIN_HOME from the environment of its worker (a local
cluster inherits this process's; workers of an existing cluster must be given them), never
from a parameter Prefect would store and show.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl
from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.task_runners import ThreadPoolTaskRunner
from sqlalchemy import Engine

from config.settings import (
    Resources,
    Settings,
    city_counties,
    load_resources,
    load_settings,
    using_settings,
    working_for,
)
from flows.inbox import CITY_TOP, IN_COUNTY, is_county_folder
from flows.ingest import ingest_inbox
from flows.nightly import FILE_STATUS, _logger, assess, record_findings
from flows.nightly import render_reports as render_task
from transforms import city as city_transforms
from transforms.exports import city_export
from transforms.reconcile import resolve_persons
from transforms.rules import ENROLMENT_READ
from warehouse import db
from warehouse.schema import CITY_CODE

REGISTER = ("roster", "village", "dibao")
EXTRACTS = ("enrolment", "settlement")
ROW_GROUP = 250_000
DASK_ADDRESS_ENV = "FUPIN_DASK_ADDRESS"


def county_folders(inbox: Path) -> list[str]:
    """The county codes an inbox has folders for (sources.md's multi-county layout)."""
    if not inbox.is_dir():
        return []
    return sorted(p.name for p in inbox.iterdir() if p.is_dir() and is_county_folder(p.name))


def unit_settings(settings: Settings, unit: str) -> Settings:
    """A county's (or the city's) settings: its own home under FUPIN_HOME (archive, stored
    files, row cache, reports, exports), the same warehouse URL (its schema is its own)."""
    return replace(settings, home=settings.home / unit)


@contextlib.contextmanager
def _unit(unit: str) -> Iterator[tuple[Resources, Engine]]:
    # The city's extracts belong to no county: they are read with the default divisions,
    # which only route their data-quality issues to the home county's townships by name.
    with working_for(unit) if unit != CITY_CODE else contextlib.nullcontext():
        settings = unit_settings(load_settings(), unit)
        engine = db.connect(settings.database_url, county=unit, cache_dir=settings.row_cache_dir)
        try:
            yield load_resources(settings), engine
        finally:
            engine.dispose()


def _write(frame: pl.DataFrame, path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.write_parquet(path, row_group_size=ROW_GROUP)
    return str(path)


@task(name="intake", cache_policy=NO_CACHE, task_run_name="intake-{unit}")
def intake(unit: str, inbox: str, as_of: str, work: str) -> dict[str, Any]:
    """What is new for `unit` (a county, or CITY_CODE for the extracts at the top) into its
    warehouse, validated; its data in force written to `work/<unit>/`."""
    from flows.validation import issues_of_the_run

    day = date.fromisoformat(as_of)
    county = unit != CITY_CODE
    folder = Path(inbox) / unit if county else Path(inbox)
    out = Path(work) / unit
    with _unit(unit) as (res, engine), db.run_lock(engine, exclusive=True):
        db.upgrade(engine)
        run_id = db.start_run(engine, "nightly", day, {"inbox": str(folder), "as_of": as_of})
        started = time.perf_counter()
        outcomes = ingest_inbox(
            engine, res.settings, folder, run_id, IN_COUNTY if county else CITY_TOP
        )
        issues = issues_of_the_run(engine, run_id, day)
        kinds = REGISTER if county else EXTRACTS
        paths = {}
        for kind in kinds:
            columns = ENROLMENT_READ if kind == "enrolment" else None
            frame = db.current(engine, kind, columns=columns)
            if kind == "dibao":
                frame = frame.with_columns(county_code=pl.lit(unit))
            paths[kind] = _write(frame, out / f"{kind}.parquet")
        files = db.read_frame(engine, "source_file").select("id", "rel_path")
        paths["files"] = _write(files, out / "files.parquet")
    seen = {s: sum(o.status == s for o in outcomes) for s in FILE_STATUS}
    _logger().info(
        "%s 接收文件：%s",
        unit,
        "，".join(f"{FILE_STATUS[s]} {n} 个" for s, n in seen.items() if n) or "无新文件",
    )
    return {
        "unit": unit,
        "run_id": run_id,
        "paths": paths,
        "files": seen,
        "issues": issues,
        "needs_attention": any(o.needs_attention for o in outcomes),
        "seconds": round(time.perf_counter() - started, 2),
        **_process(),
    }


def _process() -> dict[str, int]:
    """The worker process a task ran in and its peak resident memory so far (MB)."""
    import resource

    return {
        "pid": os.getpid(),
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
    }


@task(name="resolve", cache_policy=NO_CACHE, task_run_name="resolve-{county}")
def resolve(county: str, intakes: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The county's roster resolved to identities city-wide, and the parts of the city
    extracts it needs, as Parquet beside its register."""
    mine, extracts = intakes[county]["paths"], intakes[CITY_CODE]["paths"]
    roster = pl.read_parquet(mine["roster"])
    dibao = _city_dibao(intakes)
    wanted = city_transforms.wanted(roster)
    parts = {
        kind: city_transforms.matching(pl.scan_parquet(extracts[kind]), wanted).collect()
        for kind in EXTRACTS
    }
    persons = resolve_persons(roster, dibao, parts["enrolment"])
    out = Path(mine["roster"]).parent
    return {
        "persons": _write(
            persons.with_columns(county_code=pl.lit(county)), out / "persons.parquet"
        ),
        **{kind: _write(parts[kind], out / f"{kind}.parquet") for kind in EXTRACTS},
        **_process(),
    }


def _city_dibao(intakes: dict[str, dict[str, Any]]) -> pl.DataFrame:
    frames = [pl.read_parquet(i["paths"]["dibao"]) for u, i in intakes.items() if u != CITY_CODE]
    return pl.concat(frames, how="diagonal_relaxed") if frames else pl.DataFrame()


def _file_names(intakes: dict[str, dict[str, Any]]) -> dict[int, str]:
    """Every file of the city by its id (ids are city-wide), as a clerk knows it."""
    names: dict[int, str] = {}
    for info in intakes.values():
        files = pl.read_parquet(info["paths"]["files"])
        names.update(
            zip(
                files["id"].to_list(),
                [n.rsplit("/", 1)[-1] for n in files["rel_path"]],
                strict=True,
            )
        )
    return names


@task(name="judge", cache_policy=NO_CACHE, task_run_name="judge-{county}")
def judge(
    county: str,
    intakes: dict[str, dict[str, Any]],
    resolved: dict[str, dict[str, Any]],
    as_of: str,
    formats: list[str],
) -> dict[str, Any]:
    """The county's findings (R01-R15 city-wide, and its part of R16), life cycles,
    indicators and reports, in its own warehouse."""
    day = date.fromisoformat(as_of)
    mine, parts = intakes[county]["paths"], resolved[county]
    data = {
        "roster": pl.read_parquet(mine["roster"]),
        "village": pl.read_parquet(mine["village"]),
        "dibao": _city_dibao(intakes),
        "enrolment": pl.read_parquet(parts["enrolment"]),
        "settlement": pl.read_parquet(parts["settlement"]),
    }
    persons = {c: pl.read_parquet(r["persons"]) for c, r in resolved.items()}
    files = _file_names(intakes)
    run_id = intakes[county]["run_id"]
    with _unit(county) as (res, engine), db.run_lock(engine, exclusive=True):
        result = city_transforms.judge(
            county, data, persons, day, res.policy, res.divisions, files, city_counties()
        )
        findings = record_findings(engine, result.links, result.rules, run_id, day)
        indicators = assess.fn(engine, res, result, data["village"], run_id, day)
        stats: dict[str, Any] = {
            "files": intakes[county]["files"],
            "rows_in_force": {k: data[k].height for k in ("roster", "village")},
            "issues": intakes[county]["issues"],
            "findings": findings,
            "indicators": indicators,
        }
        needs = intakes[county]["needs_attention"] or bool(findings["rules_failed"])
        status = "needs_attention" if needs else "succeeded"
        db.finish_run(engine, run_id, status, stats)
        stats["reports"] = render_task.fn(engine, res, day, tuple(formats))
        db.finish_run(engine, run_id, status, stats)
    return {"county": county, "run_id": run_id, "needs_attention": needs, **stats, **_process()}


def task_runner(workers: int | None = None, address: str | None = None) -> Any:
    """Dask: the scheduler at `address` (or FUPIN_DASK_ADDRESS), else a local cluster of
    `workers` processes of one thread each (a worker runs one county at a time: the
    divisions it works for are process-wide, `config.settings.working_for`).  `workers=0`
    runs everything in this process, one task at a time."""
    address = address or os.environ.get(DASK_ADDRESS_ENV) or None
    if workers == 0 and not address:
        return ThreadPoolTaskRunner(max_workers=1)
    from prefect_dask import DaskTaskRunner

    if address:
        return DaskTaskRunner(address=address)
    return DaskTaskRunner(
        cluster_kwargs={
            "n_workers": workers or 2,
            "threads_per_worker": 1,
            "processes": True,
            "dashboard_address": None,
            "silence_logs": logging.WARNING,
        }
    )


def run_city(
    inbox: str,
    as_of: str | None = None,
    database_url: str | None = None,
    home: str | None = None,
    counties: list[str] | None = None,
    workers: int | None = None,
    address: str | None = None,
    formats: list[str] | None = None,
) -> dict[str, Any]:
    """The city's nightly on this warehouse and home.  They reach the workers through the
    environment (FUPIN_DATABASE_URL, FUPIN_HOME), set here for the run: a local cluster's
    processes inherit it."""
    with using_settings(database_url, home):
        settings = load_settings()
    with _environment(FUPIN_DATABASE_URL=settings.database_url, FUPIN_HOME=str(settings.home)):
        runner = task_runner(workers, address)
        return city_nightly.with_options(task_runner=runner)(
            inbox, as_of, counties, formats or ["html"]
        )


@contextlib.contextmanager
def _environment(**values: str) -> Iterator[None]:
    before = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in before.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@flow(name="city-nightly", log_prints=False)
def city_nightly(
    inbox: str,
    as_of: str | None = None,
    counties: list[str] | None = None,
    formats: list[str] | None = None,
) -> dict[str, Any]:
    """Every county of a multi-county inbox, in parallel on the flow's task runner."""
    started = time.perf_counter()
    day = date.fromisoformat(as_of) if as_of else date.today()
    inbox_path = Path(inbox).resolve()
    codes = counties or county_folders(inbox_path)
    unknown = [c for c in codes if c not in city_counties()]
    if unknown:
        raise ValueError(f"收件目录中的县级代码不在区划表中：{'、'.join(unknown)}")
    settings = load_settings()
    work = unit_settings(settings, CITY_CODE).home / "work" / day.isoformat()
    units = [CITY_CODE, *codes]
    taken = {u: intake.submit(u, str(inbox_path), day.isoformat(), str(work)) for u in units}
    intakes = {u: f.result() for u, f in taken.items()}
    resolving = {c: resolve.submit(c, intakes) for c in codes}
    resolved = {c: f.result() for c, f in resolving.items()}
    judging = {
        c: judge.submit(c, intakes, resolved, day.isoformat(), formats or ["html"]) for c in codes
    }
    judged = {c: f.result() for c, f in judging.items()}
    peaks: dict[int, int] = {}
    for step in [*intakes.values(), *resolved.values(), *judged.values()]:
        peaks[step["pid"]] = max(peaks.get(step["pid"], 0), step["peak_mb"])
    summary = {
        "as_of": day.isoformat(),
        "worker_peak_mb": sorted(peaks.values(), reverse=True),
        "counties": judged,
        "extracts": intakes[CITY_CODE],
        "needs_attention": any(j["needs_attention"] for j in judged.values())
        or intakes[CITY_CODE]["needs_attention"],
        "seconds": round(time.perf_counter() - started, 2),
    }
    _logger().info(
        "多县夜间核查完成：%d 个县（市、区），用时 %.1f 秒", len(codes), summary["seconds"]
    )
    return summary


def city_findings(database_url: str, status: str | None = "open") -> pl.DataFrame:
    """Every county's findings as stored (open ones by default), `county_code` first, R16
    once under the lowest county involved: what the city's export lists."""
    from warehouse.schema import counties_in

    plain = db.connect(database_url)
    try:
        counties = counties_in(plain)
    finally:
        plain.dispose()
    frames = {}
    for county in counties:
        engine = db.connect(database_url, county=county)
        try:
            frame = db.read_frame(engine, "finding")
        finally:
            engine.dispose()
        frames[county] = frame.filter(pl.col("status") == status) if status else frame
    return city_export(frames)
