"""Resident ID numbers (公民身份号码, GB 11643-1999).

Scalar helpers are used by the generator and by tests; the `*_expr` / frame functions are
what the pipeline uses on whole columns.  Nothing here guesses: an ID that Excel turned into
a number has lost digits, and we say so rather than invent them.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date

import polars as pl

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK_CHARS = "10X98765432"

# Statuses of a written ID after normalisation.
VALID = "valid"
LEGACY15 = "legacy15"  # a correct 15-digit number, converted to 18
EXCEL_MANGLED = "excel_mangled"  # stored by Excel as a number: trailing digits lost
BAD_FORMAT = "bad_format"
BAD_DATE = "bad_date"
BAD_CHECK = "bad_check"
BLANK = "blank"

INVALID_STATUSES = (EXCEL_MANGLED, BAD_FORMAT, BAD_DATE, BAD_CHECK, BLANK)

_SCI = re.compile(r"^(\d)(?:\.(\d+))?E\+?(\d+)$")
_BLANKS = re.compile(r"[\s\u3000\u00a0'\"‘’“”`]+")


def check_char(first17: str) -> str:
    """The GB 11643 check character for 17 digits."""
    total = sum(int(d) * w for d, w in zip(first17, WEIGHTS, strict=True))
    return CHECK_CHARS[total % 11]


def strip_invisible(text: str) -> str:
    """`text` without Unicode format characters (category Cf): zero-width spaces and joiners
    (U+200B-U+200D), direction marks and embeddings (U+200E/F, U+202A-U+202E, U+2066-U+2069),
    the BOM (U+FEFF), the soft hyphen (U+00AD) and the like.  Pasted from a web page or a
    chat they hide inside a cell: nobody sees them, every comparison does."""
    if text.isascii():
        return text
    return "".join(ch for ch in text if unicodedata.category(ch) != "Cf")


def has_invisible(text: str | None) -> bool:
    """Whether `text` holds a character `strip_invisible` removes."""
    return text is not None and strip_invisible(text) != text


# The same class for polars (Rust regex): `expr.str.contains(INVISIBLE)`.
INVISIBLE = r"\p{Cf}"


def _clean(text: str) -> str:
    return _BLANKS.sub("", unicodedata.normalize("NFKC", strip_invisible(text))).upper()


def _valid_birth(yyyymmdd: str) -> bool:
    try:
        born = date(int(yyyymmdd[:4]), int(yyyymmdd[4:6]), int(yyyymmdd[6:8]))
    except ValueError:
        return False
    return date(1880, 1, 1) <= born <= date(2030, 12, 31)


@dataclass(frozen=True, slots=True)
class ParsedId:
    """A written ID after normalisation: `normalised` is what we store and compare."""

    raw: str
    normalised: str
    status: str

    @property
    def is_valid(self) -> bool:
        return self.status in (VALID, LEGACY15)


def expand_scientific(text: str) -> str | None:
    """`4.40282199001011E+17` → `440282199001011000` (Excel shows 15 significant digits)."""
    match = _SCI.match(text)
    if not match:
        return None
    lead, frac, exp = match.group(1), match.group(2) or "", int(match.group(3))
    digits = lead + frac
    if len(digits) > exp + 1:
        return None
    return digits + "0" * (exp + 1 - len(digits))


def parse_id(raw: object) -> ParsedId:
    """Normalise one written ID and say whether it is valid, and if not, why."""
    if isinstance(raw, float):
        # What Excel shows of a number cell: 15 significant digits, never int(float).
        text = format(raw, ".15g").upper() if raw == raw else ""
    else:
        text = "" if raw is None else str(raw)
    cleaned = _clean(text)
    if not cleaned:
        return ParsedId(text, "", BLANK)
    if cleaned.endswith(".0") and cleaned[:-2].isdigit():
        cleaned = cleaned[:-2]
    sci = expand_scientific(cleaned)
    if sci is not None:
        # A 15-digit legacy ID survives a double exactly; an 18-digit one does not.
        if len(sci) == 15:
            cleaned = sci
        else:
            return ParsedId(text, sci, EXCEL_MANGLED)
    if len(cleaned) == 15 and cleaned.isdigit():
        body = cleaned[:6] + "19" + cleaned[6:]
        if not _valid_birth(body[6:14]):
            return ParsedId(text, cleaned, BAD_DATE)
        return ParsedId(text, body + check_char(body), LEGACY15)
    if (
        len(cleaned) == 18
        and cleaned[:17].isdigit()
        and (cleaned[17].isdigit() or cleaned[17] == "X")
    ):
        if cleaned.endswith("000") and looks_excel_mangled(cleaned, raw):
            return ParsedId(text, cleaned, EXCEL_MANGLED)
        if not _valid_birth(cleaned[6:14]):
            return ParsedId(text, cleaned, BAD_DATE)
        if check_char(cleaned[:17]) != cleaned[17]:
            return ParsedId(text, cleaned, BAD_CHECK)
        return ParsedId(text, cleaned, VALID)
    return ParsedId(text, cleaned, BAD_FORMAT)


def looks_excel_mangled(cleaned: str, raw: object) -> bool:
    """An 18-digit string ending in 000 whose check fails, or that came from a number cell.

    A genuine ID can end in `000` only with check character 0; Excel's damage leaves `000`
    after the 15th digit regardless, so a failing check there means lost digits.  Excel
    keeps the first 15 digits, birth date included: text with an impossible birth date is
    a mistyped ID, not Excel's damage.
    """
    if isinstance(raw, (int, float)):
        return True
    return check_char(cleaned[:17]) != cleaned[17] and _valid_birth(cleaned[6:14])


def is_valid_id(raw: object) -> bool:
    return parse_id(raw).is_valid


def sex_of(identity: str) -> str:
    """男 for an odd sequence digit, 女 for even."""
    return "男" if int(identity[16]) % 2 else "女"


def birth_date_of(identity: str) -> date:
    return date(int(identity[6:10]), int(identity[10:12]), int(identity[12:14]))


def make_id(area: str, born: date, sequence: int) -> str:
    """Build a valid 18-character ID (used by the generator and tests)."""
    body = f"{area}{born:%Y%m%d}{sequence:03d}"
    return body + check_char(body)


def parse_id_column(frame: pl.DataFrame, column: str, prefix: str = "id") -> pl.DataFrame:
    """Add `{prefix}_norm` and `{prefix}_status` for a column of written IDs.

    Works on unique values only, so a 1.2M-row enrolment file costs one pass over its
    distinct IDs.
    """
    uniques = frame.select(pl.col(column).unique())
    parsed = [parse_id(v) for v in uniques[column].to_list()]
    lookup = pl.DataFrame(
        {
            column: uniques[column],
            f"{prefix}_norm": [p.normalised for p in parsed],
            f"{prefix}_status": [p.status for p in parsed],
        },
        schema={
            column: frame.schema[column],
            f"{prefix}_norm": pl.Utf8,
            f"{prefix}_status": pl.Utf8,
        },
    )
    return frame.join(lookup, on=column, how="left", nulls_equal=True)
