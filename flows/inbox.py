"""The inbox surveyed: every entry under it gets an outcome (`FileOutcome`), and nothing
outside it is read.
- No link is followed, wherever it points: a link in a source folder (to a file or a
  folder, inside the inbox or out of it) is quarantined unread, and the reason says whether
  it points inside the inbox (naming the target) or out of it (naming nothing).  A source
  folder that is itself a link is quarantined the same way.  The inbox path may be a link:
  it is resolved once, by the caller.
- Hidden names (`.x`) and Office lock files (`~$x.xlsx`) are quarantined unread with what
  they are; so are FIFOs, devices, folders named like a spreadsheet, and files over
  `[inbox] max_file_bytes`.
- Entries at the inbox's top level or in folders that are not a source (`ignored`) are
  reported with a reason in the outcomes, not recorded: they belong to no source.
The survey opens no file; reading them is `flows.registration`'s.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from config.settings import InboxLimits
from flows import readers

SOURCE_FOLDERS = ("townships", "dibao", "insurance", "claims")
SPREADSHEET_SUFFIXES = {".xlsx", ".xls", ".xlsm", ".csv"}


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
    "所在文件夹是按县（市、区）分设的文件夹（县级代码/townships 等），属于多县（市级）收件"
    "目录布局，本次按单县收件目录运行，未读取：单县部署请把文件直接放入 townships、dibao、"
    "insurance 或 claims 文件夹；多县部署请用 PostgreSQL 仓库运行 fupin nightly"
)


COUNTY_SOURCES = ("townships", "dibao")  # a county's own, in its folder of a city inbox
CITY_SOURCES = ("insurance", "claims")  # city-wide, at the top of a city inbox
IN_COUNTY_FOLDER = (
    "多县（市级）部署中，医保参保名册和结算明细是全市数据，应放在收件目录顶层的 insurance、"
    "claims 文件夹，不放在县级代码文件夹内；未读取"
)
AT_CITY_TOP = (
    "多县（市级）部署中，乡镇花名册和低保名册应放在所属县（市、区）的县级代码文件夹内"
    "（如 440282/townships、440282/dibao）；未读取"
)


@dataclass(frozen=True)
class Layout:
    """Which source folders a survey reads, and what it says of the others.

    SINGLE is a single-county inbox (sources.md's first layout).  In a multi-county inbox,
    each county's folder is surveyed as IN_COUNTY (its 花名册 and 低保 roll) and the top as
    CITY_TOP (the city-wide extracts; the county folders are the counties' own surveys)."""

    sources: tuple[str, ...] = SOURCE_FOLDERS
    misplaced: str | None = None  # why a source folder of the other part is not read here
    county_folders_are_surveyed: bool = False
    # Entries (inbox-relative paths) another task of the same run takes: the city's extract
    # files are loaded side by side, a file per task (flows.city).
    elsewhere: frozenset[str] = frozenset()


SINGLE = Layout()
IN_COUNTY = Layout(COUNTY_SOURCES, IN_COUNTY_FOLDER)
CITY_TOP = Layout(CITY_SOURCES, AT_CITY_TOP, county_folders_are_surveyed=True)


def is_county_folder(name: str) -> bool:
    return name.isdigit() and len(name) == 6


def county_folders(inbox: Path) -> list[str]:
    """The county codes an inbox has folders for (sources.md's multi-county layout)."""
    if not inbox.is_dir():
        return []
    return sorted(p.name for p in inbox.iterdir() if p.is_dir() and is_county_folder(p.name))


def survey(inbox: Path, limits: InboxLimits | None = None, layout: Layout = SINGLE) -> list[Entry]:
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
    for folder in layout.sources:
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
        if item.name in layout.sources:
            continue
        rel = item.name
        if layout.county_folders_are_surveyed and is_county_folder(rel):
            continue
        if item.is_dir(follow_symlinks=False):
            if item.name in SOURCE_FOLDERS:
                why = layout.misplaced or UNKNOWN_FOLDER
            else:
                why = COUNTY_FOLDER if is_county_folder(rel) else UNKNOWN_FOLDER
            inside = list(_walk_ignored(Path(item.path), inbox, why))
            outside.extend(inside or [Entry("", Path(item.path), rel, ignored=why)])
        elif item.is_symlink():
            why = "是符号链接（快捷方式），不属于任何数据来源，未读取"
            outside.append(Entry("", Path(item.path), rel, ignored=why))
        else:
            outside.append(Entry("", Path(item.path), rel, ignored=TOP_LEVEL_FILE))
    return [e for e in entries + outside if e.rel_path not in layout.elsewhere]


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
    return [(e.folder, e.path) for e in by_biggest_folder(survey(inbox))]


def by_biggest_folder(entries: list[Entry]) -> list[Entry]:
    files = [e for e in entries if not (e.refused or e.ignored)]
    biggest: dict[str, int] = {}
    for e in files:
        biggest[e.folder] = max(biggest.get(e.folder, 0), e.size)
    return sorted(files, key=lambda e: -biggest[e.folder])  # stable: keeps a folder's order
