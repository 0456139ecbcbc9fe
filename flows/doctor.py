"""`fupin doctor`: is this machine ready to run fupin?  In the spirit of `dbt debug`.

Each check says, in Chinese, what it found and what to do.  A check *fails* when a command
would not work (exit code 2 for the whole), and *warns* when something works but should be
put right (a township without an alert channel, the packaged font instead of the system's).
Nothing is changed: the warehouse is not migrated, no file outside a scratch one in
FUPIN_HOME is written.
"""

from __future__ import annotations

import os
import platform
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import Literal

from config.settings import Settings
from flows import channel_secrets

Status = Literal["pass", "warn", "fail"]
SHOWN = {"pass": "通过", "warn": "注意", "fail": "未通过"}
PACKAGES = (
    "fupin",
    "prefect",
    "polars",
    "great-expectations",
    "sqlalchemy",
    "alembic",
    "weasyprint",
    "apprise",
)
PYTHON_MIN = (3, 11)


@dataclass(frozen=True)
class Check:
    name: str  # what was checked, in Chinese
    status: Status
    found: str  # what was found
    action: str = ""  # what to do, when not passed


def python_and_packages() -> Check:
    found = [f"Python {platform.python_version()}"]
    missing = []
    for name in PACKAGES:
        try:
            found.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            missing.append(name)
    if sys.version_info < PYTHON_MIN or missing:
        return Check(
            "Python 与依赖包",
            "fail",
            "；".join(found) + (f"；缺少：{'、'.join(missing)}" if missing else ""),
            "需要 Python 3.11 及以上；在项目目录运行 uv sync 安装锁定的依赖包。",
        )
    return Check("Python 与依赖包", "pass", "；".join(found))


def warehouse(settings: Settings, setting: str) -> Check:
    """Reachable, and at the newest migration (read only: nothing is migrated)."""
    from sqlalchemy import exc as sa_exc

    from flows.warehouse_words import masked_url, unreachable
    from warehouse import db

    name, shown = "数据仓库", f"{setting}：{masked_url(settings.database_url)}"
    try:
        engine = db.connect(settings.database_url)
    except Exception as exc:
        return Check(
            name,
            "fail",
            f"地址无法使用（{shown}，{type(exc).__name__}）",
            "地址应为 sqlite:///文件路径 或 postgresql://用户:密码@主机:端口/数据库，请更正。",
        )
    try:
        at, head = db.revision_of(engine), db.head_revision()
    except sa_exc.DBAPIError as exc:
        return Check(name, "fail", f"无法连接（{shown}）：{unreachable(exc)}", f"更正 {setting}。")
    finally:
        engine.dispose()
    if at == head:
        return Check(name, "pass", f"可以连接，表结构为最新版本 {head}（{shown}）")
    if at is None:
        return Check(
            name,
            "fail",
            f"可以连接，但尚未建表（{shown}）",
            "运行 fupin db upgrade 建表（fupin nightly 也会自动建表）。",
        )
    return Check(
        name,
        "fail",
        f"可以连接，表结构为 {at}，本程序需要 {head}（{shown}）",
        "运行 fupin db upgrade 升级表结构（先备份数据仓库）；若数据仓库比本程序新，请升级本程序。",
    )


def home_writable(settings: Settings) -> Check:
    name = "工作目录（FUPIN_HOME）"
    try:
        settings.home.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=settings.home, prefix=".doctor-"):
            pass
    except OSError as exc:
        return Check(
            name,
            "fail",
            f"{settings.home} 无法写入（{type(exc).__name__}）",
            "把 FUPIN_HOME 设为本用户可写的目录，或更正目录权限。",
        )
    return Check(name, "pass", f"{settings.home} 可以写入")


def inbox_readable(settings: Settings) -> Check:
    name, path = "收件目录（FUPIN_INBOX）", settings.inbox
    if not path.exists():
        return Check(
            name,
            "warn",
            f"{path} 不存在",
            "创建该目录并按 sources.md 的结构放入各镇花名册，或用 FUPIN_INBOX 指向收件目录。",
        )
    if not (path.is_dir() and os.access(path, os.R_OK | os.X_OK)):
        return Check(name, "fail", f"{path} 不是目录或不能读取", "更正 FUPIN_INBOX 或目录权限。")
    folders = sorted(p.name for p in path.iterdir() if p.is_dir())
    return Check(name, "pass", f"{path} 可以读取；其中的目录：{'、'.join(folders) or '无'}")


def cjk_font() -> Check:
    from reports import fonts

    name = "PDF 中文字体"
    result = fonts.check()
    if not result.ok:
        return Check(
            name,
            "fail",
            result.detail,
            "安装系统字体：apt-get install fonts-noto-cjk（或运行 uv sync 装上自带字体的包）；"
            "WeasyPrint 还需要 Pango：apt-get install libpango-1.0-0 libpangoft2-1.0-0。",
        )
    if result.font is not None and result.font.origin == "package":
        return Check(
            name,
            "warn",
            result.detail,
            "PDF 可以生成；如需简体字形，请安装 fonts-noto-cjk（apt-get install fonts-noto-cjk）。",
        )
    return Check(name, "pass", result.detail)


def chromium() -> Check:
    from reports.pdf import chromium_binary, weasyprint_available

    name = "Chromium（PDF 备用引擎、浏览器测试）"
    binary = chromium_binary()
    if binary:
        return Check(name, "pass", f"找到 {binary}")
    if weasyprint_available():
        return Check(
            name,
            "warn",
            "未找到；PDF 由 WeasyPrint 生成，不受影响",
            "如需备用引擎：apt-get install chromium，或用 FUPIN_CHROMIUM 指定程序路径。",
        )
    return Check(
        name,
        "fail",
        "未找到，WeasyPrint 也无法加载：不能生成 PDF",
        "apt-get install chromium，或安装 WeasyPrint 所需的 Pango（libpango-1.0-0）。",
    )


def channels(settings: Settings, fetch: channel_secrets.Fetch | None = None) -> Check:
    """The channel file parses, every Prefect Secret block it refers to can be read (and an
    address kept whole in one is a known Apprise address), and which units it leaves out."""
    import apprise

    from config.settings import load_divisions
    from flows.alerts import AlertsConfigError, load_channels

    name = "预警渠道（FUPIN_CHANNELS_FILE）"
    divisions = load_divisions()
    try:
        found = load_channels(settings.channels_file, divisions)
    except AlertsConfigError as exc:
        return Check(
            name,
            "fail",
            str(exc),
            "参照 config/channels.toml 的示例更正，或用 FUPIN_CHANNELS_FILE 指定。",
        )
    every = [*found.office, *(u for urls in found.townships.values() for u in urls)]
    blocks = list(dict.fromkeys(n for u in every for n in channel_secrets.references(u)))
    unreadable, unknown = [], []
    for url in every:
        if not channel_secrets.references(url):
            continue
        try:
            real, _ = channel_secrets.resolve(url, fetch or channel_secrets.prefect_secret)
        except channel_secrets.SecretUnavailable as exc:
            unreadable.append(exc.name)
            continue
        if apprise.Apprise.instantiate(real) is None:
            unknown.extend(channel_secrets.references(url))
    if unreadable or unknown:
        said = []
        if unreadable:
            said.append("无法读取的密钥块：" + "、".join(dict.fromkeys(unreadable)))
        if unknown:
            said.append("取值不是可识别的 Apprise 地址：" + "、".join(dict.fromkeys(unknown)))
        return Check(
            name,
            "fail",
            "；".join(said),
            "在 Prefect 界面 Blocks 页或用 `prefect block create secret` 创建/更正这些 Secret 块"
            "（名称须与渠道文件中 {{ prefect.blocks.secret.名称 }} 一致），"
            "并确认 PREFECT_API_URL 指向保存它们的 Prefect 服务器。",
        )
    missing = [divisions.short_name(c) for c in divisions.townships if not found.townships.get(c)]
    covered = len(divisions.townships) - len(missing)
    where = f"{settings.channels_file}：{covered} 个镇（街道）已配置，市扶贫办 {len(found.office)} 个渠道"
    if missing or not found.office:
        lacking = "、".join(missing) + (
            "" if found.office else ("；" if missing else "") + "市扶贫办"
        )
        return Check(
            name,
            "warn",
            f"{where}；未配置：{lacking}",
            "未配置渠道的单位收不到预警（整改清单仍写入 reports/alerts）；请在渠道文件中补上。",
        )
    if blocks:
        where += f"；引用 Prefect 密钥块 {len(blocks)} 个，均可读取"
    return Check(name, "pass", where)


Fetch = Callable[[urllib.request.Request], int]


def _status(request: urllib.request.Request) -> int:
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def prefect_api(env: Mapping[str, str], fetch: Fetch = _status) -> Check:
    """Reachable when configured; and refusing a request without credentials."""
    import base64

    name = "Prefect 服务（PREFECT_API_URL）"
    url = env.get("PREFECT_API_URL", "").rstrip("/")
    if not url:
        return Check(
            name,
            "pass",
            "未配置：命令行运行时临时启动本地服务；生产环境请按 docs/operations.md 配置常驻服务",
        )
    probe = f"{url}/admin/version"
    auth = env.get("PREFECT_API_AUTH_STRING", "")
    request = urllib.request.Request(probe)
    if auth:
        token = base64.b64encode(auth.encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        code = fetch(request)
    except OSError as exc:
        return Check(
            name,
            "fail",
            f"{url} 无法连接（{type(exc).__name__}）",
            "启动 Prefect 服务（docs/operations.md），或更正 PREFECT_API_URL。",
        )
    if code in (401, 403):
        return Check(
            name,
            "fail",
            f"{url} 拒绝了访问（HTTP {code}）",
            "把服务的口令（PREFECT_SERVER_API_AUTH_STRING）同样设为 PREFECT_API_AUTH_STRING。",
        )
    if code != 200:
        return Check(
            name, "fail", f"{url} 答复 HTTP {code}", "检查 PREFECT_API_URL 是否以 /api 结尾。"
        )
    try:
        anonymous = fetch(urllib.request.Request(probe))
    except OSError:
        anonymous = 0
    if anonymous == 200:
        return Check(
            name,
            "warn",
            f"{url} 可以连接，但不需口令即可访问",
            "任何能访问该地址的人都可以启动或取消运行：按 docs/operations.md 为服务设置"
            " PREFECT_SERVER_API_AUTH_STRING，并只监听 127.0.0.1 或置于反向代理之后。",
        )
    return Check(name, "pass", f"{url} 可以连接，且需要口令")


def run_checks(settings: Settings, db_setting: str, env: Mapping[str, str]) -> list[Check]:
    """Every check, in the order a new machine is set up; one that raises is a failure."""
    steps: list[tuple[str, Callable[[], Check]]] = [
        ("Python 与依赖包", python_and_packages),
        ("数据仓库", lambda: warehouse(settings, db_setting)),
        ("工作目录（FUPIN_HOME）", lambda: home_writable(settings)),
        ("收件目录（FUPIN_INBOX）", lambda: inbox_readable(settings)),
        ("PDF 中文字体", cjk_font),
        ("Chromium（PDF 备用引擎、浏览器测试）", chromium),
        ("预警渠道（FUPIN_CHANNELS_FILE）", lambda: channels(settings)),
        ("Prefect 服务（PREFECT_API_URL）", lambda: prefect_api(env)),
    ]
    out = []
    for name, step in steps:
        try:
            out.append(step())
        except Exception as exc:  # a check must not stop the others
            out.append(
                Check(name, "fail", f"检查本身出错（{type(exc).__name__}）", "请联系系统管理员。")
            )
    return out


def lines(checks: list[Check]) -> list[str]:
    out = []
    for c in checks:
        out.append(f"[{SHOWN[c.status]}] {c.name}：{c.found}")
        if c.action and c.status != "pass":
            out.append(f"        处理办法：{c.action}")
    failed = sum(c.status == "fail" for c in checks)
    warned = sum(c.status == "warn" for c in checks)
    out.append(
        f"共 {len(checks)} 项：通过 {len(checks) - failed - warned}，注意 {warned}，未通过 {failed}。"
        + ("" if failed else "本机可以运行 fupin。")
    )
    return out


def exit_code(checks: list[Check]) -> int:
    return 2 if any(c.status == "fail" for c in checks) else 0
