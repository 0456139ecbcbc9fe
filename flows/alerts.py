"""The alerts flow (outputs.md §3): after a nightly run, tell each township what to fix and
the office how the city stands.

Wiring only: the warehouse is read here, `transforms.alerts` decides what to say, Apprise
delivers, xlsxwriter writes each township's fix list.  Every delivery attempt is one row of
the `alert` table; a township's next alert is compared with the last one it received.

    send_alerts(dry_run=False, run_id=None) -> dict   (settings from the environment)
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import apprise
import polars as pl
from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from sqlalchemy import Engine

from config.private import private_dir
from config.settings import Divisions, load_divisions, load_resources, load_settings
from flows import channel_secrets
from reports.fix_list import write_fix_list
from transforms import alerts as A
from transforms.county import County
from transforms.privacy import scrub_error
from warehouse import db

ATTEMPTS = 3  # one try and two retries
RETRY_DELAY_SECONDS = 5.0
CHINA = timezone(timedelta(hours=8))
DIVISIONS_CREDIT = (
    "乡镇、行政村名称与代码：国家统计局2016年统计用区划代码和城乡划分代码"
    "（经 Vonng/adcode 整理，CC BY 4.0）"
)


class AlertsConfigError(ValueError):
    """A usage or configuration problem (CLI exit code 2); the message says what to do."""


# ---------------------------------------------------------------- channels
@dataclass(frozen=True)
class Channels:
    """Apprise URLs per township code, and the office's, from `config/channels.toml`."""

    office: tuple[str, ...] = ()
    townships: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    attempts: int = ATTEMPTS
    retry_delay_seconds: float = RETRY_DELAY_SECONDS


def load_channels(path: Path, divisions: Divisions | None = None) -> Channels:
    """Read and check the channel file; a township may be keyed by code or by name."""
    divisions = divisions or load_divisions()
    if not path.is_file():
        raise AlertsConfigError(
            f"预警渠道配置文件不存在：{path}。请复制 config/channels.toml 并用 FUPIN_CHANNELS_FILE 指定。"
        )
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise AlertsConfigError(f"预警渠道配置文件格式错误（{path}）：{exc}") from exc

    def urls(value: Any, where: str) -> tuple[str, ...]:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(u, str) for u in value):
            raise AlertsConfigError(f'{path}：{where} 应为 Apprise 地址列表，如 ["mailto://…"]。')
        for n, url in enumerate(value, 1):
            # An address kept whole in a Secret block is checked when it is sent (and by
            # doctor); one with a reference inside is checked with a placeholder there.
            if channel_secrets.is_whole_reference(url):
                continue
            if apprise.Apprise.instantiate(channel_secrets.placeholder_form(url)) is None:
                scheme = url.split("://", 1)[0] if "://" in url else "?"
                raise AlertsConfigError(
                    f"{path}：{where} 第{n}个地址（{scheme}://…）无法识别，请对照文件中的示例检查。"
                )
        return tuple(value)

    delivery = data.get("delivery", {})
    townships: dict[str, tuple[str, ...]] = {}
    for key, value in data.get("townships", {}).items():
        code = key if key in divisions.townships else divisions.township_code(key)
        if code is None:
            raise AlertsConfigError(
                f"{path}：[townships] 中的“{key}”不是{divisions.county_name}的乡镇代码或名称。"
            )
        townships[code] = townships.get(code, ()) + urls(value, f"[townships] {key}")
    try:
        attempts = max(1, int(delivery.get("attempts", ATTEMPTS)))
        delay = max(0.0, float(delivery.get("retry_delay_seconds", RETRY_DELAY_SECONDS)))
    except (TypeError, ValueError) as exc:
        raise AlertsConfigError(
            f"{path}：[delivery] 的 attempts/retry_delay_seconds 应为数字。"
        ) from exc
    return Channels(urls(data.get("office", []), "office"), townships, attempts, delay)


def channel_label(url: str) -> str:
    """How a channel is recorded: Apprise's privacy form without options, plus a short hash
    of the full URL so two bots whose secrets are hidden alike stay apart.  An address that
    refers to Prefect Secret blocks is labelled as written (the reference, never the value),
    so rotating a password in Prefect does not make the channel a new one."""
    names = channel_secrets.references(url)
    if channel_secrets.is_whole_reference(url):
        digest = hashlib.sha256(url.strip().encode("utf-8")).hexdigest()[:8]
        return f"prefect-secret://{names[0]} #{digest}"
    plugin = apprise.Apprise.instantiate(channel_secrets.placeholder_form(url))
    shown = plugin.url(privacy=True) if plugin is not None else url.split("://", 1)[0] + "://"
    parts = urlsplit(shown)
    shown = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
    return f"{shown} #{hashlib.sha256(url.encode('utf-8')).hexdigest()[:8]}"


def supports_attachments(url: str) -> bool:
    if channel_secrets.is_whole_reference(url):
        try:  # the scheme itself is in the block
            url, _ = channel_secrets.resolve(url)
        except channel_secrets.SecretUnavailable:
            return False  # delivery will fail and say why
    plugin = apprise.Apprise.instantiate(channel_secrets.placeholder_form(url))
    return bool(plugin is not None and getattr(plugin, "attachment_support", False))


# ---------------------------------------------------------------- delivery
@dataclass
class Delivery:
    channel: str
    status: str  # sent / failed
    attempts: int
    error: str | None
    at: datetime


def deliver(
    url: str,
    title: str,
    body: str,
    attachment: Path | None = None,
    attempts: int = ATTEMPTS,
    retry_delay_seconds: float = RETRY_DELAY_SECONDS,
) -> Delivery:
    """Send one message to one Apprise URL, trying `attempts` times; never raises.  Secret
    block references in the URL are resolved here, and their values kept out of the error."""
    label = channel_label(url)
    try:
        url, secrets = channel_secrets.resolve(url)
    except channel_secrets.SecretUnavailable as exc:
        return Delivery(label, "failed", 0, str(exc), datetime.now(UTC))
    sender = apprise.Apprise()
    if not sender.add(url):
        return Delivery(label, "failed", 0, "渠道地址无法识别", datetime.now(UTC))
    error = "发送失败"
    for attempt in range(1, attempts + 1):
        try:
            result = sender.notify(
                body=body,
                title=title,
                body_format=apprise.NotifyFormat.TEXT,
                attach=str(attachment) if attachment else None,
            )
            if result:
                return Delivery(label, "sent", attempt, None, datetime.now(UTC))
            messages = [e.message for e in result.logs() if e.level in ("WARNING", "ERROR")]
            error = "；".join(dict.fromkeys(messages)) or "发送失败（渠道未返回原因）"
        except Exception as exc:  # a plugin bug must not stop the other townships
            error = f"{type(exc).__name__}: {exc}"
        if attempt < attempts:
            time.sleep(retry_delay_seconds)
    error = channel_secrets.hide(error, secrets) or error
    return Delivery(label, "failed", attempts, scrub_error(error), datetime.now(UTC))


deliver_task = task(name="deliver-alert", cache_policy=NO_CACHE)(deliver)


# ---------------------------------------------------------------- fix list
# ---------------------------------------------------------------- warehouse reads
def _nightly_run(engine: Engine, run_id: int | None) -> dict[str, Any]:
    if run_id is not None:
        row = db.run_by_id(engine, run_id, "nightly")
    else:
        row = db.latest_finished_run(engine, "nightly")
    if row is None:
        what = f"编号为 {run_id} 的夜间核查" if run_id is not None else "已完成的夜间核查"
        raise AlertsConfigError(f"数据仓库中没有{what}，请先运行 fupin nightly。")
    as_of = row["as_of"]
    return {
        "id": int(row["id"]),
        "as_of": as_of if isinstance(as_of, date) else date.fromisoformat(str(as_of)),
    }


def _files(engine: Engine) -> pl.DataFrame:
    return db.read_frame(engine, "source_file").select(
        "id", "name", "source", "township_code", "status", "reason", "received_at", "run_id"
    )


def _sources_line(files: pl.DataFrame, code: str) -> str:
    accepted = files.filter(pl.col("status") == "accepted")
    mine = accepted.filter((pl.col("source") == "townships") & (pl.col("township_code") == code))
    parts = []
    if mine.height:
        latest = mine.sort("id").row(-1, named=True)
        parts.append(f"本单位花名册《{latest['name']}》（{_received(latest['received_at'])}接收）")
    extracts = accepted.filter(pl.col("source") != "townships")
    if extracts.height:
        newest = extracts["received_at"].max()
        parts.append(f"民政低保、医保参保及结算数据（最近接收于{_received(newest)}）")
    return "；".join(parts) + "。" if parts else ""


def _received(moment: Any) -> str:
    if isinstance(moment, datetime):
        moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        return A.zh_date(moment.astimezone(CHINA).date())
    return "日期不详"


# ---------------------------------------------------------------- the run
Deliver = Callable[..., Delivery]


def _logger() -> logging.Logger | logging.LoggerAdapter[logging.Logger]:
    try:
        return get_run_logger()
    except Exception:  # outside a flow run
        return logging.getLogger("fupin.alerts")


@dataclass
class _Run:
    """Everything one alerts run needs, and what it has done so far."""

    engine: Engine
    channels: Channels
    divisions: Divisions
    items: pl.DataFrame
    files: pl.DataFrame
    known: dict[tuple[str | None, str], A.Baseline]
    nightly_id: int
    as_of: date
    overdue_days: int
    out_dir: Path
    dry_run: bool
    deliver_fn: Deliver
    alerts_run: int | None = None
    notices: list[A.FileNotice] = field(default_factory=list)
    result: dict[str, Any] = field(default_factory=dict)

    @property
    def county(self) -> County:
        return County.of(self.divisions)

    failed_by_township: dict[str, int] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"运行#{self.nightly_id}"

    def untold(self, alert: A.Alert) -> bool:
        """Whether this recipient has not been alerted about this run's date yet (files that
        need a person are told once, with the run's alert)."""
        return alert.baseline is None or alert.baseline.as_of < self.as_of

    def send(
        self,
        recipient: str | None,
        name: str,
        url: str,
        alert: A.Alert,
        message: tuple[str, str],
        attachment: Path | None,
    ) -> dict[str, Any]:
        """Deliver (or, in a dry run, only describe) one message and record the attempt."""
        title, body = message
        entry: dict[str, Any] = {
            "township_code": recipient,
            "township": name,
            "channel": channel_label(url),
            "title": title,
            "body": body,
            "attachment": str(attachment) if attachment else None,
            "escalated": alert.escalated,
            "counts": alert.counts.as_dict(),
            "status": "dry_run",
            "attempts": 0,
            "error": None,
        }
        self.result["messages"].append(entry)
        if self.dry_run:
            return entry
        c = self.channels
        d = self.deliver_fn(url, title, body, attachment, c.attempts, c.retry_delay_seconds)
        entry.update(status=d.status, attempts=d.attempts, error=d.error)
        self.result[d.status] += 1
        record = {**alert.record(), "nightly_run_id": self.nightly_id, "attempts": d.attempts}
        row = {
            "run_id": self.alerts_run,
            "township_code": recipient,
            "channel": d.channel,
            "sent_at": d.at,
            "status": d.status,
            "counts": json.dumps(record, ensure_ascii=False, sort_keys=True),
            "error": d.error,
        }
        db.write_frame(self.engine, "alert", pl.DataFrame([row], schema=ALERT_ROW))
        if d.status == "failed":
            self.failed_by_township[name] = self.failed_by_township.get(name, 0) + 1
            _logger().warning(
                "alert to %s via %s failed after %d attempts: %s",
                name,
                d.channel,
                d.attempts,
                d.error,
            )
        return entry

    def township(self, code: str) -> None:
        """One township: compare with what each of its channels was last told, write the fix
        list when there is something to say, and send to the channels that need it."""
        name = self.divisions.short_name(code)
        urls = self.channels.townships.get(code, ())
        by_baseline: dict[A.Baseline | None, A.Alert] = {}

        def alert_for(baseline: A.Baseline | None) -> A.Alert:
            if baseline not in by_baseline:
                by_baseline[baseline] = A.compute_alert(
                    self.items, code, name, self.as_of, self.overdue_days, baseline
                )
            return by_baseline[baseline]

        notices = [n for n in self.notices if n.township_code == code]
        due = [(url, alert_for(self.known.get((code, channel_label(url))))) for url in urls]
        to_send = [(url, a) for url, a in due if a.changed or (notices and self.untold(a))]
        now = alert_for(None)
        summary: dict[str, Any] = {
            "name": name,
            "counts": now.counts.as_dict(),
            "channels": len(urls),
            "fix_list": None,
            "deliveries": [],
        }
        self.result["townships"][code] = summary
        self.result["unchanged"] += len(due) - len(to_send)
        if not urls and now.counts.open:
            self.result["unconfigured"].append(name)
        sources = _sources_line(self.files, code)
        attachment = None
        if (to_send or not urls) and now.counts.open:
            attachment = write_fix_list(
                self.out_dir / f"数据质量整改清单_{name}_{self.as_of.isoformat()}.xlsx",
                A.fix_list(self.items, code, self.as_of, self.overdue_days, county=self.county),
                _about(name, self.as_of, self.label, now, sources, self.county),
            )
            summary["fix_list"] = str(attachment)
        for url, alert in to_send:
            attached = attachment is not None and supports_attachments(url)
            message = A.township_message(
                alert,
                self.label,
                attachment.name if attachment else None,
                sources,
                attached,
                notices,
                county=self.county,
            )
            entry = self.send(code, name, url, alert, message, attachment if attached else None)
            summary["deliveries"].append({k: entry[k] for k in DELIVERY_KEYS})

    def office(self) -> None:
        """The city digest, after the townships so that it can name failed deliveries."""
        summary: dict[str, Any] = {"channels": len(self.channels.office), "deliveries": []}
        self.result["office"] = summary
        names = {code: self.divisions.short_name(code) for code in self.divisions.townships}
        for url in self.channels.office:
            baseline = self.known.get((None, channel_label(url)))
            alert = A.compute_alert(
                self.items, None, self.county.office_short, self.as_of, self.overdue_days, baseline
            )
            summary["counts"] = alert.counts.as_dict()
            if not (
                alert.changed or self.failed_by_township or (self.notices and self.untold(alert))
            ):
                self.result["unchanged"] += 1
                continue
            rows = A.digest_rows(self.items, names, self.as_of, self.overdue_days, baseline)
            message = A.digest_message(
                alert,
                rows,
                self.label,
                self.failed_by_township,
                self.result["unconfigured"],
                self.notices,
                county=self.county,
            )
            entry = self.send(None, self.county.office_short, url, alert, message, None)
            summary["deliveries"].append({k: entry[k] for k in DELIVERY_KEYS})


ALERT_ROW: dict[str, pl.DataType] = {
    "run_id": pl.Int64(),
    "township_code": pl.Utf8(),
    "channel": pl.Utf8(),
    "sent_at": pl.Datetime("us", "UTC"),
    "status": pl.Utf8(),
    "counts": pl.Utf8(),
    "error": pl.Utf8(),
}
DELIVERY_KEYS = ("channel", "status", "attempts", "error")


def run_alerts(
    database_url: str | None = None,
    dry_run: bool = False,
    run_id: int | None = None,
    home: str | Path | None = None,
    channels_file: str | Path | None = None,
    deliver_fn: Deliver = deliver,
    county: str | None = None,
) -> dict[str, Any]:
    """Compute, write and (unless `dry_run`) send and record the alerts of a nightly run
    (default: the latest finished one).  Returns what was sent, failed and left unchanged.
    `county`: a county of a multi-county warehouse (its schema; the caller works for it).

    Raises AlertsConfigError for a bad channel file or a warehouse without a nightly run.
    """
    settings = load_settings(database_url, home)
    res = load_resources(settings)
    divisions = res.divisions
    channels = load_channels(
        Path(channels_file) if channels_file else settings.channels_file, divisions
    )
    overdue_days = res.policy.overdue_days
    engine = db.connect(settings.database_url, cache_dir=settings.row_cache_dir, county=county)
    try:
        if not dry_run:
            db.upgrade(engine)
        nightly = _nightly_run(engine, run_id)
        as_of: date = nightly["as_of"]
        known = A.baselines(db.read_frame(engine, "alert"))
        since = min([b.as_of for b in known.values()] + [as_of])
        files = _files(engine)
        items = A.alert_items(
            db.lifecycle_since(engine, "finding", since),
            db.lifecycle_since(engine, "dq_issue", since),
            files,
        )
        run = _Run(
            engine=engine,
            channels=channels,
            divisions=divisions,
            items=items,
            files=files,
            known=known,
            nightly_id=nightly["id"],
            as_of=as_of,
            overdue_days=overdue_days,
            out_dir=private_dir(private_dir(settings.reports_dir) / "alerts") / as_of.isoformat(),
            dry_run=dry_run,
            deliver_fn=deliver_fn,
            notices=A.file_notices(files, nightly["id"]),
        )
        if not dry_run:
            run.alerts_run = db.start_run(
                engine, "alerts", as_of, {"nightly_run_id": nightly["id"], "dry_run": False}
            )
        run.result = {
            "run_id": run.alerts_run,
            "nightly_run_id": nightly["id"],
            "as_of": as_of.isoformat(),
            "dry_run": dry_run,
            "townships": {},
            "office": None,
            "messages": [],
            "sent": 0,
            "failed": 0,
            "unchanged": 0,
            "unconfigured": [],
        }
        try:
            for code in divisions.townships:
                run.township(code)
            run.office()
        except Exception as exc:
            if run.alerts_run is not None:
                db.finish_run(engine, run.alerts_run, "failed", {"error": type(exc).__name__})
            raise
        result = run.result
        if run.alerts_run is not None:
            stats = {k: result[k] for k in ("sent", "failed", "unchanged", "unconfigured")}
            status = "needs_attention" if result["failed"] else "succeeded"
            db.finish_run(engine, run.alerts_run, status, stats)
        _logger().info(
            "alerts for nightly run %s (%s): sent %d, failed %d, unchanged %d%s",
            nightly["id"],
            as_of,
            result["sent"],
            result["failed"],
            result["unchanged"],
            " (dry run)" if dry_run else "",
        )
        return result
    finally:
        engine.dispose()


def _about(
    name: str, as_of: date, run_label: str, alert: A.Alert, sources: str, county: County
) -> list[tuple[str, str]]:
    c = alert.counts
    return [
        ("数据质量整改清单", name),
        ("数据截至", A.zh_date(as_of)),
        ("依据", f"夜间数据核查{run_label}"),
        ("生成时间", datetime.now(CHINA).strftime("%Y-%m-%d %H:%M")),
        (
            "未整改合计",
            f"{c.open}项（核查发现{c.findings}项，数据质量问题{c.issues}项；"
            f"今日新增{c.new}项，逾期{c.overdue}项）",
        ),
        ("数据来源", sources or "—"),
        (
            "说明",
            "本清单仅含本单位的问题，按严重程度（高、中、低）和发现时间排序。“文件／工作表／行号”"
            "指问题所在的位置：“数据来源”为本单位报送的，请在本单位表格中更正；为民政局或医保局"
            f"数据的，本单位无法直接更正，请核实本人情况后报{county.office_short}，"
            f"由{county.office_short}与该部门核对。"
            "整改后，下次夜间核查将自动核销。"
            "本清单含个人信息，仅限本单位扶贫工作使用，不得外传。",
        ),
        ("区划", DIVISIONS_CREDIT),
    ]


@flow(name="township-alerts", log_prints=False)
def send_alerts(dry_run: bool = False, run_id: int | None = None) -> dict[str, Any]:
    """Township data-quality alerts and the office digest for a nightly run (default: latest).
    The warehouse and FUPIN_HOME come from the environment, never from a parameter Prefect
    would store and show."""
    return run_alerts(None, dry_run, run_id, None, deliver_fn=deliver_task)


def summary_lines(result: Mapping[str, Any]) -> list[str]:
    """What `fupin alerts` prints (Chinese): one line per message, then the totals."""
    lines: list[str] = []
    dry = result["dry_run"]
    head = "预警预览（未发送）" if dry else "预警发送结果"
    lines.append(f"{head}：夜间核查运行#{result['nightly_run_id']}，截至{result['as_of']}。")
    status_zh = {"sent": "已发送", "failed": "发送失败", "dry_run": "将发送"}
    for m in result["messages"]:
        who = m["township"]
        line = f"  {status_zh.get(m['status'], m['status'])}：{who} → {m['channel']}"
        if m["status"] == "failed":
            line += f"（尝试{m['attempts']}次：{m['error']}）"
        lines.append(line)
        if dry:
            lines.append("    " + m["title"])
            lines += ["    " + x for x in m["body"].splitlines()]
    for t in result["townships"].values():
        if t["fix_list"]:
            lines.append(f"  整改清单：{t['name']} {t['fix_list']}")
    lines.append(
        f"合计：{'将发送' if dry else '已发送'}{len([m for m in result['messages'] if m['status'] in ('sent', 'dry_run')])}条，"
        f"失败{result['failed']}条，无变化未发送{result['unchanged']}条。"
    )
    if result["unconfigured"]:
        lines.append("未配置预警渠道（清单已生成，请转交）：" + "、".join(result["unconfigured"]))
    if result["failed"]:
        lines.append(
            "有预警发送失败：请检查 config/channels.toml 中的地址与网络，问题解决后重新运行 fupin alerts。"
        )
    return lines


__all__ = [
    "AlertsConfigError",
    "Channels",
    "Delivery",
    "channel_label",
    "deliver",
    "load_channels",
    "run_alerts",
    "send_alerts",
    "summary_lines",
]
