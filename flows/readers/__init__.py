"""Turn an inbox file into raw grids of text, exactly as a person sees the sheet.

A grid is a polars frame of Utf8 columns `c0..cN`, one row per spreadsheet row including blank
rows, so grid row `i` is Excel row `i + 1` (for CSV: record `i + 1`).  Empty cells are null.
Merged cells hold their value in the top-left cell only, as Excel stores them; the header and
household logic downstream knows that.

What a file is, the content decides, not the extension (`_sniff`); then a workbook is read by
python-calamine (the same Rust reader as fastexcel), which hands us typed cells that
`readers.cells` renders as Excel shows them, and delimited text by `readers.delimited`.

A file that cannot be read raises `UnreadableFile` with a reason in Chinese; nothing about the
file's content (names, IDs) goes into that reason.

Hostile files stop here, before a reader that would trust them sees them (`InboxLimits`,
policy.toml [inbox]): a file is opened without following a link and must be a regular file
no bigger than `max_file_bytes` (`readers.files`); a workbook's parts and cells are counted
before calamine builds its dense grids (`readers.guard`).  .xlsb and .ods content is refused:
the sources are .xlsx, .xls and CSV (sources.md), and their cells cannot be counted this
cheaply.
"""

from __future__ import annotations

import codecs
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import python_calamine

from config.schema import Source
from config.settings import InboxLimits
from flows.readers import delimited
from flows.readers.cells import cells_grid, excel_number_text
from flows.readers.delimited import DELIMITERS, StreamFallback, decode, text_grid
from flows.readers.files import (
    UnreadableFile,
    not_a_file,
    open_failure_reason,
    open_regular,
    read_bytes,
    too_big_reason,
)
from flows.readers.guard import check_biff, check_zip, damage_reason
from transforms.headers import HEADER_SEARCH_ROWS, MissingColumns, TableLayout, locate_table

__all__ = [
    "CsvStream",
    "RawSheet",
    "StreamFallback",
    "UnreadableFile",
    "excel_number_text",
    "not_a_file",
    "open_failure_reason",
    "open_regular",
    "read_csv_table",
    "read_sheets",
    "stream_csv_table",
    "too_big_reason",
]

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ZIP_MAGIC = b"PK\x03\x04"
CSV_SUFFIXES = {".csv", ".txt", ".tsv"}
DEFAULT_LIMITS = InboxLimits()


@dataclass
class RawSheet:
    name: str  # sheet name; '' for CSV
    grid: pl.DataFrame  # Utf8 columns c0..cN; row i is spreadsheet row i + 1
    hidden: bool = False  # hidden or very hidden in the workbook


# ---------------------------------------------------------------- public API


def read_sheets(path: Path, limits: InboxLimits | None = None) -> list[RawSheet]:
    """Every sheet of a workbook (.xlsx/.xlsm/.xls), or the one table of a CSV."""
    path = Path(path)
    limits = limits or DEFAULT_LIMITS
    data = read_bytes(path, limits)
    kind = _sniff(data, path)
    if kind == "text":
        return [RawSheet("", text_grid(data))]
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
    text = decode(data[:65536])
    first_lines = [line for line in text.splitlines()[:10] if line.strip()]
    if first_lines and any(d in line for line in first_lines for d in DELIMITERS):
        return "text"
    raise UnreadableFile(
        f"不是电子表格：文件扩展名为{path.suffix}，实际是纯文本，且不是以逗号或制表符分隔的表格"
    )


def _read_workbook(data: bytes, kind: str, limits: InboxLimits) -> list[RawSheet]:
    if kind == "zip":
        check_zip(data, limits)
    else:
        check_biff(data, limits)
    try:
        book = python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(data))
    except python_calamine.PasswordError as exc:
        raise UnreadableFile("文件已加密（设有打开密码），请去掉密码后重新上报") from exc
    except Exception as exc:  # calamine's errors carry file internals; the type is enough
        raise UnreadableFile(damage_reason(data, kind, exc)) from exc
    sheets: list[RawSheet] = []
    for meta in book.sheets_metadata:
        if meta.typ != python_calamine.SheetTypeEnum.WorkSheet:
            continue  # chart and macro sheets hold no cells
        try:
            cells = book.get_sheet_by_name(meta.name).to_python(skip_empty_area=False)
        except python_calamine.PasswordError as exc:
            raise UnreadableFile("文件已加密（设有打开密码），请去掉密码后重新上报") from exc
        except Exception as exc:
            raise UnreadableFile(damage_reason(data, kind, exc)) from exc
        hidden = meta.visible != python_calamine.SheetVisibleEnum.Visible
        sheets.append(RawSheet(meta.name, cells_grid(cells), hidden))
    if not sheets:
        raise UnreadableFile("文件损坏或不含任何工作表")
    return sheets


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
    data = read_bytes(path, limits)
    if _sniff(data, path) != "text":
        return None
    head = delimited.csv_head(data)
    if not head.rest or head.rest.isspace():
        return None
    batches = delimited.polars_batches(head.rest, head.separator, batch_rows)
    try:
        first = [next(batches)]
        while sum(b.height for b in first) <= HEADER_SEARCH_ROWS:  # the header search's rows
            first.append(next(batches))
    except StopIteration:
        pass
    except StreamFallback:
        return None
    prefix = delimited.rows_frame(head.prefix, first[0].width)
    grid = pl.concat([prefix, *first], how="vertical")
    layout = locate_table(grid, source)  # MissingColumns: as read whole

    def rows() -> Iterator[tuple[pl.DataFrame, int]]:
        yield grid, 0
        offset = grid.height
        for batch in batches:
            yield batch, offset
            offset += batch.height

    return CsvStream(layout, rows())
