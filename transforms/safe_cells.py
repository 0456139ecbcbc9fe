"""Nothing leaves as a formula: the one guard every CSV and XLSX writer puts text through.

Following OWASP's advice on CSV injection, text that begins with `=`, `+`, `-`, `@`, a tab or
a carriage return gets a leading apostrophe, so that Excel, WPS or LibreOffice shows it as
text instead of evaluating it (`=HYPERLINK(…)`, `-1+2`, `@SUM(A1)`, `\\t=1`).

What is left alone:
- numbers that are numbers: typed numeric columns (Int64/Float64 in a frame, `int`/`float`
  values) are written as numbers and never pass through here;
- text that merely looks like a signed number (`-5000`, `+86 138 0000 0000`) is still text:
  it gets the apostrophe like any other.  It is what a clerk typed in a text cell (an
  issue's value, a phone number), and in a text column it should stay exactly that,
  not become a number or, for `+86 138…`, a formula Excel would try to evaluate.  The one
  rule is simpler to trust than an exception for "harmless" numerals;
- text that does not begin with one of those characters, and nulls.

The apostrophe is part of the value (a CSV has no other way to say "text"); in XLSX the
cells are written as strings anyway, and the apostrophe keeps them text after a person saves
the sheet as CSV and opens it again.
"""

from __future__ import annotations

from typing import TypeVar

import polars as pl

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_STARTS_PATTERN = "^([=+\\-@\\t\\r])"

T = TypeVar("T")


def safe_text(text: str) -> str:
    """`text`, with an apostrophe in front when a spreadsheet could take it for a formula."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def safe_value(value: T) -> T | str:
    """A cell value: text through `safe_text`, anything else (numbers, dates, None) as is."""
    return safe_text(value) if isinstance(value, str) else value


def safe_expr(expr: pl.Expr) -> pl.Expr:
    """`safe_text` on a String expression (nulls stay null)."""
    return expr.str.replace(_STARTS_PATTERN, "'${1}")


def safe_frame(frame: pl.DataFrame) -> pl.DataFrame:
    """Every String column through `safe_expr`; typed columns keep their values and types."""
    text = [name for name, dtype in frame.schema.items() if dtype == pl.String]
    if not text:
        return frame
    return frame.with_columns(safe_expr(pl.col(name)) for name in text)
