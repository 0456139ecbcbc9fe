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
"""

from __future__ import annotations

import codecs
import csv
import io
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path

import polars as pl
import python_calamine

from config.schema import Source
from transforms.headers import HEADER_SEARCH_ROWS, MissingColumns, TableLayout, locate_table

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ZIP_MAGIC = b"PK\x03\x04"
CSV_SUFFIXES = {".csv", ".txt", ".tsv"}
_DELIMITERS = (",", "\t", ";", "|")


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


def read_sheets(path: Path) -> list[RawSheet]:
    """Every sheet of a workbook (.xlsx/.xlsm/.xls/.ods), or the one table of a CSV."""
    path = Path(path)
    data = _read_bytes(path)
    kind = _sniff(data, path)
    if kind == "text":
        return [RawSheet("", _text_grid(data))]
    sheets = _read_workbook(data, kind)
    if all(sheet.grid.height == 0 for sheet in sheets):
        raise UnreadableFile("文件为空：工作簿中没有任何内容")
    return sheets


def read_csv_table(path: Path, source: Source) -> tuple[RawSheet, TableLayout]:
    """A big extract in one go: the grid (read by polars, all text) and where its table is.

    The header is searched in the first 10 records; everything below is read by polars'
    CSV reader as Utf8, never row by row in Python.  A workbook is accepted too (the first
    sheet whose header is recognised), so the caller need not care what the bureau sent.
    Raises `UnreadableFile` or `transforms.headers.MissingColumns`.
    """
    sheets = read_sheets(path)
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


def _read_bytes(path: Path) -> bytes:
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise UnreadableFile("文件不存在") from exc
    except IsADirectoryError as exc:
        raise UnreadableFile("不是文件，是文件夹") from exc
    except OSError as exc:
        raise UnreadableFile(f"文件无法打开（{type(exc).__name__}）") from exc
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


def _read_workbook(data: bytes, kind: str) -> list[RawSheet]:
    if kind == "zip":
        _check_zip(data)
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


def _check_zip(data: bytes) -> None:
    """Name what a zip really is before calamine sees it; corrupt members surface later."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
    except (zipfile.BadZipFile, EOFError, ValueError, OSError) as exc:
        raise UnreadableFile("文件损坏：压缩结构不完整（可能上传中断或文件被截断）") from exc
    if "xl/workbook.xml" in names or "xl/workbook.bin" in names or "content.xml" in names:
        return
    if "word/document.xml" in names:
        raise UnreadableFile("不是电子表格：文件实际是Word文档")
    if "ppt/presentation.xml" in names:
        raise UnreadableFile("不是电子表格：文件实际是PowerPoint文档")
    raise UnreadableFile("不是电子表格：压缩包中没有工作簿")


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


def _utf8_payload(data: bytes) -> tuple[bytes, bool]:
    """The file as UTF-8 bytes for polars, and whether it is the file's own bytes (UTF-8 as
    judged from its head, still to be confirmed by polars) or a transcoded copy."""
    if data.startswith(codecs.BOM_UTF8):
        return data[3:], True
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return _decode(data).encode("utf-8"), False
    if _decode_as(data[:_HEAD_BYTES], "utf-8") is not None:
        return data, True
    text = _decode_as(data, "gb18030")
    if text is None:
        raise UnreadableFile(_ENCODING_REASON)
    return text.encode("utf-8"), False


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


def _text_grid(data: bytes) -> pl.DataFrame:
    """The CSV's records as a grid: the first records through the csv module (title rows have
    fewer fields than the table), then, from the widest of the first 10 records on, the rest
    by polars in one go."""
    payload, own_bytes = _utf8_payload(data)
    head_text = _decode_as(payload[:_HEAD_BYTES], "utf-8")
    if head_text is None:
        raise UnreadableFile(_ENCODING_REASON)
    separator = _delimiter(head_text)
    head, offsets = _head_records(head_text, separator, whole=len(payload) <= _HEAD_BYTES)
    if not head:
        raise UnreadableFile("文件为空：没有任何数据行")
    widest = max(range(len(head)), key=lambda i: (len(head[i]), -i))
    start = len(head_text[: offsets[widest]].encode("utf-8"))
    body = _polars_records(payload[start:], separator)
    if body is None:
        tail = _decode_as(payload[start:], "utf-8")
        if tail is None:
            if own_bytes:  # the head looked like UTF-8, the rest is not: read it all as GBK
                text = _decode_as(data, "gb18030")
                if text is None:
                    raise UnreadableFile(_ENCODING_REASON)
                return _text_grid(codecs.BOM_UTF8 + text.encode("utf-8"))
            raise UnreadableFile(_ENCODING_REASON)
        # polars refused the layout (an unterminated quote, say): the csv module copes
        rows = list(csv.reader(io.StringIO(tail, newline=""), delimiter=separator, strict=False))
        body = _rows_frame(rows, max((len(r) for r in rows), default=0))
    prefix = _rows_frame(head[:widest], body.width)
    return pl.concat([prefix, body], how="vertical") if prefix.height else body


def _polars_records(payload: bytes, separator: str) -> pl.DataFrame | None:
    if not payload.strip():
        return _rows_frame([], 0)
    try:
        frame = pl.read_csv(
            payload,
            has_header=False,
            separator=separator,
            infer_schema=False,
            truncate_ragged_lines=True,
            raise_if_empty=False,
        )
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
