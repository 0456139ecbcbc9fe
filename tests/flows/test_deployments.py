"""Deployments and `fupin serve`: what is declared (no server), what a failed scheduled run
tells the office, how reports keep out of a running nightly's way, and — marked slow — a
real `prefect server start` with `fupin serve` running an on-demand report."""

from __future__ import annotations

import importlib
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from prefect.client.schemas.objects import ConcurrencyLimitStrategy
from sqlalchemy.exc import OperationalError

from flows import deployments as D
from flows.report import build_report
from tests.reports import synthetic
from warehouse import db

ROOT = Path(__file__).resolve().parents[2]


# ---------------------------------------------------------------- declared, no server
@pytest.fixture
def declared(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict:
    monkeypatch.setenv("FUPIN_INBOX", str(tmp_path / "共享" / "inbox"))
    return {f"{d.flow_name}/{d.name}": d for d in D.deployments()}


def test_four_deployments_with_their_schedules(declared: dict, tmp_path: Path) -> None:
    assert sorted(declared) == sorted([D.NIGHTLY, D.REPORT, D.ALERTS, D.SNAPSHOT])
    schedules = {
        name: [(s.schedule.cron, s.schedule.timezone, s.active) for s in d.schedules]
        for name, d in declared.items()
    }
    assert schedules == {
        D.NIGHTLY: [("0 2 * * *", "Asia/Shanghai", True)],
        D.REPORT: [],
        D.ALERTS: [],
        D.SNAPSHOT: [("30 23 31 12 *", "Asia/Shanghai", True)],
    }
    assert all(d.paused is False for d in declared.values())  # re-serving never pauses


def test_one_nightly_and_one_snapshot_at_a_time(declared: dict) -> None:
    for name in (D.NIGHTLY, D.SNAPSHOT):
        d = declared[name]
        assert d.concurrency_limit == 1
        assert d.concurrency_options.collision_strategy == ConcurrencyLimitStrategy.ENQUEUE
    assert declared[D.REPORT].concurrency_limit is None


def test_parameters(declared: dict, tmp_path: Path) -> None:
    nightly = declared[D.NIGHTLY]
    assert nightly.parameters == {"inbox": str((tmp_path / "共享" / "inbox").resolve())}
    report = declared[D.REPORT]
    schema = report._parameter_openapi_schema
    assert sorted(schema.required) == ["kind", "period"]
    assert {"township", "formats", "out_dir"} <= set(schema.properties)
    assert report.parameters == {}
    assert "year" in declared[D.SNAPSHOT]._parameter_openapi_schema.properties
    # no secrets in what the UI shows: the warehouse comes from the served process's env
    assert all("database_url" not in d.parameters for d in declared.values())


def test_inbox_defaults_to_fupin_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("FUPIN_INBOX", raising=False)
    monkeypatch.setenv("FUPIN_HOME", str(tmp_path))
    assert D.default_inbox() == str((tmp_path / "inbox").resolve())


def test_entrypoints_resolve_to_the_declared_flows_with_their_hooks(declared: dict) -> None:
    """Served runs import the flow by module path in a new process: that flow must be the
    one declared, hooks included."""
    for name, d in declared.items():
        module, attr = d.entrypoint.rsplit(".", 1)
        flow = getattr(importlib.import_module(module), attr)
        assert flow.name == d.flow_name == name.split("/")[0]
    nightly = importlib.import_module("flows.deployments").scheduled_nightly
    assert D.notify_office_of_failure in nightly.on_failure_hooks
    assert D.notify_office_of_failure in nightly.on_crashed_hooks
    snapshot = importlib.import_module("flows.snapshot").snapshot
    assert snapshot.on_failure_hooks  # the office hears of a failed year-end too


# ---------------------------------------------------------------- failure notice
def test_failure_reason_is_one_masked_line() -> None:
    try:
        raise OperationalError(
            "SELECT 1",
            {},
            Exception(
                'connection to "postgresql://fupin:s3cret@db.intranet/fupin" failed\n'
                "  detail line\nperson 440282198001021234"
            ),
        )
    except OperationalError as exc:
        reason = D.failure_reason(exc)
    assert reason.startswith("数据仓库无法连接或拒绝操作")
    assert "s3cret" not in reason and "****@" in reason
    assert "\n" not in reason and "detail line" not in reason
    assert D.failure_reason(FileNotFoundError(2, "No such file", "/mnt/inbox")).startswith(
        "收件目录或文件无法读取"
    )
    leaked = D.failure_reason(RuntimeError("bad 440282198001021234"))
    assert "440282198001021234" not in leaked and "440282********1234" in leaked
    title, body = D.failure_message(
        "nightly-reconciliation", "brave-ox", datetime(2018, 7, 1, 18, 5, tzinfo=UTC), reason
    )
    assert title == "【南雄市扶贫数据核查】夜间核查运行失败（2018-07-02 02:05）"
    assert "brave-ox" in body and reason in body and "Traceback" not in body


@pytest.fixture
def webhook() -> Iterator[tuple[list[dict], int]]:
    posts: list[dict] = []

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            length = int(self.headers.get("Content-Length", 0))
            posts.append(json.loads(self.rfile.read(length)))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield posts, server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_failed_scheduled_nightly_tells_the_office_why(
    harness, webhook, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    posts, port = webhook
    channels = tmp_path / "channels.toml"
    channels.write_text(
        f'office = ["json://127.0.0.1:{port}/office"]\n'
        "[delivery]\nattempts = 1\nretry_delay_seconds = 0\n[townships]\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("FUPIN_CHANNELS_FILE", str(channels))
    monkeypatch.setenv("FUPIN_HOME", str(tmp_path))
    # the warehouse is unreachable, and its URL holds a password
    monkeypatch.setenv(
        "FUPIN_DATABASE_URL", f"postgresql://fupin:s3cret@127.0.0.1:{_free_port()}/fupin"
    )
    with pytest.raises(OperationalError):
        D.scheduled_nightly(str(tmp_path))
    [post] = posts
    assert post["title"].startswith("【南雄市扶贫数据核查】夜间核查运行失败")
    body = post["message"]
    assert "原因：数据仓库无法连接或拒绝操作" in body
    assert "s3cret" not in body and "Traceback" not in body and 'File "' not in body


# ---------------------------------------------------------------- reports wait for a running nightly
HOLD = textwrap.dedent(
    """
    import sys, time
    from warehouse import db
    engine = db.connect(sys.argv[1])
    with db.run_lock(engine, exclusive=sys.argv[2] == "x"):
        print("held", flush=True)
        time.sleep(float(sys.argv[3]))
    """
)


def _hold(url: str, mode: str, seconds: float) -> subprocess.Popen:
    """Another process (a nightly run) holding the run lock for `seconds`."""
    child = subprocess.Popen(
        [sys.executable, "-c", HOLD, url, mode, str(seconds)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None and child.stdout.readline().strip() == "held"
    return child


@pytest.fixture
def city_warehouse(db_url: str):
    engine = db.connect(db_url)
    db.upgrade(engine)
    synthetic.load_warehouse(engine, synthetic.city(scale=0.01, insured_rows=500))
    yield db_url, engine
    engine.dispose()


def test_a_report_waits_until_the_running_nightly_has_finished(
    city_warehouse, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url, engine = city_warehouse
    nightly = _hold(url, "x", 4)
    started = time.monotonic()
    with caplog.at_level("WARNING", logger="fupin"):
        [path] = build_report(engine, "assessment", "2018H1", None, ("html",), tmp_path)
    waited = time.monotonic() - started
    assert nightly.wait(10) == 0
    assert waited > 2.5  # it did not read while the nightly held the lock
    assert path.is_file()
    assert any("夜间核查正在运行" in r.getMessage() for r in caplog.records)


def test_readers_share_the_lock_and_a_process_may_nest_it(city_warehouse) -> None:
    url, engine = city_warehouse
    other_reader = _hold(url, "s", 3)
    waits: list[str] = []
    started = time.monotonic()
    with (
        db.run_lock(engine, exclusive=False, on_wait=lambda: waits.append("shared")),
        db.run_lock(engine, exclusive=True),  # nested in this process: no deadlock
    ):
        pass
    assert time.monotonic() - started < 2 and waits == []
    with db.run_lock(engine, exclusive=True, on_wait=lambda: waits.append("exclusive")):
        pass  # the writer waits for the other reader
    assert waits == ["exclusive"]
    assert other_reader.wait(10) == 0


# ---------------------------------------------------------------- a real server, `fupin serve`
AUTH = "fupin-admin:correct-horse-battery"


def _wait_for(check, seconds: float, what: str, *procs: subprocess.Popen):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for p in procs:
            if p.poll() is not None:
                raise AssertionError(f"{p.args[:3]} exited with {p.returncode} before {what}")
        try:
            result = check()
        except Exception:
            result = None
        if result:
            return result
        time.sleep(1)
    raise AssertionError(f"timed out waiting for {what}")


def _stop(proc: subprocess.Popen, sig: int = signal.SIGINT, grace: float = 20) -> None:
    """Stop a process this test started, and the children of its own process group."""
    if proc.poll() is None:
        os.killpg(proc.pid, sig)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


@pytest.mark.slow
def test_serve_registers_the_deployments_and_runs_an_on_demand_report(tmp_path: Path) -> None:
    """As docs/operations.md sets it up: the server asks for credentials (basic auth), and
    `fupin serve`, `prefect deployment run` and the client give them."""
    from prefect.client.orchestration import get_client
    from prefect.deployments import run_deployment
    from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_URL, temporary_settings

    from flows import doctor

    home = tmp_path / "home"
    url = f"sqlite:///{home / 'fupin.db'}"
    engine = db.connect(url)
    db.upgrade(engine)
    synthetic.load_warehouse(engine, synthetic.city(scale=0.01, insured_rows=500))
    engine.dispose()

    port = _free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = {
        **os.environ,
        "PREFECT_HOME": str(tmp_path / "prefect"),
        "PREFECT_API_URL": api,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_LOGGING_LEVEL": "WARNING",
        "PREFECT_RUNNER_POLL_FREQUENCY": "2",
        "PREFECT_SERVER_API_AUTH_STRING": AUTH,
        "PREFECT_API_AUTH_STRING": AUTH,
        "FUPIN_HOME": str(home),
        "FUPIN_DATABASE_URL": url,
        "FUPIN_INBOX": str(tmp_path / "inbox"),
    }
    logs = {name: (tmp_path / f"{name}.log").open("w") for name in ("server", "serve")}
    server = subprocess.Popen(
        [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1",
         "--port", str(port), "--no-ui"],
        env=env, cwd=tmp_path, stdout=logs["server"], stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    serve: subprocess.Popen | None = None
    try:

        def healthy() -> bool:
            with urllib.request.urlopen(f"{api}/health", timeout=5) as response:
                return response.status == 200

        _wait_for(healthy, 150, "the Prefect server", server)
        with pytest.raises(urllib.error.HTTPError) as refused:  # nobody without the password
            urllib.request.urlopen(f"{api}/admin/version", timeout=5)
        assert refused.value.code == 401
        assert doctor.prefect_api(env).status == "pass"
        assert doctor.prefect_api({**env, "PREFECT_API_AUTH_STRING": "x:y"}).status == "fail"
        serve = subprocess.Popen(
            [str(Path(sys.executable).parent / "fupin"), "serve"],
            env=env, cwd=ROOT, stdout=logs["serve"], stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        with temporary_settings(updates={PREFECT_API_URL: api, PREFECT_API_AUTH_STRING: AUTH}):

            def registered():
                with get_client(sync_client=True) as client:
                    found = {
                        f"{client.read_flow(d.flow_id).name}/{d.name}": d
                        for d in client.read_deployments()
                    }
                return found if len(found) == 4 else None

            found = _wait_for(registered, 90, "the four deployments", serve, server)
            nightly = found[D.NIGHTLY]
            assert [(s.schedule.cron, s.schedule.timezone) for s in nightly.schedules] == [
                ("0 2 * * *", "Asia/Shanghai")
            ]
            assert nightly.global_concurrency_limit.limit == 1
            assert nightly.paused is False

            # as docs/operations.md tells the office to
            done = subprocess.run(
                [sys.executable, "-m", "prefect", "deployment", "run", D.REPORT,
                 "-p", "kind=assessment", "-p", "period=2018H1", "-p", "formats=html,xlsx",
                 "--watch", "--watch-timeout", "150"],
                env=env, cwd=tmp_path, capture_output=True, text=True, timeout=200,
            )  # fmt: skip
            assert done.returncode == 0, done.stdout + done.stderr
            for ext in ("html", "xlsx"):
                assert (home / "reports" / f"assessment_2018H1_all.{ext}").stat().st_size > 1000
            # a year as a bare number is JSON to the CLI: the flow takes it too
            run = run_deployment(
                D.REPORT,
                parameters={"kind": "accountability", "period": 2018, "township": "珠玑镇"},
                timeout=150,
                poll_interval=2,
            )
            assert run.state is not None and run.state.is_completed(), run.state
            assert (home / "reports" / "accountability_2018_440282113.html").is_file()

            _stop(serve)  # Ctrl+C
            assert serve.returncode == 0
            with get_client(sync_client=True) as client:
                again = client.read_deployment_by_name(D.NIGHTLY)
            assert again.paused is False  # stopping `fupin serve` left the schedule on
    finally:
        if serve is not None:
            _stop(serve, signal.SIGKILL)
        _stop(server, signal.SIGTERM)
        for log in logs.values():
            log.close()
