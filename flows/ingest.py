"""Ingest: archive every new inbox file by SHA-256, parse it, and load it with provenance.

A file whose hash is known changes nothing.  A file that cannot be read is quarantined with
its reason and the source's previous data stays in force; a file missing a required column
is rejected with a message naming the column and its synonyms.

The inbox is a boundary (`survey`): every entry under it gets an outcome, and nothing
outside it is read.
- No link is followed, wherever it points: a link in a source folder (to a file or a
  folder, inside the inbox or out of it) is quarantined unread, and the reason says whether
  it points inside the inbox (naming the target) or out of it (naming nothing).  A source
  folder that is itself a link is quarantined the same way.  The inbox path may be a link:
  it is resolved once, by the caller.
- Files are opened beneath the inbox one folder at a time, none followed if it became a
  link meanwhile, and read once to hash, once more to archive (0600, `config.private`)
  only if new; the bytes parsed are the archived copy, so what is loaded is what was hashed.
- Hidden names (`.x`) and Office lock files (`~$x.xlsx`) are quarantined unread with what
  they are; so are FIFOs, devices, folders named like a spreadsheet, and files over
  `[inbox] max_file_bytes`.
- A file that cannot be opened, read or archived for any reason (permissions, vanished,
  a full disk) is quarantined, and the night goes on: only a failure to write the
  warehouse stops it.
- Entries at the inbox's top level or in folders that are not a source (`ignored`) are
  reported with a reason in the outcomes, not recorded: they belong to no source.
A file quarantined unread has no content hash; its row is keyed by a placeholder
(`placeholder_sha`: its path, size and mtime), so the same unreadable file is the same row
every night, and the file made readable later is a new file.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import logging
import os
import stat
import tempfile
from collections.abc import Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from config.private import private_dir, private_file
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
from transforms import headers, intake, submissions
from transforms.frames import ISSUE, empty, staged_schema
from warehouse import db, models

log = logging.getLogger(__name__)

SOURCE_FOLDERS = ("townships", "dibao", "insurance", "claims")
SPREADSHEET_SUFFIXES = {".xlsx", ".xls", ".xlsm", ".csv"}
CANONICAL_TABLES = {**models.CANONICAL_TABLES, "household": "roster_household"}


@dataclass(frozen=True)
class FileOutcome:
    rel_path: str
    source: str  # the source folder; '' for an entry outside every source (ignored)
    status: str  # accepted / duplicate / held / quarantined / rejected / ignored
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


# ---------------------------------------------------------------- the inbox, surveyed


@dataclass(frozen=True)
class Entry:
    """One entry of the inbox and what is to become of it: read (no `refused`, no
    `ignored`), quarantined unread (`refused`: why) or reported only (`ignored`: why)."""

    folder: str  # source folder; '' outside every source
    path: Path
    rel_path: str
    size: int = 0
    mtime_ns: int = 0
    refused: str | None = None
    ignored: str | None = None


LOCK_FILE = (
    "是Excel/WPS打开文件时生成的临时锁定文件（文件名以“~$”开头），不是报送的数据，未读取；"
    "关闭该表格后可删除它"
)
HIDDEN_FILE = (
    "文件名以“.”开头，是隐藏文件（常由系统或同步软件生成），未读取；如确为报送文件，"
    "请去掉文件名开头的“.”后重新上报"
)
HIDDEN_FOLDER = (
    "是以“.”开头的隐藏文件夹（常由系统或同步软件生成），其中的文件未读取；"
    "如有报送文件，请移出该文件夹后重新上报"
)
FOLDER_AS_FILE = "不是文件，是名称像表格文件的文件夹，其中的文件未读取"
OUTSIDE_LINK = (
    "是指向收件箱以外位置的符号链接（快捷方式），未读取：收件箱以外的内容一律不读取，"
    "请把文件本身放入收件箱"
)
TOP_LEVEL_FILE = (
    "直接放在收件箱根目录，不属于任何数据来源，未读取：请按来源放入 townships、dibao、"
    "insurance 或 claims 文件夹"
)
UNKNOWN_FOLDER = (
    "所在文件夹不是约定的来源文件夹（townships、dibao、insurance、claims），未读取："
    "请把文件移入相应的来源文件夹"
)
COUNTY_FOLDER = (
    "所在文件夹是按县（市）分设的文件夹（县级代码/townships 等），本系统尚未启用这种布局，"
    "未读取：单县部署请把文件直接放入 townships、dibao、insurance 或 claims 文件夹"
)


def survey(inbox: Path, limits: InboxLimits | None = None) -> list[Entry]:
    """Every entry of the inbox with what is to become of it, without following a link or
    opening a file: the source folders in order, each oldest first (so a later submission
    of the same township replaces an earlier one in the same run), then what lies outside
    them."""
    limits = limits or InboxLimits()
    try:
        top = sorted(os.scandir(inbox), key=lambda e: e.name)
    except (FileNotFoundError, NotADirectoryError):
        return []
    entries: list[Entry] = []
    outside: list[Entry] = []
    for folder in SOURCE_FOLDERS:
        base = inbox / folder
        try:
            st = base.lstat()
        except FileNotFoundError:
            continue
        if stat.S_ISLNK(st.st_mode):
            entries.append(_entry(folder, base, inbox, st, _link_reason(base, inbox)))
        elif stat.S_ISDIR(st.st_mode):
            found = list(_walk(folder, base, inbox, limits))
            found.sort(key=lambda e: (e.mtime_ns, e.path.name))
            entries.extend(found)
        else:
            outside.append(Entry("", base, folder, ignored=f"“{folder}”应是文件夹，未读取"))
    for item in top:
        if item.name in SOURCE_FOLDERS:
            continue
        rel = item.name
        if item.is_dir(follow_symlinks=False):
            why = COUNTY_FOLDER if rel.isdigit() and len(rel) == 6 else UNKNOWN_FOLDER
            inside = list(_walk_ignored(Path(item.path), inbox, why))
            outside.extend(inside or [Entry("", Path(item.path), rel, ignored=why)])
        elif item.is_symlink():
            why = "是符号链接（快捷方式），不属于任何数据来源，未读取"
            outside.append(Entry("", Path(item.path), rel, ignored=why))
        else:
            outside.append(Entry("", Path(item.path), rel, ignored=TOP_LEVEL_FILE))
    return entries + outside


def _walk_ignored(base: Path, inbox: Path, why: str) -> Iterable[Entry]:
    """Every entry under a folder that is not a source, to report (links not followed)."""
    pending = [base]
    while pending:
        here = pending.pop()
        try:
            items = sorted(os.scandir(here), key=lambda e: e.name)
        except OSError:
            yield Entry("", here, here.relative_to(inbox).as_posix(), ignored=why)
            continue
        for item in items:
            path = Path(item.path)
            if item.is_dir(follow_symlinks=False):
                pending.append(path)
            else:
                yield Entry("", path, path.relative_to(inbox).as_posix(), ignored=why)


def _walk(folder: str, base: Path, inbox: Path, limits: InboxLimits) -> Iterable[Entry]:
    """The entries of a source folder and its sub-folders; links and hidden folders are
    entries, never entered."""
    pending = [base]
    while pending:
        here = pending.pop()
        try:
            items = sorted(os.scandir(here), key=lambda e: e.name)
        except FileNotFoundError:
            continue  # gone since it was listed: nothing left to account for
        except OSError as exc:
            reason = f"文件夹无法打开（{type(exc).__name__}），其中的文件未读取"
            yield Entry(folder, here, here.relative_to(inbox).as_posix(), refused=reason)
            continue
        for item in items:
            path = Path(item.path)
            try:
                st = item.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
            except OSError as exc:
                yield _entry(folder, path, inbox, None, readers.open_failure_reason(exc))
                continue
            mode = st.st_mode
            if stat.S_ISLNK(mode):
                yield _entry(folder, path, inbox, st, _link_reason(path, inbox))
            elif stat.S_ISDIR(mode):
                if item.name.lower().endswith(tuple(SPREADSHEET_SUFFIXES)):
                    yield _entry(folder, path, inbox, st, FOLDER_AS_FILE)
                elif item.name.startswith((".", "~$")):
                    yield _entry(folder, path, inbox, st, HIDDEN_FOLDER)
                else:
                    pending.append(path)
            elif not stat.S_ISREG(mode):
                yield _entry(folder, path, inbox, st, readers.not_a_file(mode))
            elif item.name.startswith("~$"):
                yield _entry(folder, path, inbox, st, LOCK_FILE)
            elif item.name.startswith("."):
                yield _entry(folder, path, inbox, st, HIDDEN_FILE)
            elif st.st_size > limits.max_file_bytes:
                yield _entry(folder, path, inbox, st, readers.too_big_reason(st.st_size, limits))
            else:
                yield _entry(folder, path, inbox, st, None)


def _entry(
    folder: str, path: Path, inbox: Path, st: os.stat_result | None, refused: str | None
) -> Entry:
    rel = path.relative_to(inbox).as_posix()
    if st is None:
        return Entry(folder, path, rel, refused=refused)
    return Entry(folder, path, rel, st.st_size, st.st_mtime_ns, refused)


def _link_reason(link: Path, inbox: Path) -> str:
    """Where a link points, said without reading it: inside the inbox by its path there,
    outside by nothing at all (the office need not learn what is outside)."""
    try:
        target = link.resolve(strict=False)
        inbox = inbox.resolve()
    except (OSError, RuntimeError):  # a loop of links
        return OUTSIDE_LINK
    if target == inbox or inbox in target.parents:
        where = target.relative_to(inbox).as_posix() or "收件箱本身"
        return (
            f"是指向收件箱内“{where}”的符号链接（快捷方式），未读取：链接不作为报送文件，"
            "请直接放入文件本身"
        )
    return OUTSIDE_LINK


def scan_inbox(inbox: Path) -> list[tuple[str, Path]]:
    """(source folder, path) of every file to be read, oldest first within a folder, so a
    later submission of the same township replaces an earlier one in the same run."""
    return [(e.folder, e.path) for e in survey(inbox) if not (e.refused or e.ignored)]


def biggest_first(inbox: Path) -> list[tuple[str, Path]]:
    """`scan_inbox`, the folder holding the biggest file first (its write is the longest, so
    it should start first); within a folder the order stays oldest first."""
    return [(e.folder, e.path) for e in _biggest_first(survey(inbox))]


def _biggest_first(entries: list[Entry]) -> list[Entry]:
    files = [e for e in entries if not (e.refused or e.ignored)]
    biggest: dict[str, int] = {}
    for e in files:
        biggest[e.folder] = max(biggest.get(e.folder, 0), e.size)
    return sorted(files, key=lambda e: -biggest[e.folder])  # stable: keeps a folder's order


# ---------------------------------------------------------------- hashing and archiving


class _Changed(Exception):
    """The file changed between being hashed and being archived."""


def placeholder_sha(rel_path: str, size: int, mtime_ns: int) -> str:
    """The key of a file quarantined unread: the same file (path, size, mtime) is the same
    row every night; the file made readable, or replaced, is a new one."""
    return hashlib.sha256(f"unreadable:{rel_path}:{size}:{mtime_ns}".encode()).hexdigest()


def _open_beneath(inbox: Path, rel_path: str) -> tuple[int, os.stat_result]:
    """The file at `inbox/rel_path`, opened one folder at a time without following a link
    (one swapped in since the survey included): `readers.open_regular` beneath the inbox."""
    *folders, name = rel_path.split("/")
    directory = os.open(inbox, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for part in folders:
            flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
            try:
                inner = os.open(part, flags, dir_fd=directory)
            except OSError as exc:
                why = readers.open_failure_reason(exc)
                if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                    why = "所在文件夹在读取前被换成了链接或文件，未读取"
                raise readers.UnreadableFile(why) from exc
            os.close(directory)
            directory = inner
        return readers.open_regular(name, dir_fd=directory)
    finally:
        os.close(directory)


def _hash(fd: int, limit: int) -> tuple[str, int]:
    """SHA-256 and size of an open file, refusing to read past `limit` bytes."""
    digest = hashlib.sha256()
    size = 0
    os.lseek(fd, 0, os.SEEK_SET)
    while block := os.read(fd, 1 << 20):
        size += len(block)
        if size > limit:
            raise _TooBig(size)
        digest.update(block)
    return digest.hexdigest(), size


class _TooBig(Exception):
    def __init__(self, size: int) -> None:
        super().__init__(size)
        self.size = size


def archive(fd: int, sha: str, size: int, suffix: str, settings: Settings) -> Path:
    """Store the open file unchanged under its hash (idempotent), 0600 in 0700 folders;
    raises `_Changed` if the bytes copied are not the `size` bytes hashed."""
    folder = private_dir(private_dir(settings.files_dir) / sha[:2])
    target = folder / f"{sha}{suffix.lower()}"
    if target.exists():
        private_file(target)  # an older deployment archived it 0644
        return target
    handle, tmp = tempfile.mkstemp(dir=folder, prefix=f".{sha[:8]}-", suffix=".part")  # 0600
    try:
        digest = hashlib.sha256()
        copied = 0
        os.lseek(fd, 0, os.SEEK_SET)
        with open(handle, "wb") as out:
            while (block := os.read(fd, 1 << 20)) and copied <= size:
                copied += len(block)
                digest.update(block)
                out.write(block)
        if copied != size or digest.hexdigest() != sha:
            raise _Changed(sha)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


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


@dataclass(frozen=True)
class Registered:
    """A new file, archived and recorded as "loading", waiting to be parsed and stored."""

    folder: str
    path: Path  # in the inbox
    rel_path: str
    file_id: int
    stored: Path  # the archived copy: what is parsed
    limits: InboxLimits = field(default_factory=InboxLimits)  # what it may expand to
    size: int = 0  # bytes


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


def register(
    engine: Engine,
    settings: Settings,
    folder: str,
    path: Path,
    inbox: Path,
    run_id: int,
    seen: set[str] | None = None,
) -> Registered | FileOutcome:
    """`register_entry` for a file named by its path (what the benchmarks call)."""
    limits = load_policy(settings.policy_file).inbox
    rel = path.relative_to(inbox).as_posix()
    try:
        st = path.lstat()
    except OSError:
        return register_entry(engine, settings, Entry(folder, path, rel), inbox, run_id, seen)
    entry = Entry(folder, path, rel, st.st_size, st.st_mtime_ns)
    return register_entry(engine, settings, entry, inbox, run_id, seen, limits)


def register_entry(
    engine: Engine,
    settings: Settings,
    entry: Entry,
    inbox: Path,
    run_id: int,
    seen: set[str] | None = None,
    limits: InboxLimits | None = None,
) -> Registered | FileOutcome:
    """Hash the file; a known hash is a duplicate (an outcome), a new one is archived and
    recorded.  A file an earlier run left "loading" has its partial rows removed first.
    `seen`: hashes registered earlier in this pass (a second copy in the inbox is a duplicate,
    not a leftover).  A file that cannot be opened, read or archived, for whatever reason,
    is quarantined unread (`quarantine_unread`); only the warehouse's errors propagate."""
    if entry.refused:
        return quarantine_unread(engine, entry, entry.refused, run_id)
    limits = limits or InboxLimits()
    try:
        fd, st = _open_beneath(inbox, entry.rel_path)
    except readers.UnreadableFile as exc:
        return quarantine_unread(engine, entry, exc.reason, run_id)
    except OSError as exc:  # the inbox itself could not be opened
        return quarantine_unread(engine, entry, readers.open_failure_reason(exc), run_id)
    try:
        return _register_open(engine, settings, entry, fd, st, run_id, seen, limits)
    finally:
        os.close(fd)


def _register_open(
    engine: Engine,
    settings: Settings,
    entry: Entry,
    fd: int,
    st: os.stat_result,
    run_id: int,
    seen: set[str] | None,
    limits: InboxLimits,
) -> Registered | FileOutcome:
    folder, rel, path = entry.folder, entry.rel_path, entry.path
    seen_as = Entry(folder, path, rel, st.st_size, st.st_mtime_ns)
    try:
        sha, size = _hash(fd, limits.max_file_bytes)
    except _TooBig as big:
        return quarantine_unread(engine, seen_as, readers.too_big_reason(big.size, limits), run_id)
    except OSError as exc:
        reason = f"文件读取出错（{type(exc).__name__}），未读取"
        return quarantine_unread(engine, seen_as, reason, run_id)
    known = db.file_by_sha(engine, sha)
    if known is not None and (known["status"] != "loading" or sha in (seen or ())):
        return FileOutcome(rel, folder, "duplicate", file_id=known["id"])
    if seen is not None:
        seen.add(sha)
    try:
        stored = archive(fd, sha, size, path.suffix, settings)
    except _Changed:
        reason = "文件在读取期间被改动（可能仍在上传或保存），未读取：下次核查时将重新读取"
        return quarantine_unread(engine, seen_as, reason, run_id)
    except OSError as exc:
        log.error("archiving %s failed: %s", rel, type(exc).__name__)
        reason = (
            f"文件存档失败（服务器磁盘或权限问题：{type(exc).__name__}），文件本身未必有问题，"
            "未读取：请系统管理员检查存档目录，下次核查时将重新读取"
        )
        return quarantine_unread(engine, seen_as, reason, run_id)
    if known is not None:  # an earlier run died while loading this file: start it again
        _delete_file_rows(engine, known["id"])
        return Registered(folder, path, rel, known["id"], stored, limits, size)
    file_id = db.record_file(
        engine,
        source=folder,
        name=path.name,
        rel_path=rel,
        sha256=sha,
        size=size,
        run_id=run_id,
        status="loading",
        archive_path=str(stored),
    )
    return Registered(folder, path, rel, file_id, stored, limits, size)


def quarantine_unread(engine: Engine, entry: Entry, reason: str, run_id: int) -> FileOutcome:
    """Record a file that was not read (it has no content hash: `placeholder_sha`), once:
    the same file seen again is a duplicate of that row."""
    rel, folder = entry.rel_path, entry.folder
    sha = placeholder_sha(rel, entry.size, entry.mtime_ns)
    known = db.file_by_sha(engine, sha)
    if known is not None:
        return FileOutcome(rel, folder, "duplicate", known["reason"], known["id"])
    file_id = db.record_file(
        engine,
        source=folder,
        name=entry.path.name,
        rel_path=rel,
        sha256=sha,
        size=entry.size,
        run_id=run_id,
        status="quarantined",
        reason=reason,
    )
    log.warning("quarantined %s unread: %s", rel, reason)
    return FileOutcome(rel, folder, "quarantined", reason, file_id)


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
            writer.submit(_delete_file_rows, engine, file.file_id).result()
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


def ingest_inbox(engine: Engine, settings: Settings, inbox: Path, run_id: int) -> list[FileOutcome]:
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
    entries = survey(inbox, policy.inbox)
    order = _biggest_first(entries)
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
        db.refresh_statistics(
            engine, ["source_file", "file_issue", "staged_rows", *CANONICAL_TABLES.values()]
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


def _delete_file_rows(engine: Engine, file_id: int) -> None:
    for table in (*CANONICAL_TABLES.values(), "staged_rows", "file_issue"):
        db.delete_rows(engine, table, file_id)
