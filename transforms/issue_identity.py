"""What a data-quality issue is, independent of the file that carried it (findings.md).

An issue is identified by what is wrong and where in the register: kind + township + household
(户编号) + person + column for roster rows, kind + the record's own key + column for extract
rows, kind + source + township for a problem of the file as a whole.  File, sheet and row are
evidence of where it was last seen, never part of the key: a township that sends its roster
again unchanged keeps its problems (and their age), and one that fixes a row resolves exactly
that row's problems.

The person is the ID as written (normalised: width, case, spaces), because issues are found per
file, before reconciliation decides identities; failing that, the name, failing that the row.
"""

from __future__ import annotations

import polars as pl

SEP = "|"


def _text(column: str) -> pl.Expr:
    """A column as text, blank (or only spaces) as null."""
    value = pl.col(column).cast(pl.Utf8).str.strip_chars(" \t\r\n\u3000\u00a0")
    return pl.when(value == "").then(None).otherwise(value)


def _row() -> pl.Expr:
    return pl.format("第{}行", pl.col("row_no"))


def person() -> pl.Expr:
    """The written ID, else 姓名:name, else 第n行 (a row with neither is only its row)."""
    return pl.coalesce(_text("id_norm"), pl.format("姓名:{}", _text("name")), _row())


def _join(*parts: pl.Expr) -> pl.Expr:
    return pl.concat_str([p.cast(pl.Utf8).fill_null("") for p in parts], separator=SEP)


def roster_key(household_level: pl.Expr | bool = False) -> pl.Expr:
    """kind|township|户编号|person|column; a household-level cell or check drops the person
    (the household's head may change, its 户编号 does not).  A row without 户编号 is keyed
    by its person whatever the level.  Needs kind, column, township_code, household_id,
    id_norm, name, row_no."""
    level = pl.lit(household_level) if isinstance(household_level, bool) else household_level
    household = _text("household_id")
    who = pl.when(level & household.is_not_null()).then(pl.lit("")).otherwise(person())
    return _join(
        pl.lit("roster"), pl.col("kind"), pl.col("township_code"), household, who, pl.col("column")
    )


def village_key() -> pl.Expr:
    """kind|township|village|column (a row naming no village: its row)."""
    village = pl.coalesce(_text("village"), _row())
    return _join(
        pl.lit("village"), pl.col("kind"), pl.col("township_code"), village, pl.col("column")
    )


def dibao_key() -> pl.Expr:
    """kind|低保证号|person|column."""
    return _join(pl.lit("dibao"), pl.col("kind"), _text("family_id"), person(), pl.col("column"))


def enrolment_key() -> pl.Expr:
    """kind|参保年度|person|column; the person of an ID-less row is its 个人编号 when it has one."""
    year = pl.coalesce(pl.col("year").cast(pl.Utf8), _text("year_raw"))
    who = pl.coalesce(_text("id_norm"), pl.format("个人编号:{}", _text("insured_key")), person())
    return _join(pl.lit("enrolment"), pl.col("kind"), year, who, pl.col("column"))


def settlement_key() -> pl.Expr:
    """kind|结算编号|column (a row without 结算编号: its row)."""
    record = pl.coalesce(_text("settlement_id"), _row())
    return _join(pl.lit("settlement"), pl.col("kind"), record, pl.col("column"))


def file_key(source: str) -> pl.Expr:
    """kind|source|township: a problem of the submission as a whole."""
    return _join(pl.lit("file"), pl.col("kind"), pl.lit(source), pl.col("township_code"))


def issue_key(source: str, household_level: pl.Expr | bool = False) -> pl.Expr:
    """The key of a row-level issue of `source` (roster, village, dibao, enrolment, settlement)."""
    if source == "roster":
        return roster_key(household_level)
    keys = {
        "village": village_key,
        "dibao": dibao_key,
        "enrolment": enrolment_key,
        "settlement": settlement_key,
    }
    try:
        return keys[source]()
    except KeyError:
        raise ValueError(f"no issue key for source {source!r}") from None
