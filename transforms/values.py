"""Values that cannot be right: amounts and dates a cell states but the pipeline must not use.

A settlement of −5,000 yuan, an amount of 1e15 or `inf`, a 低保 start date in 2099: each is a
slip (or an export gone wrong), not a fact.  The normaliser reads such a value, keeps the text
in `<column>_raw` and leaves the typed column null (`plausible_amount`, `plausible_date`), so
no rule, sum or indicator ever sees it; the expectation suites then report it on its row
(`implausible_amount`, `implausible_income`, `implausible_date`), telling it apart from text
that is no number or date at all (`bad_number`, `bad_date`) with `as_written`.

The bounds are `config.settings.ValueLimits` (policy.toml, [values]).  The latest plausible
date is a year after the day the file is *read*, not after a run's as-of date: a file is
normalised and validated once, when it arrives (`flows.validation`), and its verdict must not
change with the date of a later run.  For the nightly run (as-of = today) that is as-of + 1
year; a backfill run with an earlier --as-of is judged by the day it read the file.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import polars as pl

from transforms.cells import parse_money

_NON_FINITE = r"^[+-]?(?:INF|INFINITY|NAN)$"


def amount_as_written(expr: pl.Expr) -> pl.Expr:
    """The number a money cell states, plausible or not: what `parse_money` reads, and the
    text a system export writes for a number that is none (`inf`, `-Infinity`, `NaN`)."""
    text = expr.cast(pl.Utf8).str.normalize("NFKC").str.strip_chars().str.to_uppercase()
    special = (
        pl.when(text.str.contains("NAN"))
        .then(pl.lit(float("nan")))
        .when(text.str.starts_with("-"))
        .then(pl.lit(float("-inf")))
        .otherwise(pl.lit(float("inf")))
    )
    return pl.coalesce(parse_money(expr), pl.when(text.str.contains(_NON_FINITE)).then(special))


def plausible_amount(value: pl.Expr, ceiling: float) -> pl.Expr:
    """`value` when it is a finite amount from 0 to `ceiling` yuan, else null."""
    return pl.when(value.is_finite() & (value >= 0) & (value <= ceiling)).then(value)


def plausible_date(value: pl.Expr, earliest: date, latest: date) -> pl.Expr:
    """`value` when it lies from `earliest` to `latest`, else null."""
    return pl.when(value.is_between(pl.lit(earliest), pl.lit(latest))).then(value)


def plausible_year(value: pl.Expr, earliest: date, latest: date) -> pl.Expr:
    """A year (脱贫年度) from `earliest`'s to `latest`'s, else null."""
    return pl.when(value.is_between(earliest.year, latest.year)).then(value)


def as_written(
    frame: pl.DataFrame, raw: str, typed: str, reader: Callable[[pl.Expr], pl.Expr]
) -> pl.Series:
    """Per row, the text of `raw` when `reader` makes a value of it, plausible or not (null
    otherwise): where `typed` is null, this tells a value the normaliser left out (the text
    is here) from text that is no value at all (null).

    Only the distinct texts of rows whose typed value is null are read again (a handful: the
    other rows were read when the file was normalised)."""
    text = pl.col(raw)
    missing = frame.filter(pl.col(typed).is_null() & text.is_not_null()).select(text.unique())
    readable = missing.filter(reader(text).is_not_null()).get_column(raw)
    value = text.cast(pl.Utf8)
    if frame.select((pl.col(typed).is_not_null() & text.is_null()).any()).item():
        value = pl.coalesce(value, pl.col(typed).cast(pl.Utf8))  # typed, built without text
    return frame.select(
        pl.when(pl.col(typed).is_not_null() | text.is_in(readable.implode()))
        .then(value)
        .alias(f"_written_{typed}")
    ).to_series()
