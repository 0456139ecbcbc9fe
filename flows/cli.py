"""`fupin`: one entry point over the same flows the orchestrator runs.

Exit codes (outputs.md), so that a scheduler can act on the code alone:
- 0 success;
- 1 the run finished but something needs a person (files quarantined, rejected or held for
  the office, a rule failed, alerts failed);
- 2 usage or configuration error: a Chinese message naming the setting and what to do, no
  traceback.  `main` checks the settings a command needs before it starts (`_preflight`):
  the warehouse (FUPIN_DATABASE_URL or --db) can be reached, FUPIN_HOME can be written,
  FUPIN_POLICY_FILE and FUPIN_CHANNELS_FILE can be read, the inbox can be read, and a
  warehouse holds a finished nightly run for the commands that report on one.  So a database
  that does not exist, a wrong password or an unreachable server is 2, while the same error
  in the middle of a run is 3;
- 3 the run failed: the message names the run (its id in the `run` table) and the log file
  under `$FUPIN_HOME/logs/` holding the traceback (IDs, phones and URL passwords masked);
  nothing of the traceback goes to the terminal.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
import traceback
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from flows.runtime import prefect_defaults
from flows.warehouse_words import masked_url as _masked_url
from flows.warehouse_words import unreachable as _unreachable

OK, NEEDS_PERSON, USAGE, FAILED = 0, 1, 2, 3


class ConfigError(Exception):
    """A setting keeps a command from starting (exit code 2); the message, in Chinese, names
    the setting and says what to do."""


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"日期格式应为 YYYY-MM-DD：{text}") from exc


def _settings(args: argparse.Namespace):
    from config.settings import load_settings

    return load_settings(getattr(args, "db", None))


# ---------------------------------------------------------------- commands
def cmd_generate(args: argparse.Namespace) -> int:
    out = Path(args.out)
    if args.months is not None:
        from generator import params as generator_defaults
        from generator.timeline import generate_timeline

        if args.months < 1:
            print("--months 至少为 1", file=sys.stderr)
            return USAGE
        start = args.as_of or generator_defaults.TIMELINE_START
        summary = generate_timeline(out, args.scale, args.seed, start, args.months)
        print(
            f"已生成 {args.months} 个月的模拟报送（每月末一晚）：{out / 'nights'}，"
            f"说明 {out / 'timeline.json'}；每晚的收件见 nights/NN/inbox，标准答案见 nights/NN/truth。"
        )
    else:
        from generator import generate
        from generator.params import SINGLE_NIGHT

        summary = generate(out, scale=args.scale, seed=args.seed, as_of=args.as_of or SINGLE_NIGHT)
        print(f"已生成模拟数据：{out / 'inbox'}（标准答案：{out / 'truth'}）")
    print(json.dumps(summary, ensure_ascii=False, indent=1, default=str))
    return OK


def cmd_nightly(args: argparse.Namespace) -> int:
    from flows.nightly import nightly

    inbox = Path(args.inbox)
    if not inbox.is_dir():
        print(
            f"收件目录不存在：{inbox}。请用 --inbox 指定包含 townships/ dibao/ insurance/ claims/ 的目录。",
            file=sys.stderr,
        )
        return USAGE
    # The warehouse comes from the environment (`main` puts --db there): a flow parameter
    # would show the URL, password included, on the run page and keep it in Prefect.
    result = nightly(str(inbox), args.as_of.isoformat() if args.as_of else None)
    _print_run(result)
    if "alerts" in result and result["alerts"] is None:  # the channel file could not be used
        print(
            "预警未发送：预警渠道配置文件不存在或有误（FUPIN_CHANNELS_FILE）。"
            "更正后发送本次预警：fupin alerts",
            file=sys.stderr,
        )
        return NEEDS_PERSON
    return NEEDS_PERSON if result["needs_attention"] else OK


def _print_run(result: dict[str, Any]) -> None:
    files = result["files"]
    print(
        f"夜间核查完成（运行 #{result['run_id']}，截至 {result['as_of']}）："
        f"新接收文件 {files['accepted']} 个，重复 {files['duplicate']} 个，"
        f"待确认 {files['held']} 个，隔离 {files['quarantined']} 个，退回 {files['rejected']} 个"
        + (f"，未读取（不属于任何来源）{files['ignored']} 个" if files.get("ignored") else "")
        + "。"
    )
    f, i = result["findings"], result["issues"]
    print(
        f"核查发现：新增 {f['new']}，仍未整改 {f['still_open']}，重新出现 {f['reopened']}，已整改 {f['resolved']}。"
    )
    print(
        f"数据质量问题：新增 {i['new']}，仍未整改 {i['still_open']}，重新出现 {i['reopened']}，已整改 {i['resolved']}。"
    )
    labels = {"quarantined": "已隔离", "rejected": "已退回", "held": "待确认", "ignored": "未读取"}
    for o in result["outcomes"]:
        if o["status"] in labels:
            number = f"（#{o['file_id']}）" if o["file_id"] is not None else ""
            print(f"  {labels[o['status']]}：{o['rel_path']}{number}—— {o['reason']}")
    if files["held"]:
        print("待确认的文件未启用，在用数据不变。核实后启用：fupin accept 编号 --reason 理由")
    for rule, why in f.get("rules_failed", {}).items():
        print(f"  规则{rule}执行出错（{why}），本次未更新该规则的核查结果，请联系系统管理员。")
    for rule, n in f.get("rules_keyless", {}).items():
        print(f"  规则{rule}有 {n} 条结果缺少主键，未入库，请联系系统管理员。")
    alerts = result.get("alerts")
    if alerts:
        print(
            f"预警：发送 {alerts['sent']} 条，失败 {alerts['failed']} 条，"
            f"与上次相同未重发 {alerts['unchanged']} 条。"
            + ("失败的渠道见 fupin alerts --dry-run 与运行日志。" if alerts["failed"] else "")
        )
    for path in result.get("reports", []):
        print(f"报告：{path}")
    if result.get("timings"):
        from flows.nightly import stage_line

        print(stage_line(result))


def cmd_export(args: argparse.Namespace) -> int:
    from flows.export import export

    out = Path(args.out) if args.out else _settings(args).exports_dir / f"{args.what}.csv"
    rows = export(args.what, out, args.db)
    print(f"已导出 {rows} 行：{out}")
    return OK


def cmd_report(args: argparse.Namespace) -> int:
    from config.private import private_dir
    from config.settings import load_resources
    from flows.report import build_report
    from transforms.indicators import parse_period
    from warehouse import db

    formats = [f.strip().lower() for f in args.format.split(",") if f.strip()]
    unknown = sorted(set(formats) - {"html", "pdf", "xlsx"})
    if unknown:
        print(f"不支持的格式：{'、'.join(unknown)}（可选 html、pdf、xlsx）", file=sys.stderr)
        return USAGE
    try:
        period = parse_period(args.period).label
    except ValueError:
        print(f"考核期格式应为 2017H2 或 2017：{args.period}", file=sys.stderr)
        return USAGE
    if "pdf" in formats:
        from reports.fonts import required_font

        required_font()  # NoCjkFont (exit 2) before any work, not a PDF of boxes
    settings = _settings(args)
    engine = db.connect(settings.database_url, cache_dir=settings.row_cache_dir)
    out = Path(args.out) if args.out else private_dir(settings.reports_dir)
    try:
        paths = build_report(
            engine,
            args.kind,
            period,
            args.township,
            formats,
            out,
            resources=load_resources(settings),
        )
    except ValueError as exc:  # an unknown township: the message lists the valid names
        print(str(exc), file=sys.stderr)
        return USAGE
    for path in paths:
        print(f"已生成：{path}")
    return OK


def cmd_alerts(args: argparse.Namespace) -> int:
    from flows.alerts import AlertsConfigError, send_alerts, summary_lines

    try:
        result = send_alerts(dry_run=args.dry_run, run_id=args.run_id)  # --db: in the env
    except AlertsConfigError as exc:
        print(exc, file=sys.stderr)
        return USAGE
    print("\n".join(summary_lines(result)))
    return NEEDS_PERSON if result["failed"] else OK


def cmd_changes(args: argparse.Namespace) -> int:
    from flows.export import township_changes

    out = Path(args.out) if args.out else None
    try:
        changes = township_changes(args.township, out, args.db)
    except ValueError as exc:
        print(str(exc), file=sys.stderr)
        return USAGE
    counts = {k: int((changes["change"] == k).sum()) for k in ("新增", "删除", "变更")}
    print(
        f"{args.township}最近两次报送的花名册相比：新增 {counts['新增']} 人，删除 {counts['删除']} 人，变更 {counts['变更']} 人。"
    )
    for row in changes.head(args.show).iter_rows(named=True):
        print(
            f"  {row['change']} 户编号{row['household_id']} {row['name_masked']}（{row['id_masked']}）{row['fields'] or ''}"
        )
    if out is not None:
        print(f"明细：{out}")
    return OK


def cmd_accept(args: argparse.Namespace) -> int:
    from flows.submissions import NotHeld, held_files, release

    if args.file is None:
        held = held_files(args.db)
        if held.is_empty():
            print("没有待确认的报送文件。")
            return OK
        print(f"待确认的报送文件 {held.height} 份（启用：fupin accept 编号 --reason 理由）：")
        for r in held.iter_rows(named=True):
            print(f"  #{r['id']} {r['township'] or r['source']}《{r['name']}》—— {r['reason']}")
        return OK
    try:
        done = release(args.file, args.reason, args.db)
    except NotHeld as exc:
        print(str(exc), file=sys.stderr)
        return USAGE
    replaced = "、".join(f"#{i}" for i in done["replaced"]) or "无"
    print(
        f"已启用 #{done['id']}《{done['name']}》，替代在用文件：{replaced}。{done['detail']}。"
        "下次夜间核查起按此文件核查（立即生效：fupin nightly --inbox 收件目录）。"
    )
    return OK


def cmd_demo(args: argparse.Namespace) -> int:
    from flows.export import export
    from flows.nightly import nightly
    from generator import generate

    settings = _settings(args)
    target = settings.home / "demo"
    print(f"生成模拟南雄市数据（规模 {args.scale}）……")
    generate(target, scale=args.scale, seed=args.seed, as_of=args.as_of)
    print("运行夜间核查……")
    result = nightly(str(target / "inbox"), args.as_of.isoformat(), formats=["html", "pdf", "xlsx"])
    _print_run(result)
    for what in ("findings", "issues"):
        out = settings.exports_dir / f"{what}.csv"
        rows = export(what, out, settings.database_url)
        print(f"已导出{'核查发现' if what == 'findings' else '数据质量问题'} {rows} 行：{out}")
    return OK


def cmd_snapshot(args: argparse.Namespace) -> int:
    from flows.snapshot import SnapshotError, create_snapshot, list_snapshots, verify_snapshot

    if args.action in ("create", "verify") and args.year is None:
        print(f"请指定年度，如：fupin snapshot {args.action} 2017", file=sys.stderr)
        return USAGE
    try:
        if args.action == "create":
            formats = [f.strip().lower() for f in args.format.split(",") if f.strip()]
            unknown = sorted(set(formats) - {"html", "pdf", "xlsx"})
            if unknown or not formats:
                print(
                    f"不支持的格式：{'、'.join(unknown) or '（空）'}（可选 html、pdf、xlsx）",
                    file=sys.stderr,
                )
                return USAGE
            print(f"正在生成{args.year}年年度归档……")
            made = create_snapshot(args.year, args.db, formats=formats)
            print(f"{args.year}年年度归档已生成：{made.path}")
            print("归档表（行数）：" + "，".join(f"{k} {v}" for k, v in made.rows.items()))
            for path in made.reports:
                print(f"报告：{path}")
            print(f"清单 manifest.json 的 SHA-256：{made.manifest_sha256}（已登记在数据仓库）")
            print(f"程序版本：{made.code_version}。核对归档：fupin snapshot verify {args.year}")
            return OK
        if args.action == "verify":
            result = verify_snapshot(args.year, args.db)
            print("\n".join(result.lines()))
            return OK if result.ok else NEEDS_PERSON
        rows = list_snapshots(args.db)
    except SnapshotError as exc:
        print(exc, file=sys.stderr)
        return USAGE
    if not rows:
        print("尚无年度归档。年末生成：fupin snapshot create 年度")
        return OK
    print("年度  生成时间          数据截至    文件数  程序版本                  归档目录")
    for r in rows:
        where = r["path"] if r["present"] else f"{r['path']}（目录不存在！）"
        print(
            f"{r['year']}  {r['created']}  {r['as_of'] or '—':10}  {r['files']:>6}  "
            f"{r['code_version']:24}  {where}"
        )
    return OK


def cmd_serve(args: argparse.Namespace) -> int:
    from prefect.settings import get_current_settings

    from flows.deployments import (
        ALERTS,
        NIGHTLY,
        NIGHTLY_CRON,
        REPORT,
        SNAPSHOT,
        SNAPSHOT_CRON,
        TIMEZONE,
        default_inbox,
        serve_all,
    )

    inbox = str(Path(args.inbox).resolve()) if args.inbox else default_inbox()
    if not get_current_settings().api.url:
        print(
            "提示：未设置 PREFECT_API_URL，将使用临时的内置 Prefect 服务（无界面，停止后运行记录不保留）。"
            "生产环境请先启动 prefect server 并设置 PREFECT_API_URL（见 docs/operations.md）。",
            file=sys.stderr,
        )
    if not Path(inbox).is_dir():
        print(
            f"提示：收件目录不存在：{inbox}（FUPIN_INBOX 或 --inbox）；夜间核查将在其出现前失败。",
            file=sys.stderr,
        )
    print(f"注册并运行部署（时区 {TIMEZONE}，按 Ctrl+C 停止；停止不会暂停定时计划）：")
    print(f"  {NIGHTLY}  定时 {NIGHTLY_CRON}，收件目录 {inbox}，同时只运行一次")
    print(f"  {REPORT}  按需")
    print(f"  {ALERTS}  按需")
    print(f"  {SNAPSHOT}  定时 {SNAPSHOT_CRON}，也可按需（参数 year）")
    with contextlib.suppress(KeyboardInterrupt):
        serve_all(inbox)
    return OK


def cmd_doctor(args: argparse.Namespace) -> int:
    from flows.doctor import exit_code, lines, run_checks

    checks = run_checks(_settings(args), _db_setting(args), os.environ)
    print("\n".join(lines(checks)))
    return exit_code(checks)


def cmd_db(args: argparse.Namespace) -> int:
    from warehouse import db

    engine = db.connect(_settings(args).database_url)
    try:
        before, head = db.revision_of(engine), db.head_revision()
        if args.action == "current":
            state = "最新" if before == head else f"需要升级到 {head}（fupin db upgrade）"
            print(f"数据仓库表结构：{before or '尚未建表'}（{state}）")
            return OK if before == head else NEEDS_PERSON
        db.upgrade(engine)
        after = db.revision_of(engine)
    finally:
        engine.dispose()
    if before == after:
        print(f"数据仓库表结构已是最新（{after}），未作改动。")
    else:
        print(f"数据仓库表结构已从 {before or '空库'} 升级到 {after}。")
    return OK


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
    g.set_defaults(func=cmd_generate)

    n = sub.add_parser("nightly", help="立即运行一次夜间核查")
    n.add_argument("--inbox", required=True)
    n.add_argument("--as-of", type=_date, default=None)
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


# ---------------------------------------------------------------- failures → exit codes
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
_DOING = {
    "generate": "生成模拟数据",
    "nightly": "夜间核查",
    "export": "导出",
    "report": "生成报告",
    "alerts": "发送预警",
    "snapshot": "年度归档",
    "serve": "部署服务",
    "changes": "比对报送变化",
    "accept": "启用报送文件",
    "demo": "演示",
}


def _db_setting(args: argparse.Namespace) -> str:
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

    setting, shown = _db_setting(args), _masked_url(url)
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
            f"数据仓库（{_db_setting(args)}：{_masked_url(url)}）的表结构是 {at or '空库'}，"
            f"本程序需要 {head}。请先备份数据仓库，再运行 fupin db upgrade（夜间核查也会自动升级）。"
        )


def _check_readable_dir(path: Path, setting: str, what: str) -> None:
    if path.exists() and not (path.is_dir() and os.access(path, os.R_OK | os.X_OK)):
        raise ConfigError(
            f"{what}无法读取（{setting}：{path}）：不是目录或没有读取权限。请更正该设置或目录权限。"
        )


def _preflight(args: argparse.Namespace) -> None:
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


def _failed_runs_since(args: argparse.Namespace, started: datetime) -> list[int]:
    """Runs recorded as failed since `started` (a flow that records its runs and failed)."""
    from config.settings import load_settings
    from warehouse import db

    try:
        engine = db.connect(load_settings(args.db).database_url)
        try:
            return db.failed_runs_since(engine, started)
        finally:
            engine.dispose()
    except Exception:
        return []


def _write_log(
    args: argparse.Namespace, argv: list[str], exc: BaseException, runs: list[int]
) -> Path:
    """The traceback of a failed command, IDs, phones and URL passwords masked, in a file
    under $FUPIN_HOME/logs/ (the system's temporary directory when that cannot be written)."""
    import tempfile

    from config.private import open_private, private_dir
    from config.settings import load_settings
    from transforms.privacy import scrub_error

    now = datetime.now(UTC)
    shown = [_masked_url(a) if "://" in a else a for a in argv]
    lines = [
        f"fupin {' '.join(shown)}",
        f"time: {now.isoformat(timespec='seconds')}",
        f"runs: {', '.join(f'#{r}' for r in runs) or '-'}",
        "",
        "".join(traceback.format_exception(exc)),
    ]
    body = scrub_error("\n".join(lines), limit=10**9)
    name = f"fupin-{now:%Y%m%d-%H%M%S}-{args.command}" + (f"-run{runs[-1]}" if runs else "")
    for folder in (
        load_settings(args.db).home / "logs",
        Path(tempfile.gettempdir()) / "fupin-logs",
    ):
        try:
            path = private_dir(folder) / f"{name}-{os.getpid()}.log"
            with open_private(path, "w", encoding="utf-8") as out:
                out.write(body)
            return path
        except OSError:
            continue
    raise OSError("no folder to write the log to")


def _run_failed(
    args: argparse.Namespace, argv: list[str], exc: BaseException, started: datetime
) -> int:
    own = getattr(exc, "fupin_run_id", None)
    runs = [own] if isinstance(own, int) else _failed_runs_since(args, started)
    try:
        log = str(_write_log(args, argv, exc, runs))
    except Exception:
        log = "（日志文件无法写入）"
    which = "、".join(f"#{r}" for r in runs)
    doing = _DOING.get(args.command, args.command)
    run = f"运行 {which} 失败" if runs else "运行失败"
    print(
        f"{doing}{run}（{type(exc).__name__}）。完整的出错信息已写入日志：{log}。"
        f"在用数据不受影响；请把日志交给系统管理员，排除问题后重新运行：fupin {args.command}。",
        file=sys.stderr,
    )
    return FAILED


class _Terse(logging.Formatter):
    """A console handler's formatter, wrapped: the line without its traceback, IDs, phones
    and URL passwords masked (the traceback of a failed run goes to its log file)."""

    def __init__(self, inner: logging.Formatter | None) -> None:
        super().__init__()
        self.inner = inner or logging.Formatter()

    def format(self, record: logging.LogRecord) -> str:
        from transforms.privacy import scrub_error

        saved = record.exc_info, record.exc_text, record.stack_info
        record.exc_info, record.exc_text, record.stack_info = None, None, None
        try:
            return scrub_error(self.inner.format(record), limit=10**6)
        finally:
            record.exc_info, record.exc_text, record.stack_info = saved


@contextlib.contextmanager
def _terse_console(prefect: bool = True) -> Iterator[None]:
    """While a command runs, what Prefect (and anything else) logs to the terminal carries
    no traceback and no unmasked ID; file and API handlers are left as they are.  Prefect's
    handlers are set up first (`prefect`: the command runs flows or reads Prefect settings),
    so that they are among those wrapped."""
    if prefect:
        from prefect.logging.configuration import ensure_logging_setup

        ensure_logging_setup()
    loggers = [logging.getLogger()] + [
        lg for lg in logging.root.manager.loggerDict.values() if isinstance(lg, logging.Logger)
    ]
    wrapped: list[tuple[logging.Handler, logging.Formatter | None]] = []
    for logger in loggers:
        for handler in logger.handlers:
            console = isinstance(handler, logging.StreamHandler) and not isinstance(
                handler, logging.FileHandler
            )
            if console and not isinstance(handler.formatter, _Terse):
                wrapped.append((handler, handler.formatter))
                handler.setFormatter(_Terse(handler.formatter))
    # A handler that cannot write (its terminal gone) must not print logging's own traceback.
    raising, logging.raiseExceptions = logging.raiseExceptions, False
    try:
        yield
    finally:
        logging.raiseExceptions = raising
        for handler, formatter in wrapped:
            handler.setFormatter(formatter)  # type: ignore[arg-type]


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
        with _database_from(args), _terse_console(prefect=args.command in RUNS_FLOWS):
            _preflight(args)
            return int(args.func(args))
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return USAGE
    except Exception as exc:
        from reports.fonts import NoCjkFont  # here: `fupin --help` stays free of polars

        if isinstance(exc, NoCjkFont):  # what to install, not a failed run
            print(str(exc), file=sys.stderr)
            return USAGE
        return _run_failed(args, argv, exc, started)


if __name__ == "__main__":
    raise SystemExit(main())
