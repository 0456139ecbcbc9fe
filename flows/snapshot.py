"""Annual snapshots (outputs.md §4): freeze a year-end, verify an archive, list them.

`create_snapshot(year)` copies what the year-end reports read — the nightly run whose data it
is, the files, the roster persons and households, villages, 低保 roll and the year's
enrolment in force, identity links, findings and issues with their life cycles, and the
indicators up to the year — into the `snap_*` tables tagged with the year, then writes
`$FUPIN_HOME/archive/YEAR/`: one Parquet file per table, the year's assessment and
accountability reports rendered from those tables, the policy parameters, and
`manifest.json` (rows, SHA-256 of every file, policy, code version, dates), every file 0600 in
0700 folders (`config.private`).  The `snapshot` row, written last, makes it official; a year
is never frozen twice.

A snapshot taken after the year end holds what the warehouse holds then (the latest data in
force), evaluated at 12-31: the warehouse keeps no copy of a superseded roster as it stood on
12-31.  docs/operations.md says so to the office.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import json
import logging
import shutil
import subprocess
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl
from prefect import flow, get_run_logger
from sqlalchemy import Engine

from config.private import private_dir, private_tree
from config.settings import Settings, load_divisions, load_policy, load_settings
from flows.notify import OfficeError, notify_office_of_failure
from flows.report import build_report
from reports import KINDS
from transforms import indicators as ind
from transforms import snapshot as S
from warehouse import db, models

SHANGHAI = ZoneInfo("Asia/Shanghai")
REPORT_FORMATS = ("html", "pdf", "xlsx")
FIRST_YEAR = 2016  # the plan's first year
PROJECT_ROOT = Path(__file__).resolve().parents[1]


class SnapshotError(OfficeError):
    """A request that cannot be carried out as asked (CLI exit code 2); Chinese message."""


class SnapshotExists(SnapshotError):
    """The year is frozen already, or its archive folder is in the way."""


def _logger() -> logging.Logger | logging.LoggerAdapter[logging.Logger]:
    try:
        return get_run_logger()
    except Exception:  # outside a flow run
        return logging.getLogger("fupin.snapshot")


def shanghai_today() -> date:
    return datetime.now(SHANGHAI).date()


# ---------------------------------------------------------------- what is frozen
def _check_year(year: int) -> None:
    this_year = shanghai_today().year
    if not FIRST_YEAR <= year <= this_year:
        raise SnapshotError(f"年度应在 {FIRST_YEAR} 至 {this_year} 之间：{year}")


def collect(bind: db.Bind, year: int) -> dict[str, pl.DataFrame]:
    """The frames to freeze for `year`, keyed by source table (read on one connection)."""
    run = db.latest_finished_run_frame(bind)
    if run.height == 0:
        raise SnapshotError("数据仓库中还没有完成的夜间核查，无法归档。请先运行 fupin nightly。")
    as_of: date = run["as_of"][0]
    if as_of < date(year, 12, 31):
        raise SnapshotError(
            f"最近一次完成的夜间核查（运行#{run['id'][0]}）数据截至{as_of.isoformat()}，"
            f"{year}年尚未结束，不能归档。请在{year}年12月31日的夜间核查完成后再运行。"
        )
    indicators = db.read_frame(bind, "indicator")
    periods = [p for p in indicators["period"].unique().to_list() if _year_of(p) <= year]
    return {
        "run": run,
        "source_file": db.read_frame(bind, "source_file"),
        "roster_person": db.current(bind, "roster"),
        "roster_household": db.current(bind, "household"),
        "village": db.current(bind, "village"),
        "dibao": db.current(bind, "dibao"),
        "enrolment": db.current(bind, "enrolment", year=year),
        "identity_link": db.read_frame(bind, "identity_link"),
        "finding": db.read_frame(bind, "finding"),
        "finding_event": db.read_frame(bind, "finding_event"),
        "dq_issue": db.read_frame(bind, "dq_issue"),
        "dq_issue_event": db.read_frame(bind, "dq_issue_event"),
        "indicator": indicators.filter(pl.col("period").is_in(periods)),
    }


def _year_of(period: str) -> int:
    try:
        return ind.parse_period(period).year
    except ValueError:
        return 10_000  # not a period: never frozen


# ---------------------------------------------------------------- files and versions
def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def scan(folder: Path) -> dict[str, S.FileFacts]:
    """Every file under `folder` (hidden ones too), by path relative to it."""
    return {
        p.relative_to(folder).as_posix(): S.FileFacts(sha256_file(p), p.stat().st_size)
        for p in sorted(folder.rglob("*"))
        if p.is_file() or p.is_symlink()
    }


def code_version() -> dict[str, Any]:
    """The package version, and the git commit when the code runs from a checkout."""
    try:
        package = importlib.metadata.version("fupin")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - not installed
        package = None
    commit, dirty = None, None
    if (PROJECT_ROOT / ".git").exists():
        try:
            commit = _git("rev-parse", "HEAD")
            dirty = bool(_git("status", "--porcelain", "--untracked-files=no"))
        except (OSError, subprocess.SubprocessError):
            commit, dirty = None, None
    return {"package": package, "git_commit": commit, "git_dirty": dirty}


def _git(*args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(PROJECT_ROOT), *args],
        capture_output=True,
        text=True,
        timeout=20,
        check=True,
    )
    return done.stdout.strip()


# ---------------------------------------------------------------- create
@dataclass
class Created:
    year: int
    path: Path
    rows: dict[str, int]
    files: list[str]
    reports: list[str]
    manifest_sha256: str
    code_version: str


def create_snapshot(
    year: int,
    database_url: str | None = None,
    home: str | Path | None = None,
    formats: Iterable[str] = REPORT_FORMATS,
    *,
    pdf_engine: str = "auto",
) -> Created:
    """Freeze `year` into the warehouse and `archive/YEAR/`; raises SnapshotExists when the
    year is frozen already (nothing is touched) and SnapshotError when it cannot be frozen."""
    _check_year(year)
    settings = load_settings(database_url, home)
    engine = db.connect(settings.database_url)
    try:
        db.upgrade(engine)
        target = _refuse_existing(engine, settings, year)
        formats = tuple(formats)
        run_id = db.start_run(
            engine, "snapshot", date(year, 12, 31), {"year": year, "formats": list(formats)}
        )
        try:
            made = _create(engine, settings, year, target, formats, pdf_engine)
        except BaseException as exc:
            stats = {"error": type(exc).__name__}
            if isinstance(exc, SnapshotError):
                stats["message"] = str(exc)
            db.finish_run(engine, run_id, "failed", stats)
            raise
        db.finish_run(
            engine,
            run_id,
            "succeeded",
            {"path": str(made.path), "rows": made.rows, "manifest_sha256": made.manifest_sha256},
        )
        return made
    finally:
        engine.dispose()


def _refuse_existing(engine: Engine, settings: Settings, year: int) -> Path:
    """The archive folder of `year`, when neither the warehouse nor the disk has it yet."""
    existing = db.snapshot_of(engine, year)
    if existing is not None:
        created = existing["created_at"].astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")
        raise SnapshotExists(
            f"{year}年的年度归档已于{created}生成（{existing['path']}），归档不可覆盖。"
            f"如需核对，请运行 fupin snapshot verify {year}。"
        )
    target = settings.archive_dir / str(year)
    if target.exists():
        raise SnapshotExists(
            f"归档目录已存在：{target}，但数据仓库中没有{year}年归档的登记记录。"
            "归档不会覆盖已有文件：请核实该目录的来历，移走后再运行。"
        )
    return target


def _create(
    engine: Engine,
    settings: Settings,
    year: int,
    target: Path,
    formats: tuple[str, ...],
    pdf_engine: str,
) -> Created:
    log = _logger()

    def waiting() -> None:
        log.warning("夜间核查正在运行：年度归档将在其完成后读取数据……")

    with db.run_lock(engine, exclusive=False, on_wait=waiting):
        with db.consistent_read(engine) as conn:
            frames = collect(conn, year)
        rows = db.freeze_snapshot(engine, year, frames)
    log.info("snapshot %s: rows frozen %s", year, rows)

    created_at = datetime.now(UTC)
    staging = private_dir(settings.archive_dir) / f".{year}.partial-{uuid.uuid4().hex[:8]}"
    try:
        private_dir(staging / S.TABLES_DIR)
        for source in models.SNAPSHOT_SOURCES:
            # The tables as stored: a finding's evidence stays its JSON text.
            db.read_snapshot(engine, source, year, stored=True).write_parquet(
                staging / S.table_file(source), compression="zstd", statistics=True
            )
        shutil.copyfile(settings.policy_file, staging / S.POLICY_FILE)
        policy = load_policy(staging / S.POLICY_FILE)
        reports = build_report(
            engine,
            KINDS,
            str(year),
            None,
            formats,
            staging / S.REPORTS_DIR,
            policy=policy,
            pdf_engine=pdf_engine,
            snapshot=True,
        )
        version = code_version()
        as_of: date = frames["run"]["as_of"][0]
        note = ""
        if as_of > date(year, 12, 31):
            note = (
                f"本归档生成于{created_at.astimezone(SHANGHAI).date().isoformat()}，"
                f"所用数据截至{as_of.isoformat()}（晚于{year}年12月31日）：归档的是生成时数据仓库中"
                f"在用的数据，按{year}年12月31日评价；其后被替换的花名册不再保存于数据仓库。"
            )
        manifest = S.build_manifest(
            county=load_divisions().county_name,
            year=year,
            created=created_at.astimezone(SHANGHAI),
            code_version=version,
            policy=policy,
            run=frames["run"]
            .select("id", "as_of", "started_at", "finished_at", "status")
            .row(0, named=True),
            rows=rows,
            files=scan(staging),
            note=note,
        )
        body = (json.dumps(manifest, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
        (staging / S.MANIFEST).write_bytes(body)
        private_tree(staging)  # full IDs: 0600 files in 0700 folders (hashes unchanged)
        if target.exists():
            raise SnapshotExists(f"归档目录在生成期间出现：{target}。归档不会覆盖已有文件。")
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    manifest_sha = hashlib.sha256(body).hexdigest()
    label = S.code_version_label(version)
    db.record_snapshot(
        engine,
        year=year,
        created_at=created_at,
        manifest_sha256=manifest_sha,
        code_version=label,
        path=str(target),
    )
    log.info("snapshot %s written to %s", year, target)
    return Created(
        year=year,
        path=target,
        rows=rows,
        files=sorted(manifest["files"]),
        reports=[str(target / p.relative_to(staging)) for p in reports],
        manifest_sha256=manifest_sha,
        code_version=label,
    )


# ---------------------------------------------------------------- verify and list
@dataclass
class Verified:
    year: int
    path: Path
    files: int
    problems: list[S.Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def lines(self) -> list[str]:
        if self.ok:
            return [
                f"{self.year}年归档校验通过：{self.path}，{self.files}个文件的SHA-256与清单一致。"
            ]
        head = f"{self.year}年归档校验未通过（{self.path}），发现{len(self.problems)}个问题："
        return [head, *(f"  {p.line()}" for p in self.problems)]


def verify_snapshot(
    year: int, database_url: str | None = None, home: str | Path | None = None
) -> Verified:
    """Re-check every file of a year's archive against its manifest, the manifest against
    the hash the warehouse recorded, and the `snap_*` rows against the manifest's counts."""
    settings = load_settings(database_url, home)
    engine = db.connect(settings.database_url)
    try:
        db.upgrade(engine)
        row = db.snapshot_of(engine, year)
        folder = Path(row["path"]) if row else settings.archive_dir / str(year)
        if row is None and not folder.exists():
            raise SnapshotError(
                f"没有{year}年的年度归档（数据仓库中无登记，{folder} 不存在）。"
                "可用 fupin snapshot list 查看已有归档。"
            )
        problems: list[S.Problem] = []
        if row is None:
            problems.append(S.Problem("manifest", "数据仓库", f"没有{year}年归档的登记记录"))
        if not folder.is_dir():
            problems.append(S.Problem("missing", f"{folder}（整个归档目录）"))
            return Verified(year, folder, 0, problems)
        found = scan(folder)
        manifest = _read_manifest(folder, row, problems)
        if manifest is not None:
            problems += S.compare(manifest, found)
            if row is not None:
                problems += S.compare_rows(manifest, db.snapshot_row_counts(engine, year))
        return Verified(year, folder, len(found) - (S.MANIFEST in found), problems)
    finally:
        engine.dispose()


def _read_manifest(
    folder: Path, row: dict[str, Any] | None, problems: list[S.Problem]
) -> dict[str, Any] | None:
    path = folder / S.MANIFEST
    if not path.is_file():
        problems.append(S.Problem("missing", f"{S.MANIFEST}（无清单，其余文件无法核对）"))
        return None
    body = path.read_bytes()
    if row is not None and hashlib.sha256(body).hexdigest() != row["manifest_sha256"]:
        problems.append(
            S.Problem("changed", S.MANIFEST, "与数据仓库登记的SHA-256不符，清单本身被改动过")
        )
    try:
        manifest = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        problems.append(S.Problem("manifest", S.MANIFEST, "无法解析，其余文件无法核对"))
        return None
    return manifest if isinstance(manifest, dict) else None


def list_snapshots(
    database_url: str | None = None, home: str | Path | None = None
) -> list[dict[str, Any]]:
    """The recorded snapshots, oldest first, with what their manifests say."""
    settings = load_settings(database_url, home)
    engine = db.connect(settings.database_url)
    try:
        db.upgrade(engine)
        frame = db.snapshots(engine)
    finally:
        engine.dispose()
    out = []
    for r in frame.iter_rows(named=True):
        folder = Path(r["path"])
        manifest: dict[str, Any] = {}
        with contextlib.suppress(OSError, ValueError):
            manifest = json.loads((folder / S.MANIFEST).read_text(encoding="utf-8"))
        run = manifest.get("nightly_run") or {}
        out.append(
            {
                "year": r["year"],
                "created": r["created_at"].astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M"),
                "as_of": run.get("as_of", ""),
                "code_version": r["code_version"] or "",
                "path": str(folder),
                "present": folder.is_dir(),
                "files": len(manifest.get("files", {})),
            }
        )
    return out


# ---------------------------------------------------------------- the flow
@flow(name="annual-snapshot", log_prints=True, on_failure=[notify_office_of_failure])
def snapshot(year: int | None = None, formats: list[str] | None = None) -> dict[str, Any]:
    """The year-end snapshot (default: the current year in Asia/Shanghai).  A year already
    frozen is left as it is and reported, not an error: the schedule may follow an
    on-demand snapshot."""
    year = year or shanghai_today().year
    try:
        made = create_snapshot(year, formats=tuple(formats or REPORT_FORMATS))
    except SnapshotExists as exc:
        _logger().warning(str(exc))
        return {"year": year, "status": "exists", "message": str(exc)}
    print(f"{year}年年度归档已生成：{made.path}（{len(made.files)}个文件）")
    return {
        "year": year,
        "status": "created",
        "path": str(made.path),
        "rows": made.rows,
        "files": len(made.files),
        "manifest_sha256": made.manifest_sha256,
        "code_version": made.code_version,
    }
