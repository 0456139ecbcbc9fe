"""Run a source's suite on a canonical frame and return its data-quality issues.

Engine decision (measured by `benchmarks/validation.py`, see its docstring): GX runs on a
pandas copy of the few columns a suite reads, not on the SQL data source.
"""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from expectations import adapter, context, suites
from expectations.custom import HOUSEHOLD_TOWNSHIP
from transforms import ids
from transforms.frames import CANONICAL, ISSUE, conform, empty

_BLANKS = " \t\r\n\u3000\u00a0"


VALID_ID = "_valid_id"


def prepare(kind: str, frame: pl.DataFrame) -> pl.DataFrame:
    """The frame on its contract, blank text as null, `_row` (its position) added, and for
    the roster the township that household checks group by (custom.HOUSEHOLD_TOWNSHIP)."""
    if kind not in CANONICAL:
        raise ValueError(f"unknown source kind {kind!r}; expected one of {sorted(CANONICAL)}")
    conformed = conform(frame, CANONICAL[kind])
    text = [c for c, t in conformed.schema.items() if t == pl.Utf8]
    prepared = conformed.with_columns(
        pl.when(pl.col(c).str.strip_chars(_BLANKS) == "").then(None).otherwise(pl.col(c)).alias(c)
        for c in text
    )
    if "id_status" in prepared.columns:
        # The ID the normaliser judged valid (Excel's `…000` form can pass the check digit by
        # chance; its sex digit means nothing).
        prepared = prepared.with_columns(
            pl.when(pl.col("id_status").is_in([ids.VALID, ids.LEGACY15]))
            .then(pl.col("id_norm"))
            .alias(VALID_ID)
        )
    if kind == "roster":
        code = pl.col("township_code")
        household = ["file_id", "sheet", "household_id"]
        prepared = prepared.with_columns(
            code.fill_null(code.drop_nulls().first().over(household)).alias(HOUSEHOLD_TOWNSHIP)
        )
    return prepared.with_row_index(context.ROW).with_columns(pl.col(context.ROW).cast(pl.Int64))


def to_pandas(prepared: pl.DataFrame, columns: list[str]):  # -> pandas.DataFrame
    """Only the columns the suite reads, indexed by `_row` (GX reports failing rows by it)."""
    return prepared.select(context.ROW, *columns).to_pandas().set_index(context.ROW)


def run_pandas(suite: suites.Suite, prepared: pl.DataFrame) -> dict[str, list[int]]:
    batch = context.pandas_batch(suite.kind, to_pandas(prepared, suite.columns))
    result = batch.validate(suite.suite, result_format=context.result_format("pandas"))
    return adapter.hits_from_result(result, suite)


def run_sql(suite: suites.Suite, connection_string: str, table: str) -> dict[str, list[int]]:
    """The same suite on a staged SQL table holding the prepared frame (with `_row`)."""
    batch = context.sqlite_batch(connection_string, table)
    result = batch.validate(suite.suite, result_format=context.result_format("sql"))
    return adapter.hits_from_result(result, suite)


def validate(kind: str, frame: pl.DataFrame, files: Mapping[int, str]) -> pl.DataFrame:
    """Data-quality issues of one canonical frame (transforms.frames.ISSUE contract).

    kind: roster, village, dibao, enrolment or settlement; files: file_id -> inbox-relative
    file name (used in issue keys).
    """
    suite = suites.build(kind, "pandas")
    prepared = prepare(kind, frame)
    if prepared.height == 0:
        return empty(ISSUE)
    return adapter.issues_from_hits(suite, run_pandas(suite, prepared), prepared, files)


def validate_sql(
    kind: str, frame: pl.DataFrame, files: Mapping[int, str], connection_string: str, table: str
) -> pl.DataFrame:
    """As `validate`, with GX querying `table` (the prepared frame, staged) instead."""
    suite = suites.build(kind, "sql")
    prepared = prepare(kind, frame)
    if prepared.height == 0:
        return empty(ISSUE)
    return adapter.issues_from_hits(
        suite, run_sql(suite, connection_string, table), prepared, files
    )


__all__ = ["prepare", "run_pandas", "run_sql", "to_pandas", "validate", "validate_sql"]
