"""Turn an inbox file into raw grids of text, exactly as a person sees the sheet.

A grid is a polars frame of Utf8 columns `c0..cN`, one row per spreadsheet row including blank
rows, so grid row `i` is Excel row `i + 1` (for CSV: record `i + 1`).  Empty cells are null.
Merged cells hold their value in the top-left cell only, as Excel stores them; the header and
household logic downstream knows that.

Why python-calamine and not fastexcel's frames: fastexcel turns a number cell into text through
a full-precision integer (`4.4028219900101133E+17` → `440282199001011328`), which invents the
digits Excel lost, and it trims leading empty rows and columns, which would shift row numbers.
python-calamine (the same Rust reader) hands us typed cells, and `_cell_text` renders them
as Excel shows them.

A file that cannot be read raises `UnreadableFile` with a reason in Chinese; nothing about the
file's content (names, IDs) goes into that reason.

Hostile files stop here, before a reader that would trust them sees them (`InboxLimits`,
policy.toml [inbox]): a file is opened without following a link and must be a regular file
no bigger than `max_file_bytes`; a workbook's zip directory is checked (parts, total size,
compression ratio, overlapping parts) and every part is inflated once, in bounded memory, to
confirm the directory tells the truth; and the cells of every sheet are counted from the
sheet XML or the BIFF records, blank ones included, because calamine builds every sheet as a
dense grid from A1: one cell at XFD1048576 in a 5 KB file is 17 billion cells and ends the
process (a Rust abort, not an exception).  .xlsb and .ods content is refused: the sources
are .xlsx, .xls and CSV (sources.md), and their cells cannot be counted this cheaply.
"""

from __future__ import annotations

import codecs
import csv
import errno
import io
import os
import re
import stat
import struct
import zipfile
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path

import polars as pl
import python_calamine
from xlrd import compdoc

from config.schema import Source
from config.settings import InboxLimits
from transforms.headers import HEADER_SEARCH_ROWS, MissingColumns, TableLayout, locate_table

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ZIP_MAGIC = b"PK\x03\x04"
CSV_SUFFIXES = {".csv", ".txt", ".tsv"}
_DELIMITERS = (",", "\t", ";", "|")
DEFAULT_LIMITS = InboxLimits()
MAX_TEXT_COLUMNS = 16_384  # Excel's widest sheet; a wider CSV is not a table anyone typed


@dataclass
class RawSheet:
    name: str  # sheet name; '' for CSV
    grid: pl.DataFrame  # Utf8 columns c0..cN; row i is spreadsheet row i + 1
    hidden: bool = False  # hidden or very hidden in the workbook


class UnreadableFile(Exception):
    """The file cannot be read at all; `reason` is the Chinese sentence for the quarantine."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# ---------------------------------------------------------------- public API


def read_sheets(path: Path, limits: InboxLimits | None = None) -> list[RawSheet]:
    """Every sheet of a workbook (.xlsx/.xlsm/.xls), or the one table of a CSV."""
    path = Path(path)
    limits = limits or DEFAULT_LIMITS
    data = _read_bytes(path, limits)
    kind = _sniff(data, path)
    if kind == "text":
        return [RawSheet("", _text_grid(data))]
    sheets = _read_workbook(data, kind, limits)
    if all(sheet.grid.height == 0 for sheet in sheets):
        raise UnreadableFile("文件为空：工作簿中没有任何内容")
    return sheets


def read_csv_table(
    path: Path, source: Source, limits: InboxLimits | None = None
) -> tuple[RawSheet, TableLayout]:
    """A big extract in one go: the grid (read by polars, all text) and where its table is.

    The header is searched in the first 10 records; everything below is read by polars'
    CSV reader as Utf8, never row by row in Python.  A workbook is accepted too (the first
    sheet whose header is recognised), so the caller need not care what the bureau sent.
    Raises `UnreadableFile` or `transforms.headers.MissingColumns`.
    """
    sheets = read_sheets(path, limits)
    first_error: MissingColumns | None = None
    for sheet in sheets:
        if sheet.grid.height == 0:
            continue
        try:
            return sheet, locate_table(sheet.grid, source)
        except MissingColumns as exc:  # try the next sheet; report the first sheet's problem
            first_error = first_error or exc
    if first_error is not None:
        raise first_error
    raise UnreadableFile("文件为空")


# ---------------------------------------------------------------- file kinds


def open_regular(path: Path | str, dir_fd: int | None = None) -> tuple[int, os.stat_result]:
    """A read-only descriptor of the regular file at `path` (relative to `dir_fd` if given),
    and its stat: a link is not followed, a FIFO is not waited on; anything that is not a
    regular file raises `UnreadableFile` naming what it is."""
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0) | os.O_CLOEXEC
    try:
        fd = os.open(path, flags, dir_fd=dir_fd)
    except OSError as exc:
        raise UnreadableFile(open_failure_reason(exc)) from exc
    try:
        st = os.fstat(fd)
        what = not_a_file(st.st_mode)
        if what:
            raise UnreadableFile(what)
    except BaseException:
        os.close(fd)
        raise
    return fd, st


def open_failure_reason(exc: OSError) -> str:
    """Why a file could not be opened, for a clerk (no path, no content)."""
    if isinstance(exc, FileNotFoundError):
        return "文件不存在（可能在读取前被移走或删除）"
    if exc.errno == errno.ELOOP:
        return "是符号链接（快捷方式），未读取：链接不作为报送文件，请直接放入文件本身"
    if isinstance(exc, PermissionError):
        return "没有读取权限，未读取：请检查文件权限（服务账户须能读取）后重新上报"
    if isinstance(exc, IsADirectoryError):
        return "不是文件，是文件夹"
    return f"文件无法打开（{type(exc).__name__}），未读取"


def not_a_file(mode: int) -> str | None:
    """What an inbox entry is when it is not a regular file (None for a regular file)."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "不是文件，是文件夹"
    if stat.S_ISLNK(mode):
        return "是符号链接（快捷方式），未读取：链接不作为报送文件，请直接放入文件本身"
    kind = (
        "命名管道"
        if stat.S_ISFIFO(mode)
        else "套接字"
        if stat.S_ISSOCK(mode)
        else "设备文件"
        if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
        else "特殊文件"
    )
    return f"不是普通文件（{kind}），未读取"


def size_text(n: float) -> str:
    """1536 → '1.5 KB'; sizes in reasons are for people."""
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" or n >= 100 else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"  # pragma: no cover


def too_big_reason(size: int, limits: InboxLimits) -> str:
    return (
        f"文件过大：{size_text(size)}，超过上限{size_text(limits.max_file_bytes)}"
        "（policy.toml [inbox] max_file_bytes），未读取。请确认是否导出了多余的内容，"
        "或分成几个文件重新上报"
    )


def _read_bytes(path: Path, limits: InboxLimits) -> bytes:
    fd, st = open_regular(path)
    with open(fd, "rb") as fh:  # closes fd
        if st.st_size > limits.max_file_bytes:
            raise UnreadableFile(too_big_reason(st.st_size, limits))
        try:
            data = fh.read(limits.max_file_bytes + 1)
        except OSError as exc:
            raise UnreadableFile(f"文件无法读取（{type(exc).__name__}），未读取") from exc
    if len(data) > limits.max_file_bytes:  # it grew while being read
        raise UnreadableFile(too_big_reason(len(data), limits))
    if not data[:4096].strip(b" \t\r\n\x00") and not data.strip(b" \t\r\n\x00"):
        raise UnreadableFile("文件为空（0字节或只有空白）")
    return data


def _sniff(data: bytes, path: Path) -> str:
    """'zip' (xlsx, ods), 'ole' (xls) or 'text' (CSV); else UnreadableFile naming what the
    file really is.  The content decides, not the extension."""
    head = data[:4096]
    lowered = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith(ZIP_MAGIC):
        return "zip"
    if head.startswith(OLE_MAGIC):
        return "ole"
    if head.startswith(b"%PDF"):
        raise UnreadableFile("不是电子表格：文件实际是PDF文档，请上报Excel或CSV文件")
    for magic, what in (
        (b"\x89PNG", "PNG图片"),
        (b"\xff\xd8\xff", "JPEG图片"),
        (b"GIF8", "GIF图片"),
        (b"Rar!", "RAR压缩包"),
        (b"7z\xbc\xaf", "7z压缩包"),
        (b"\x1f\x8b", "gzip压缩包"),
        (b"{\\rtf", "RTF文档"),
    ):
        if head.startswith(magic):
            raise UnreadableFile(f"不是电子表格：文件实际是{what}")
    if head.startswith(b"BM") and head[6:10] == b"\x00\x00\x00\x00":
        raise UnreadableFile("不是电子表格：文件实际是BMP图片")
    if lowered.startswith((b"<!doctype html", b"<html", b"<table", b"<meta")) or (
        b"<html" in lowered[:1024]
    ):
        raise UnreadableFile(
            f"不是电子表格：文件扩展名为{path.suffix or '（无）'}，实际是网页（HTML）格式，"
            "请用Excel打开后另存为.xlsx再上报"
        )
    if lowered.startswith(b"<?xml"):
        raise UnreadableFile("不是支持的电子表格：文件是XML格式（如Excel 2003 XML），请另存为.xlsx")
    if b"\x00" in head and not head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise UnreadableFile("不是电子表格：文件内容无法识别（二进制数据）")
    if path.suffix.lower() in CSV_SUFFIXES:
        return "text"
    # A spreadsheet name on plain text: some systems export delimited text as .xls.
    text = _decode(data[:65536])
    first_lines = [line for line in text.splitlines()[:10] if line.strip()]
    if first_lines and any(d in line for line in first_lines for d in _DELIMITERS):
        return "text"
    raise UnreadableFile(
        f"不是电子表格：文件扩展名为{path.suffix}，实际是纯文本，且不是以逗号或制表符分隔的表格"
    )


def _read_workbook(data: bytes, kind: str, limits: InboxLimits) -> list[RawSheet]:
    if kind == "zip":
        _check_zip(data, limits)
    else:
        _check_biff(data, limits)
    try:
        book = python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(data))
    except python_calamine.PasswordError as exc:
        raise UnreadableFile("文件已加密（设有打开密码），请去掉密码后重新上报") from exc
    except Exception as exc:  # calamine's errors carry file internals; the type is enough
        raise UnreadableFile(_damage_reason(data, kind, exc)) from exc
    sheets: list[RawSheet] = []
    for meta in book.sheets_metadata:
        if meta.typ != python_calamine.SheetTypeEnum.WorkSheet:
            continue  # chart and macro sheets hold no cells
        try:
            cells = book.get_sheet_by_name(meta.name).to_python(skip_empty_area=False)
        except python_calamine.PasswordError as exc:
            raise UnreadableFile("文件已加密（设有打开密码），请去掉密码后重新上报") from exc
        except Exception as exc:
            raise UnreadableFile(_damage_reason(data, kind, exc)) from exc
        hidden = meta.visible != python_calamine.SheetVisibleEnum.Visible
        sheets.append(RawSheet(meta.name, _cells_grid(cells), hidden))
    if not sheets:
        raise UnreadableFile("文件损坏或不含任何工作表")
    return sheets


_SETTING = "（policy.toml [inbox] {}）"
_BOMB = "疑为恶意构造的“压缩炸弹”，未读取"
RATIO_FLOOR = 1024**2  # a part smaller than this inflated cannot hurt, whatever its ratio
_INFLATE_CHUNK = 8 * 1024**2
_EOCD = b"PK\x05\x06"


def _check_zip(data: bytes, limits: InboxLimits) -> None:
    """Name what a zip really is, and refuse one that would expand beyond the limits, before
    calamine sees it: from the directory first (parts, total, ratio, overlaps), then by
    inflating every part once in bounded memory (the directory may lie) while counting the
    cells of its sheets."""
    declared = _eocd_entries(data)
    if declared is not None and declared > limits.max_zip_members:
        raise UnreadableFile(_too_many_members(declared, limits))
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            infos = archive.infolist()
    except (zipfile.BadZipFile, EOFError, ValueError, OSError) as exc:
        raise UnreadableFile("文件损坏：压缩结构不完整（可能上传中断或文件被截断）") from exc
    if len(infos) > limits.max_zip_members:
        raise UnreadableFile(_too_many_members(len(infos), limits))
    names = {info.filename for info in infos}
    if "xl/workbook.bin" in names:
        raise UnreadableFile(
            "不是支持的电子表格：文件是Excel二进制工作簿（.xlsb），请另存为.xlsx后重新上报"
        )
    if "content.xml" in names:
        raise UnreadableFile(
            "不是支持的电子表格：文件实际是OpenDocument表格（.ods），请用Excel或WPS另存为.xlsx后重新上报"
        )
    if "xl/workbook.xml" not in names:
        if "word/document.xml" in names:
            raise UnreadableFile("不是电子表格：文件实际是Word文档")
        if "ppt/presentation.xml" in names:
            raise UnreadableFile("不是电子表格：文件实际是PowerPoint文档")
        raise UnreadableFile("不是电子表格：压缩包中没有工作簿")
    _check_directory(data, infos, limits)
    cells = 0
    for info in infos:
        cells += _sheet_cells(data, info, limits.max_cells - cells)
        if cells > limits.max_cells:
            raise UnreadableFile(_too_many_cells(cells, limits))


def _too_many_members(count: int, limits: InboxLimits) -> str:
    return (
        f"文件结构异常：压缩包内有{count}个部件，超过上限{limits.max_zip_members}个"
        f"{_SETTING.format('max_zip_members')}，{_BOMB}"
    )


def _too_many_cells(cells: int, limits: InboxLimits) -> str:
    return (
        f"工作表范围过大：按最远的单元格计，各工作表共约{cells:,}个单元格（含空白），"
        f"超过上限{limits.max_cells:,}个{_SETTING.format('max_cells')}，未读取。"
        "请删除远离数据区的单元格内容或格式后重新上报"
    )


def _eocd_entries(data: bytes) -> int | None:
    """The entry count the zip's end record claims, read before the directory is parsed
    (a directory of millions of entries is itself the attack); None if not found."""
    at = data.rfind(_EOCD, max(0, len(data) - 65_557))
    if at < 0 or at + 22 > len(data):
        return None
    (count,) = struct.unpack_from("<H", data, at + 10)
    locator = at - 20
    if count == 0xFFFF and locator >= 0 and data[locator : locator + 4] == b"PK\x06\x07":
        (offset,) = struct.unpack_from("<Q", data, locator + 8)
        if data[offset : offset + 4] == b"PK\x06\x06" and offset + 40 <= len(data):
            (count,) = struct.unpack_from("<Q", data, offset + 32)
    return int(count)


def _check_directory(data: bytes, infos: list[zipfile.ZipInfo], limits: InboxLimits) -> None:
    total = 0
    spans: list[tuple[int, int]] = []
    for info in infos:
        if info.flag_bits & 0x1:
            raise UnreadableFile("文件已加密（设有打开密码），请去掉密码后重新上报")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise UnreadableFile(
                "文件使用了电子表格不用的压缩方式，未读取；请用Excel或WPS另存为.xlsx后重新上报"
            )
        total += info.file_size
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > RATIO_FLOOR and ratio > limits.max_zip_ratio:
            raise UnreadableFile(
                f"文件压缩比异常：其中一个部件解压后是压缩时的{ratio:,.0f}倍，"
                f"超过上限{limits.max_zip_ratio:g}倍{_SETTING.format('max_zip_ratio')}，{_BOMB}"
            )
        spans.append((info.header_offset, _data_offset(data, info) + info.compress_size))
    if total > limits.max_unzipped_bytes:
        raise UnreadableFile(
            f"文件解压后过大：共{size_text(total)}，超过上限{size_text(limits.max_unzipped_bytes)}"
            f"{_SETTING.format('max_unzipped_bytes')}，{_BOMB}"
        )
    spans.sort()
    for (_, end), (start, _) in zip(spans, spans[1:], strict=False):
        if end > start:
            raise UnreadableFile(f"文件结构异常：压缩包内的部件相互重叠，{_BOMB}")


def _data_offset(data: bytes, info: zipfile.ZipInfo) -> int:
    """Where a part's compressed bytes begin (after its local header)."""
    at = info.header_offset
    if data[at : at + 4] != b"PK\x03\x04" or at + 30 > len(data):
        raise UnreadableFile("文件损坏：压缩结构不完整（可能上传中断或文件被截断）")
    name_length, extra_length = struct.unpack_from("<HH", data, at + 26)
    end = at + 30 + name_length + extra_length
    if end + info.compress_size > len(data):
        raise UnreadableFile("文件损坏：压缩结构不完整（可能上传中断或文件被截断）")
    return end


def _inflate(data: bytes, info: zipfile.ZipInfo) -> Iterator[bytes]:
    """A part's bytes, a chunk at a time; never more than the directory says it holds."""
    start = _data_offset(data, info)
    raw = memoryview(data)[start : start + info.compress_size]
    if info.compress_type == zipfile.ZIP_STORED:
        if len(raw) != info.file_size:
            raise UnreadableFile(f"文件结构异常：部件大小与压缩包目录记载不符，{_BOMB}")
        for at in range(0, len(raw), _INFLATE_CHUNK):
            yield bytes(raw[at : at + _INFLATE_CHUNK])
        return
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    produced = 0
    try:
        for at in range(0, len(raw), 1 << 20):
            pending = bytes(raw[at : at + (1 << 20)])
            while pending:
                out = inflater.decompress(pending, _INFLATE_CHUNK)
                pending = inflater.unconsumed_tail
                produced += len(out)
                if produced > info.file_size:
                    raise UnreadableFile(f"文件结构异常：部件解压后比压缩包目录记载的大，{_BOMB}")
                if out:
                    yield out
            if inflater.eof:
                break
        produced += len(inflater.flush())
    except zlib.error as exc:
        raise UnreadableFile("文件损坏，无法读取（压缩数据有误）") from exc
    if produced != info.file_size or not inflater.eof:
        raise UnreadableFile("文件损坏，无法读取（压缩数据不完整）")


_PREFIX = rb"(?:[A-Za-z_][\w.\-]*:)?"
_PREFIXED_CELL_TAG = re.compile(rb"<[A-Za-z_][\w.\-]*:c[\s/>]")
_CELL_REF = re.compile(rb"<" + _PREFIX + rb"c\s[^>]*?(?<=\s)r\s*=\s*[\"']([A-Za-z]*)([0-9]*)")
_ROW_REF = re.compile(rb"<" + _PREFIX + rb"row\s[^>]*?(?<=\s)r\s*=\s*[\"']([0-9]*)")
_ROW_OR_CELL = re.compile(rb"<" + _PREFIX + rb"(row|c)(?=[\s/>])([^>]*)")
_REF_ATTR = re.compile(rb"(?<=\s)r\s*=\s*[\"']([A-Za-z]*)([0-9]*)")


def _column_number(letters: bytes) -> int:
    n = 0
    for ch in letters.upper():
        n = n * 26 + ch - 64
    return n


# A cell tag that is not `<c r="A1"` to `<c r="Z999999"` (no reference, a wide or far one,
# attributes in another order): rare, and what makes the quick bound below unsafe.
_UNUSUAL_CELL = re.compile(rb'<c(?![A-Za-z])(?! r="[A-Z][0-9]{1,6}")')
_QUICK_BOUND = 26 * 999_999  # every cell within A1:Z999999


def _sheet_cells(data: bytes, info: zipfile.ZipInfo, budget: int) -> int:
    """An upper bound of the grid calamine would build from one part's XML, rows × columns
    from A1 (0 for a part that is not a sheet), exact when `budget` needs it to be.

    Every part is inflated once here (which also confirms the directory's sizes).  When every
    cell names its place within A1:Z999999 the bound is that range, quickly; otherwise the
    farthest reference decides, and if some cells name no place (they follow the one before
    them) the rows and cells are walked in order.  Both are slower, and rare for big files."""
    cells = unusual = 0
    for text in _whole_tags(_inflate(data, info)):
        cells += text.count(b'<c r="')
        unusual += len(_UNUSUAL_CELL.findall(text))
        if b":c" in text:
            unusual += len(_PREFIXED_CELL_TAG.findall(text))
    if not cells and not unusual:
        return 0
    if not unusual and budget >= _QUICK_BOUND:
        return _QUICK_BOUND
    tags = refs = max_row = max_col = 0
    for text in _whole_tags(_inflate(data, info)):
        tags += text.count(b"<c ") + text.count(b"<c>") + text.count(b"<c/")
        tags += sum(text.count(b"<c" + space) for space in (b"\t", b"\n", b"\r"))
        if b":c" in text:
            tags += len(_PREFIXED_CELL_TAG.findall(text))
        found = _CELL_REF.findall(text)
        refs += sum(1 for col, row in found if col and row)  # a whole reference, A1
        letters = {c for c, _ in found}
        if letters:
            max_col = max(max_col, *(_column_number(c) for c in letters))
        rows = [int(r) for _, r in found if r] + [int(r) for r in _ROW_REF.findall(text) if r]
        if rows:
            max_row = max(max_row, *rows)
    if tags != refs:
        return _walk_cells(_whole_tags(_inflate(data, info)))
    return max_row * max_col


def _whole_tags(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """The chunks re-cut so that no tag is split between two."""
    carry = b""
    for chunk in chunks:
        text = carry + chunk
        cut = text.rfind(b"<")
        if cut <= 0:
            carry = text
            continue
        carry = text[cut:]
        yield text[:cut]
    if carry:
        yield carry


def _walk_cells(texts: Iterator[bytes]) -> int:
    """Rows and cells in document order, as calamine places them: a row or a cell without
    a reference comes right after the one before it."""
    row = col = max_row = max_col = 0
    for text in texts:
        for match in _ROW_OR_CELL.finditer(text):
            ref = _REF_ATTR.search(match.group(2))
            letters, digits = (ref.group(1), ref.group(2)) if ref else (b"", b"")
            if match.group(1) == b"row":
                row = int(digits) if digits else row + 1
                col = 0
            else:
                col = _column_number(letters) if letters else col + 1
                row = int(digits) if digits else max(row, 1)
                max_col = max(max_col, col)
            max_row = max(max_row, row)
    return max_row * max_col


# BIFF records that place a cell (row, column first), by format version.
_BIFF_CELL = {0x0001, 0x0002, 0x0003, 0x0004, 0x0005, 0x0006, 0x00D6, 0x00FD, 0x0201, 0x0203}
_BIFF_CELL |= {0x0204, 0x0205, 0x0206, 0x027E, 0x0406}
_BIFF_MULTI = {0x00BD, 0x00BE}  # MULRK, MULBLANK: row, first column … last column
_BIFF_ROW = 0x0208
_BIFF_DIMENSIONS = {0x0000, 0x0200}
_BIFF_BOF = {0x0009, 0x0209, 0x0409, 0x0809}
_BIFF_EOF = 0x000A
_BIFF_FILEPASS = 0x002F


def _check_biff(data: bytes, limits: InboxLimits) -> None:
    """Count the cells of an .xls from its records before calamine sees it: calamine makes
    room for the grid its DIMENSIONS record claims, and for the farthest cell."""
    try:
        document = compdoc.CompDoc(data, logfile=io.StringIO())
        stream: bytes | None = None
        for name in ("Workbook", "Book"):
            mem, base, length = document.locate_named_stream(name)
            if mem is not None:
                stream = bytes(mem[base : base + length])
                break
    except Exception as exc:  # xlrd's errors describe the container, not the data
        raise UnreadableFile(_damage_reason(data, "ole", exc)) from exc
    if stream is None:
        raise UnreadableFile(_damage_reason(data, "ole", ValueError("no workbook stream")))
    cells = _biff_cells(stream)
    if cells > limits.max_cells:
        raise UnreadableFile(_too_many_cells(cells, limits))


def _biff_cells(stream: bytes) -> int:
    """Cells of every substream (a sheet, or a chart inside one): the farthest cell from A1,
    or the grid its DIMENSIONS record claims, whichever is larger."""
    total = 0
    outer: list[list[int]] = []
    here = [-1, -1, 0]  # farthest row, farthest column, claimed cells
    at, end = 0, len(stream)
    unpack = struct.unpack_from
    while at + 4 <= end:
        kind, length = unpack("<HH", stream, at)
        body = at + 4
        at = body + length
        if at > end:
            break
        if kind in _BIFF_CELL and length >= 4:
            row, col = unpack("<HH", stream, body)
        elif kind in _BIFF_MULTI and length >= 6:
            row, _ = unpack("<HH", stream, body)
            (col,) = unpack("<H", stream, at - 2)
        elif kind == _BIFF_ROW and length >= 6:
            row, _, col = unpack("<HHH", stream, body)
        elif kind in _BIFF_DIMENSIONS and length >= 8:
            wide = length >= 14
            rows, cols = unpack("<4xI2xH" if wide else "<2xH2xH", stream, body)
            here[2] = max(here[2], rows * cols)
            continue
        elif kind == _BIFF_FILEPASS:
            raise UnreadableFile("文件已加密（设有打开密码），请去掉密码后重新上报")
        elif kind in _BIFF_BOF:
            outer.append(here)
            here = [-1, -1, 0]
            continue
        elif kind == _BIFF_EOF:
            total += max((here[0] + 1) * (here[1] + 1), here[2])
            here = outer.pop() if outer else [-1, -1, 0]
            continue
        else:
            continue
        here[0], here[1] = max(here[0], row), max(here[1], col)
    while True:  # a stream cut short: what was open still counts
        total += max((here[0] + 1) * (here[1] + 1), here[2])
        if not outer:
            return total
        here = outer.pop()


def _damage_reason(data: bytes, kind: str, exc: Exception) -> str:
    if kind == "ole":
        if (
            "EncryptedPackage".encode("utf-16-le") in data
            or "EncryptionInfo".encode("utf-16-le") in data
        ):
            return "文件已加密（设有打开密码），请去掉密码后重新上报"
        if "WordDocument".encode("utf-16-le") in data:
            return "不是电子表格：文件实际是Word 97-2003文档"
        if "Workbook".encode("utf-16-le") not in data and "Book".encode("utf-16-le") not in data:
            # An OLE container without a workbook stream: what Excel writes for an encrypted
            # .xlsx when the stream names are not visible in the first sectors.
            return "文件已加密或已损坏：不是可读取的Excel工作簿，请去掉打开密码或重新导出后上报"
    return f"文件损坏，无法读取（{type(exc).__name__}）"


# ---------------------------------------------------------------- cells → text


def excel_number_text(value: float) -> str:
    """A number cell as Excel shows it: at most 15 significant digits.

    7365.0 → `7365`; a 15-digit ID is exact (`440282900101123`); an 18-digit ID that Excel
    stored as a double → `4.40282199001011E+17` (its surviving digits, never a made-up tail).
    """
    if value != value or value in (float("inf"), float("-inf")):
        return str(value)
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    text = f"{value:.15g}"
    if "e" in text:
        mantissa, exponent = text.split("e")
        exp = int(exponent)
        return f"{mantissa}E{'+' if exp >= 0 else '-'}{abs(exp):02d}"
    return text


def _cell_text(value: object) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return excel_number_text(value)
    if isinstance(value, datetime):
        if value.time() == time(0, 0):
            return value.date().isoformat()
        return value.isoformat(sep=" ", timespec="seconds")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, time):
        return value.isoformat(timespec="seconds")
    if isinstance(value, timedelta):
        seconds = int(value.total_seconds())
        return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
    return str(value)


def _cells_grid(rows: Sequence[Sequence[object]]) -> pl.DataFrame:
    """Typed cells → a text grid, a column at a time (an enrolment sheet has 400k rows)."""
    width = max(map(len, rows), default=0)
    if width == 0:
        return pl.DataFrame(schema={})
    if any(len(r) != width for r in rows):
        rows = [[*r, *[""] * (width - len(r))] for r in rows]
    columns = [_column_text(f"c{j}", column) for j, column in enumerate(zip(*rows, strict=True))]
    return pl.DataFrame(columns).with_columns(pl.all().replace("", None))


def _column_text(name: str, column: Sequence[object]) -> pl.Series:
    kinds = set(map(type, column))
    if kinds <= {str}:
        return pl.Series(name, column, dtype=pl.Utf8)
    if kinds <= {float, str} and float in kinds:
        # Whole numbers below 1e15 (years, amounts, 15-digit IDs) print as integers, in bulk;
        # the rest go through excel_number_text one by one.
        numbers = pl.Series(
            name, [v if type(v) is float else None for v in column], dtype=pl.Float64
        )
        whole = (numbers == numbers.floor()) & (numbers.abs() < 1e15)
        as_int = pl.select(
            pl.when(whole).then(numbers.cast(pl.Int64, strict=False).cast(pl.Utf8))
        ).to_series()
        return pl.Series(
            name,
            [
                v if type(v) is str else (fast if fast is not None else _cell_text(v))
                for v, fast in zip(column, as_int, strict=True)
            ],
            dtype=pl.Utf8,
        )
    return pl.Series(name, [v if type(v) is str else _cell_text(v) for v in column], dtype=pl.Utf8)


# ---------------------------------------------------------------- CSV

_HEAD_BYTES = 256 * 1024  # plenty for the title rows and the header


def _decode(data: bytes) -> str:
    """UTF-8 (BOM or not), UTF-16 with BOM, else GB18030 (a superset of GBK and GB2312)."""
    if data.startswith(codecs.BOM_UTF8):
        candidates: tuple[tuple[bytes, str], ...] = ((data[3:], "utf-8"),)
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        candidates = ((data, "utf-16"),)
    else:
        candidates = ((data, "utf-8"), (data, "gb18030"))
    for payload, encoding in candidates:
        text = _decode_as(payload, encoding)
        if text is not None:
            return text
    raise UnreadableFile(_ENCODING_REASON)


_ENCODING_REASON = "无法识别文件编码：既不是UTF-8也不是GBK/GB18030，请另存为UTF-8编码的CSV"


def _decode_as(data: bytes, encoding: str) -> str | None:
    """Strict decoding; a multi-byte character cut off at the very end (a truncated file, or
    a sample of the head) is dropped rather than failing the whole file."""
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        if exc.start < len(data) - 4:
            return None
        try:
            return data[: exc.start].decode(encoding)
        except UnicodeDecodeError:
            return None


def _utf8_payload(data: bytes) -> tuple[bytes, int, bool]:
    """The file as UTF-8 bytes for polars, where its text starts in them (after a UTF-8 BOM,
    which is not cut off: that would copy a 1.4 GB extract), and whether they are the file's
    own bytes (UTF-8 as judged from its head, still to be confirmed by polars) or a
    transcoded copy."""
    if data.startswith(codecs.BOM_UTF8):
        return data, len(codecs.BOM_UTF8), True
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return _decode(data).encode("utf-8"), 0, False
    if _decode_as(data[:_HEAD_BYTES], "utf-8") is not None:
        return data, 0, True
    text = _decode_as(data, "gb18030")
    if text is None:
        raise UnreadableFile(_ENCODING_REASON)
    return text.encode("utf-8"), 0, False


def _delimiter(text: str) -> str:
    lines = [line for line in text.splitlines()[:10] if line.strip()]
    counts = {d: sum(line.count(d) for line in lines) for d in _DELIMITERS}
    best = max(_DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ","


def _head_records(text: str, separator: str, whole: bool) -> tuple[list[list[str]], list[int]]:
    """The first 10 records and the character offset at which each starts."""
    stream = io.StringIO(text, newline="")
    consumed = 0

    def lines():  # type: ignore[no-untyped-def]
        nonlocal consumed
        for line in stream:
            consumed += len(line)  # before yielding: the reader returns a record only
            yield line  # after taking its last line, and never reads ahead

    records: list[list[str]] = []
    offsets: list[int] = []
    reader = csv.reader(lines(), delimiter=separator, strict=False)
    while len(records) < HEADER_SEARCH_ROWS:
        start = consumed
        try:
            record = next(reader)
        except (StopIteration, csv.Error):
            break
        if not whole and consumed >= len(text):
            break  # the sample may end inside this record
        records.append(record)
        offsets.append(start)
    return records, offsets


@dataclass
class _CsvHead:
    """Where a CSV's table starts: its UTF-8 bytes, the separator, the records above the
    widest of the first 10 (title rows, read by the csv module) and the bytes from the
    widest record on (`rest`, read by polars)."""

    data: bytes  # the file as read
    payload: bytes  # as UTF-8 (`_utf8_payload`)
    own_bytes: bool
    separator: str
    prefix: list[list[str]]
    start: int  # where `rest` starts in `payload`
    rest: bytes


def _csv_head(data: bytes) -> _CsvHead:
    payload, text_start, own_bytes = _utf8_payload(data)
    head_text = _decode_as(payload[text_start : text_start + _HEAD_BYTES], "utf-8")
    if head_text is None:
        raise UnreadableFile(_ENCODING_REASON)
    separator = _delimiter(head_text)
    whole = len(payload) - text_start <= _HEAD_BYTES
    head, offsets = _head_records(head_text, separator, whole=whole)
    if not head:
        raise UnreadableFile("文件为空：没有任何数据行")
    widest = max(range(len(head)), key=lambda i: (len(head[i]), -i))
    if len(head[widest]) > MAX_TEXT_COLUMNS:
        raise UnreadableFile(_too_wide(len(head[widest])))
    start = text_start + len(head_text[: offsets[widest]].encode("utf-8"))
    # The table starting at the first byte (or right after a BOM, which polars skips itself)
    # is read in place; only title rows above it cost a copy of the rest.
    rest = payload if start == text_start else payload[start:]
    return _CsvHead(data, payload, own_bytes, separator, head[:widest], start, rest)


def _text_grid(data: bytes) -> pl.DataFrame:
    """The CSV's records as a grid: the first records through the csv module (title rows have
    fewer fields than the table), then, from the widest of the first 10 records on, the rest
    by polars in one go."""
    csv_head = _csv_head(data)
    payload, start, separator = csv_head.payload, csv_head.start, csv_head.separator
    body = _polars_records(csv_head.rest, separator)
    if body is None:
        tail = _decode_as(payload[start:], "utf-8")
        if tail is None:
            if csv_head.own_bytes:  # the head looked like UTF-8, the rest is not: all as GBK
                text = _decode_as(data, "gb18030")
                if text is None:
                    raise UnreadableFile(_ENCODING_REASON)
                return _text_grid(codecs.BOM_UTF8 + text.encode("utf-8"))
            raise UnreadableFile(_ENCODING_REASON)
        # polars refused the layout (an unterminated quote, say): the csv module copes
        rows = list(csv.reader(io.StringIO(tail, newline=""), delimiter=separator, strict=False))
        width = max((len(r) for r in rows), default=0)
        if width > MAX_TEXT_COLUMNS:
            raise UnreadableFile(_too_wide(width))
        body = _rows_frame(rows, width)
    prefix = _rows_frame(csv_head.prefix, body.width)
    return pl.concat([prefix, body], how="vertical") if prefix.height else body


# ---------------------------------------------------------------- a big CSV in batches


class StreamFallback(Exception):
    """polars could not read the file batch by batch (a byte that is not UTF-8 past the
    head, an unterminated quote): the file is to be read whole (`read_csv_table`), whose
    fallbacks cope."""


@dataclass
class CsvStream:
    """A delimited-text extract located and read a batch of records at a time."""

    layout: TableLayout
    batches: Iterator[tuple[pl.DataFrame, int]]  # grid rows c0..cN, index of the first row


def stream_csv_table(
    path: Path, source: Source, limits: InboxLimits | None = None, batch_rows: int = 1_000_000
) -> CsvStream | None:
    """`read_csv_table` for a big CSV without its whole grid in memory: the table located
    in the first batch, the grid given `batch_rows` records at a time (the same rows, in
    order, as the whole grid).  None when the file is not delimited text (a workbook is read
    whole).  Raises as `read_csv_table` does; iterating raises `StreamFallback` when polars
    refuses a batch."""
    limits = limits or DEFAULT_LIMITS
    data = _read_bytes(path, limits)
    if _sniff(data, path) != "text":
        return None
    csv_head = _csv_head(data)
    if not csv_head.rest or csv_head.rest.isspace():
        return None
    batches = _polars_batches(csv_head.rest, csv_head.separator, batch_rows)
    try:
        first = [next(batches)]
        while sum(b.height for b in first) <= HEADER_SEARCH_ROWS:  # the header search's rows
            first.append(next(batches))
    except StopIteration:
        pass
    except StreamFallback:
        return None
    prefix = _rows_frame(csv_head.prefix, first[0].width)
    grid = pl.concat([prefix, *first], how="vertical")
    layout = locate_table(grid, source)  # MissingColumns: as read whole

    def rows() -> Iterator[tuple[pl.DataFrame, int]]:
        yield grid, 0
        offset = grid.height
        for batch in batches:
            yield batch, offset
            offset += batch.height

    return CsvStream(layout, rows())


# How polars reads a table's records, whole or in batches: every cell as text, as many
# columns as the first record, a longer record cut (the same rows either way).
_AS_TEXT = {
    "has_header": False,
    "infer_schema": False,
    "truncate_ragged_lines": True,
    "raise_if_empty": False,
}


def _polars_batches(rest: bytes, separator: str, batch_rows: int) -> Iterator[pl.DataFrame]:
    scan = pl.scan_csv(rest, separator=separator, **_AS_TEXT)  # type: ignore[arg-type]
    try:
        for batch in scan.collect_batches(chunk_size=batch_rows):
            batch.columns = [f"c{j}" for j in range(batch.width)]
            yield batch
    except pl.exceptions.PolarsError as exc:
        raise StreamFallback(type(exc).__name__) from exc


def _too_wide(width: int) -> str:
    return (
        f"表格列数过多（{width:,}列，超过Excel的{MAX_TEXT_COLUMNS:,}列），不是可识别的表格，未读取"
    )


def _polars_records(payload: bytes, separator: str) -> pl.DataFrame | None:
    if not payload or payload.isspace():  # not strip(): a copy of a 1.4 GB extract
        return _rows_frame([], 0)
    try:
        frame = pl.read_csv(payload, separator=separator, **_AS_TEXT)  # type: ignore[arg-type]
    except pl.exceptions.PolarsError:
        return None
    frame.columns = [f"c{j}" for j in range(frame.width)]
    return frame


def _rows_frame(rows: list[list[str]], width: int) -> pl.DataFrame:
    columns = {
        f"c{j}": pl.Series(
            f"c{j}", [(r[j] or None) if j < len(r) else None for r in rows], dtype=pl.Utf8
        )
        for j in range(width)
    }
    return pl.DataFrame(columns, schema={f"c{j}": pl.Utf8 for j in range(width)})
