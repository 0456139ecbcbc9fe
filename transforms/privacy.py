"""What anyone may read of personal data: the one home of every mask, scrubber and formula guard.

- Masks, for a value known to be personal: `mask_name` (王小明 → 王*明, 欧阳小明 → 欧*明: one
  star whatever the length, so the mask does not tell the length either), `mask_id`
  (`440282********1234`), `mask_phone` (`138****5678`), and the `*_expr` forms for whole
  columns.
- Scrubbers, for free text that might hold personal data or secrets (message bodies, recorded
  errors, log lines, every string of a report): `scrub` masks each resident ID (18-character,
  legacy 15-digit, and the scientific form a spreadsheet makes of an ID), mobile number,
  credential in a URL (`scheme://user:pass@`) and secret query parameter; `scrub_error`
  also shortens; `scrub_data` walks nested dicts and lists.
- The formula guard of every CSV and XLSX writer: `safe_text`, `safe_value`, `safe_expr`,
  `safe_frame`.

Pure: polars and `re` only.  Parsing IDs (what is a valid ID) is `transforms.ids`; this module
only decides what of a value is shown.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, TypeVar

import polars as pl

__all__ = [
    "FORMULA_STARTS",
    "mask_id",
    "mask_id_expr",
    "mask_name",
    "mask_name_expr",
    "mask_phone",
    "safe_expr",
    "safe_frame",
    "safe_text",
    "safe_value",
    "scrub",
    "scrub_data",
    "scrub_error",
]

# ---------------------------------------------------------------- masks


def mask_name(name: str | None) -> str:
    """王小明 → 王*明, 欧阳小明 → 欧*明, 王明 → 王*, 王 → *: what a report, log or alert shows
    of a name.  One star whatever the length, so the mask does not tell the length either."""
    if not name:
        return ""
    if len(name) == 1:
        return "*"
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" + name[-1]


def mask_name_expr(expr: pl.Expr) -> pl.Expr:
    """`mask_name` for a whole column (null → "")."""
    n = expr.str.len_chars()
    return (
        pl.when(n >= 3)
        .then(expr.str.slice(0, 1) + "*" + expr.str.slice(-1, 1))
        .when(n == 2)
        .then(expr.str.slice(0, 1) + "*")
        .when(n == 1)
        .then(pl.lit("*"))
        .otherwise(pl.lit(""))
    )


def mask_id(identity: str | None) -> str:
    """`440282********1234`: what every report and log shows of an ID (a short value: its
    first two characters and `****`)."""
    if not identity:
        return ""
    if len(identity) <= 10:
        return identity[:2] + "****"
    return identity[:6] + "*" * 8 + identity[-4:]


def mask_id_expr(expr: pl.Expr) -> pl.Expr:
    """`mask_id` for a whole column of normalised IDs (null → "")."""
    n = expr.str.len_chars()
    return (
        pl.when(n > 10)
        .then(expr.str.slice(0, 6) + pl.lit("*" * 8) + expr.str.slice(-4, 4))
        .when(n > 0)
        .then(expr.str.slice(0, 2) + pl.lit("****"))
        .otherwise(pl.lit(""))
    )


def mask_phone(phone: str | None) -> str:
    """13812345678 → 138****5678: the first three and last four characters of a number longer
    than seven, the first two of a shorter one."""
    if not phone:
        return ""
    if len(phone) <= 7:
        return phone[:2] + "*" * (len(phone) - 2)
    return phone[:3] + "*" * (len(phone) - 7) + phone[-4:]


# ---------------------------------------------------------------- scrubbing free text

# What `scrub` masks in free text, each pattern once, as one alternation (one pass per text).
_PERSONAL = {
    # An 18-character resident ID standing alone (not inside a longer run of digits or
    # letters); any 18 characters of that shape, birth date or not: a mistyped ID is personal.
    "id18": r"(?<![0-9A-Za-z])\d{17}[0-9Xx](?![0-9A-Za-z])",
    # A legacy 15-digit ID (area, yymmdd, sequence); a 户编号 has the same shape and is spared
    # by its label, which every message writes before it.
    "id15": r"(?<![0-9A-Za-z])(?<!户编号)(?<!庭编号)"
    r"[1-9]\d{7}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}(?![0-9A-Za-z])",
    # What a spreadsheet shows of an ID stored as a number: 4.40282199001011E+17.
    "scientific": r"(?<![0-9])\d\.\d{5,}[Ee]\+?\d{1,2}(?![0-9])",
    # A mainland mobile number: 1[3-9]x xxxx xxxx.
    "mobile": r"(?<![0-9])1[3-9]\d{9}(?![0-9])",
}
_PERSONAL_TEXT = re.compile("|".join(f"(?P<{k}>{p})" for k, p in _PERSONAL.items()))
_SCIENTIFIC_SHOWN = "（已隐去的证件号码）"
_SHORTEST = 9  # `d.dddddEd`: text shorter than this holds none of the above
# `scheme://user:password@` (or a bare token before the @).
_URL_CREDENTIAL = re.compile(r"(\b[a-z][a-z0-9+.-]*://)[^\s/@]+@", re.IGNORECASE)
# `?access_token=…`, `&sign=…`: secrets carried as query parameters.
_SECRET_PARAM = re.compile(
    r"((?:access_token|token|key|secret|password|pass|sign)=)[^&\s]+", re.IGNORECASE
)


def _shown(match: re.Match[str]) -> str:
    kind, value = match.lastgroup, match.group(0)
    if kind == "mobile":
        return mask_phone(value)
    if kind == "scientific":
        return _SCIENTIFIC_SHOWN
    return mask_id(value)


def scrub(text: str | None) -> str:
    """`text` with every ID (18-character, legacy 15-digit, spreadsheet-mangled), mobile number,
    URL credential and secret query parameter masked.

    The last line of defence for message bodies, recorded errors, logs and reports: findings
    and issues are masked when made, this catches what slips through.  A 15-digit number
    written right after “户编号” or “家庭编号” is a household number and stays readable.
    """
    if not text:
        return ""
    if "@" in text:
        text = _URL_CREDENTIAL.sub(r"\1****@", text)
    if "=" in text:
        text = _SECRET_PARAM.sub(r"\1****", text)
    if len(text) < _SHORTEST:
        return text
    return _PERSONAL_TEXT.sub(_shown, text)


def scrub_error(text: str | None, limit: int = 500) -> str:
    """An error message fit for the `alert` table or a log: `scrub`bed, at most `limit`
    characters (the last one `…` when cut)."""
    text = scrub(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def scrub_data(value: Any) -> Any:
    """`scrub` over every string of a nested structure of dicts, lists and tuples (tuples come
    back as lists); other values as they are."""
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, Mapping):
        return {k: scrub_data(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [scrub_data(v) for v in value]
    return value


# ---------------------------------------------------------------- the formula guard
# Nothing leaves as a formula: the one guard every CSV and XLSX writer puts text through.
#
# Following OWASP's advice on CSV injection, text that begins with `=`, `+`, `-`, `@`, a tab or
# a carriage return gets a leading apostrophe, so that Excel, WPS or LibreOffice shows it as
# text instead of evaluating it (`=HYPERLINK(…)`, `-1+2`, `@SUM(A1)`, `\t=1`).
#
# What is left alone:
# - numbers that are numbers: typed numeric columns (Int64/Float64 in a frame, `int`/`float`
#   values) are written as numbers and never pass through here;
# - text that merely looks like a signed number (`-5000`, `+86 138 0000 0000`) is still text:
#   it gets the apostrophe like any other.  It is what a clerk typed in a text cell (an
#   issue's value, a phone number), and in a text column it should stay exactly that,
#   not become a number or, for `+86 138…`, a formula Excel would try to evaluate.  The one
#   rule is simpler to trust than an exception for "harmless" numerals;
# - text that does not begin with one of those characters, and nulls.
#
# The apostrophe is part of the value (a CSV has no other way to say "text"); in XLSX the
# cells are written as strings anyway, and the apostrophe keeps them text after a person saves
# the sheet as CSV and opens it again.

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_FORMULA_START = "^([=+\\-@\\t\\r])"

T = TypeVar("T")


def safe_text(text: str) -> str:
    """`text`, with an apostrophe in front when a spreadsheet could take it for a formula."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def safe_value(value: T) -> T | str:
    """A cell value: text through `safe_text`, anything else (numbers, dates, None) as is."""
    return safe_text(value) if isinstance(value, str) else value


def safe_expr(expr: pl.Expr) -> pl.Expr:
    """`safe_text` on a String expression (nulls stay null)."""
    return expr.str.replace(_FORMULA_START, "'${1}")


def safe_frame(frame: pl.DataFrame) -> pl.DataFrame:
    """Every String column through `safe_expr`; typed columns keep their values and types."""
    text = [name for name, dtype in frame.schema.items() if dtype == pl.String]
    if not text:
        return frame
    return frame.with_columns(safe_expr(pl.col(name)) for name in text)
