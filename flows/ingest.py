"""Ingest: archive every new inbox file by SHA-256, parse it, and load it with provenance.

A file whose hash is known changes nothing.  A file that cannot be read is quarantined with
its reason and the source's previous data stays in force; a file missing a required column
is rejected with a message naming the column and its synonyms.

The inbox is a boundary (`flows.inbox.survey`): every entry under it gets an outcome, and
nothing outside it is read.  A new file is hashed and archived, or quarantined unread, by
`flows.registration`; here it is parsed (whole, or a big extract a batch at a time),
stored in one transaction, and validated.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from config.settings import (
    Divisions,
    HoldLimits,
    InboxLimits,
    Settings,
    ValueLimits,
    load_divisions,
    load_policy,
    value_limits,
)
from flows import readers, validation
from flows.inbox import (
    SINGLE,
    SPREADSHEET_SUFFIXES,
    FileOutcome,
    Layout,
    biggest_first,
    by_biggest_folder,
    scan_inbox,
    survey,
)
from flows.registration import (
    CANONICAL_TABLES,
    Registered,
    delete_file_rows,
    register,
    register_entry,
)
from transforms import headers, intake, submissions
from transforms.frames import ISSUE, empty, staged_schema
from warehouse import db

__all__ = [
    "FileOutcome",
    "Streamed",
    "biggest_first",
    "ingest_file",
    "ingest_inbox",
    "parse",
    "parse_registered",
    "scan_inbox",
    "store",
    "stream_extract",
    "survey",
]

log = logging.getLogger(__name__)


def parse(
    folder: str,
    path: Path,
    file_id: int,
    name: str | None = None,
    limits: InboxLimits | None = None,
    values: ValueLimits | None = None,
    divisions: Divisions | None = None,
) -> intake.Parsed:
    """Parse the file at `path` (the archived copy of an inbox file whose name is `name`:
    its title and date may be in the name).  `values` and `divisions` default to the
    policy file's [values] and the divisions list."""
    values = values or value_limits()
    divisions = divisions or load_divisions()
    name = name or path.name
    suffix = Path(name).suffix
    if suffix.lower() not in SPREADSHEET_SUFFIXES:
        raise readers.UnreadableFile(f"不是可识别的电子表格文件（扩展名 {suffix or '无'}）")
    if folder == "townships":
        return intake.parse_township_workbook(
            readers.read_sheets(path, limits), file_id, name, divisions=divisions, limits=values
        )
    sheet, layout = readers.read_csv_table(path, intake.EXTRACTS[folder][1], limits)
    return intake.parse_extract(
        folder, sheet.grid, layout, file_id, sheet.name, name, limits=values
    )


# Extracts that only add rows (enrolment, settlements) and come as delimited text are read,
# staged, normalised, hashed, written and validated a batch of records at a time
# (`stream_extract`): the city's 12.6M-row enrolment extract whole, with its grid, staged and
# canonical copies, the digest's text and the writer's buffers alive at once, took 11 GB.
# Below `STREAM_BYTES` a file is read whole: faster (its steps overlap across files), and its
# memory is no concern (a 139 MB CSV, the enrolment of 2016-2018, peaks at 1.7 GB).
STREAMED = ("insurance", "claims")
STREAM_BYTES = 256 * 2**20
STREAM_ROWS = 1_000_000


@dataclass
class Streamed:
    """What a streamed extract brought: its canonical rows already written (the file
    "loading" meanwhile, so none of them is in force), the rest for `store`."""

    kind: str
    rows_loaded: int
    data_digest: str
    staged: dict[str, bytes]  # kind -> the staged rows' Parquet document
    issues: pl.DataFrame  # read issues: an extract has none
    notes: dict[str, object]
    claimed_date: date | None
    township_code: str | None = None
    rows_reported: int = 0
    canonical: dict[str, pl.DataFrame] = field(default_factory=dict)  # nothing left to write

    def digest(self) -> str:
        return self.data_digest


def parse_registered(engine: Engine, file: Registered) -> intake.Parsed | FileOutcome:
    """Parse a registered file (its archived copy); a file that cannot be used is
    quarantined or rejected (an outcome, the file's status set) and the run goes on."""
    rel, folder, file_id = file.rel_path, file.folder, file.file_id
    try:
        return parse(folder, file.stored, file_id, file.path.name, file.limits)
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
        raise  # the archive copy, ours, failed: worth retrying ("loading" is taken up again)
    except Exception as exc:  # a shape nobody foresaw must not stop the other files
        reason = f"文件无法解析（程序内部错误 {type(exc).__name__}），已隔离，请联系系统管理员。"
        db.set_file_status(engine, file_id, "quarantined", reason)
        log.error("quarantined %s after %s", rel, type(exc).__name__)
        return FileOutcome(rel, folder, "quarantined", reason, file_id)


def store(
    engine: Engine,
    file: Registered,
    parsed: intake.Parsed | Streamed,
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
    thread while the canonical rows are written; `digest`: `parsed.digest()` if known.
    A streamed extract's rows are already written: a duplicate's are removed."""
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
            if isinstance(parsed, Streamed):
                db.delete_rows(conn, CANONICAL_TABLES[parsed.kind], file_id)
            return FileOutcome(
                file.rel_path, file.folder, "duplicate", reason, file_id, parsed.township_code
            )
        for kind, frame in parsed.canonical.items():
            db.write_frame(conn, CANONICAL_TABLES[kind], frame)
        documents: Mapping[str, pl.DataFrame | bytes | Future[bytes]] = {
            **parsed.staged,
            **(staged or {}),
        }
        for kind, document in documents.items():
            kept = document.result() if isinstance(document, Future) else document
            db.write_staged(conn, file_id, kind, kept)
        db.record_read_issues(conn, file_id, parsed.issues)
        held = (
            [] if isinstance(parsed, Streamed) else _hold_reasons(conn, file.folder, parsed, limits)
        )
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


def stream_extract(
    engine: Engine, file: Registered, writer: ThreadPoolExecutor
) -> tuple[Streamed, pl.DataFrame] | None:
    """A delimited-text enrolment or settlement extract, a batch of `STREAM_ROWS` records at
    a time: staged, normalised, hashed, written (by `writer`, the warehouse's one writer,
    while the next batch is read) and validated, so that only a batch or two is in memory.
    Returns what `store` needs and the file's validation issues; None when the file is to
    be taken whole (`parse_registered`): a workbook, a file too odd for the batch reader
    (the rows written for it are removed first), or one that cannot be used (read whole
    again, it gets the outcome and the reason a whole read gives)."""
    kind, source = intake.EXTRACTS[file.folder]
    table = CANONICAL_TABLES[kind]
    if not validation.judged_row_by_row(kind):
        return None
    try:
        stream = readers.stream_csv_table(file.stored, source, file.limits, STREAM_ROWS)
    except (readers.UnreadableFile, headers.MissingColumns):
        return None
    if stream is None:
        return None
    digest = submissions.DataDigest()
    digest.add("_read_issues", [empty(ISSUE)])  # an extract has none (`intake.Parsed.digest`)
    document = db.StagedDocument()
    issues: list[Future[pl.DataFrame]] = []
    rows = 0

    def hash_and_keep(staged: pl.DataFrame, canonical: pl.DataFrame) -> None:
        digest.update(kind, canonical)
        document.write(staged)

    # While this thread reads batch k+1, batch k is hashed and kept, written and validated,
    # each by a thread of its own (the batches in order): at most two batches are alive.
    batches = intake.extract_batches(
        file.folder, stream.batches, stream.layout, file.file_id, limits=value_limits()
    )
    pending: list[Future[Any]] = []
    with (
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="fupin-hash") as hasher,
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="fupin-check") as checker,
    ):
        try:
            for staged, canonical in batches:
                for earlier in pending:
                    earlier.result()
                pending = [
                    hasher.submit(hash_and_keep, staged, canonical),
                    writer.submit(db.write_frame, engine, table, canonical),
                    checker.submit(validation.validate_frames, {kind: [canonical]}),
                ]
                issues.append(pending[-1])
                rows += canonical.height
            for earlier in pending:
                earlier.result()
        except (SQLAlchemyError, OSError, MemoryError):
            raise  # the warehouse or the archive copy, ours, failed: the run's to handle
        except Exception as exc:  # noqa: BLE001 - read whole, the file gets its proper outcome
            for earlier in pending:
                with contextlib.suppress(Exception):
                    earlier.result()
            log.info("%s read whole after %s", file.rel_path, type(exc).__name__)
            writer.submit(delete_file_rows, engine, file.file_id).result()
            return None
    streamed = Streamed(
        kind=kind,
        rows_loaded=rows,
        data_digest=digest.hexdigest(),
        staged={kind: document.getvalue(staged_schema(source))},
        issues=empty(ISSUE),
        notes={"unknown_columns": stream.layout.unknown},
        claimed_date=submissions.claimed_date(stream.layout.title, file.path.name),
    )
    found = pl.concat([f.result() for f in issues]) if issues else empty(ISSUE)
    return streamed, found


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


def ingest_inbox(
    engine: Engine, settings: Settings, inbox: Path, run_id: int, layout: Layout = SINGLE
) -> list[FileOutcome]:
    """Every new file of the inbox: archived, parsed, stored and validated; outcomes in the
    order taken (`biggest_first`), then the entries quarantined unread, then those ignored
    (`survey`): every entry of the inbox has one.

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
    policy = load_policy(settings.policy_file)
    limits = policy.submissions
    entries = survey(inbox, policy.inbox, layout)
    order = by_biggest_folder(entries)
    refused = [e for e in entries if e.refused]
    registered = [
        register_entry(engine, settings, e, inbox, run_id, seen, policy.inbox)
        for e in [*order, *refused]
    ]
    ignored = [FileOutcome(e.rel_path, "", "ignored", e.ignored) for e in entries if e.ignored]
    for o in ignored:
        log.warning("ignored %s: %s", o.rel_path, o.reason)
    big = order[0].folder if order else None

    # Shut down in reverse order: the parser lane (which feeds the others) first, the writer
    # last, so a failure on this thread still lets every file already taken be stored.
    with (
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="fupin-writer") as writer,
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="fupin-encoder") as encoder,
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="fupin-parser") as parser,
    ):

        def take(file: Registered) -> _Taken:
            if file.folder in STREAMED and file.size >= STREAM_BYTES:
                streamed = stream_extract(engine, file, writer)
                if streamed is not None:
                    done, found = streamed
                    stored = writer.submit(store, engine, file, done, run_id, limits)
                    return _Taken(stored, issues=found)
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
        issues += [t.issues for t in [*others, *theirs] if t.issues is not None]
        taken = {
            f.file_id: t
            for f, t in zip([*lanes[False], *lanes[True]], [*others, *theirs], strict=True)
        }
        done = [f if isinstance(f, FileOutcome) else taken[f.file_id].outcome() for f in registered]
    stored_ids = [o.file_id for o in done if o.status == "accepted" and o.file_id is not None]
    found = pl.concat(issues).filter(pl.col("file_id").is_in(stored_ids))
    db.record_file_issues(engine, stored_ids, found, validation.fingerprint())
    if stored_ids:
        # Only the tables this night wrote to: ANALYZE samples a table whatever changed, and
        # the city's extract loads would otherwise each re-analyze every county table too.
        kinds = {k for o in done if o.file_id in stored_ids for k in intake.FOLDER_KINDS[o.source]}
        db.refresh_statistics(
            engine,
            [
                "source_file",
                "file_issue",
                "staged_rows",
                *(CANONICAL_TABLES[k] for k in sorted(kinds)),
            ],
        )
    return done + ignored


@dataclass(frozen=True)
class _Taken:
    """A file parsed by one of `ingest_inbox`'s lanes: its outcome, or the writer's future
    of it, and the canonical frames it brought."""

    result: FileOutcome | Future[FileOutcome]
    canonical: dict[str, pl.DataFrame] = field(default_factory=dict)  # still to validate
    issues: pl.DataFrame | None = None  # validated already (a streamed extract)

    def outcome(self) -> FileOutcome:
        return self.result if isinstance(self.result, FileOutcome) else self.result.result()


def _accepted(taken: Iterable[_Taken]) -> dict[str, list[pl.DataFrame]]:
    frames: dict[str, list[pl.DataFrame]] = {}
    for t in taken:
        for kind, frame in t.canonical.items():
            if kind in validation.VALIDATED:
                frames.setdefault(kind, []).append(frame)
    return frames
