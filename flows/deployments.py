"""The deployments the orchestrator serves (outputs.md "Operations"); the failure notice they
hook is `flows.notify`.

    fupin serve  →  serve_all()

| deployment                            | flow               | schedule (Asia/Shanghai)   |
|---------------------------------------|--------------------|----------------------------|
| nightly-reconciliation/nightly        | `scheduled_nightly`| 02:00 daily, one at a time |
| report/on-demand-report               | `flows.report.report` | on demand               |
| township-alerts/resend-alerts         | `flows.alerts.send_alerts` | on demand (the nightly run sends them itself) |
| annual-snapshot/year-end-snapshot     | `flows.snapshot.snapshot` | 23:30 on 12-31, one at a time |

Served runs start in a subprocess that imports the flow by module path, so a flow's hooks
must be declared where the flow is defined: the nightly run as the schedule runs it is
`scheduled_nightly` below (the nightly flow under the warehouse's run lock, dated in
Asia/Shanghai, telling the office when it fails); `fupin nightly` runs `flows.nightly.nightly`
itself, and a person watching the terminal sees its errors.
"""

from __future__ import annotations

import logging
from typing import Any

from prefect import flow, get_run_logger
from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy
from prefect.deployments.runner import RunnerDeployment
from prefect.schedules import Cron
from prefect.types.entrypoint import EntrypointType

from config.settings import load_settings
from flows.notify import (
    TIMEZONE,
    failure_message,
    failure_reason,
    notify_office_of_failure,
)
from reports import ReportFormat
from warehouse import db

__all__ = [
    "TIMEZONE",
    "deployments",
    "failure_message",
    "failure_reason",
    "notify_office_of_failure",
    "scheduled_nightly",
    "serve_all",
]

NIGHTLY_CRON = "0 2 * * *"
SNAPSHOT_CRON = "30 23 31 12 *"
TAGS = ["fupin"]

NIGHTLY = "nightly-reconciliation/nightly"
REPORT = "report/on-demand-report"
ALERTS = "township-alerts/resend-alerts"
SNAPSHOT = "annual-snapshot/year-end-snapshot"


def _logger() -> logging.Logger | logging.LoggerAdapter[logging.Logger]:
    try:
        return get_run_logger()
    except Exception:  # outside a flow run, e.g. in a state hook
        return logging.getLogger("fupin.deployments")


def default_inbox() -> str:
    """Where the townships and the bureaus drop their files: FUPIN_INBOX, else
    $FUPIN_HOME/inbox (config.settings)."""
    return str(load_settings().inbox)


# ---------------------------------------------------------------- the nightly, as scheduled
@flow(
    name="nightly-reconciliation",
    log_prints=False,
    on_failure=[notify_office_of_failure],
    on_crashed=[notify_office_of_failure],
)
def scheduled_nightly(
    inbox: str,
    as_of: str | None = None,
    send: bool = True,
    formats: list[ReportFormat] | None = None,
) -> dict[str, Any]:
    """The nightly reconciliation as the schedule runs it: dated today in Asia/Shanghai
    (whatever the server's clock zone), holding the warehouse's run lock from start to
    finish so that a report or snapshot never reads a run half-way (they wait for it)."""
    from flows.nightly import nightly
    from flows.snapshot import shanghai_today

    settings = load_settings()
    engine = db.connect(settings.database_url)
    log = _logger()

    def waiting() -> None:
        log.warning("waiting for report or snapshot builds to finish reading the warehouse")

    try:
        with db.run_lock(engine, exclusive=True, on_wait=waiting):
            return nightly.fn(inbox, as_of or shanghai_today().isoformat(), send, formats)
    finally:
        engine.dispose()


# ---------------------------------------------------------------- deployments
def _declared(deployment: Any) -> RunnerDeployment:
    """`to_deployment` answers a coroutine in an async context; we declare in a sync one."""
    assert isinstance(deployment, RunnerDeployment), "declare deployments outside async code"
    return deployment


def deployments(inbox: str | None = None) -> list[RunnerDeployment]:
    """The four deployments, declared; `serve_all` registers and serves them."""
    from flows.alerts import send_alerts
    from flows.report import report
    from flows.snapshot import snapshot

    one_at_a_time = ConcurrencyLimitConfig(
        limit=1, collision_strategy=ConcurrencyLimitStrategy.ENQUEUE
    )
    common: dict[str, Any] = {
        "tags": TAGS,
        "paused": False,  # a restart of `fupin serve` never leaves a schedule paused
        "entrypoint_type": EntrypointType.MODULE_PATH,
    }
    return [
        _declared(
            scheduled_nightly.to_deployment(
                name=NIGHTLY.split("/")[1],
                schedules=[Cron(NIGHTLY_CRON, timezone=TIMEZONE)],
                parameters={"inbox": inbox or default_inbox()},
                concurrency_limit=one_at_a_time,
                description="夜间核查：接收新文件、数据质量检查、比对、更新问题状态、计算考核指标、"
                "生成报告并向各镇发送预警。每天 02:00（北京时间），同一时间只运行一次。",
                **common,
            )
        ),
        _declared(
            report.to_deployment(
                name=REPORT.split("/")[1],
                description="按需生成报告：kind=assessment（考核报告）或 accountability（问责通报），"
                "period=2018H1 / 2018，township=镇名（可空，表示全市），formats=html,pdf,xlsx。",
                **common,
            )
        ),
        _declared(
            send_alerts.to_deployment(
                name=ALERTS.split("/")[1],
                description="重新发送（或 dry_run 预览）最近一次夜间核查的乡镇数据质量预警；"
                "夜间核查结束时已自动发送，此部署用于补发。",
                **common,
            )
        ),
        _declared(
            snapshot.to_deployment(
                name=SNAPSHOT.split("/")[1],
                schedules=[Cron(SNAPSHOT_CRON, timezone=TIMEZONE)],
                concurrency_limit=one_at_a_time,
                description="年度归档：每年 12月31日 23:30（北京时间）冻结当年年末数据并生成归档；"
                "也可按需运行，参数 year=2017。已归档的年度不会被覆盖。",
                **common,
            )
        ),
    ]


def serve_all(inbox: str | None = None) -> None:
    """Register every deployment with the Prefect API (PREFECT_API_URL) and run their flow
    runs until interrupted.  Schedules stay active when this stops: the server keeps
    scheduling, and runs missed while nobody served are picked up late on restart."""
    from prefect import serve

    serve(*deployments(inbox), pause_on_shutdown=False)
