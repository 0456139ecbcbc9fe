"""Typed cells as Excel shows them: python-calamine's values (numbers, dates, booleans)
rendered as text, a column at a time, into a grid of Utf8 columns `c0..cN`.

Why not fastexcel's frames: fastexcel turns a number cell into text through a full-precision
integer (`4.4028219900101133E+17` → `440282199001011328`), which invents the digits Excel
lost, and it trims leading empty rows and columns, which would shift row numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time, timedelta

import polars as pl


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


def cells_grid(rows: Sequence[Sequence[object]]) -> pl.DataFrame:
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
