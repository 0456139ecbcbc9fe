"""What each command needs before it starts, checked before it does (`preflight`): FUPIN_HOME
can be written, the policy and channel files can be read, the inbox can be read, the warehouse
can be reached, is at this version's schema and holds a finished nightly run, as the command
needs.  A setting that cannot work is a `ConfigError` (exit code 2) naming it, in Chinese."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from flows.exit_codes import ConfigError
from flows.warehouse_words import masked_url as _masked_url
from flows.warehouse_words import unreachable as _unreachable

# What each command needs before it starts (the rest need nothing but their arguments).
NEEDS_HOME = {
    "nightly",
    "export",
    "report",
    "alerts",
    "snapshot",
    "serve",
    "changes",
    "accept",
    "demo",
    "db",
}
NEEDS_WAREHOUSE = NEEDS_HOME
NEEDS_NIGHTLY = {"alerts", "export", "report"}  # they report on what a nightly run found
RUNS_FLOWS = {"nightly", "report", "alerts", "snapshot", "serve", "demo"}  # Prefect logs
NEEDS_CHANNELS = {"alerts"}
# They read, or change only a file's status: they never migrate the warehouse, and refuse one
# whose schema is not this version's (`fupin db upgrade`; nightly and serve upgrade it).
NEEDS_CURRENT_SCHEMA = {"export", "report", "changes", "accept"}


def db_setting(args: argparse.Namespace) -> str:
    """The setting that chose the warehouse."""
    if getattr(args, "db", None):
        return "--db"
    if os.environ.get("FUPIN_DATABASE_URL"):
        return "FUPIN_DATABASE_URL"
    return "FUPIN_DATABASE_URL 未设置，默认 FUPIN_HOME 下的 fupin.db"


def _check_warehouse(args: argparse.Namespace, url: str, needs_nightly: bool) -> None:
    """The warehouse can be reached (and, for `needs_nightly`, holds a finished nightly run);
    nothing in it is created or changed here (SQLite makes an empty file of a new one)."""
    from sqlalchemy import exc as sa_exc

    from warehouse import db

    setting, shown = db_setting(args), _masked_url(url)
    try:
        engine = db.connect(url)
    except (ValueError, sa_exc.ArgumentError, sa_exc.NoSuchModuleError, ImportError):
        raise ConfigError(
            f"数据仓库地址无法使用（{setting}：{shown}）：应为 sqlite:///文件路径 或 "
            "postgresql://用户:密码@主机:端口/数据库。请更正该设置。"
        ) from None
    except OSError:
        raise ConfigError(
            f"无法创建数据仓库所在的目录（{setting}：{shown}）：请检查目录权限，或更正该设置。"
        ) from None
    try:
        with engine.connect() as conn:
            if not needs_nightly:
                return
            finished = db.finished_run_exists(conn, "nightly")
    except sa_exc.DBAPIError as exc:
        raise ConfigError(
            f"无法连接数据仓库（{setting}：{shown}）：{_unreachable(exc)}。"
            f"更正 {setting.split(' ')[0]} 后重试。"
        ) from None
    finally:
        engine.dispose()
    if not finished:
        raise ConfigError(
            f"数据仓库（{setting}：{shown}）中还没有完成的夜间核查。请先运行："
            "fupin nightly --inbox 收件目录；如已运行过，请检查该设置是否指向正确的数据仓库。"
        )


def _check_schema(args: argparse.Namespace, url: str) -> None:
    """The warehouse is at this version's schema (read only: nothing is migrated here)."""
    from warehouse import db

    engine = db.connect(url)
    try:
        at, head = db.revision_of(engine), db.head_revision()
    finally:
        engine.dispose()
    if at != head:
        raise ConfigError(
            f"数据仓库（{db_setting(args)}：{_masked_url(url)}）的表结构是 {at or '空库'}，"
            f"本程序需要 {head}。请先备份数据仓库，再运行 fupin db upgrade（夜间核查也会自动升级）。"
        )


def _check_readable_dir(path: Path, setting: str, what: str) -> None:
    if path.exists() and not (path.is_dir() and os.access(path, os.R_OK | os.X_OK)):
        raise ConfigError(
            f"{what}无法读取（{setting}：{path}）：不是目录或没有读取权限。请更正该设置或目录权限。"
        )


def preflight(args: argparse.Namespace) -> None:
    """The settings `args.command` needs, checked before it starts: ConfigError if one
    cannot work."""
    command = args.command
    if command not in NEEDS_HOME:
        return
    from config.settings import load_policy, load_settings, value_limits

    settings = load_settings(args.db)
    try:
        settings.home.mkdir(parents=True, exist_ok=True)
        writable = os.access(settings.home, os.W_OK | os.X_OK)
    except OSError:
        writable = False
    if not writable:
        raise ConfigError(
            f"工作目录无法创建或写入（FUPIN_HOME：{settings.home}）。"
            "请把 FUPIN_HOME 设为本用户可写的目录（默认 ./var），或更正目录权限。"
        )
    try:
        load_policy(settings.policy_file)
        value_limits(settings.policy_file)
    except Exception as exc:
        raise ConfigError(
            f"政策参数文件无法读取（FUPIN_POLICY_FILE：{settings.policy_file}，"
            f"{type(exc).__name__}）。请更正该设置，或参照 config/policy.toml 修改文件。"
        ) from None
    if command in NEEDS_CHANNELS:
        from flows.alerts import AlertsConfigError, load_channels

        try:
            load_channels(settings.channels_file)
        except AlertsConfigError as exc:
            raise ConfigError(f"{exc}（设置：FUPIN_CHANNELS_FILE）") from None
    if command == "nightly":
        _check_readable_dir(Path(args.inbox), "--inbox", "收件目录")
    if command == "serve":
        setting = "--inbox" if args.inbox else "FUPIN_INBOX"
        _check_readable_dir(Path(args.inbox) if args.inbox else settings.inbox, setting, "收件目录")
    if command in NEEDS_WAREHOUSE:
        _check_warehouse(args, settings.database_url, command in NEEDS_NIGHTLY)
    if command in NEEDS_CURRENT_SCHEMA:
        _check_schema(args, settings.database_url)
