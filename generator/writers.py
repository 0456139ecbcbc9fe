"""Files on disk: workbooks (.xlsx with xlsxwriter, .xls with xlwt) and CSVs.

Nothing here depends on the wall clock: workbook properties carry a time derived from the
as-of date, so the same seed gives the same bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import polars as pl
import xlsxwriter
import xlwt

from .layout import SheetModel


@dataclass
class WorkbookJob:
    """Everything needed to write one workbook, picklable for a worker process."""

    path: Path
    fmt: str  # xlsx or xls
    sheets: list[SheetModel]
    stamp: datetime
    title: str
    org: str = "南雄市"  # the author's county (the file's author and company properties)


def write_workbook(job: WorkbookJob) -> Path:
    if job.fmt == "xls":
        write_xls(job.path, job.sheets)
    else:
        write_xlsx(job.path, job.sheets, job.stamp, job.title, job.org)
    return job.path


def write_xlsx(
    path: Path, sheets: list[SheetModel], stamp: datetime, title: str, org: str = "南雄市"
) -> None:
    wb = xlsxwriter.Workbook(
        str(path),
        {"strings_to_numbers": False, "strings_to_formulas": False, "strings_to_urls": False},
    )
    wb.set_properties({"title": title, "author": f"{org}扶贫办", "company": org, "created": stamp})
    fmt_title = wb.add_format(
        {"bold": True, "font_size": 14, "align": "center", "valign": "vcenter"}
    )
    fmt_header = wb.add_format(
        {"bold": True, "text_wrap": True, "align": "center", "valign": "vcenter", "border": 1}
    )
    fmt_cell = wb.add_format({"border": 1})
    fmt_text = wb.add_format({"border": 1, "num_format": "@"})
    first_visible = next((i for i, s in enumerate(sheets) if not s.hidden), 0)
    for i, sheet in enumerate(sheets):
        ws = wb.add_worksheet(sheet.name)
        if sheet.hidden:
            ws.hide()  # Excel cannot hide the active sheet: another one is activated below
        elif i == first_visible and first_visible > 0:
            ws.activate()
            ws.set_first_sheet()
        date_fmt = wb.add_format({"border": 1, "num_format": sheet.date_format})
        for c, w in enumerate(sheet.widths):
            ws.set_column(c, c, w)
        merged_top: dict[tuple[int, int], tuple[int, int, int, int]] = {}
        covered: set[tuple[int, int]] = set()
        for r1, c1, r2, c2 in sheet.merges:
            merged_top[(r1, c1)] = (r1, c1, r2, c2)
            for r in range(r1, r2 + 1):
                for c in range(c1, c2 + 1):
                    if (r, c) != (r1, c1):
                        covered.add((r, c))
        for r, row in enumerate(sheet.rows):
            if sheet.text_lines:
                ws.write_string(r, 0, str(row[0]))
                continue
            kind = (
                fmt_title
                if r in sheet.title_rows
                else fmt_header
                if r in sheet.header_rows
                else None
            )
            for c, value in enumerate(row):
                if (r, c) in covered:
                    continue
                cell_fmt = kind or (
                    date_fmt
                    if isinstance(value, (date, datetime))
                    else fmt_text
                    if isinstance(value, str)
                    else fmt_cell
                )
                if (r, c) in merged_top:
                    r1, c1, r2, c2 = merged_top[(r, c)]
                    _merge(ws, r1, c1, r2, c2, value, cell_fmt)
                else:
                    _write(ws, r, c, value, cell_fmt)
    wb.close()


def _merge(ws, r1: int, c1: int, r2: int, c2: int, value: object, cell_fmt) -> None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        ws.merge_range(r1, c1, r2, c2, None, cell_fmt)
        ws.write_number(r1, c1, value, cell_fmt)
    elif isinstance(value, (date, datetime)):
        ws.merge_range(r1, c1, r2, c2, None, cell_fmt)
        ws.write_datetime(r1, c1, _as_datetime(value), cell_fmt)
    else:
        ws.merge_range(r1, c1, r2, c2, "" if value is None else str(value), cell_fmt)


def _write(ws, r: int, c: int, value: object, cell_fmt) -> None:
    if value is None:
        if cell_fmt is not None:
            ws.write_blank(r, c, None, cell_fmt)
        return
    if isinstance(value, bool):
        ws.write_string(r, c, "是" if value else "否", cell_fmt)
    elif isinstance(value, (int, float)):
        ws.write_number(r, c, value, cell_fmt)
    elif isinstance(value, (date, datetime)):
        ws.write_datetime(r, c, _as_datetime(value), cell_fmt)
    else:
        ws.write_string(r, c, str(value), cell_fmt)


def _as_datetime(value: date | datetime) -> datetime:
    return value if isinstance(value, datetime) else datetime(value.year, value.month, value.day)


def write_xls(path: Path, sheets: list[SheetModel]) -> None:
    """The legacy format one township still sends (Excel 97-2003, via xlwt)."""
    wb = xlwt.Workbook(encoding="utf-8")
    title = xlwt.easyxf("font: bold on, height 280; align: horiz center")
    header = xlwt.easyxf(
        "font: bold on; align: wrap on, horiz center, vert center; borders: left thin, right thin, top thin, bottom thin"
    )
    plain = xlwt.easyxf("borders: left thin, right thin, top thin, bottom thin")
    if any(s.hidden for s in sheets):
        raise ValueError("hidden sheets are written to .xlsx only")
    for sheet in sheets:
        ws = wb.add_sheet(sheet.name[:31])
        date_style = xlwt.easyxf(
            "borders: left thin, right thin, top thin, bottom thin",
            num_format_str=sheet.date_format,
        )
        for c, w in enumerate(sheet.widths):
            ws.col(c).width = int(256 * w)
        merged_top = {(r1, c1): (r1, c1, r2, c2) for r1, c1, r2, c2 in sheet.merges}
        covered = {
            (r, c)
            for r1, c1, r2, c2 in sheet.merges
            for r in range(r1, r2 + 1)
            for c in range(c1, c2 + 1)
            if (r, c) != (r1, c1)
        }
        for r, row in enumerate(sheet.rows):
            for c, value in enumerate(row):
                if (r, c) in covered:
                    continue
                style = (
                    title
                    if r in sheet.title_rows
                    else header
                    if r in sheet.header_rows
                    else (date_style if isinstance(value, (date, datetime)) else plain)
                )
                if isinstance(value, date) and not isinstance(value, datetime):
                    value = _as_datetime(value)
                if isinstance(value, bool):
                    value = "是" if value else "否"
                if (r, c) in merged_top:
                    r1, c1, r2, c2 = merged_top[(r, c)]
                    ws.write_merge(r1, r2, c1, c2, "" if value is None else value, style)
                elif value is not None:
                    ws.write(r, c, value, style)
    wb.save(str(path))


def write_csv(frame: pl.DataFrame, path: Path, encoding: str) -> None:
    """UTF-8 with BOM (`utf-8-sig`), plain UTF-8, or GB18030 as civil-affairs exports do."""
    if encoding == "utf-8-sig":
        frame.write_csv(path, include_bom=True)
    elif encoding == "utf-8":
        frame.write_csv(path)
    else:
        text = frame.write_csv()
        path.write_bytes(text.encode(encoding))
