"""Ingest: archive every new inbox file by SHA-256, parse it, and load it with provenance.

A file whose hash is known changes nothing.  A file that cannot be read is quarantined with
its reason and the source's previous data stays in force; a file missing a required column
is rejected with a message naming the column and its synonyms.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
from collections.abc import Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
from sqlalchemy import Connection, Engine

from config.settings import HoldLimits, Settings, load_policy
from flows import readers, validation
from transforms import headers, intake, submissions
from warehouse import db, models

log = logging.getLogger(__name__)

SOURCE_FOLDERS = ("townships", "dibao", "insurance", "claims")
SPREADSHEET_SUFFIXES = {".xlsx", ".xls", ".xlsm", ".csv"}
CANONICAL_TABLES = {**models.CANONICAL_TABLES, "household": "roster_household"}


@dataclass(frozen=True)
class FileOutcome:
    rel_path: str
    source: str
    status: str  # accepted / duplicate / held / quarantined / rejected
    reason: str | None = None
    file_id: int | None = None
    township_code: str | None = None
    rows_loaded: int = 0
    rows_reported: int = 0

    @property
    def needs_attention(self) -> bool:
        return self.status in NEEDS_A_PERSON


# What the office must look at: a file it cannot use, or one held for its decision.
NEEDS_A_PERSON = ("quarantined", "rejected", "held")


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


def biggest_first(inbox: Path) -> list[tuple[str, Path]]:
    """`scan_inbox`, the folder holding the biggest file first (its write is the longest, so
    it should start first); within a folder the order stays oldest first."""
    files = scan_inbox(inbox)
    biggest: dict[str, int] = {}
    for folder, path in files:
        biggest[folder] = max(biggest.get(folder, 0), path.stat().st_size)
    return sorted(files, key=lambda f: -biggest[f[0]])  # stable: keeps the order in a folder


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
    return intake.parse_extract(folder, sheet.grid, layout, file_id, sheet.name, path.name)


@dataclass(frozen=True)
class Registered:
    """A new file, archived and recorded as "loading", waiting to be parsed and stored."""

    folder: str
    path: Path
    rel_path: str
    file_id: int


def register(
    engine: Engine,
    settings: Settings,
    folder: str,
    path: Path,
    inbox: Path,
    run_id: int,
    seen: set[str] | None = None,
) -> Registered | FileOutcome:
    """Hash the file; a known hash is a duplicate (an outcome), a new one is archived and
    recorded.  A file an earlier run left "loading" has its partial rows removed first.
    `seen`: hashes registered earlier in this pass (a second copy in the inbox is a duplicate,
    not a leftover)."""
    rel = path.relative_to(inbox).as_posix()
    sha = sha256_of(path)
    known = db.file_by_sha(engine, sha)
    if known is not None and (known["status"] != "loading" or sha in (seen or ())):
        return FileOutcome(rel, folder, "duplicate", file_id=known["id"])
    if seen is not None:
        seen.add(sha)
    if known is not None:  # an earlier run died while loading this file: start it again
        _delete_file_rows(engine, known["id"])
        return Registered(folder, path, rel, known["id"])
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
    return Registered(folder, path, rel, file_id)


def parse_registered(engine: Engine, file: Registered) -> intake.Parsed | FileOutcome:
    """Parse a registered file; a file that cannot be used is quarantined or rejected (an
    outcome, the file's status set) and the run goes on."""
    rel, folder, file_id = file.rel_path, file.folder, file.file_id
    try:
        return parse(folder, file.path, file_id)
    except (readers.UnreadableFile, intake.WrongTownship, intake.EmptyWorkbook) as exc:
        db.set_file_status(engine, file_id, "quarantined", exc.reason)
        log.warning("quarantined %s: %s", rel, exc.reason)
        return FileOutcome(rel, folder, "quarantined", exc.reason, file_id)
    except (headers.MissingColumns, headers.HiddenRoster) as exc:
        reason = exc.message if isinstance(exc, headers.MissingColumns) else exc.reason
        db.set_file_status(engine, file_id, "rejected", reason)
        log.warning("rejected %s: %s", rel, reason)
        return FileOutcome(rel, folder, "rejected", reason, file_id)
    except (OSError, MemoryError):
        raise  # worth retrying: the file stays "loading" and is taken up again
    except Exception as exc:  # a shape nobody foresaw must not stop the other files
        reason = f"文件无法解析（程序内部错误 {type(exc).__name__}），已隔离，请联系系统管理员。"
        db.set_file_status(engine, file_id, "quarantined", reason)
        log.error("quarantined %s after %s", rel, type(exc).__name__)
        return FileOutcome(rel, folder, "quarantined", reason, file_id)


def store(
    engine: Engine,
    file: Registered,
    parsed: intake.Parsed,
    run_id: int,
    limits: HoldLimits,
    staged: Mapping[str, bytes | Future[bytes]] | None = None,
    digest: str | None = None,
) -> FileOutcome:
    """Decide what a parsed file is and record it, in one transaction (a file is in the
    warehouse whole or not at all):
    - the same data as the file in force of its source, in new bytes (re-saved, renamed,
      re-encoded): a duplicate, nothing stored, nothing changes;
    - a submission that would gut the register, or says it is older than the one in force:
      its rows stored, held for the office (`fupin accept`), nothing in force changes;
    - otherwise accepted and put in force, replacing what it supersedes.
    `staged`: the staged frames encoded (`db.staged_document`), or being encoded by another
    thread while the canonical rows are written; `digest`: `parsed.digest()` if known."""
    file_id = file.file_id
    digest = digest or parsed.digest()
    described = {
        "township_code": parsed.township_code,
        "data_digest": digest,
        "data_date": parsed.claimed_date,
        "sheets": parsed.notes,
    }
    with db.transaction(engine) as conn:
        same = db.same_data_file(conn, file.folder, parsed.township_code, digest)
        if same is not None:
            reason = (
                f"与在用的文件《{same['name']}》（#{same['id']}）数据相同"
                "（重新保存、改名或转码），未重复导入"
            )
            db.set_file_status(conn, file_id, "duplicate", reason, **described)
            return FileOutcome(
                file.rel_path, file.folder, "duplicate", reason, file_id, parsed.township_code
            )
        for kind, frame in parsed.canonical.items():
            db.write_frame(conn, CANONICAL_TABLES[kind], frame)
        for kind, frame in parsed.staged.items():
            document = (staged or {}).get(kind, frame)
            if isinstance(document, Future):
                document = document.result()
            db.write_staged(conn, file_id, kind, document)
        db.record_read_issues(conn, file_id, parsed.issues)
        held = _hold_reasons(conn, file.folder, parsed, limits)
        status = "held" if held else "accepted"
        why = f"暂不启用，待扶贫办确认：{'；'.join(held)}。" if held else None
        db.set_file_status(
            conn,
            file_id,
            status,
            why,
            rows_loaded=parsed.rows_loaded,
            rows_reported=parsed.rows_reported,
            **described,
        )
        if held:
            db.record_file_event(conn, file_id, "held", why, run_id)
        else:
            db.put_in_force(conn, file_id)
    return FileOutcome(
        file.rel_path,
        file.folder,
        status,
        why,
        file_id,
        parsed.township_code,
        parsed.rows_loaded,
        parsed.rows_reported,
    )


def _hold_reasons(
    conn: Connection, folder: str, parsed: intake.Parsed, limits: HoldLimits
) -> list[str]:
    """Why a township roster or 低保 roll must wait for the office before it replaces the
    one in force (`transforms.submissions`); enrolment and settlement extracts only add."""
    if folder not in db.REPLACING:
        return []
    in_force = db.in_force_file(conn, folder, parsed.township_code)
    kind = "roster" if folder == "townships" else "dibao"
    previous = None if in_force is None else db.canonical_of(conn, kind, [in_force["id"]])
    current = parsed.canonical[kind]
    if kind == "dibao":  # a 低保 family is the household of the roll
        previous = None if previous is None else previous.rename({"family_id": "household_id"})
        current = current.rename({"family_id": "household_id"})
    noun = "花名册" if kind == "roster" else "低保名册"
    reasons = submissions.gutting_reasons(current, parsed.rows_reported, previous, limits, noun)
    older = submissions.older_reason(
        parsed.claimed_date, None if in_force is None else in_force["data_date"], limits
    )
    return [*reasons, older] if older else reasons


def ingest_file(
    engine: Engine,
    settings: Settings,
    folder: str,
    path: Path,
    inbox: Path,
    run_id: int,
) -> FileOutcome:
    """One file, start to end (its rows are validated later, by `validation.validate_stale`)."""
    file = register(engine, settings, folder, path, inbox, run_id)
    if isinstance(file, FileOutcome):
        return file
    parsed = parse_registered(engine, file)
    if isinstance(parsed, FileOutcome):
        return parsed
    return store(engine, file, parsed, run_id, load_policy(settings.policy_file).submissions)


def ingest_inbox(engine: Engine, settings: Settings, inbox: Path, run_id: int) -> list[FileOutcome]:
    """Every new file of the inbox: archived, parsed, stored and validated; outcomes in the
    order taken (`biggest_first`).

    Three lanes, because SQLite, ADBC and polars' big operations release the GIL:
    - a parser thread takes the biggest source's files (the 1.26M-row enrolment extract is
      almost all vectorised polars work), so its long write can start as early as possible;
    - this thread parses the other files (many small workbooks, mostly Python) meanwhile, and
      then validates what was accepted;
    - the warehouse has one writer, so every store goes to one writer thread, in the order
      the files are ready.  Each lane keeps its files in folder order, and a folder belongs
      to one lane, so the oldest-first order that supersession relies on holds.
    Each file is validated once, here, from the frames in hand (`flows.validation`); files
    stored by a run that then failed are validated by the next one (`validate_stale`).
    """
    seen: set[str] = set()
    limits = load_policy(settings.policy_file).submissions
    order = biggest_first(inbox)
    registered = [register(engine, settings, f, p, inbox, run_id, seen) for f, p in order]
    big = order[0][0] if order else None

    # Shut down in reverse order: the parser lane (which feeds the others) first, the writer
    # last, so a failure on this thread still lets every file already taken be stored.
    with (
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="fupin-writer") as writer,
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="fupin-encoder") as encoder,
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="fupin-parser") as parser,
    ):

        def take(file: Registered) -> _Taken:
            parsed = parse_registered(engine, file)
            if isinstance(parsed, FileOutcome):
                return _Taken(parsed)
            # Encoded while the writer writes the canonical rows (0.7 s for enrolment).
            documents = {k: encoder.submit(db.staged_document, f) for k, f in parsed.staged.items()}
            digest = parsed.digest()
            stored = writer.submit(store, engine, file, parsed, run_id, limits, documents, digest)
            return _Taken(stored, parsed.canonical)

        lanes = {
            lane: [f for f in registered if isinstance(f, Registered) and (f.folder == big) == lane]
            for lane in (True, False)
        }
        biggest = parser.submit(lambda: [take(f) for f in lanes[True]])
        others = [take(f) for f in lanes[False]]
        # While the other lanes finish: the suites on this lane's frames, then on the biggest
        # source's (a kind comes from one folder, so from one lane).
        issues = [validation.validate_frames(_accepted(others))]
        theirs = biggest.result()
        issues.append(validation.validate_frames(_accepted(theirs)))
        taken = {
            f.file_id: t
            for f, t in zip([*lanes[False], *lanes[True]], [*others, *theirs], strict=True)
        }
        done = [f if isinstance(f, FileOutcome) else taken[f.file_id].outcome() for f in registered]
    stored_ids = [o.file_id for o in done if o.status == "accepted" and o.file_id is not None]
    found = pl.concat(issues).filter(pl.col("file_id").is_in(stored_ids))
    db.record_file_issues(engine, stored_ids, found, validation.fingerprint())
    return done


@dataclass(frozen=True)
class _Taken:
    """A file parsed by one of `ingest_inbox`'s lanes: its outcome, or the writer's future
    of it, and the canonical frames it brought."""

    result: FileOutcome | Future[FileOutcome]
    canonical: dict[str, pl.DataFrame] = field(default_factory=dict)

    def outcome(self) -> FileOutcome:
        return self.result if isinstance(self.result, FileOutcome) else self.result.result()


def _accepted(taken: Iterable[_Taken]) -> dict[str, list[pl.DataFrame]]:
    frames: dict[str, list[pl.DataFrame]] = {}
    for t in taken:
        for kind, frame in t.canonical.items():
            if kind in validation.VALIDATED:
                frames.setdefault(kind, []).append(frame)
    return frames


def _delete_file_rows(engine: Engine, file_id: int) -> None:
    for table in (*CANONICAL_TABLES.values(), "staged_rows", "file_issue"):
        db.delete_rows(engine, table, file_id)
