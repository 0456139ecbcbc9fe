"""Hostile workbooks stop here, before calamine sees them.

A workbook's zip directory is checked (parts, total size, compression ratio, overlapping
parts) and every part is inflated once, in bounded memory, to confirm the directory tells the
truth; and the cells of every sheet are counted from the sheet XML or the BIFF records, blank
ones included, because calamine builds every sheet as a dense grid from A1: one cell at
XFD1048576 in a 5 KB file is 17 billion cells and ends the process (a Rust abort, not an
exception).  The limits are `InboxLimits` (policy.toml [inbox]).
"""

from __future__ import annotations

import io
import re
import struct
import zipfile
import zlib
from collections.abc import Iterator

from xlrd import compdoc

from config.settings import InboxLimits
from flows.readers.files import UnreadableFile, size_text

_SETTING = "（policy.toml [inbox] {}）"
_BOMB = "疑为恶意构造的“压缩炸弹”，未读取"
RATIO_FLOOR = 1024**2  # a part smaller than this inflated cannot hurt, whatever its ratio
_INFLATE_CHUNK = 8 * 1024**2
_EOCD = b"PK\x05\x06"


def check_zip(data: bytes, limits: InboxLimits) -> None:
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


def check_biff(data: bytes, limits: InboxLimits) -> None:
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
        raise UnreadableFile(damage_reason(data, "ole", exc)) from exc
    if stream is None:
        raise UnreadableFile(damage_reason(data, "ole", ValueError("no workbook stream")))
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


def damage_reason(data: bytes, kind: str, exc: Exception) -> str:
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
