"""`fupin`: one entry point over the same flows the orchestrator runs.

Exit codes (outputs.md), so that a scheduler can act on the code alone:
- 0 success;
- 1 the run finished but something needs a person (files quarantined, rejected or held for
  the office, a rule failed, alerts failed);
- 2 usage or configuration error: a Chinese message naming the setting and what to do, no
  traceback.  `main` checks the settings a command needs before it starts (`flows.preflight`):
  the warehouse (FUPIN_DATABASE_URL or --db) can be reached, FUPIN_HOME can be written,
  FUPIN_POLICY_FILE and FUPIN_CHANNELS_FILE can be read, the inbox can be read, and a
  warehouse holds a finished nightly run for the commands that report on one.  So a database
  that does not exist, a wrong password or an unreachable server is 2, while the same error
  in the middle of a run is 3;
- 3 the run failed: the message names the run (its id in the `run` table) and the log file
  under `$FUPIN_HOME/logs/` holding the traceback (IDs, phones and URL passwords masked);
  nothing of the traceback goes to the terminal (`flows.failures`).
What each command does is `flows.commands`; here are its arguments and `main`.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import gc
import logging
import os
import sys
from collections.abc import Iterator
from datetime import UTC, date, datetime

from flows.commands import (
    cmd_accept,
    cmd_alerts,
    cmd_changes,
    cmd_db,
    cmd_demo,
    cmd_doctor,
    cmd_export,
    cmd_generate,
    cmd_nightly,
    cmd_report,
    cmd_serve,
    cmd_snapshot,
)
from flows.exit_codes import OK, USAGE, ConfigError
from flows.failures import run_failed, terse_console
from flows.preflight import RUNS_FLOWS, preflight
from flows.runtime import one_off_runs, prefect_defaults


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"日期格式应为 YYYY-MM-DD：{text}") from exc


# ---------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="fupin", description="南雄市精准扶贫数据核查（夜间核查、报告、预警、归档）"
    )
    p.add_argument(
        "--db", help="数据仓库地址（默认 FUPIN_DATABASE_URL 或 FUPIN_HOME 下的 SQLite 文件）"
    )
    sub = p.add_subparsers(dest="command", required=True)

    g = sub.add_parser("generate", help="生成模拟的南雄市数据（收件目录与标准答案）")
    g.add_argument("--out", required=True)
    g.add_argument("--scale", type=float, default=1.0)
    g.add_argument("--seed", type=int, default=20161010)
    g.add_argument(
        "--as-of",
        type=_date,
        default=None,
        help="数据截至日期（默认 2018-06-30；按月时为第一晚，默认 2018-01-31）",
    )
    g.add_argument("--months", type=int, help="生成按月的多晚报送（每月末一晚）及每晚的标准答案")
    g.add_argument(
        "--counties",
        help="生成多个县的市级数据：逗号分隔的县级区划代码（如 440282,440281），每县一个收件子目录，医保名册与结算明细全市一份",
    )
    g.add_argument("--city", action="store_true", help="生成韶关市全部十个县（区）的数据")
    g.set_defaults(func=cmd_generate)

    n = sub.add_parser("nightly", help="立即运行一次夜间核查")
    n.add_argument("--inbox", required=True)
    n.add_argument("--as-of", type=_date, default=None)
    n.add_argument(
        "--workers",
        type=int,
        default=None,
        help="多县收件目录：本机 Dask 工作进程数（默认 2；0 为单进程逐县运行）；"
        "设置 FUPIN_DASK_ADDRESS 则使用已有的 Dask 集群",
    )
    n.set_defaults(func=cmd_nightly)

    e = sub.add_parser(
        "export", help="导出核查发现、数据质量问题或考核指标（CSV，Excel可直接打开）"
    )
    e.add_argument("what", choices=["findings", "issues", "indicators"])
    e.add_argument("--out")
    e.set_defaults(func=cmd_export)

    r = sub.add_parser("report", help="生成考核报告或问责通报")
    r.add_argument("kind", choices=["assessment", "accountability"])
    r.add_argument("--period", required=True, help="考核期，如 2017H2（半年）或 2017（全年）")
    r.add_argument("--township", help="只生成某一镇（街道），如 珠玑镇")
    r.add_argument("--format", default="html", help="html,pdf,xlsx 中的一种或多种，逗号分隔")
    r.add_argument("--out", help="输出目录（默认 $FUPIN_HOME/reports）")
    r.set_defaults(func=cmd_report)

    a = sub.add_parser("alerts", help="发送（或预览）最近一次夜间核查的乡镇数据质量预警")
    a.add_argument(
        "--dry-run", action="store_true", help="只生成整改清单并显示将发送的内容，不发送"
    )
    a.add_argument("--run-id", type=int, help="按指定的夜间核查运行发送（默认最近一次）")
    a.set_defaults(func=cmd_alerts)

    s = sub.add_parser("snapshot", help="年度归档：生成（create）、校验（verify）、列出（list）")
    s.add_argument("action", choices=["create", "verify", "list"])
    s.add_argument("year", nargs="?", type=int, help="年度，如 2017（create 与 verify 必填）")
    s.add_argument(
        "--format", default="html,pdf,xlsx", help="归档报告的格式（create），默认 html,pdf,xlsx"
    )
    s.set_defaults(func=cmd_snapshot)

    v = sub.add_parser(
        "serve", help="注册并运行全部定时与按需部署（夜间核查、报告、预警、年度归档）"
    )
    v.add_argument("--inbox", help="夜间核查的收件目录（默认 FUPIN_INBOX 或 $FUPIN_HOME/inbox）")
    v.set_defaults(func=cmd_serve)

    c = sub.add_parser("changes", help="某镇（街道）最近两次报送的花名册有何变化")
    c.add_argument("township", help="镇（街道）名称或代码，如 珠玑镇")
    c.add_argument("--out", help="把全部变化写成 CSV")
    c.add_argument("--show", type=int, default=20, help="屏幕上列出的条数")
    c.set_defaults(func=cmd_changes)

    ac = sub.add_parser(
        "accept", help="列出待确认的报送文件，或确认启用其中一份（记录操作人和理由）"
    )
    ac.add_argument("file", nargs="?", help="文件编号（如 12 或 #12）或文件名；不填则列出")
    ac.add_argument("--reason", help="启用的理由（记录在案）")
    ac.set_defaults(func=cmd_accept)

    dr = sub.add_parser(
        "doctor",
        help="检查本机能否运行 fupin：依赖、数据仓库、目录、中文字体、预警渠道、Prefect 服务",
    )
    dr.set_defaults(func=cmd_doctor)

    w = sub.add_parser(
        "db", help="数据仓库表结构：upgrade 升级到本程序的版本，current 查看当前版本"
    )
    w.add_argument("action", choices=["upgrade", "current"])
    w.set_defaults(func=cmd_db)

    d = sub.add_parser("demo", help="生成全市规模的模拟数据，运行夜间核查并生成全部报告")
    d.add_argument("--scale", type=float, default=1.0)
    d.add_argument("--seed", type=int, default=20161010)
    d.add_argument("--as-of", type=_date, default=date(2018, 6, 30))
    d.set_defaults(func=cmd_demo)
    return p


@contextlib.contextmanager
def _database_from(args: argparse.Namespace) -> Iterator[None]:
    """--db, for the command's duration, as FUPIN_DATABASE_URL: flows read the warehouse from
    the environment, never from a parameter Prefect would store and show."""
    url = getattr(args, "db", None)
    if not url:
        yield
        return
    before = os.environ.get("FUPIN_DATABASE_URL")
    os.environ["FUPIN_DATABASE_URL"] = url
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("FUPIN_DATABASE_URL", None)
        else:
            os.environ["FUPIN_DATABASE_URL"] = before


def main(argv: list[str] | None = None) -> int:
    """Run one command; the one place where failures become exit codes (module docstring)."""
    prefect_defaults()
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return USAGE if exc.code else OK
    started = datetime.now(UTC)
    try:
        with _database_from(args), terse_console(prefect=args.command in RUNS_FLOWS):
            preflight(args)
            if args.command in RUNS_FLOWS - {"serve"}:  # served runs keep Prefect's heartbeat
                with one_off_runs():
                    return int(args.func(args))
            return int(args.func(args))
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return USAGE
    except Exception as exc:
        from reports.fonts import NoCjkFont  # here: `fupin --help` stays free of polars

        if isinstance(exc, NoCjkFont):  # what to install, not a failed run
            print(str(exc), file=sys.stderr)
            return USAGE
        return run_failed(args, argv, exc, started)


def run() -> None:
    """The `fupin` command: `main`, then an exit that skips the interpreter's teardown.

    By the time the last atexit hook runs, every file a command wrote is closed, and the
    other hooks (Prefect's drain of logs and events to its API, logging's flush, temporary
    folders, Dask's child processes) have run, since hooks run last-registered first and
    ours is registered before any of them.  What the teardown would still do, freeing the
    objects of some 2,000 modules one by one, took 0.45 s of a 4 s "nothing new" night."""
    # Collect young objects every 10,000 allocations rather than 700: importing Prefect, GX
    # and SQLAlchemy builds some 400,000 long-lived objects, and the default threshold sent
    # the collector through them often enough to cost 0.3 s of a 4 s night (measured).  A
    # command's data lives in polars frames, outside the collector's counts.
    gc.set_threshold(10_000, *gc.get_threshold()[1:])
    finished: list[int] = []
    atexit.register(_exit_now, finished)
    code = main()
    finished.append(code)
    sys.exit(code)


def _exit_now(finished: list[int]) -> None:
    if not finished:  # `main` did not return (an interrupt): the usual exit
        return
    logging.shutdown()  # its own hook was registered before ours, on import
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(finished[0])


if __name__ == "__main__":
    run()
