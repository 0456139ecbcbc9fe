"""Cell parsers: turn the text of one spreadsheet cell into a typed value.

Every parser takes either a polars expression (the pipeline's way: one vectorised pass over a
column) or a single value (handy in tests and in the generator) and answers in kind:

    frame.select(parse_date(pl.col("start_date")))   # -> Date column
    parse_date("2016年5月1日")                        # -> date(2016, 5, 1)

A value that cannot be read becomes null; the caller keeps the text in `<column>_raw` so an
expectation can quote what was written.  Nothing here guesses beyond what sources.md lists.

Decisions:
- `201605`, `2016-05`, `2016年5月` are months: they become the first day of the month.
- A 5-digit number (optionally with a fraction) in a date column is an Excel serial date
  (1899-12-30 based, as Excel counts after its 1900 leap-year bug); the time part is dropped.
- A money cell may carry thousands separators, `¥`, `元` and anything after `元` (`元/人·年`).
  `万` is not converted: `1.2万` is unreadable and so reported.
- A percent without `%` between 0 and 1 is a fraction Excel formatted as percent (0.85 → 85).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from datetime import date
from typing import overload

import polars as pl

# Whitespace polars' \s does not cover, plus zero-width characters clerks paste in.
_SPACES = r"[\s\u3000\u00a0\u200b\u200c\u200d\u2060\ufeff]"
_NUMBER = r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$"
_EXCEL_EPOCH = date(1899, 12, 30)

YES = ("是", "有", "√", "✓", "✔", "Y", "YES", "1", "TRUE", "T")
NO = ("否", "无", "×", "✗", "✘", "N", "NO", "0", "FALSE", "F", "没有")

Scalar = str | int | float | None


def _apply(expr_fn, value: Scalar, dtype: pl.DataType):  # type: ignore[no-untyped-def]
    """Evaluate a column parser on one value, so scalars and columns share one definition."""
    text = None if value is None else str(value)
    series = pl.Series("v", [text], dtype=pl.Utf8)
    return pl.select(expr_fn(pl.lit(series)).cast(dtype)).item()


def squeeze(expr: pl.Expr) -> pl.Expr:
    """NFKC, every kind of space removed; blank → null."""
    return expr.cast(pl.Utf8).str.normalize("NFKC").str.replace_all(_SPACES, "").replace("", None)


def _trimmed_expr(expr: pl.Expr) -> pl.Expr:
    return expr.cast(pl.Utf8).str.replace_all(f"^{_SPACES}+|{_SPACES}+$", "").replace("", None)


@overload
def trimmed(value: pl.Expr) -> pl.Expr: ...
@overload
def trimmed(value: Scalar) -> str | None: ...
def trimmed(value: pl.Expr | Scalar) -> pl.Expr | str | None:
    """Leading/trailing spaces (any width) removed; blank → null.  Inner text untouched."""
    if isinstance(value, pl.Expr):
        return _trimmed_expr(value)
    return _apply(_trimmed_expr, value, pl.Utf8())


def is_blank(expr: pl.Expr) -> pl.Expr:
    """Empty, or only spaces (ASCII, U+3000, NBSP, zero-width)."""
    return expr.is_null() | expr.cast(pl.Utf8).str.replace_all(_SPACES, "").eq("")


# ---------------------------------------------------------------- dates


def _date_expr(expr: pl.Expr) -> pl.Expr:
    text = expr.cast(pl.Utf8).str.normalize("NFKC").str.strip_chars()
    # A datetime cell or an exported timestamp: keep the date part only.
    text = text.str.replace(r"(?:\s+|T)\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?$", "")
    text = text.str.replace_all(_SPACES, "")
    serial = text.str.extract(r"^(\d{5})(?:\.\d+)?$", 1).cast(pl.Int64, strict=False)
    unified = (
        text.str.replace_all(r"[年月/.\-]", "-").str.replace(r"[日号]$", "").str.replace(r"-$", "")
    )
    year = r"(?:18|19|20)\d{2}"
    ymd = pl.when(unified.str.contains(f"^{year}-\\d{{1,2}}-\\d{{1,2}}$")).then(unified)
    month = pl.when(unified.str.contains(f"^{year}-\\d{{1,2}}$")).then(unified + "-1")
    compact = pl.when(text.str.contains(f"^{year}\\d{{4}}$")).then(text)
    compact_month = pl.when(text.str.contains(f"^{year}\\d{{2}}$")).then(text + "01")
    return pl.coalesce(
        ymd.str.to_date("%Y-%m-%d", strict=False),
        month.str.to_date("%Y-%m-%d", strict=False),
        compact.str.to_date("%Y%m%d", strict=False),
        compact_month.str.to_date("%Y%m%d", strict=False),
        pl.lit(_EXCEL_EPOCH) + pl.duration(days=serial),
    )


@overload
def parse_date(value: pl.Expr) -> pl.Expr: ...
@overload
def parse_date(value: Scalar) -> date | None: ...
def parse_date(value: pl.Expr | Scalar) -> pl.Expr | date | None:
    """Every date form of sources.md: 2016-05-01, 2016/5/1, 20160501, 2016.5.1, 2016年5月1日,
    201605 (→ 2016-05-01), an Excel serial number, and the ISO text of an Excel date cell."""
    if isinstance(value, pl.Expr):
        return _date_expr(value)
    return _apply(_date_expr, value, pl.Date())


# ---------------------------------------------------------------- numbers


def _money_expr(expr: pl.Expr) -> pl.Expr:
    text = expr.cast(pl.Utf8).str.normalize("NFKC").str.replace_all(_SPACES, "")
    text = text.str.replace(r"^(?:RMB|¥|\$)", "").str.replace(r"^([^元]*\d)元.*$", "${1}")
    grouped = text.str.contains(r"^[+-]?\d{1,3}(?:,\d{3})+(?:\.\d*)?$")
    text = pl.when(grouped).then(text.str.replace_all(",", "")).otherwise(text)
    return pl.when(text.str.contains(_NUMBER)).then(text).cast(pl.Float64, strict=False)


@overload
def parse_money(value: pl.Expr) -> pl.Expr: ...
@overload
def parse_money(value: Scalar) -> float | None: ...
def parse_money(value: pl.Expr | Scalar) -> pl.Expr | float | None:
    """Yuan: 7365, 7,365, 7365元, 7365.00, ￥7,365.00, 7365元/人·年."""
    if isinstance(value, pl.Expr):
        return _money_expr(value)
    return _apply(_money_expr, value, pl.Float64())


def _int_expr(expr: pl.Expr) -> pl.Expr:
    text = expr.cast(pl.Utf8).str.normalize("NFKC").str.replace_all(_SPACES, "")
    text = text.str.replace(r"^([+-]?\d+(?:\.0*)?)(?:人|户|口|年度|年|岁|个)$", "${1}")
    text = text.str.replace(r"^([+-]?\d+)\.0*$", "${1}")
    return pl.when(text.str.contains(r"^[+-]?\d{1,18}$")).then(text).str.to_integer(strict=False)


@overload
def parse_int(value: pl.Expr) -> pl.Expr: ...
@overload
def parse_int(value: Scalar) -> int | None: ...
def parse_int(value: pl.Expr | Scalar) -> pl.Expr | int | None:
    """Whole numbers: 3, ３, 3.0, 3人, 2017年, 2017年度.  3.5 is not a whole number → null."""
    if isinstance(value, pl.Expr):
        return _int_expr(value)
    return _apply(_int_expr, value, pl.Int64())


def _percent_expr(expr: pl.Expr) -> pl.Expr:
    text = expr.cast(pl.Utf8).str.normalize("NFKC").str.replace_all(_SPACES, "")
    has_sign = text.str.contains(r"[%％]$")
    number = text.str.replace(r"[%％]$", "")
    value = pl.when(number.str.contains(_NUMBER)).then(number).cast(pl.Float64, strict=False)
    return pl.when(~has_sign & value.is_between(0, 1)).then(value * 100).otherwise(value)


@overload
def parse_percent(value: pl.Expr) -> pl.Expr: ...
@overload
def parse_percent(value: Scalar) -> float | None: ...
def parse_percent(value: pl.Expr | Scalar) -> pl.Expr | float | None:
    """Percent 0-100: `85%`, `85`, or `0.85` (a percent-formatted Excel cell)."""
    if isinstance(value, pl.Expr):
        return _percent_expr(value)
    return _apply(_percent_expr, value, pl.Float64())


# ---------------------------------------------------------------- yes / no


def _yes_no_expr(expr: pl.Expr) -> pl.Expr:
    key = squeeze(expr).str.to_uppercase()
    return (
        pl.when(key.is_in(list(YES)))
        .then(pl.lit(True))
        .when(key.is_in(list(NO)))
        .then(pl.lit(False))
        .otherwise(pl.lit(None, dtype=pl.Boolean))
    )


@overload
def parse_yes_no(value: pl.Expr) -> pl.Expr: ...
@overload
def parse_yes_no(value: Scalar) -> bool | None: ...
def parse_yes_no(value: pl.Expr | Scalar) -> pl.Expr | bool | None:
    """是/否, 有/无, √/×, Y/N, 1/0, true/false (any case, any width); anything else → null."""
    if isinstance(value, pl.Expr):
        return _yes_no_expr(value)
    return _apply(_yes_no_expr, value, pl.Boolean())


# ---------------------------------------------------------------- text


@overload
def normalise_name(value: pl.Expr) -> pl.Expr: ...
@overload
def normalise_name(value: Scalar) -> str | None: ...
def normalise_name(value: pl.Expr | Scalar) -> pl.Expr | str | None:
    """`张　三 ` → `张三`; full-width letters → ASCII (NFKC); blank → null."""
    if isinstance(value, pl.Expr):
        return squeeze(value)
    return _apply(squeeze, value, pl.Utf8())


def enum_key(text: str) -> str:
    """The form two spellings of one enumeration value share (NFKC, no spaces, upper case)."""
    return re.sub(_SPACES, "", unicodedata.normalize("NFKC", text)).upper()


def enum_lookup(mapping: Mapping[str, Sequence[str]]) -> dict[str, str]:
    """{written form key: canonical} for a config.schema enumeration."""
    lookup: dict[str, str] = {}
    for canonical, synonyms in mapping.items():
        for written in (canonical, *synonyms):
            lookup.setdefault(enum_key(written), canonical)
    return lookup


def _enum_expr(expr: pl.Expr, mapping: Mapping[str, Sequence[str]]) -> pl.Expr:
    key = squeeze(expr).str.to_uppercase()
    lookup = enum_lookup(mapping)
    return key.replace_strict(
        list(lookup), list(lookup.values()), default=_trimmed_expr(expr), return_dtype=pl.Utf8
    )


@overload
def normalise_enum(value: pl.Expr, mapping: Mapping[str, Sequence[str]]) -> pl.Expr: ...
@overload
def normalise_enum(value: Scalar, mapping: Mapping[str, Sequence[str]]) -> str | None: ...
def normalise_enum(
    value: pl.Expr | Scalar, mapping: Mapping[str, Sequence[str]]
) -> pl.Expr | str | None:
    """The canonical value when the written one (or a listed synonym) is recognised, else the
    written value trimmed, so an expectation can report it; blank → null."""
    if isinstance(value, pl.Expr):
        return _enum_expr(value, mapping)
    return _apply(lambda e: _enum_expr(e, mapping), value, pl.Utf8())


@overload
def clean_label(value: pl.Expr) -> pl.Expr: ...
@overload
def clean_label(value: Scalar) -> str | None: ...
def clean_label(value: pl.Expr | Scalar) -> pl.Expr | str | None:
    """Place names and codes (乡镇, 行政村, 户编号): NFKC, no spaces; blank → null."""
    if isinstance(value, pl.Expr):
        return squeeze(value)
    return _apply(squeeze, value, pl.Utf8())
