"""Township alerts delivered for real: a local SMTP server (aiosmtpd) and a local HTTP
receiver stand in for the township's mailbox and webhook; one channel points at a closed port.

Townships: 乌迳镇 by e-mail, 珠玑镇 by webhook (json://), 坪田镇 at a closed port; the office
gets its digest by e-mail.
"""

from __future__ import annotations

import base64
import email
import email.policy
import io
import json
import re
import socket
import threading
from collections.abc import Iterator
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import polars as pl
import pytest
from aiosmtpd.controller import Controller

from config.rules import RULES
from flows.alerts import AlertsConfigError, run_alerts, summary_lines
from transforms import alerts as A
from transforms.ids import make_id
from warehouse import db

WUJING, ZHUJI, PINGTIAN = "440282100", "440282113", "440282104"
DAY1, DAY2 = date(2018, 5, 20), date(2018, 6, 30)
ID_OR_PHONE = re.compile(r"(?<![0-9])(\d{17}[\dXx]|1[3-9]\d{9})(?![0-9])")


def pid(seq: int) -> str:
    return make_id("440282", date(1975, 3, 4), seq)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------- receivers
class Mailbox:
    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd hook)
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        msg["X-Test-Rcpt"] = ",".join(envelope.rcpt_tos)
        self.messages.append(msg)
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[email.message.EmailMessage]:
        return [m for m in self.messages if address in m["X-Test-Rcpt"]]


@pytest.fixture
def smtp() -> Iterator[tuple[Mailbox, int]]:
    box, port = Mailbox(), free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield box, port
    finally:
        controller.stop()


@pytest.fixture
def webhook() -> Iterator[tuple[list[dict], int]]:
    posts: list[dict] = []

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            length = int(self.headers.get("Content-Length", 0))
            posts.append({"path": self.path, "json": json.loads(self.rfile.read(length))})
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield posts, server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def closed_port() -> int:
    return free_port()  # bound and released: nothing listens there


def write_channels(path: Path, smtp_port: int, hook_port: int, closed: int | None) -> Path:
    mail = f"mailto://127.0.0.1:{smtp_port}?from=fupin@localhost&to={{}}"
    lines = [
        f'office = ["{mail.format("office@localhost")}"]',
        "[delivery]",
        "attempts = 3",
        "retry_delay_seconds = 0.05",
        "[townships]",
        f'"{WUJING}" = ["{mail.format("wujing@localhost")}"]',
        f'"珠玑镇" = ["json://127.0.0.1:{hook_port}/zhuji"]',
    ]
    if closed is not None:
        lines.append(f'"{PINGTIAN}" = ["json://user:hunter2@127.0.0.1:{closed}/pingtian"]')
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# ---------------------------------------------------------------- warehouse
def finding(key: str, rule: str, township: str, file_id: int, **kw) -> dict:
    row = {
        "rule": rule,
        "key": key,
        "township_code": township,
        "village": "某村",
        "household_id": f"{township}201{len(key):03d}",
        "detail": f"{rule}：某人（已脱敏）问题说明",
        "evidence": [
            {"source": "roster", "file_id": file_id, "sheet": "花名册", "row_no": 4 + len(key)}
        ],
    }
    row.update(kw)
    return row


def issue(key: str, township: str, file_id: int, row_no: int, **kw) -> dict:
    row = {
        "kind": "bad_date",
        "key": key,
        "source": "townships",
        "file_id": file_id,
        "sheet": "花名册",
        "row_no": row_no,
        "column": "脱贫年度",
        "township_code": township,
        "village": "某村",
        "household_id": f"{township}201{row_no:03d}",
        "value": "=1+1",
        "message": "脱贫年度无法识别",
        "suggested_fix": "填写四位年份",
    }
    row.update(kw)
    return row


class Warehouse:
    """A warehouse with three townships' workbooks, findings and issues over two nights."""

    def __init__(self, url: str) -> None:
        self.url = url
        db.upgrade(url)
        self.engine = db.connect(url)
        self.files = {
            code: db.record_file(
                self.engine,
                source="townships",
                name=f"{name}建档立卡花名册.xlsx",
                rel_path=f"townships/{name}建档立卡花名册.xlsx",
                sha256=f"{i:064d}",
                size=1,
                status="accepted",
                seq=i,
                township_code=code,
            )
            for i, (code, name) in enumerate(
                [(WUJING, "乌迳镇"), (ZHUJI, "珠玑镇"), (PINGTIAN, "坪田镇")], 1
            )
        }
        self.state: dict[str, dict] = {}
        self.person = pid(21)
        f = self.files
        self.findings = [
            finding(
                self.person,
                "R01",
                WUJING,
                f[WUJING],
                person_id=self.person,
                id_as_written=self.person,
                detail=f"某人（{self.person}，电话13912345678）为贫困人口，未参保",
            ),
            finding("440282100201001", "R14", WUJING, f[WUJING]),
            finding(pid(22), "R05", ZHUJI, f[ZHUJI], person_id=pid(22)),
            finding("440282104201001", "R12", PINGTIAN, f[PINGTIAN]),
        ]
        self.issues = [
            issue(
                "wj-1",
                WUJING,
                f[WUJING],
                7,
                message=f"证件号码{pid(23)}校验位错误",
                kind="invalid_id",
                column="证件号码",
                value=pid(23),
            ),
            issue("zj-1", ZHUJI, f[ZHUJI], 9),
            issue("pt-1", PINGTIAN, f[PINGTIAN], 11),
        ]
        self.night(DAY1)
        # night two: one new finding and one new issue
        self.findings.append(finding(pid(24), "R15", WUJING, f[WUJING], person_id=pid(24)))
        self.issues.append(issue("zj-2", ZHUJI, f[ZHUJI], 12))
        self.run_id = self.night(DAY2)

    def night(self, day: date, drop: tuple[str, ...] = ()) -> int:
        """A nightly run that finds every row but `drop`: the life cycle of findings.md,
        written straight into `finding` and `dq_issue`."""
        run_id = db.start_run(self.engine, "nightly", day)
        for table, rows in (("finding", self.findings), ("dq_issue", self.issues)):
            for row in rows:
                state = self.state.setdefault(
                    row["key"], {"first_seen": day, "status": "open", "resolved_on": None}
                )
                if row["key"] in drop and state["status"] == "open":
                    state.update(status="resolved", resolved_on=day)
                elif row["key"] not in drop:
                    state.update(status="open", resolved_on=None, last_seen=day)
            frame = pl.DataFrame(
                [
                    {
                        **row,
                        **self.state[row["key"]],
                        "last_seen": day,
                        "reopened": 0,
                        "updated_run_id": run_id,
                    }
                    for row in rows
                ]
            ).with_columns(pl.col("resolved_on").cast(pl.Date))
            if table == "finding":
                frame = frame.with_columns(
                    severity=pl.col("rule").replace_strict(
                        {code: r.severity for code, r in RULES.items()}, return_dtype=pl.Utf8
                    )
                )
            db.replace_rows(self.engine, table, frame)
        db.finish_run(self.engine, run_id, "succeeded", {})
        return run_id

    def alerts(self) -> pl.DataFrame:
        return db.read_frame(self.engine, "alert").sort("id")


@pytest.fixture
def warehouse(sqlite_url: str) -> Iterator[Warehouse]:
    wh = Warehouse(sqlite_url)
    yield wh
    wh.engine.dispose()


# ---------------------------------------------------------------- helpers
def mail_body(msg: email.message.EmailMessage) -> str:
    return msg.get_body(preferencelist=("plain", "html")).get_content()


def xlsx_from_mail(msg: email.message.EmailMessage) -> tuple[str, bytes]:
    (part,) = list(msg.iter_attachments())
    return part.get_filename(), part.get_content()


def xlsx_from_post(post: dict) -> tuple[str, bytes]:
    (att,) = post["json"]["attachments"]
    return att["filename"], base64.b64decode(att["base64"])


def sheets(data: bytes) -> dict[str, pl.DataFrame]:
    return {
        name: pl.read_excel(io.BytesIO(data), sheet_name=name)
        for name in (A.ISSUE_SHEET, A.FINDING_SHEET)
    }


def township_of_rows(book: dict[str, pl.DataFrame]) -> set[str]:
    """Townships named by the rows' files and 户编号 (both carry the township)."""
    out: set[str] = set()
    for frame in book.values():
        out |= {name[:3] for name in frame["文件"].drop_nulls().to_list()}
        out |= {hh[:9] for hh in frame["户编号/家庭编号"].drop_nulls().cast(pl.Utf8).to_list()}
    return out


def run(wh: Warehouse, channels: Path, home: Path, **kw) -> dict:
    return run_alerts(wh.url, home=home, channels_file=channels, **kw)


# ---------------------------------------------------------------- tests
def test_each_township_gets_its_own_rows_failures_are_retried_and_recorded(
    warehouse, smtp, webhook, closed_port, tmp_path
):
    box, smtp_port = smtp
    posts, hook_port = webhook
    channels = write_channels(tmp_path / "channels.toml", smtp_port, hook_port, closed_port)

    result = run(warehouse, channels, tmp_path / "home")

    # 乌迳镇 by e-mail: its own rows only, escalated (night-one items are 41 days old)
    (wj,) = box.to("wujing@localhost")
    assert wj["Subject"].startswith("【逾期升级】南雄市扶贫数据质量预警：乌迳镇")
    name, data = xlsx_from_mail(wj)
    assert name == "数据质量整改清单_乌迳镇_2018-06-30.xlsx"
    book = sheets(data)
    assert township_of_rows(book) == {"乌迳镇", WUJING}
    assert book[A.FINDING_SHEET]["规则"].to_list() == [
        "R01",
        "R14",
        "R15",
    ]  # 高; oldest first; then by rule
    assert book[A.FINDING_SHEET]["状态"].to_list() == ["逾期", "逾期", "新增"]
    assert book[A.ISSUE_SHEET]["行号"].to_list() == [7]
    # formula-like text stays text: the ID the clerk typed is in its own fix list, masked nowhere
    assert book[A.ISSUE_SHEET]["当前值"].cast(pl.Utf8).to_list() == [pid(23)]

    # 珠玑镇 by webhook: its own rows only
    (zj,) = [p for p in posts if p["path"] == "/zhuji"]
    assert zj["json"]["title"].startswith("【逾期升级】南雄市扶贫数据质量预警：珠玑镇")
    name, data = xlsx_from_post(zj)
    book = sheets(data)
    assert township_of_rows(book) == {"珠玑镇", ZHUJI}
    assert sorted(book[A.ISSUE_SHEET]["行号"].to_list()) == [9, 12]
    assert book[A.ISSUE_SHEET]["当前值"].to_list() == ["'=1+1", "'=1+1"]  # neutralised

    # 坪田镇: closed port, tried three times, failed, recorded, others unaffected
    assert result["failed"] == 1 and result["sent"] == 3
    pt = result["townships"][PINGTIAN]["deliveries"]
    assert [(d["status"], d["attempts"]) for d in pt] == [("failed", 3)]
    alerts = warehouse.alerts()
    failed = alerts.filter(pl.col("status") == "failed")
    assert failed["township_code"].to_list() == [PINGTIAN]
    assert failed["error"][0] and "hunter2" not in failed["error"][0]
    assert "hunter2" not in failed["channel"][0]
    assert sorted(
        alerts.filter(pl.col("status") == "sent")["township_code"].to_list(), key=str
    ) == [
        WUJING,
        ZHUJI,
        None,
    ]
    assert json.loads(alerts["counts"][0])["as_of"] == "2018-06-30"
    assert any("发送失败" in line for line in summary_lines(result))

    # the office digest: every township's counts, the escalation and the failure
    (office,) = box.to("office@localhost")
    digest = mail_body(office)
    assert office["Subject"].startswith("【逾期升级】南雄市扶贫数据质量日报")
    assert "乌迳镇｜1｜4｜3｜0【逾期升级】" in digest  # new, open, overdue, resolved
    assert "珠玑镇｜1｜3｜2｜0【逾期升级】" in digest
    assert "坪田镇（1个渠道）" in digest
    assert digest.count("｜") >= 18 * 4
    assert not list(office.iter_attachments())

    # no unmasked ID or phone in any body
    bodies = [mail_body(m) + m["Subject"] for m in box.messages]
    bodies += [p["json"]["title"] + p["json"]["message"] for p in posts]
    for body in bodies:
        assert not ID_OR_PHONE.search(body), body
    assert "139****5678" in mail_body(wj)

    # the runs are recorded: an alerts run that needs attention
    runs = db.read_frame(warehouse.engine, "run").filter(pl.col("flow") == "alerts")
    assert runs["status"].to_list() == ["needs_attention"]
    assert set(alerts["run_id"].to_list()) == {result["run_id"]}


def test_second_run_with_nothing_changed_sends_nothing(
    warehouse, smtp, webhook, closed_port, tmp_path
):
    box, smtp_port = smtp
    posts, hook_port = webhook
    channels = write_channels(tmp_path / "channels.toml", smtp_port, hook_port, closed_port)
    run(warehouse, channels, tmp_path / "home")
    assert (len(box.messages), len(posts)) == (2, 1)

    # same night again: the delivered townships hear nothing; the broken channel is retried
    again = run(warehouse, channels, tmp_path / "home")
    assert (len(box.to("wujing@localhost")), len(posts)) == (1, 1)
    assert again["failed"] == 1 and again["unchanged"] == 2
    assert len(box.to("office@localhost")) == 2  # the office hears of the failure again

    # the broken channel removed: nothing at all is sent
    write_channels(channels, smtp_port, hook_port, None)
    third = run(warehouse, channels, tmp_path / "home")
    assert (len(box.messages), len(posts)) == (3, 1)
    assert (third["sent"], third["failed"], third["unchanged"]) == (0, 0, 3)
    assert third["unconfigured"] == ["坪田镇"]


def test_a_fix_reaches_only_the_township_that_made_it(warehouse, smtp, webhook, tmp_path):
    box, smtp_port = smtp
    posts, hook_port = webhook
    channels = write_channels(tmp_path / "channels.toml", smtp_port, hook_port, None)
    run(warehouse, channels, tmp_path / "home")
    warehouse.night(DAY2 + timedelta(days=1), drop=("440282100201001",))  # 乌迳镇 fixed R14

    result = run(warehouse, channels, tmp_path / "home")

    assert result["sent"] == 2  # 乌迳镇 and the office
    later = box.to("wujing@localhost")[-1]
    body = mail_body(later)
    assert "自上次预警（2018年6月30日）以来已整改1项" in body
    assert not later["Subject"].startswith("【逾期升级】")  # nothing newly overdue
    assert len(posts) == 1  # 珠玑镇 unchanged
    assert "乌迳镇｜0｜3｜2｜1" in mail_body(box.to("office@localhost")[-1])


def test_dry_run_writes_fix_lists_and_sends_and_records_nothing(
    warehouse, smtp, webhook, closed_port, tmp_path
):
    box, smtp_port = smtp
    posts, hook_port = webhook
    channels = write_channels(tmp_path / "channels.toml", smtp_port, hook_port, closed_port)

    result = run(warehouse, channels, tmp_path / "home", dry_run=True)

    assert (box.messages, posts) == ([], [])
    assert warehouse.alerts().is_empty()
    assert db.read_frame(warehouse.engine, "run").filter(pl.col("flow") == "alerts").is_empty()
    assert {m["status"] for m in result["messages"]} == {"dry_run"}
    assert len(result["messages"]) == 4
    for code in (WUJING, ZHUJI, PINGTIAN):
        path = Path(result["townships"][code]["fix_list"])
        assert (
            path.is_file()
            and path.parent == tmp_path / "home" / "reports" / "alerts" / "2018-06-30"
        )
    printed = "\n".join(summary_lines(result))
    assert "预警预览（未发送）" in printed and "【逾期升级】" in printed
    assert not ID_OR_PHONE.search(printed)


def test_configuration_errors_are_reported_plainly(warehouse, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[townships]\n"不存在镇" = []\n', encoding="utf-8")
    with pytest.raises(AlertsConfigError, match="不存在镇"):
        run(warehouse, bad, tmp_path)
    bad.write_text('office = ["nonsense://x"]\n', encoding="utf-8")
    with pytest.raises(AlertsConfigError, match="无法识别"):
        run(warehouse, bad, tmp_path)
    with pytest.raises(AlertsConfigError, match="不存在"):
        run(warehouse, tmp_path / "missing.toml", tmp_path)


def test_default_channels_file_sends_nowhere(warehouse, tmp_path):
    default = Path(__file__).resolve().parents[2] / "config" / "channels.toml"
    result = run(warehouse, default, tmp_path / "home")
    assert (result["sent"], result["failed"], result["messages"]) == (0, 0, [])
    assert sorted(result["unconfigured"]) == sorted(["乌迳镇", "珠玑镇", "坪田镇"])


@pytest.mark.slow
def test_through_the_prefect_flow(warehouse, smtp, webhook, tmp_path, monkeypatch):
    """The same path as a Prefect flow (deliveries as tasks), on an ephemeral API."""
    from flows.alerts import send_alerts

    box, smtp_port = smtp
    posts, hook_port = webhook
    channels = write_channels(tmp_path / "channels.toml", smtp_port, hook_port, None)
    monkeypatch.setenv("FUPIN_CHANNELS_FILE", str(channels))
    monkeypatch.setenv("FUPIN_DATABASE_URL", warehouse.url)  # settings come from the env
    monkeypatch.setenv("FUPIN_HOME", str(tmp_path))
    result = send_alerts(run_id=warehouse.run_id)
    assert (result["sent"], result["failed"]) == (3, 0)
    assert (len(box.messages), len(posts)) == (2, 1)
    # a configuration error reaches the caller as itself (the CLI maps it to exit code 2)
    (tmp_path / "bad.toml").write_text('office = ["nonsense://x"]\n', encoding="utf-8")
    monkeypatch.setenv("FUPIN_CHANNELS_FILE", str(tmp_path / "bad.toml"))
    with pytest.raises(AlertsConfigError):
        send_alerts()
