"""The nightly of a city or province: many counties in one warehouse, run on Dask.

A multi-county inbox (sources.md) holds a folder per county (its 花名册 and 低保 roll) and
the city-wide medical-insurance extracts at the top.  Each county is a warehouse of its own
(a PostgreSQL schema, `warehouse.schema.county_schema`; its home under FUPIN_HOME/<code>),
and so are the city's extracts (the city's code, 440200).  The flow maps the per-county
work over its task runner -- a local Dask cluster, or the scheduler at FUPIN_DASK_ADDRESS --
and the tasks pass Parquet paths, never frames:

1. intake (per county): archive, parse, store and validate what is new; write the register
   in force (roster, villages, 低保 roll) as Parquet.  The city's extracts beside them: their
   new files registered in the inbox's order (`open-extracts`), loaded a file per task
   (`load-extract`), then their issues (`extract-issues`) and their rows in force, a 参保年度
   per part (`extract-part`), side by side.
2. resolve (per county): the county's roster resolved to identities against the city-wide
   低保 union and the parts of the city extracts it can match (`wanted`: its identities and
   the IDs one slip away from its invalid ones, broadcast to the extract's row groups, which
   are scanned with that filter, so no task holds the whole extract).
3. judge (per county): R01-R15 with every lookup city-wide (transforms.reconcile), R16 over
   every county's identities, life cycles, indicators, reports and township alerts, in the
   county's schema; then the city's summary ranks the counties (flows.city_report).
The Parquet exchanged lives under FUPIN_HOME/440200/work/<date>/ for the run only.

Every task reads the warehouse and FUPIN_HOME from the environment of its worker (a local
cluster inherits this process's; workers of an existing cluster must be given them), never
from a parameter Prefect would store and show.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
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
from sqlalchemy.exc import OperationalError

from config.private import open_private, private_dir
from config.settings import (
    HOME_COUNTY,
    Resources,
    Settings,
    city_counties,
    load_resources,
    load_settings,
    using_settings,
    working_for,
)
from flows.city_report import city_summary
from flows.inbox import CITY_TOP, IN_COUNTY, FileOutcome, county_folders
from flows.ingest import ingest_inbox
from flows.nightly import FILE_STATUS, _logger, assess, record_findings
from flows.nightly import render_reports as render_task
from transforms import city as city_transforms
from transforms.exports import city_export
from transforms.reconcile import resolve_persons
from transforms.rules import ENROLMENT_READ, _where
from warehouse import db
from warehouse.schema import CITY_CODE

REGISTER = ("roster", "village", "dibao")
EXTRACTS = ("enrolment", "settlement")
ROW_GROUP = 250_000
DASK_ADDRESS_ENV = "FUPIN_DASK_ADDRESS"
POLARS_THREADS_ENV = "POLARS_MAX_THREADS"


def unit_settings(settings: Settings, unit: str) -> Settings:
    """A county's (or the city's) settings: its own home under FUPIN_HOME (archive, stored
    files, row cache, reports, exports), the same warehouse URL (its schema is its own), and
    its own policy when its home holds one (`policy.toml`: its exit lines, its figures and
    targets per year and township).  Otherwise the configured policy (FUPIN_POLICY_FILE),
    which is the home county's: 南雄市 takes all of it; any other unit only its
    province-wide rules, none of 南雄市's figures (`Settings.policy_figures`)."""
    home = settings.home / unit
    own = home / "policy.toml"
    if own.is_file():
        return replace(settings, home=home, policy_file=own, policy_figures=True)
    figures = settings.policy_figures and unit == HOME_COUNTY
    return replace(settings, home=home, policy_figures=figures)


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
    """A frame the next tasks read, as Parquet: it holds full IDs and names, so it is 0600 in
    0700 folders (`config.private`), and the run's folder is removed when the run ends."""
    private_dir(path.parent)
    with open_private(path) as fh:
        frame.write_parquet(fh, row_group_size=ROW_GROUP)
    return str(path)


@task(name="intake", cache_policy=NO_CACHE, task_run_name="intake-{county}")
def intake(county: str, inbox: str, as_of: str, work: str) -> dict[str, Any]:
    """What is new in the county's folder into its warehouse, validated; its register in
    force (roster, villages, 低保 roll) written to `work/<county>/`."""
    from flows.validation import issues_of_the_run

    day = date.fromisoformat(as_of)
    folder = Path(inbox) / county
    with _unit(county) as (res, engine), db.run_lock(engine, exclusive=True):
        db.upgrade(engine)
        run_id = db.start_run(engine, "nightly", day, {"inbox": str(folder), "as_of": as_of})
        started = time.perf_counter()
        failed = None
        try:
            outcomes = ingest_inbox(engine, res.settings, folder, run_id, IN_COUNTY)
            issues = issues_of_the_run(engine, run_id, day)
        except OperationalError:
            raise  # the warehouse itself: that fails the run
        except Exception as exc:  # this county's files must not cost the others their night
            failed = _where(exc)
            _logger().error("%s 接收文件出错（%s），本县沿用已在用的数据继续核查", county, failed)
            outcomes, issues = [], {}
        try:
            paths = _write_register(engine, county, Path(work))
        except OperationalError:
            raise
        except Exception as exc:  # recorded on the county's run, then the flow reports it
            db.finish_run(engine, run_id, "failed", {"error": _where(exc)})
            raise
    return {
        "unit": county,
        "run_id": run_id,
        "paths": paths,
        "files": _said(county, outcomes),
        "issues": issues,
        "needs_attention": failed is not None or any(o.needs_attention for o in outcomes),
        "intake_failed": failed,
        "seconds": round(time.perf_counter() - started, 2),
        **_process(),
    }


def _write_register(engine: Engine, county: str, work: Path) -> dict[str, str]:
    """The county's register in force (and its files' names) as Parquet for the next tasks."""
    paths = {}
    for kind in REGISTER:
        frame = db.current(engine, kind)
        if kind == "dibao":
            frame = frame.with_columns(county_code=pl.lit(county))
        paths[kind] = _write(frame, work / county / f"{kind}.parquet")
    paths["files"] = _write_files(engine, work / county)
    return paths


def _write_files(engine: Engine, out: Path) -> str:
    return _write(
        db.read_frame(engine, "source_file").select("id", "rel_path"), out / "files.parquet"
    )


def _said(unit: str, outcomes: list[FileOutcome]) -> dict[str, int]:
    seen = {s: sum(o.status == s for o in outcomes) for s in FILE_STATUS}
    said = "，".join(f"{FILE_STATUS[s]} {n} 个" for s, n in seen.items() if n)
    _logger().info("%s 接收文件：%s", unit, said or "无新文件")
    return seen


@task(name="open-extracts", cache_policy=NO_CACHE)
def open_extracts(inbox: str, as_of: str) -> dict[str, Any]:
    """The city's run over its extracts (in the city's warehouse, brought to this version),
    and every new extract file registered in the inbox's order, so that file ids do not
    depend on which load finishes first.  Returns the run, the files to load and the
    outcomes of those that need no load (duplicates, files quarantined unread)."""
    from config.settings import load_policy
    from flows.inbox import survey
    from flows.registration import register_entry

    with _unit(CITY_CODE) as (res, engine), db.run_lock(engine, exclusive=True):
        db.upgrade(engine)
        run_id = db.start_run(
            engine, "nightly", date.fromisoformat(as_of), {"inbox": inbox, "as_of": as_of}
        )
        limits = load_policy(res.settings.policy_file).inbox
        to_load, settled = [], []
        seen: set[str] = set()
        for entry in survey(Path(inbox), limits, CITY_TOP):
            if entry.refused or entry.ignored:
                continue  # the first load reports them, as a single county's ingest does
            got = register_entry(engine, res.settings, entry, Path(inbox), run_id, seen, limits)
            if isinstance(got, FileOutcome):
                settled.append(got.__dict__)
            else:
                to_load.append(entry.rel_path)
    return {"run_id": run_id, "to_load": to_load, "settled": settled}


def extract_shares(opened: dict[str, Any], inbox: Path) -> list[frozenset[str]]:
    """What each load takes: one registered extract file each (a city's enrolment comes a
    year per file, like its settlements), so they load side by side; the first also reports
    the entries of the top that are not read.  Each share is given as what it leaves alone."""
    from flows.inbox import survey

    every = {e.rel_path for e in survey(inbox, None, CITY_TOP)}
    settled = {o["rel_path"] for o in opened["settled"]}
    files = opened["to_load"]
    unread = every - settled - set(files)
    shares = [{path} for path in files] or [set()]
    shares[0] |= unread
    return [frozenset(every - share) for share in shares]


@task(name="load-extract", cache_policy=NO_CACHE, task_run_name="load-extract-{share}")
def load_extract(inbox: str, run_id: int, elsewhere: frozenset[str], share: int) -> dict[str, Any]:
    """One share of the city extracts' files archived, parsed, stored and validated, beside
    the other shares (the run lock is held shared; file numbering is serialised by the
    warehouse, `warehouse.files.put_in_force`)."""
    started = time.perf_counter()
    layout = replace(CITY_TOP, elsewhere=elsewhere)
    with _unit(CITY_CODE) as (res, engine), db.run_lock(engine, exclusive=False):
        outcomes = ingest_inbox(engine, res.settings, Path(inbox), run_id, layout)
    return {
        "outcomes": [o.__dict__ for o in outcomes],
        "seconds": round(time.perf_counter() - started, 2),
        **_process(),
    }


@task(name="extract-issues", cache_policy=NO_CACHE)
def extract_issues(run_id: int, as_of: str, loads: list[dict[str, Any]]) -> dict[str, Any]:
    """The extracts' data-quality issues into their life cycle, once every file is loaded
    (the run lock shared with the parts being written beside it: nothing else writes)."""
    from flows.validation import issues_of_the_run

    with _unit(CITY_CODE) as (_, engine), db.run_lock(engine, exclusive=False):
        issues = issues_of_the_run(engine, run_id, date.fromisoformat(as_of))
    return {"issues": issues, **_process()}


def extract_parts() -> list[tuple[str, int | None]]:
    """What the extracts in force are written as: the enrolment a 参保年度 per part (so no
    process holds the whole extract), the settlements whole (they are small)."""
    with _unit(CITY_CODE) as (_, engine):
        return [("enrolment", y) for y in db.enrolment_years(engine)] + [("settlement", None)]


@task(name="extract-part", cache_policy=NO_CACHE, task_run_name="extract-part-{kind}-{year}")
def extract_part(
    kind: str, year: int | None, work: str, loads: list[dict[str, Any]]
) -> dict[str, Any]:
    """One part of the extracts in force, as Parquet, for the counties to scan."""
    columns = ENROLMENT_READ if kind == "enrolment" else None
    out = Path(work) / CITY_CODE / kind / f"{year or 'all'}.parquet"
    with _unit(CITY_CODE) as (_, engine), db.run_lock(engine, exclusive=False):
        path = _write(db.current(engine, kind, year=year, columns=columns), out)
    return {"kind": kind, "path": path, **_process()}


@task(name="close-extracts", cache_policy=NO_CACHE)
def close_extracts(
    run_id: int,
    settled: list[dict[str, Any]],
    loads: list[dict[str, Any]],
    checked: dict[str, Any] | None,
    parts: list[dict[str, Any]],
    work: str,
    problem: str | None = None,
) -> dict[str, Any]:
    """The city's run over its extracts recorded as finished, with what its files came to:
    failed when its extracts in force could not be written (`problem`), needing attention
    when a load or the issues' check failed (None) or a file needs a clerk."""
    outcomes = [FileOutcome(**o) for o in settled]
    outcomes += [FileOutcome(**o) for load in loads for o in load["outcomes"]]
    failures = [load["failed"] for load in loads if load.get("failed")]
    issues = checked["issues"] if checked else {}
    with _unit(CITY_CODE) as (_, engine), db.run_lock(engine, exclusive=True):
        paths: dict[str, Any] = {
            kind: [part["path"] for part in parts if part["kind"] == kind] for kind in EXTRACTS
        }
        paths["files"] = _write_files(engine, Path(work) / CITY_CODE)
        seen = _said("全市医保数据", outcomes)
        needs = any(o.needs_attention for o in outcomes) or bool(failures) or checked is None
        stats: dict[str, Any] = {"files": seen, "issues": issues}
        if failures or checked is None or problem:
            stats["failed_steps"] = {"loads": failures, "issues": checked is None, "parts": problem}
        status = "failed" if problem else "needs_attention" if needs else "succeeded"
        db.finish_run(engine, run_id, status, stats)
    return {
        "unit": CITY_CODE,
        "run_id": run_id,
        "paths": paths,
        "files": seen,
        "issues": issues,
        "needs_attention": needs or bool(problem),
        "failed": problem,
        "seconds": round(sum(load["seconds"] for load in loads), 2),
        **_process(),
    }


def _process() -> dict[str, int]:
    """The worker process a task ran in and its peak resident memory so far (MB)."""
    import resource

    return {
        "pid": os.getpid(),
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
        "polars_threads": pl.thread_pool_size(),
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
    send: bool = True,
    unresolved: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The county's findings (R01-R15 city-wide, and its part of R16), life cycles,
    indicators and reports, in its own warehouse; then its townships' alerts.  `unresolved`:
    the counties whose identities are missing tonight (`transforms.city.judge`)."""
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
        try:
            result = city_transforms.judge(
                county,
                data,
                persons,
                day,
                res.policy,
                res.divisions,
                files,
                city_counties(),
                unresolved,
            )
        except Exception as exc:  # recorded on the county's run, then the flow reports it
            db.finish_run(engine, run_id, "failed", {"error": type(exc).__name__})
            raise
        findings = record_findings(engine, result.links, result.rules, run_id, day)
        indicators = assess.fn(engine, res, result, data["village"], run_id, day)
        stats: dict[str, Any] = {
            "intake_failed": intakes[county].get("intake_failed"),
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
    if send:
        stats["alerts"] = _county_alerts(county, res, run_id)
        needs = needs or bool(stats["alerts"] and stats["alerts"]["failed"])
    return {"county": county, "run_id": run_id, "needs_attention": needs, **stats, **_process()}


@task(name="not-judged", cache_policy=NO_CACHE, task_run_name="not-judged-{county}")
def not_judged(county: str, intake: dict[str, Any], why: str) -> dict[str, Any]:
    """A county that cannot be judged tonight (`why`, in Chinese): its run ends failed with
    what its intake did, and its findings, indicators and reports stay as they were."""
    _logger().error("%s 本次未比对核查（%s），本县核查结果本次未更新", county, why)
    with _unit(county) as (_, engine), db.run_lock(engine, exclusive=True):
        stats = {
            "error": why,
            "intake_failed": intake.get("intake_failed"),
            "files": intake["files"],
            "issues": intake["issues"],
        }
        db.finish_run(engine, intake["run_id"], "failed", stats)
    return {"county": county, "failed": why, "needs_attention": True, "pid": 0, "peak_mb": 0}


def channels_of(county: str, settings: Settings) -> Path | None:
    """A county's alert channels: `channels.toml` in its home (FUPIN_HOME/<code>/), else
    for the home county the configured file (FUPIN_CHANNELS_FILE); None: not configured."""
    own = settings.home / "channels.toml"
    if own.is_file():
        return own
    return settings.channels_file if county == HOME_COUNTY else None


def _county_alerts(county: str, res: Resources, run_id: int) -> dict[str, Any] | None:
    """The county's township alerts of its run (sent where its channels say); a county
    without channels, or whose channel file is wrong, is told in the log, not failed."""
    from flows.alerts import AlertsConfigError, run_alerts

    channels = channels_of(county, res.settings)
    if channels is None:
        _logger().warning(
            "%s 未配置预警渠道（%s），本次未发送预警", county, res.settings.home / "channels.toml"
        )
        return None
    with working_for(county):
        try:
            result = run_alerts(
                res.settings.database_url,
                run_id=run_id,
                home=res.settings.home,
                channels_file=channels,
                county=county,
            )
        except AlertsConfigError as exc:
            _logger().warning("%s 预警未发送：%s", county, exc)
            return None
    return {k: result[k] for k in ("sent", "failed", "unchanged")}


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
    n = workers or 2
    cluster: dict[str, Any] = {
        "n_workers": n,
        "threads_per_worker": 1,
        "processes": True,
        "dashboard_address": None,
        "silence_logs": logging.WARNING,
    }
    if POLARS_THREADS_ENV not in os.environ:
        # The machine's cores shared out between the workers: polars would otherwise start
        # a thread per core in every worker, and the workers' threads would fight over the
        # cores.  (Dask's nanny caps OpenMP and BLAS at one thread per worker; polars it
        # leaves alone.)
        cluster["env"] = {POLARS_THREADS_ENV: str(max(1, (os.cpu_count() or 1) // n))}
    return DaskTaskRunner(cluster_kwargs=cluster)


def run_city(
    inbox: str,
    as_of: str | None = None,
    database_url: str | None = None,
    home: str | None = None,
    counties: list[str] | None = None,
    workers: int | None = None,
    address: str | None = None,
    formats: list[str] | None = None,
    send: bool = True,
) -> dict[str, Any]:
    """The city's nightly on this warehouse and home.  They reach the workers through the
    environment (FUPIN_DATABASE_URL, FUPIN_HOME), set here for the run: a local cluster's
    processes inherit it."""
    with using_settings(database_url, home):
        settings = load_settings()
    with _environment(FUPIN_DATABASE_URL=settings.database_url, FUPIN_HOME=str(settings.home)):
        runner = task_runner(workers, address)
        return city_nightly.with_options(task_runner=runner)(
            inbox, as_of, counties, formats or ["html"], send
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
    send: bool = True,
) -> dict[str, Any]:
    """Every county of a multi-county inbox, in parallel on the flow's task runner; each
    county's townships are alerted unless `send` is False."""
    started = time.perf_counter()
    day = date.fromisoformat(as_of) if as_of else date.today()
    inbox_path = Path(inbox).resolve()
    codes = counties or county_folders(inbox_path)
    unknown = [c for c in codes if c not in city_counties()]
    if unknown:
        raise ValueError(f"收件目录中的县级代码不在区划表中：{'、'.join(unknown)}")
    settings = load_settings()
    work = unit_settings(settings, CITY_CODE).home / "work" / day.isoformat()
    try:
        as_of_text, formats = day.isoformat(), formats or ["html"]
        opened, problem = _settle(
            open_extracts.submit(str(inbox_path), as_of_text), "全市医保数据的登记"
        )
        loading = [
            load_extract.submit(str(inbox_path), opened["run_id"], elsewhere, n)
            for n, elsewhere in enumerate(extract_shares(opened, inbox_path) if opened else [])
        ]
        taken = {c: intake.submit(c, str(inbox_path), as_of_text, str(work)) for c in codes}
        loads, checked, parts, closed = [], None, [], None
        for n, loading_share in enumerate(loading, 1):
            # A share that failed leaves its files "loading": the next run takes them up
            # again, and tonight the extracts in force are what was in force before.
            got, why = _settle(loading_share, f"全市医保数据第 {n} 份文件的载入")
            loads.append(got or {"outcomes": [], "seconds": 0.0, "failed": why})
        if opened is not None:
            run_id = opened["run_id"]
            # The extracts' issues and their parts in force, side by side.
            checking = extract_issues.submit(run_id, as_of_text, loads)
            writing = [
                extract_part.submit(kind, year, str(work), loads) for kind, year in extract_parts()
            ]
            for part in writing:
                got, why = _settle(part, "全市医保数据在用部分的准备")
                problem = problem or why
                parts += [got] if got else []
            checked, _ = _settle(checking, "全市医保数据质量问题的核查")
            closed, why = _settle(
                close_extracts.submit(
                    run_id, opened["settled"], loads, checked, parts, str(work), problem
                ),
                "全市医保数据运行的记录",
            )
            problem = problem or why
        intakes, unread = _settle_each(taken, "的接收")
        if unread and not problem:
            # Every county's judgement reads every county's 低保 roll and identities.
            problem = "、".join(f"{c} 的接收出错（{why}）" for c, why in unread.items())
        judging = _judging(list(intakes), intakes, closed, problem, as_of_text, formats, send)
        judged = {
            c: _judged(c, judging[c])
            if c in judging
            else {"county": c, "failed": f"接收出错：{unread[c]}", "needs_attention": True}
            for c in codes
        }
        reports = city_summary.submit(codes, as_of_text, formats).result()
        peaks: dict[int, int] = {}
        threads: dict[int, int] = {}
        steps = [*loads, checked or {}, *parts, *intakes.values(), *judged.values()]
        for step in steps:
            if step.get("pid"):  # a county whose judgement failed reports none
                peaks[step["pid"]] = max(peaks.get(step["pid"], 0), step["peak_mb"])
                threads[step["pid"]] = step["polars_threads"]
        summary = {
            "as_of": day.isoformat(),
            "worker_peak_mb": sorted(peaks.values(), reverse=True),
            "worker_polars_threads": sorted(threads.values()),
            "counties": judged,
            "extracts": closed or {"unit": CITY_CODE, "failed": problem},
            "reports": reports,
            "needs_attention": any(j["needs_attention"] for j in judged.values())
            or closed is None
            or closed["needs_attention"],
            "seconds": round(time.perf_counter() - started, 2),
        }
        _logger().info(
            "多县夜间核查完成：%d 个县（市、区），用时 %.1f 秒", len(codes), summary["seconds"]
        )
        return summary
    finally:  # the exchanged Parquet holds personal data: it lives for the run only
        shutil.rmtree(work, ignore_errors=True)


def _settle(future: Any, what: str) -> tuple[Any, str | None]:
    """A task's result, or None and why it failed (that `what` failed is said in the log):
    a failed step costs the night only what depends on it.  Only the warehouse being
    unreachable stops the run."""
    try:
        return future.result(), None
    except OperationalError:
        raise
    except Exception as exc:
        why = _where(exc)
        _logger().error("%s出错（%s）", what, why)
        return None, why


def _settle_each(
    futures: dict[str, Any], what: str
) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    """Each county's task settled (`_settle`): the results of those that finished, and why
    each other one failed (`what`: the step, said after the county's code in the log)."""
    done: dict[str, dict[str, Any]] = {}
    failed: dict[str, str] = {}
    for county, future in futures.items():
        got, why = _settle(future, f"{county} {what}")
        if got is None:
            failed[county] = why or ""
        else:
            done[county] = got
    return done, failed


def _judging(
    codes: list[str],
    intakes: dict[str, dict[str, Any]],
    extracts: dict[str, Any] | None,
    problem: str | None,
    as_of: str,
    formats: list[str],
    send: bool,
) -> dict[str, Any]:
    """Every county judged, as far as tonight allows:
    - without the extracts in force or a county's register (`problem`), no county: judged on
      part of the city's insurance, every poor person might look uninsured, and on part of
      its 低保 rolls, uncovered;
    - a county whose identities failed to resolve is not judged, and the others are judged
      without the rules that need every county's identities (R11, R16)."""
    if extracts is None or problem:
        held = f"全市数据未能备妥：{problem}"
        return {c: not_judged.submit(c, intakes[c], held) for c in codes}
    intakes = {**intakes, CITY_CODE: extracts}
    resolved, unresolved = _settle_each(
        {c: resolve.submit(c, intakes) for c in codes}, "的身份比对"
    )
    judging = {
        c: judge.submit(c, intakes, resolved, as_of, formats, send, unresolved) for c in resolved
    }
    for c, why in unresolved.items():
        judging[c] = not_judged.submit(c, intakes[c], f"身份比对出错：{why}")
    return judging


def _judged(county: str, future: Any) -> dict[str, Any]:
    """A county's judgement, or what stopped it: one county's failure is reported (its
    findings stay as they were) and the other counties' stand."""
    try:
        result: dict[str, Any] = future.result()
        return result
    except OperationalError:
        raise
    except Exception as exc:
        why = _where(exc)
        _logger().error("%s 比对核查出错（%s），本县核查结果本次未更新", county, why)
        return {"county": county, "failed": why, "needs_attention": True, "pid": 0, "peak_mb": 0}


def city_findings(database_url: str, status: str | None = "open") -> pl.DataFrame:
    """Every county's findings as stored (open ones by default), `county_code` first, R16
    once under the lowest county involved: what the city's export lists."""
    from flows.export import per_unit

    plain = db.connect(database_url)
    try:
        counties = db.counties_in(plain)
    finally:
        plain.dispose()

    def read(_: str, engine: Engine) -> pl.DataFrame:
        frame = db.read_frame(engine, "finding")
        return frame.filter(pl.col("status") == status) if status else frame

    return city_export(per_unit(database_url, counties, read))
