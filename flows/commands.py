"""What each `fupin` command does (`cmd_<command>`): it calls the flows, prints in Chinese
what a person needs to know, and returns the exit code (`flows.exit_codes`).  Heavy imports
stay inside the handlers, so that `fupin --help` starts quickly."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from pathlib import Path
from typing import Any

from flows.exit_codes import NEEDS_PERSON, OK, USAGE
from flows.preflight import db_setting


def _settings(args: argparse.Namespace):
    from config.settings import load_settings

    return load_settings(getattr(args, "db", None))


def cmd_generate(args: argparse.Namespace) -> int:
    out = Path(args.out)
    if getattr(args, "counties", None) or getattr(args, "city", False):
        return _generate_city(args, out)
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


def _generate_city(args: argparse.Namespace, out: Path) -> int:
    """`fupin generate --counties A,B,… | --city`: several counties and the city-wide extracts."""
    from config.settings import city_counties
    from generator.city import generate_city
    from generator.params import SINGLE_NIGHT

    if args.months is not None:
        print("--months 只用于单县数据；多县数据只生成一晚", file=sys.stderr)
        return USAGE
    known = city_counties()
    if args.city:
        if args.counties:
            print("--city 与 --counties 只能选一个", file=sys.stderr)
            return USAGE
        codes = list(known)
    else:
        codes = [c.strip() for c in args.counties.split(",") if c.strip()]
    unknown = [c for c in codes if c not in known]
    if unknown or len(set(codes)) < 2:
        problem = f"未知的县级区划代码：{'、'.join(unknown)}" if unknown else "至少需要两个县"
        print(
            f"{problem}。可用：{'、'.join(f'{c} {n}' for c, n in known.items())}",
            file=sys.stderr,
        )
        return USAGE
    summary = generate_city(
        out, codes, scale=args.scale, seed=args.seed, as_of=args.as_of or SINGLE_NIGHT
    )
    names = "、".join(known[c] for c in sorted(set(codes)))
    print(
        f"已生成 {names} 的模拟数据：{out / 'inbox'}（每县一个子目录；标准答案：{out / 'truth'}）"
    )
    print(
        f"各县政策参数：{out / 'policy'}/<县级代码>.toml；"
        "使用时复制为 $FUPIN_HOME/<县级代码>/policy.toml（未复制的县不列示目标完成类指标）。"
    )
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
    from flows.inbox import county_folders  # not flows.city: a county's night needs no Dask

    if county_folders(inbox):
        return _city_nightly(args, inbox)
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


def _city_nightly(args: argparse.Namespace, inbox: Path) -> int:
    """A multi-county inbox (folders named by county code): the city's nightly on Dask."""
    from flows.city import run_city
    from warehouse.schema import SingleCountyDatabase

    settings = _settings(args)
    if not settings.database_url.startswith("postgresql"):
        print(SingleCountyDatabase.MESSAGE, file=sys.stderr)
        return USAGE
    as_of = args.as_of.isoformat() if args.as_of else None
    result = run_city(str(inbox), as_of, workers=args.workers)
    print(city_lines(result))
    return NEEDS_PERSON if result["needs_attention"] else OK


def city_lines(result: dict[str, Any]) -> str:
    """What a city's night came to, a line per county (and the city's extracts when they
    failed), for the operator at the command line."""
    lines = []
    if result["extracts"].get("failed"):
        lines.append(f"全市医保数据：未能备妥（{result['extracts']['failed']}），详见运行日志。")
    for code, county in result["counties"].items():
        if county.get("failed"):
            lines.append(
                f"{code}：本次未比对核查（{county['failed']}），本县核查结果保持上一次的，"
                "请联系系统管理员。"
            )
            continue
        if county.get("intake_failed"):
            lines.append(
                f"{code}：接收文件出错（{county['intake_failed']}），本县沿用已在用的数据核查。"
            )
        f, i, files = county["findings"], county["issues"], county["files"]
        lines.append(
            f"{code}（运行 #{county['run_id']}）：新接收文件 {files.get('accepted', 0)} 个；"
            f"核查发现 新增 {f['new']}，仍未整改 {f['still_open']}，已整改 {f['resolved']}；"
            f"数据质量问题 新增 {i['new']}，仍未整改 {i['still_open']}，已整改 {i['resolved']}。"
        )
        lines += [
            f"  规则{rule}：本次未更新（{why}），其核查结果保持原状。"
            for rule, why in f.get("rules_failed", {}).items()
        ]
        lines += [f"  报告：{path}" for path in county.get("reports", [])]
    lines.append(f"多县夜间核查完成（截至 {result['as_of']}），用时 {result['seconds']:.1f} 秒。")
    return "\n".join(lines)


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

    checks = run_checks(_settings(args), db_setting(args), os.environ)
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
