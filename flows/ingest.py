"""Ingest: archive every new inbox file by SHA-256, parse it, and load it with provenance.

A file whose hash is known changes nothing.  A file that cannot be read is quarantined with
its reason and the source's previous data stays in force; a file missing a required column
is rejected with a message naming the column and its synonyms.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from sqlalchemy import Engine

from config.settings import Settings
from flows import readers
from transforms import headers, intake
from warehouse import db

log = logging.getLogger(__name__)

SOURCE_FOLDERS = ("townships", "dibao", "insurance", "claims")
SPREADSHEET_SUFFIXES = {".xlsx", ".xls", ".xlsm", ".csv"}
TABLES = {
    "roster": ("stg_roster", "roster_person"),
    "village": ("stg_village", "village"),
    "dibao": ("stg_dibao", "dibao"),
    "enrolment": ("stg_enrolment", "enrolment"),
    "settlement": ("stg_settlement", "settlement"),
}


@dataclass(frozen=True)
class FileOutcome:
    rel_path: str
    source: str
    status: str  # accepted / quarantined / rejected / duplicate
    reason: str | None = None
    file_id: int | None = None
    township_code: str | None = None
    rows_loaded: int = 0
    rows_reported: int = 0

    @property
    def needs_attention(self) -> bool:
        return self.status in ("quarantined", "rejected")


def scan_inbox(inbox: Path) -> list[tuple[str, Path]]:
    """(source folder, path) of every file, oldest first within a folder, so a later
    submission of the same township replaces an earlier one in the same run."""
    found: list[tuple[str, Path]] = []
    for folder in SOURCE_FOLDERS:
        base = inbox / folder
        if not base.is_dir():
            continue
        files = [p for p in base.rglob("*") if p.is_file() and not p.name.startswith((".", "~$"))]
        files.sort(key=lambda p: (p.stat().st_mtime_ns, p.name))
        found.extend((folder, p) for p in files)
    return found


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def archive(path: Path, sha: str, settings: Settings) -> Path:
    """Store the file unchanged under its hash (idempotent)."""
    target = settings.files_dir / sha[:2] / f"{sha}{path.suffix.lower()}"
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(target.suffix + ".part")
        shutil.copyfile(path, tmp)
        tmp.replace(target)
    return target


def parse(folder: str, path: Path, file_id: int) -> intake.Parsed:
    if path.suffix.lower() not in SPREADSHEET_SUFFIXES:
        raise readers.UnreadableFile(f"不是可识别的电子表格文件（扩展名 {path.suffix or '无'}）")
    if folder == "townships":
        return intake.parse_township_workbook(readers.read_sheets(path), file_id, path.name)
    sheet, layout = readers.read_csv_table(path, intake.EXTRACTS[folder][1])
    return intake.parse_extract(folder, sheet.grid, layout, file_id, sheet.name)


def ingest_file(
    engine: Engine,
    settings: Settings,
    folder: str,
    path: Path,
    inbox: Path,
    run_id: int,
    as_of: date,
) -> FileOutcome:
    rel = path.relative_to(inbox).as_posix()
    sha = sha256_of(path)
    known = db.file_by_sha(engine, sha)
    if known is not None and known["status"] != "loading":
        return FileOutcome(rel, folder, "duplicate", file_id=known["id"])
    if known is not None:  # an earlier run died while loading this file: start it again
        _delete_file_rows(engine, known["id"])
        file_id = known["id"]
    else:
        stored = archive(path, sha, settings)
        file_id = db.record_file(
            engine,
            source=folder,
            name=path.name,
            rel_path=rel,
            sha256=sha,
            size=path.stat().st_size,
            run_id=run_id,
            status="loading",
            archive_path=str(stored),
        )
    try:
        parsed = parse(folder, path, file_id)
    except (readers.UnreadableFile, intake.WrongTownship, intake.EmptyWorkbook) as exc:
        db.set_file_status(engine, file_id, "quarantined", exc.reason)
        log.warning("quarantined %s: %s", rel, exc.reason)
        return FileOutcome(rel, folder, "quarantined", exc.reason, file_id)
    except headers.MissingColumns as exc:
        db.set_file_status(engine, file_id, "rejected", exc.message)
        log.warning("rejected %s: %s", rel, exc.message)
        return FileOutcome(rel, folder, "rejected", exc.message, file_id)
    except (OSError, MemoryError):
        raise  # worth retrying: the file stays "loading" and is taken up again
    except Exception as exc:  # a shape nobody foresaw must not stop the other files
        reason = f"文件无法解析（程序内部错误 {type(exc).__name__}），已隔离，请联系系统管理员。"
        db.set_file_status(engine, file_id, "quarantined", reason)
        log.error("quarantined %s after %s", rel, type(exc).__name__)
        return FileOutcome(rel, folder, "quarantined", reason, file_id)

    for kind, frame in parsed.staged.items():
        db.write_frame(engine, TABLES[kind][0], frame)
    for kind, frame in parsed.canonical.items():
        table = "roster_household" if kind == "household" else TABLES[kind][1]
        db.write_frame(engine, table, frame)
    if parsed.issues is not None and parsed.township_code:
        db.upsert_lifecycle(
            engine,
            "dq_issue",
            parsed.issues,
            run_id,
            as_of,
            scope={"kind": ["foreign_township"], "township_code": [parsed.township_code]},
        )
    db.set_file_status(
        engine,
        file_id,
        "accepted",
        None,
        township_code=parsed.township_code,
        rows_loaded=parsed.rows_loaded,
        rows_reported=parsed.rows_reported,
        sheets=parsed.notes,
    )
    db.supersede_older(engine, file_id)
    return FileOutcome(
        rel,
        folder,
        "accepted",
        None,
        file_id,
        parsed.township_code,
        parsed.rows_loaded,
        parsed.rows_reported,
    )


def _delete_file_rows(engine: Engine, file_id: int) -> None:
    for staged, canonical in TABLES.values():
        db.delete_rows(engine, staged, file_id)
        db.delete_rows(engine, canonical, file_id)
    db.delete_rows(engine, "roster_household", file_id)
