"""A township's data-quality fix list (整改清单) as an Excel workbook: one sheet per frame
(its own issues, the findings about its register) and a 说明 sheet.  What goes in it is
decided by `transforms.alerts`; the alerts flow writes and sends it."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from pathlib import Path

import polars as pl
import xlsxwriter

from config.private import private_dir, private_file
from reports.xlsx import WORKBOOK_OPTIONS
from transforms import alerts as A
from transforms.privacy import safe_text


def write_fix_list(
    path: Path, sheets: Mapping[str, pl.DataFrame], about: list[tuple[str, str]]
) -> Path:
    """One sheet per frame with Chinese headers, typed cells, frozen header and autofilter,
    then a 说明 sheet of (label, value) lines.  It holds the township's full IDs: 0600 in a
    0700 folder; no text cell is a formula (`transforms.privacy`)."""
    private_dir(path.parent)
    headers = {A.ISSUE_SHEET: A.ISSUE_COLUMNS, A.FINDING_SHEET: A.FINDING_COLUMNS}
    widths = {
        "detail": 60,
        "other_locations": 40,
        "suggested_fix": 30,
        "file": 28,
        "person": 22,
        "household_id": 18,
        "problem": 20,
        "value": 18,
        "first_seen": 12,
    }
    book = xlsxwriter.Workbook(str(path), WORKBOOK_OPTIONS)
    try:
        head = book.add_format(
            {"bold": True, "bg_color": "#DDEBF7", "border": 1, "text_wrap": True}
        )
        wrap = book.add_format({"text_wrap": True, "valign": "top"})
        top = book.add_format({"valign": "top"})
        day = book.add_format({"num_format": "yyyy-mm-dd", "valign": "top"})
        for name, frame in sheets.items():
            sheet = book.add_worksheet(name)
            columns = list(frame.columns)
            names = headers.get(name, {c: c for c in columns})
            for j, column in enumerate(columns):
                sheet.write_string(0, j, names.get(column, column), head)
                sheet.set_column(
                    j, j, widths.get(column, 10), wrap if widths.get(column, 10) >= 28 else top
                )
            for i, row in enumerate(frame.iter_rows(), start=1):
                for j, value in enumerate(row):
                    if value is None:
                        sheet.write_blank(i, j, None)
                    elif isinstance(value, date):
                        sheet.write_datetime(
                            i, j, datetime.combine(value, datetime.min.time()), day
                        )
                    elif isinstance(value, (int, float)) and not isinstance(value, bool):
                        sheet.write_number(i, j, value)
                    else:
                        sheet.write_string(i, j, safe_text(str(value)))
            sheet.freeze_panes(1, 0)
            sheet.autofilter(0, 0, max(frame.height, 1), max(len(columns) - 1, 0))
        info = book.add_worksheet("说明")
        info.set_column(0, 0, 16, top)
        info.set_column(1, 1, 90, wrap)
        for i, (label, value) in enumerate(about):
            info.write_string(i, 0, label, head if i == 0 else top)
            info.write_string(i, 1, safe_text(value))
    finally:
        book.close()
    return private_file(path)
