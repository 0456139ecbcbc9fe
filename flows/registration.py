"""A new inbox file registered: opened beneath the inbox, hashed, archived under its hash and
recorded as "loading" (`Registered`), or known already (a duplicate), or quarantined unread.
- Files are opened beneath the inbox one folder at a time, none followed if it became a
  link meanwhile, and read once to hash, once more to archive (0600, `config.private`)
  only if new; the bytes parsed are the archived copy, so what is loaded is what was hashed.
- A file that cannot be opened, read or archived for any reason (permissions, vanished,
  a full disk) is quarantined, and the night goes on: only a failure to write the
  warehouse stops it.
A file quarantined unread has no content hash; its row is keyed by a placeholder
(`placeholder_sha`: its path, size and mtime), so the same unreadable file is the same row
every night, and the file made readable later is a new file.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine

from config.private import private_dir, private_file
from config.settings import InboxLimits, Settings, load_policy
from flows import readers
from flows.inbox import Entry, FileOutcome
from warehouse import db, models

log = logging.getLogger(__name__)

CANONICAL_TABLES = {**models.CANONICAL_TABLES, "household": "roster_household"}


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
        delete_file_rows(engine, known["id"])
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


def delete_file_rows(engine: Engine, file_id: int) -> None:
    for table in (*CANONICAL_TABLES.values(), "staged_rows", "file_issue"):
        db.delete_rows(engine, table, file_id)
