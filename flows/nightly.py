"""The nightly reconciliation flow: ingest → validate → reconcile → assess → render.

Each task is thin wiring of warehouse I/O around a pure transform; the same flow runs
under `fupin nightly`, in tests (Prefect's test harness) and as a scheduled deployment.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import time
from collections.abc import Iterator
from datetime import date
from functools import cache
from importlib.metadata import version
from pathlib import Path
from typing import Any

import polars as pl
from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

import transforms
from config.settings import Resources, Settings, load_resources, load_settings, using_settings
from flows.ingest import FileOutcome, ingest_inbox
from flows.report import build_report, compute_indicators
from reports import ReportFormat
from transforms.indicators import period_of
from transforms.reconcile import Reconciled, reconcile, resolve_persons
from transforms.rules import ENROLMENT_READ, RulesRun
from warehouse import db

KINDS = ("roster", "village", "dibao", "enrolment", "settlement")
KIND_NAMES = {
    "roster": "花名册",
    "village": "贫困村",
    "dibao": "低保特困",
    "enrolment": "医保参保",
    "settlement": "医保结算",
}
READ = {"enrolment": ENROLMENT_READ}
LINK_KEY = ("source", "file_id", "sheet", "row_no")  # identity_link's primary key
# What `resolve_persons` reads, as `load_in_force` reads it, and the code it runs.
RESOLVED_FROM = [(k, None, READ.get(k)) for k in ("roster", "dibao", "enrolment")]
RESOLVER_CODE = ("identity.py", "names.py", "ids.py", "reconcile.py", "frames.py")


@cache
def resolver_fingerprint() -> str:
    """The resolver's code and the pinyin readings it compares names by, hashed."""
    digest = hashlib.sha256(version("pypinyin").encode())
    for name in RESOLVER_CODE:
        digest.update(name.encode())
        digest.update((Path(transforms.__file__).parent / name).read_bytes())
    return digest.hexdigest()


def _logger() -> logging.Logger | logging.LoggerAdapter[logging.Logger]:
    try:
        return get_run_logger()
    except Exception:  # called outside a flow run (plain function call in a test)
        return logging.getLogger("fupin")


def _worth_retrying(task: Any, task_run: Any, state: Any) -> bool:
    """Retry I/O trouble (a share that blinked, a locked database), not a bad file."""
    try:
        state.result()
    except (OSError, OperationalError):
        return True
    except Exception:
        return False
    return False


@task(
    name="ingest",
    retries=2,
    retry_delay_seconds=5,
    retry_condition_fn=_worth_retrying,
    cache_policy=NO_CACHE,
)
def ingest(engine: Engine, settings: Settings, inbox: Path, run_id: int) -> list[FileOutcome]:
    """Archive, parse, store and validate every new file (a retry skips what was accepted:
    a file is known by its hash, and one left "loading" is started again)."""
    outcomes = ingest_inbox(engine, settings, inbox, run_id)
    seen = {s: sum(o.status == s for o in outcomes) for s in FILE_STATUS}
    said = "，".join(f"{FILE_STATUS[s]} {n} 个" for s, n in seen.items() if n)
    _logger().info("接收文件：%s", said or "收件目录中没有新文件")
    return outcomes


@task(name="load-data-in-force", cache_policy=NO_CACHE)
def load_in_force(engine: Engine) -> tuple[dict[str, pl.DataFrame], dict[int, str]]:
    """The rows in force of every kind, the enrolment extract with only the columns the
    rules and indicators read (`transforms.rules.ENROLMENT_READ`)."""
    data = {kind: db.current(engine, kind, columns=READ.get(kind)) for kind in KINDS}
    files = db.read_frame(engine, "source_file")
    names = dict(zip(files["id"].to_list(), files["rel_path"].to_list(), strict=True))
    rows = "，".join(f"{KIND_NAMES.get(k, k)} {data[k].height:,} 行" for k in KINDS)
    _logger().info("读取在用数据：%s", rows)
    return data, names


@task(name="validate", cache_policy=NO_CACHE)
def validate(engine: Engine, run_id: int, as_of: date) -> dict[str, int]:
    """The data-quality issues of the rows in force, into their life cycle (files are
    validated when ingested; see `flows.validation`)."""
    from flows.validation import issues_of_the_run

    counts = issues_of_the_run(engine, run_id, as_of)
    _logger().info("数据质量检查：%s", _lifecycle_zh(counts))
    return counts


@task(name="reconcile", cache_policy=NO_CACHE)
def reconcile_and_record(
    engine: Engine,
    res: Resources,
    data: dict[str, pl.DataFrame],
    files: dict[int, str],
    run_id: int,
    as_of: date,
) -> tuple[Reconciled, dict[str, Any]]:
    shown = {i: name.rsplit("/", 1)[-1] for i, name in files.items()}  # a clerk knows the file name
    # Who each roster row is depends on the roster, the roll and the enrolment alone: kept
    # beside them in the row cache, it is worked out again only when one of them changes.
    persons = db.derived(
        engine,
        "resolved",
        RESOLVED_FROM,
        [resolver_fingerprint()],
        lambda: resolve_persons(data["roster"], data["dibao"], data["enrolment"]),
    )
    result = reconcile(data, as_of, res.policy, res.divisions, shown, persons=persons)
    return result, record_findings(engine, result.links, result.rules, run_id, as_of)


def record_findings(
    engine: Engine, links: pl.DataFrame, run: RulesRun, run_id: int, as_of: date
) -> dict[str, Any]:
    """The identity links and the findings of the rules that ran, into their life cycle."""
    # Most nights most links are as they were: those rows are kept, with the run that made them.
    changed = db.sync_rows(engine, "identity_link", links, LINK_KEY, {"run_id": run_id})
    if any(changed):
        db.refresh_statistics(engine, ["identity_link"])
    # A rule that failed tonight did not judge its findings: they stay as they were.
    counts = db.upsert_lifecycle(
        engine, "finding", run.findings, run_id, as_of, scope={"rule": run.ran}
    )
    for rule, why in run.failed.items():
        _logger().error("rule %s failed: %s; its findings are left as they were", rule, why)
    for rule, n in run.keyless.items():
        _logger().error("rule %s: %d finding(s) without a key left out", rule, n)
    per_rule = run.findings.group_by("rule").len().sort("rule")
    _logger().info("比对核查：%d 条规则运行，%s", len(run.ran), _lifecycle_zh(counts))
    return {
        **counts,
        "by_rule": dict(zip(per_rule["rule"], per_rule["len"], strict=True)),
        "rules_failed": run.failed,
        "rules_keyless": run.keyless,
    }


def _lifecycle_zh(counts: dict[str, Any]) -> str:
    return (
        f"新增 {counts.get('new', 0)}，仍未整改 {counts.get('still_open', 0)}，"
        f"重新出现 {counts.get('reopened', 0)}，已整改 {counts.get('resolved', 0)}"
    )


def periods_of(day: date) -> list[str]:
    """The assessment periods a run on `day` informs: its half-year, and the year at 12-31."""
    periods = [period_of(day)]
    if (day.month, day.day) == (12, 31):
        periods.append(str(day.year))
    return periods


@task(name="assess", cache_policy=NO_CACHE)
def assess(
    engine: Engine,
    res: Resources,
    result: Reconciled,
    villages: pl.DataFrame,
    run_id: int,
    as_of: date,
) -> int:
    """Indicators of the run's periods, stored per period (a rerun replaces them)."""
    findings = db.read_frame(engine, "finding")
    issues = db.read_frame(engine, "dq_issue")
    x = result.inputs
    written = 0
    for period in periods_of(as_of):
        frame = compute_indicators(
            result.persons,
            villages,
            x.dibao,
            x.enrolment,
            findings,
            issues,
            period=period,
            as_of=as_of,
            policy=res.policy,
            divisions=res.divisions,
        ).with_columns(run_id=pl.lit(run_id, pl.Int64))
        written += db.replace_rows(engine, "indicator", frame, {"period": [period]})
        _logger().info("考核指标：%s 考核期 %d 项", period, frame.height)
    return written


@task(name="render-reports", cache_policy=NO_CACHE)
def render_reports(
    engine: Engine, res: Resources, as_of: date, formats: tuple[str, ...]
) -> list[str]:
    paths: list[Path] = []
    for period in periods_of(as_of):
        paths += build_report(
            engine,
            ("assessment", "accountability"),
            period,
            None,
            formats,
            res.settings.reports_dir,
            resources=res,
        )
    _logger().info("生成报告：%s", "、".join(p.name for p in paths) or "无")
    return [str(p) for p in paths]


def _send_alerts(settings: Settings, run_id: int, log: Any) -> dict[str, Any] | None:
    """The run's alerts, inside the nightly's own flow run (each delivery a task): not as a
    `township-alerts` subflow, which would cost a second flow run's start and teardown
    (~1 s here) and show the warehouse URL among its parameters."""
    from flows.alerts import AlertsConfigError, deliver_task, run_alerts

    try:
        result = run_alerts(
            settings.database_url, run_id=run_id, home=settings.home, deliver_fn=deliver_task
        )
    except AlertsConfigError as exc:
        log.warning("alerts not sent: %s", exc)
        return None
    return {k: result[k] for k in ("sent", "failed", "unchanged")}


STAGE_NAMES = {
    "ingest": "接收文件",
    "validate": "数据质量检查",
    "load": "读取在用数据",
    "reconcile": "比对核查",
    "assess": "考核指标",
    "render": "生成报告",
    "alerts": "发送预警",
}


FILE_STATUS = {
    "accepted": "已接收",
    "duplicate": "与在用数据相同",
    "held": "待确认",
    "quarantined": "已隔离",
    "rejected": "已退回",
    "ignored": "未读取",
}


def stage_line(result: dict[str, Any]) -> str:
    """The run's stage times for people (the CLI summary and the Prefect artifact)."""
    spent = "，".join(f"{STAGE_NAMES.get(k, k)} {v:.1f}" for k, v in result["timings"].items())
    peak = max(result.get("peak_mb", {}).values(), default=0)
    return f"各阶段用时（秒）：{spent}；合计 {result['seconds']:.1f}；内存峰值 {peak} MB。"


def summary_markdown(result: dict[str, Any]) -> str:
    """The nightly's summary as the Prefect run's artifact (Chinese, no personal data)."""
    files, f, i = result["files"], result["findings"], result["issues"]
    rows = [
        (
            "文件",
            "，".join(f"{FILE_STATUS.get(k, k)} {v}" for k, v in files.items() if v) or "无新文件",
        ),
        (
            "核查发现",
            f"新增 {f['new']}，仍未整改 {f['still_open']}，重新出现 {f['reopened']}，"
            f"已整改 {f['resolved']}",
        ),
        (
            "数据质量问题",
            f"新增 {i['new']}，仍未整改 {i['still_open']}，重新出现 {i['reopened']}，"
            f"已整改 {i['resolved']}",
        ),
    ]
    if result.get("alerts"):
        a = result["alerts"]
        rows.append(("预警", f"已发送 {a['sent']}，失败 {a['failed']}，无变化 {a['unchanged']}"))
    for rule, why in f.get("rules_failed", {}).items():
        rows.append((f"规则{rule}", f"执行出错（{why}），本次未更新"))
    lines = [f"## 夜间核查 #{result['run_id']}（截至 {result['as_of']}）", "", "| 项目 | 情况 |"]
    lines += [
        "|---|---|",
        *[f"| {k} | {v} |" for k, v in rows],
        "",
        "| 阶段 | 用时（秒） | 内存峰值（MB） |",
    ]
    lines.append("|---|---|---|")
    peaks = result.get("peak_mb", {})
    lines += [
        f"| {STAGE_NAMES.get(k, k)} | {v:.1f} | {peaks.get(k, '')} |"
        for k, v in result["timings"].items()
    ]
    lines.append(f"| 合计 | {result['seconds']:.1f} | {max(peaks.values(), default='')} |")
    return "\n".join(lines)


def _publish(result: dict[str, Any], log: Any) -> None:
    """The summary on the run's page in Prefect; never a reason for the run to fail."""
    try:
        from prefect.artifacts import create_markdown_artifact

        create_markdown_artifact(
            summary_markdown(result), key="nightly-summary", description="夜间核查摘要"
        )
    except Exception as exc:  # noqa: BLE001 - an artifact is a courtesy
        log.warning("nightly summary artifact not published: %s", type(exc).__name__)


class Stages:
    """Wall time of each stage of a run, in the order run (`with clock("ingest"): ...`), and
    the process's peak resident memory when each stage ended (it only grows: the stage where
    it jumps is the one that needed it)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.peak_mb: dict[str, int] = {}

    @contextlib.contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = round(time.perf_counter() - started, 2)
            self.peak_mb[name] = _peak_mb()

    def line(self) -> str:
        return ", ".join(
            f"{k} {v:.2f} s (peak {self.peak_mb[k]} MB)" for k, v in self.seconds.items()
        )


def _peak_mb() -> int:
    import resource

    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)  # KiB on Linux


def run_nightly(
    inbox: str,
    as_of: str | None = None,
    database_url: str | None = None,
    home: str | None = None,
    send: bool = True,
    formats: list[ReportFormat] | None = None,
) -> dict[str, Any]:
    """The nightly flow on this warehouse and home (default: the environment's), which it
    learns from `using_settings`, not from a parameter shown on the run page."""
    with using_settings(database_url, home):
        return nightly(inbox, as_of, send=send, formats=formats)


@flow(name="nightly-reconciliation", log_prints=False)
def nightly(
    inbox: str,
    as_of: str | None = None,
    send: bool = True,
    formats: list[ReportFormat] | None = None,
) -> dict[str, Any]:
    """Ingest everything new in `inbox`, validate, reconcile, update life cycles, report,
    then alert the townships (`send=False` leaves alerts to a separate `fupin alerts`).
    The warehouse and FUPIN_HOME come from the environment (or `run_nightly`).

    The run's assessment and accountability reports are rendered in `formats` (default
    HTML only; PDF takes tens of seconds and is for on-demand runs and the demo)."""
    formats = formats or ["html"]
    log = _logger()
    started = time.perf_counter()
    settings = load_settings()
    res = load_resources(settings)  # one policy for the whole run: findings, indicators, reports
    day = date.fromisoformat(as_of) if as_of else date.today()
    inbox_path = Path(inbox).resolve()
    engine = db.connect(settings.database_url, cache_dir=settings.row_cache_dir)
    # One nightly run at a time; reports and snapshots wait for a finished state.
    with db.run_lock(engine, exclusive=True):
        db.upgrade(engine)
        run_id = db.start_run(
            engine, "nightly", day, {"inbox": str(inbox_path), "as_of": day.isoformat()}
        )
        try:
            clock = Stages()
            with clock("ingest"):
                outcomes = ingest(engine, settings, inbox_path, run_id)
            for o in outcomes:
                if o.needs_attention:
                    log.warning("file %s %s: %s", o.rel_path, o.status, o.reason)
            with clock("validate"):
                issues = validate(engine, run_id, day)
            with clock("load"):
                data, files = load_in_force(engine)
            with clock("reconcile"):
                result, findings = reconcile_and_record(engine, res, data, files, run_id, day)
            with clock("assess"):
                indicators = assess(engine, res, result, data["village"], run_id, day)
            stats = {
                "files": {
                    s: sum(o.status == s for o in outcomes)
                    for s in ("accepted", "duplicate", "held", "quarantined", "rejected", "ignored")
                },
                "rows_in_force": {k: data[k].height for k in KINDS},
                "issues": issues,
                "findings": findings,
                "indicators": indicators,
                "seconds": round(time.perf_counter() - started, 2),
                "timings": clock.seconds,
                "peak_mb": clock.peak_mb,
            }
            needs_person = (
                any(o.needs_attention for o in outcomes)
                or bool(findings["rules_failed"])
                or bool(findings["rules_keyless"])
            )
            status = "needs_attention" if needs_person else "succeeded"
            # The reports name the run they are built from, so the run is recorded first.
            db.finish_run(engine, run_id, status, stats)
            with clock("render"):
                stats["reports"] = render_reports(engine, res, day, tuple(formats))
            stats["seconds"] = round(time.perf_counter() - started, 2)
            db.finish_run(engine, run_id, status, stats)
            if send:
                with clock("alerts"):
                    alerts = _send_alerts(settings, run_id, log)
                stats["alerts"] = alerts
                needs_person = needs_person or bool(alerts and alerts["failed"])
                stats["seconds"] = round(time.perf_counter() - started, 2)
                db.finish_run(engine, run_id, status, stats)  # with the alerts and their time
            log.info("nightly run %s finished: %s", run_id, stats)
            log.info("stage times (s): %s", clock.line())
            summary: dict[str, Any] = {
                "run_id": run_id,
                "as_of": day.isoformat(),
                "needs_attention": needs_person,
                "outcomes": [o.__dict__ for o in outcomes],
                **stats,
            }
            _publish(summary, log)
            return summary
        except Exception as exc:
            try:
                db.finish_run(engine, run_id, "failed", {"error": type(exc).__name__})
            except Exception as unrecorded:  # the warehouse itself may be what failed
                log.error(
                    "nightly run %s failed and could not be recorded as failed (%s); "
                    "the next run marks it abandoned",
                    run_id,
                    type(unrecorded).__name__,
                )
            # `fupin nightly` names the failed run and where its traceback is (flows.cli).
            with contextlib.suppress(AttributeError):
                exc.fupin_run_id = run_id  # type: ignore[attr-defined]
            raise
