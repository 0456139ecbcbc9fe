"""The office's notice of a failed scheduled run: why it failed, in one masked Chinese line,
and its delivery through the office's channels.

A leaf of `flows`: the flows that hook it (`flows.deployments`, `flows.snapshot`) import it,
and it imports neither of them.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from config.settings import load_divisions, load_settings

TIMEZONE = "Asia/Shanghai"


class OfficeError(ValueError):
    """A failure whose message is written for the office already (Chinese, what to do): the
    notice quotes it instead of naming the kind of trouble."""


def failure_reason(exc: BaseException | None, message: str | None = None) -> str:
    """One Chinese line on why a run failed, for the office: what kind of trouble and the
    error's first line, personal IDs and secrets masked, no stack trace."""
    from sqlalchemy.exc import DBAPIError, OperationalError

    from transforms.privacy import scrub_error

    if exc is None:
        return scrub_error((message or "原因不明").splitlines()[0], 300)
    first = (str(exc).strip().splitlines() or [""])[0]
    if isinstance(exc, OfficeError):
        return scrub_error(first, 300)
    if isinstance(exc, (OperationalError, DBAPIError)):
        kind = "数据仓库无法连接或拒绝操作"
        first = (str(exc.orig).strip().splitlines() or [first])[0] if exc.orig else first
    elif isinstance(exc, (FileNotFoundError, NotADirectoryError, PermissionError)):
        kind = "收件目录或文件无法读取"
    elif isinstance(exc, (ConnectionError, TimeoutError)):
        kind = "网络或服务连接失败"
    elif isinstance(exc, OSError):
        kind = "磁盘或文件系统出错"
    else:
        kind = "程序内部错误"
    detail = f"{type(exc).__name__}: {first}" if first else type(exc).__name__
    return scrub_error(f"{kind}（{detail}）", 300)


FLOW_ZH = {
    "nightly-reconciliation": "夜间核查",
    "annual-snapshot": "年度归档",
    "report": "报告生成",
    "township-alerts": "乡镇预警发送",
}


def failure_message(
    flow_name: str, run_name: str, when: datetime, reason: str, county: str | None = None
) -> tuple[str, str]:
    """The office's notice of a failed run: (title, body), in Chinese; `county` is the name
    of the county the run worked for (default: the one this process works for)."""
    what = FLOW_ZH.get(flow_name, flow_name)
    at = when.astimezone(ZoneInfo(TIMEZONE)).strftime("%Y-%m-%d %H:%M")
    county = county or load_divisions().county_name
    title = f"【{county}扶贫数据核查】{what}运行失败（{at}）"
    lines = [
        f"{what}（Prefect 运行 {run_name}）于 {at} 失败。",
        f"原因：{reason}",
    ]
    if flow_name == "nightly-reconciliation":
        lines.append(
            "数据仓库保持上一次完成的核查结果；本次的考核报告和乡镇预警未生成。"
            "读不了的单个文件不会导致失败（它们被隔离并在预警中说明），失败多因数据仓库、"
            "收件目录或程序本身。"
        )
    lines.append(
        "请系统管理员在 Prefect 界面查看该次运行的日志，排除问题后在界面中重新运行该部署，"
        "或在服务器上执行相应的 fupin 命令（见 docs/operations.md）。"
    )
    return title, "\n".join(lines)


def notify_office_of_failure(flow: Any, flow_run: Any, state: Any) -> None:
    """State hook: send the office, through its channels in config/channels.toml, that a
    scheduled run failed and why.  Never raises (a hook's error would hide the run's)."""
    log = logging.getLogger("fupin.deployments")
    try:
        from flows.alerts import AlertsConfigError, deliver, load_channels

        try:
            exc = state.result(raise_on_failure=False)
        except Exception:
            exc = None
        reason = failure_reason(
            exc if isinstance(exc, BaseException) else None, getattr(state, "message", None)
        )
        settings = load_settings()
        divisions = load_divisions()  # the county this run worked for
        try:
            channels = load_channels(settings.channels_file, divisions)
        except AlertsConfigError as err:
            log.warning("failure notice not sent: %s", err)
            return
        if not channels.office:
            log.warning("failure notice not sent: no office channel in %s", settings.channels_file)
            return
        when = getattr(state, "timestamp", None) or datetime.now(ZoneInfo(TIMEZONE))
        title, body = failure_message(
            getattr(flow, "name", "?"),
            getattr(flow_run, "name", "?"),
            when,
            reason,
            divisions.county_name,
        )
        for url in channels.office:
            sent = deliver(url, title, body, None, channels.attempts, channels.retry_delay_seconds)
            if sent.status != "sent":
                log.warning("failure notice to %s failed: %s", sent.channel, sent.error)
    except Exception as err:  # pragma: no cover - last resort
        log.error("failure notice not sent: %s", type(err).__name__)
