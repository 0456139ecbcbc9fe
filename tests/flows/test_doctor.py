"""`fupin doctor`: each check passes and fails (or warns) as the machine is; exit 0 when
nothing fails, 2 otherwise; nothing is migrated or changed."""

from __future__ import annotations

import urllib.request
from pathlib import Path

import pytest

from config.settings import load_divisions, load_settings
from flows import doctor
from flows.cli import main
from reports import fonts, pdf
from warehouse import db


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    for name in (
        "FUPIN_DATABASE_URL",
        "FUPIN_POLICY_FILE",
        "FUPIN_CHANNELS_FILE",
        "PREFECT_API_URL",
    ):
        monkeypatch.delenv(name, raising=False)
    home = tmp_path / "home"
    monkeypatch.setenv("FUPIN_HOME", str(home))
    monkeypatch.setenv("FUPIN_INBOX", str(tmp_path / "inbox"))
    return load_settings()


def test_python_and_packages(monkeypatch) -> None:
    ok = doctor.python_and_packages()
    assert ok.status == "pass" and "polars" in ok.found and "prefect" in ok.found
    monkeypatch.setattr(doctor, "PACKAGES", (*doctor.PACKAGES, "no-such-package-here"))
    bad = doctor.python_and_packages()
    assert bad.status == "fail" and "no-such-package-here" in bad.found and "uv sync" in bad.action


def test_warehouse_at_head_below_head_empty_and_unreachable(settings, tmp_path: Path) -> None:
    url = settings.database_url
    empty = doctor.warehouse(settings, "FUPIN_DATABASE_URL")
    assert (
        empty.status == "fail" and "尚未建表" in empty.found and "fupin db upgrade" in empty.action
    )
    db.upgrade(url, "0005")
    old = doctor.warehouse(settings, "FUPIN_DATABASE_URL")
    assert old.status == "fail" and "0005" in old.found and "fupin db upgrade" in old.action
    engine = db.connect(url)
    assert db.revision_of(engine) == "0005"  # the doctor migrates nothing
    db.upgrade(engine)
    engine.dispose()
    assert doctor.warehouse(settings, "FUPIN_DATABASE_URL").status == "pass"
    gone = doctor.warehouse(load_settings("postgresql://postgres:pw@127.0.0.1:1/fupin"), "--db")
    assert gone.status == "fail" and "无法连接" in gone.found and "pw" not in gone.found


def test_home(settings, tmp_path: Path) -> None:
    assert doctor.home_writable(settings).status == "pass"
    blocker = tmp_path / "a-file"
    blocker.write_text("", encoding="utf-8")
    bad = doctor.home_writable(load_settings(home=blocker / "home"))
    assert bad.status == "fail" and "FUPIN_HOME" in bad.action


def test_inbox(settings, tmp_path: Path) -> None:
    assert doctor.inbox_readable(settings).status == "warn"  # not there yet
    (tmp_path / "inbox" / "townships").mkdir(parents=True)
    ok = doctor.inbox_readable(settings)
    assert ok.status == "pass" and "townships" in ok.found
    (tmp_path / "inbox").rename(tmp_path / "elsewhere")
    (tmp_path / "inbox").write_text("", encoding="utf-8")
    assert doctor.inbox_readable(settings).status == "fail"


def test_cjk_font(monkeypatch) -> None:
    assert doctor.cjk_font().status == "pass"  # fonts-noto-cjk, as .ci/run installs
    monkeypatch.setattr(fonts, "system_font", lambda: None)
    fonts.cjk_font.cache_clear()
    try:
        packaged = doctor.cjk_font()
        assert packaged.status == "warn" and "cvttf-notosanscjk-regular" in packaged.found
        monkeypatch.setattr(fonts, "package_font", lambda: None)
        fonts.cjk_font.cache_clear()
        none = doctor.cjk_font()
        assert none.status == "fail" and "fonts-noto-cjk" in none.action
    finally:
        fonts.cjk_font.cache_clear()


def test_chromium(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FUPIN_CHROMIUM", "/bin/true")
    assert doctor.chromium().status == "pass"
    monkeypatch.setattr(pdf, "chromium_binary", lambda: None)
    assert doctor.chromium().status == "warn"  # WeasyPrint prints the PDFs
    monkeypatch.setattr(pdf, "weasyprint_available", lambda: False)
    assert doctor.chromium().status == "fail"


def test_channels(settings, tmp_path: Path, monkeypatch) -> None:
    divisions = load_divisions()
    path = tmp_path / "channels.toml"
    lines = ['office = ["mailto://a:b@example.org"]', "[townships]"]
    lines += [
        f'"{divisions.short_name(c)}" = ["json://127.0.0.1:9/x"]' for c in divisions.townships
    ]
    path.write_text("\n".join(lines), encoding="utf-8")
    monkeypatch.setenv("FUPIN_CHANNELS_FILE", str(path))
    assert doctor.channels(load_settings()).status == "pass"
    path.write_text("\n".join(lines[:-1]), encoding="utf-8")
    partial = doctor.channels(load_settings())
    last = divisions.short_name(list(divisions.townships)[-1])
    assert partial.status == "warn" and last in partial.found
    path.write_text("office = [", encoding="utf-8")
    assert doctor.channels(load_settings()).status == "fail"


def test_prefect_api() -> None:
    assert doctor.prefect_api({}).status == "pass"  # not configured: the ephemeral server
    env = {"PREFECT_API_URL": "http://127.0.0.1:4200/api", "PREFECT_API_AUTH_STRING": "admin:pw"}

    def server(auth_required: bool, up: bool = True):
        def fetch(request: urllib.request.Request) -> int:
            if not up:
                raise ConnectionRefusedError
            sent = request.get_header("Authorization")
            return 401 if auth_required and sent != "Basic YWRtaW46cHc=" else 200

        return fetch

    assert doctor.prefect_api(env, server(auth_required=True)).status == "pass"
    open_api = doctor.prefect_api(env, server(auth_required=False))
    assert open_api.status == "warn" and "PREFECT_SERVER_API_AUTH_STRING" in open_api.action
    wrong = doctor.prefect_api({**env, "PREFECT_API_AUTH_STRING": "admin:no"}, server(True))
    assert wrong.status == "fail" and "PREFECT_API_AUTH_STRING" in wrong.action
    assert doctor.prefect_api(env, server(True, up=False)).status == "fail"


def test_a_check_that_breaks_fails_alone_and_the_exit_code(settings, monkeypatch, capsys) -> None:
    db.upgrade(settings.database_url)
    (settings.inbox / "townships").mkdir(parents=True)
    monkeypatch.setattr(doctor, "chromium", lambda: 1 / 0)
    checks = doctor.run_checks(settings, "FUPIN_DATABASE_URL", {})
    assert len(checks) == 8
    broken = [c for c in checks if c.status == "fail"]
    assert [c.name for c in broken] == ["Chromium（PDF 备用引擎、浏览器测试）"]
    assert doctor.exit_code(checks) == 2
    assert doctor.exit_code([c for c in checks if c.status != "fail"]) == 0
    monkeypatch.undo()
    monkeypatch.setenv("FUPIN_HOME", str(settings.home))
    monkeypatch.setenv("FUPIN_INBOX", str(settings.inbox))
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert "共 8 项" in out and "未通过 0" in out and "[通过] 数据仓库" in out
    assert main(["--db", "postgresql://postgres@127.0.0.1:1/x", "doctor"]) == 2
    assert "[未通过] 数据仓库" in capsys.readouterr().out


def test_db_upgrade_and_current(settings, capsys) -> None:
    assert main(["db", "current"]) == 1
    assert "尚未建表" in capsys.readouterr().out
    assert main(["db", "upgrade"]) == 0
    assert "升级到" in capsys.readouterr().out
    assert main(["db", "upgrade"]) == 0
    assert "已是最新" in capsys.readouterr().out
    assert main(["db", "current"]) == 0
