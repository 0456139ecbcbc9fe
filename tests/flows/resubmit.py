"""What township clerks and bureaus do to files between two nights, for tests: save a
workbook again through another writer (new bytes, same values, as WPS or Excel does), change
cells on the way, hide an old sheet in front, re-encode a CSV.

A workbook is read with the pipeline's own reader (every cell as the text a person sees) and
written back with xlsxwriter, every cell as that text: what the pipeline reads back is the
same, the bytes are not."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import polars as pl
import xlsxwriter

from config.schema import ROSTER
from flows.readers import RawSheet, read_sheets
from tests.transforms.bound import locate_table

__all__ = ["RawSheet", "locate_table", "read_sheets"]

Edit = Callable[[RawSheet], pl.DataFrame]


def write_sheets(sheets: list[RawSheet], dst: Path, title: str = "") -> Path:
    """Every sheet's grid, cell by cell as text; hidden sheets stay hidden."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    book = xlsxwriter.Workbook(str(dst))
    book.set_properties({"title": title or dst.stem, "comments": "saved again"})
    shown = next(i for i, s in enumerate(sheets) if not s.hidden)
    for i, sheet in enumerate(sheets):
        ws = book.add_worksheet(sheet.name)
        for r, row in enumerate(sheet.grid.iter_rows()):
            for c, value in enumerate(row):
                if value is not None:
                    ws.write_string(r, c, value)
        if i == shown:
            ws.activate()
            ws.set_first_sheet()
        if sheet.hidden:
            ws.hide()
    book.close()
    return dst


def resave(src: Path, dst: Path, edit: Edit | None = None) -> Path:
    """`src` saved again as `dst` (.xlsx), the roster sheet's grid passed through `edit`."""
    sheets = read_sheets(src)
    if edit is not None:
        roster = roster_sheet(sheets)
        sheets = [RawSheet(s.name, edit(s), s.hidden) if s is roster else s for s in sheets]
    return write_sheets(sheets, dst)


def roster_sheet(sheets: list[RawSheet]) -> RawSheet:
    from tests.transforms.bound import find_roster_sheet

    found = find_roster_sheet(sheets)
    assert isinstance(found, RawSheet)
    return found


def column_of(sheet: RawSheet, key: str) -> tuple[str, int]:
    """(grid column name, first data row index) of a roster field, e.g. 'id_number'."""
    layout = locate_table(sheet.grid, ROSTER)
    return sheet.grid.columns[layout.columns[key]], layout.data_start


def set_cells(key: str, value: Callable[[pl.Expr], pl.Expr], rows: pl.Expr | None = None) -> Edit:
    """An edit: the roster column `key` set to `value(column)` on its data rows (or `rows`)."""

    def edit(sheet: RawSheet) -> pl.DataFrame:
        column, start = column_of(sheet, key)
        data = pl.int_range(pl.len()) >= start
        where = data if rows is None else data & rows
        return sheet.grid.with_columns(
            pl.when(where).then(value(pl.col(column))).otherwise(pl.col(column)).alias(column)
        )

    return edit


def drop_rows(share: float) -> Edit:
    """An edit: the last `share` of the roster's data rows deleted (footer rows kept)."""

    def edit(sheet: RawSheet) -> pl.DataFrame:
        column, start = column_of(sheet, "id_number")
        grid = sheet.grid.with_row_index("_i")
        data = grid.filter((pl.col("_i") >= start) & pl.col(column).is_not_null())
        cut = data["_i"][int(data.height * (1 - share))]
        keep = (pl.col("_i") < cut) | (pl.col("_i") > data["_i"].max())
        return grid.filter(keep).drop("_i")

    return edit


def with_hidden_old_sheet(src: Path, dst: Path, old: Path) -> Path:
    """`src` saved again with `old`'s roster sheet, hidden, in front of its own."""
    sheets = read_sheets(src)
    stale = roster_sheet(read_sheets(old))
    hidden = RawSheet(f"{stale.name}（旧）", stale.grid, hidden=True)
    return write_sheets([hidden, *sheets], dst)


def reencode(src: Path, dst: Path, encoding: str) -> Path:
    """A CSV re-encoded (GB18030 <-> UTF-8 with BOM), same text."""
    data = src.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("gb18030")
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_bytes(text.encode(encoding))
    return dst
