"""Personal data at rest: files only the service user can read, in folders only it can enter.

The warehouse, the archived inbox files, the exports, the fix lists, the reports and the
annual archive hold full ID numbers and phone numbers.  Everything fupin writes there is
0600 in 0700 folders, whatever the process umask:

- `private_dir` makes a folder (and the missing folders above it) 0700.  A folder fupin owns
  under FUPIN_HOME is tightened if it exists already (an older deployment made it 0755); a
  folder a person named on the command line (`--out`) is made 0700 when fupin creates it
  and otherwise left as it is: the files written into it are still 0600.
- `open_private` creates a file 0600 from the start; `private_file` tightens one written by
  a library that opens its own files (xlsxwriter, WeasyPrint, Parquet), inside a 0700 folder
  so that nobody else can reach it meanwhile; `private_tree` does a whole staged folder.
- `private_database` makes the SQLite file 0600 before SQLite opens it: SQLite creates its
  -wal, -shm and -journal files with the mode of the database file, so they follow.

Modes are not content: hashes (`fupin snapshot verify`) and byte-identical rebuilds are
untouched.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path
from typing import IO, Any

DIR_MODE = 0o700
FILE_MODE = 0o600
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")


def private_dir(path: Path, *, tighten: bool = True) -> Path:
    """`path` as a folder: created 0700 with any missing parents; an existing one is set to
    0700 when `tighten` (fupin's own folders), left alone otherwise (a folder a person
    chose)."""
    path = Path(path)
    missing: list[Path] = []
    probe = path
    while not probe.exists() and probe != probe.parent:
        missing.append(probe)
        probe = probe.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=DIR_MODE)
        except FileExistsError:
            if not folder.is_dir():
                raise
            continue  # made meanwhile by another thread or process: leave it to its maker
        os.chmod(folder, DIR_MODE)  # mkdir's mode passes through the umask
    if tighten and path not in missing and stat.S_IMODE(path.stat().st_mode) != DIR_MODE:
        os.chmod(path, DIR_MODE)
    return path


def private_file(path: Path) -> Path:
    """Make a file that exists 0600 (no-op if it is already)."""
    path = Path(path)
    if stat.S_IMODE(path.stat().st_mode) != FILE_MODE:
        os.chmod(path, FILE_MODE)
    return path


def open_private(path: Path, mode: str = "wb", **kwargs: Any) -> IO[Any]:
    """`open(path, mode)` for writing a file that is 0600 from its first byte (an existing
    file is truncated and tightened)."""
    if not mode.startswith(("w", "x")):
        raise ValueError(f"open_private writes; mode {mode!r}")
    flags = os.O_WRONLY | os.O_CREAT | (os.O_EXCL if mode.startswith("x") else os.O_TRUNC)
    fd = os.open(path, flags | getattr(os, "O_CLOEXEC", 0), FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)  # an existing file keeps its old mode through O_TRUNC
        return open(fd, mode.replace("x", "w"), **kwargs)  # noqa: SIM115 - the caller closes
    except BaseException:
        os.close(fd)
        raise


def private_tree(root: Path) -> Path:
    """Every folder under `root` (itself included) 0700, every file 0600; links untouched."""
    root = Path(root)
    private_dir(root)
    for folder, dirs, files in os.walk(root):
        for name in dirs:
            path = Path(folder, name)
            if not path.is_symlink():
                os.chmod(path, DIR_MODE)
        for name in files:
            path = Path(folder, name)
            if not path.is_symlink():
                private_file(path)
    return root


def private_database(path: Path) -> Path:
    """The SQLite file, 0600 before SQLite first opens it (an empty file is a new database to
    SQLite), and any -wal/-shm/-journal left by an earlier process 0600 too."""
    path = Path(path)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
    for candidate in (path, *(Path(f"{path}{suffix}") for suffix in SQLITE_COMPANIONS)):
        if candidate.is_file() and not candidate.is_symlink():
            private_file(candidate)
    return path
