"""Delimited text (CSV, TSV, text saved as .xls) as a grid: its encoding judged from its
head (UTF-8, UTF-16 with a BOM, else GB18030), its separator, the title rows above the table
read by the csv module and the table itself by polars, whole or a batch at a time."""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass

import polars as pl

from flows.readers.files import UnreadableFile
from transforms.headers import HEADER_SEARCH_ROWS

DELIMITERS = (",", "\t", ";", "|")
MAX_TEXT_COLUMNS = 16_384  # Excel's widest sheet; a wider CSV is not a table anyone typed

_HEAD_BYTES = 256 * 1024  # plenty for the title rows and the header


def decode(data: bytes) -> str:
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
        return decode(data).encode("utf-8"), 0, False
    if _decode_as(data[:_HEAD_BYTES], "utf-8") is not None:
        return data, 0, True
    text = _decode_as(data, "gb18030")
    if text is None:
        raise UnreadableFile(_ENCODING_REASON)
    return text.encode("utf-8"), 0, False


def _delimiter(text: str) -> str:
    lines = [line for line in text.splitlines()[:10] if line.strip()]
    counts = {d: sum(line.count(d) for line in lines) for d in DELIMITERS}
    best = max(DELIMITERS, key=lambda d: counts[d])
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
class CsvHead:
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


def csv_head(data: bytes) -> CsvHead:
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
    return CsvHead(data, payload, own_bytes, separator, head[:widest], start, rest)


def text_grid(data: bytes) -> pl.DataFrame:
    """The CSV's records as a grid: the first records through the csv module (title rows have
    fewer fields than the table), then, from the widest of the first 10 records on, the rest
    by polars in one go."""
    head = csv_head(data)
    payload, start, separator = head.payload, head.start, head.separator
    body = _polars_records(head.rest, separator)
    if body is None:
        tail = _decode_as(payload[start:], "utf-8")
        if tail is None:
            if head.own_bytes:  # the head looked like UTF-8, the rest is not: all as GBK
                text = _decode_as(data, "gb18030")
                if text is None:
                    raise UnreadableFile(_ENCODING_REASON)
                return text_grid(codecs.BOM_UTF8 + text.encode("utf-8"))
            raise UnreadableFile(_ENCODING_REASON)
        # polars refused the layout (an unterminated quote, say): the csv module copes
        rows = list(csv.reader(io.StringIO(tail, newline=""), delimiter=separator, strict=False))
        width = max((len(r) for r in rows), default=0)
        if width > MAX_TEXT_COLUMNS:
            raise UnreadableFile(_too_wide(width))
        body = rows_frame(rows, width)
    prefix = rows_frame(head.prefix, body.width)
    return pl.concat([prefix, body], how="vertical") if prefix.height else body


class StreamFallback(Exception):
    """polars could not read the file batch by batch (a byte that is not UTF-8 past the
    head, an unterminated quote): the file is to be read whole (`read_csv_table`), whose
    fallbacks cope."""


# How polars reads a table's records, whole or in batches: every cell as text, as many
# columns as the first record, a longer record cut (the same rows either way).
_AS_TEXT = {
    "has_header": False,
    "infer_schema": False,
    "truncate_ragged_lines": True,
    "raise_if_empty": False,
}


def polars_batches(rest: bytes, separator: str, batch_rows: int) -> Iterator[pl.DataFrame]:
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
        return rows_frame([], 0)
    try:
        frame = pl.read_csv(payload, separator=separator, **_AS_TEXT)  # type: ignore[arg-type]
    except pl.exceptions.PolarsError:
        return None
    frame.columns = [f"c{j}" for j in range(frame.width)]
    return frame


def rows_frame(rows: list[list[str]], width: int) -> pl.DataFrame:
    columns = {
        f"c{j}": pl.Series(
            f"c{j}", [(r[j] or None) if j < len(r) else None for r in rows], dtype=pl.Utf8
        )
        for j in range(width)
    }
    return pl.DataFrame(columns, schema={f"c{j}": pl.Utf8 for j in range(width)})
