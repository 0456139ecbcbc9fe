"""Exit codes a scheduler can act on (outputs.md), through `flows.cli.main`: 2 with a Chinese
message naming the setting for what a person must configure, 3 with the run's id and a log
file for a run that failed; never a traceback on the terminal, never a password."""

from __future__ import annotations

import os
import uuid
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from flows.cli import main
from generator import generate
from tests.conftest import PG_ADMIN_URL
from warehouse import db

AS_OF = date(2018, 6, 30)
SECRET = "s3cret-Pw"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A fresh FUPIN_HOME and none of the other settings from the machine."""
    for name in ("FUPIN_DATABASE_URL", "FUPIN_POLICY_FILE", "FUPIN_CHANNELS_FILE", "FUPIN_INBOX"):
        monkeypatch.delenv(name, raising=False)
    home = tmp_path / "home"
    monkeypatch.setenv("FUPIN_HOME", str(home))
    return home


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err and 'File "' not in out + err
    assert SECRET not in out + err
    return code, err


def test_alerts_before_any_nightly_is_a_configuration_error(capsys) -> None:
    code, err = _run(capsys, "alerts", "--dry-run")
    assert code == 2
    assert "还没有完成的夜间核查" in err and "fupin nightly --inbox" in err
    assert "FUPIN_DATABASE_URL" in err  # the setting that chose the warehouse


def test_a_home_that_cannot_be_created(capsys, tmp_path: Path, monkeypatch) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("", encoding="utf-8")
    monkeypatch.setenv("FUPIN_HOME", str(blocker / "home"))
    code, err = _run(capsys, "export", "findings")
    assert code == 2
    assert "FUPIN_HOME" in err and str(blocker / "home") in err


def test_an_unreachable_warehouse_server(capsys) -> None:
    url = f"postgresql://fupin:{SECRET}@127.0.0.1:1/fupin"
    code, err = _run(capsys, "--db", url, "report", "assessment", "--period", "2018H1")
    assert code == 2
    assert "无法连接数据库服务器" in err and "--db" in err and "fupin:***@127.0.0.1:1" in err


@pytest.mark.postgres
def test_a_postgresql_database_that_does_not_exist(capsys) -> None:
    admin = db.connect(PG_ADMIN_URL)
    try:
        with admin.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # pragma: no cover - depends on the machine
        if os.environ.get("CI"):
            raise
        pytest.skip(f"PostgreSQL not reachable at {PG_ADMIN_URL}: {type(exc).__name__}")
    finally:
        admin.dispose()
    missing = f"fupin_missing_{uuid.uuid4().hex[:8]}"
    url = make_url(PG_ADMIN_URL).set(database=missing, password=SECRET)
    code, err = _run(capsys, "--db", url.render_as_string(hide_password=False), "alerts")
    assert code == 2
    assert "数据库不存在" in err and "--db" in err and missing in err


def test_a_policy_file_that_cannot_be_read(capsys, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("FUPIN_POLICY_FILE", str(tmp_path / "no-such-policy.toml"))
    code, err = _run(capsys, "export", "findings")
    assert code == 2
    assert "FUPIN_POLICY_FILE" in err


def test_a_channel_file_that_cannot_be_read(capsys, tmp_path: Path, monkeypatch) -> None:
    channels = tmp_path / "channels.toml"
    channels.write_text("[townships\n", encoding="utf-8")
    monkeypatch.setenv("FUPIN_CHANNELS_FILE", str(channels))
    code, err = _run(capsys, "alerts", "--dry-run")
    assert code == 2
    assert "FUPIN_CHANNELS_FILE" in err and "格式错误" in err


# ---------------------------------------------------------------- a run that fails: 3


@pytest.fixture(scope="module")
def small_inbox(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("gen")
    generate(out, scale=0.01, seed=7, as_of=AS_OF)
    return out / "inbox"


def test_a_nightly_that_fails_mid_way_names_its_run_and_its_log(
    harness, small_inbox: Path, clean_env: Path, capsys, monkeypatch
) -> None:
    url = f"sqlite:///{clean_env / 'fupin.db'}"
    db.upgrade(url)
    engine = db.connect(url)
    with engine.begin() as conn:  # a nightly killed mid-way, long ago
        conn.execute(
            text(
                "INSERT INTO run (flow, as_of, started_at, status) "
                "VALUES ('nightly', '2018-05-31', '2018-05-31 02:00:00', 'running')"
            )
        )
    person = "440282196203141311"

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError(f"reconciliation broke on {person}")

    monkeypatch.setattr("flows.nightly.reconcile", broken)
    code, err = _run(
        capsys, "--db", url, "nightly", "--inbox", str(small_inbox), "--as-of", AS_OF.isoformat()
    )
    assert code == 3
    runs = db.read_frame(engine, "run").sort("id")
    assert runs["status"].to_list() == ["abandoned", "failed"]
    failed = runs["id"][1]
    assert f"运行 #{failed} 失败" in err
    logs = list((clean_env / "logs").glob("*.log"))
    assert len(logs) == 1 and str(logs[0]) in err
    log = logs[0].read_text(encoding="utf-8")
    assert "Traceback" in log and "RuntimeError: reconciliation broke on 440282********1311" in log
    assert person not in log and person not in err
    engine.dispose()


def _a_finished_nightly(engine) -> None:
    """A warehouse that reports can be built from (the run row a nightly leaves)."""
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO run (flow, as_of, started_at, finished_at, status) VALUES "
                "('nightly', '2018-06-30', '2018-06-30 02:00:00', '2018-06-30 02:10:00', "
                "'succeeded')"
            )
        )


def test_a_pdf_report_without_any_cjk_font_is_refused(capsys, clean_env: Path, monkeypatch) -> None:
    """No PDF of empty boxes: with no CJK font anywhere, `fupin report --format pdf` stops
    before any work with a message saying what to install (exit 2)."""
    from reports import fonts

    url = f"sqlite:///{clean_env / 'fupin.db'}"
    db.upgrade(url)
    engine = db.connect(url)
    _a_finished_nightly(engine)
    engine.dispose()
    monkeypatch.setattr(fonts, "cjk_font", lambda: None)
    out = clean_env / "out"
    code, err = _run(
        capsys,
        "--db",
        url,
        "report",
        "assessment",
        "--period",
        "2018H1",
        "--format",
        "pdf",
        "--out",
        str(out),
    )
    assert code == 2
    assert "中文字体" in err and "fonts-noto-cjk" in err and "cvttf-notosanscjk-regular" in err
    assert not out.exists() or not list(out.iterdir())


@pytest.mark.parametrize(
    "argv",
    [["export", "findings"], ["report", "assessment", "--period", "2018H1"], ["changes", "珠玑镇"]],
)
def test_read_only_commands_never_migrate(capsys, clean_env: Path, argv: list[str]) -> None:
    """A warehouse left at an older schema by an upgrade of the program: reading commands
    say what to run (exit 2) and leave it as it is; `fupin db upgrade` migrates."""
    url = f"sqlite:///{clean_env / 'fupin.db'}"
    db.upgrade(url, "0005")
    engine = db.connect(url)
    _a_finished_nightly(engine)
    code, err = _run(capsys, "--db", url, *argv)
    assert code == 2
    assert "0005" in err and "fupin db upgrade" in err
    assert db.revision_of(engine) == "0005"
    assert main(["--db", url, "db", "upgrade"]) == 0
    assert db.revision_of(engine) == db.head_revision()
    engine.dispose()
