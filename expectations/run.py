"""Run a source's suite on a canonical frame and return its data-quality issues.

Engine decision (measured by `benchmarks/validation.py`, see its docstring): GX runs on a
pandas copy of the few columns a suite reads, not on the SQL data source.

A GX run costs ~20 ms per expectation plus, for a few custom expectations, ~1 s per million
rows (GX's own batch fingerprint, which cost more than both, is skipped: see
`context._skip_pandas_fingerprint`).  Those costly checks are row-wise
(`suites.Check.row_wise`), so `run_pandas` validates them on the distinct value tuples of
their columns and expands the failing tuples back to their rows; everything else is one GX run
on the full frame.
"""

from __future__ import annotations

import polars as pl

from expectations import adapter, context, suites
from expectations.custom import HOUSEHOLD_TOWNSHIP
from transforms import ids
from transforms.frames import CANONICAL, ISSUE, conform, empty
from transforms.values import as_written

_BLANKS = " \t\r\n\u3000\u00a0"


VALID_ID = "_valid_id"


def prepare(kind: str, frame: pl.DataFrame) -> pl.DataFrame:
    """The frame on its contract, blank text as null, `_row` (its position) added, and for
    the roster the township that household checks group by (custom.HOUSEHOLD_TOWNSHIP).
    Added for the suites: `_written_<column>` for the typed values the normaliser may leave
    out (suites.WRITTEN) and `_id_invisible` (the ID cell, when it holds invisible
    characters)."""
    if kind not in CANONICAL:
        raise ValueError(f"unknown source kind {kind!r}; expected one of {sorted(CANONICAL)}")
    conformed = conform(frame, CANONICAL[kind])
    text = [c for c, t in conformed.schema.items() if t == pl.Utf8]
    # Finding the few columns holding a blank (a regex over every cell, no allocation) costs
    # half of stripping every cell of every column (0.3 s against 0.65 s on 1.26M rows).
    # `\s` is Unicode-aware, so it flags a superset of what _BLANKS strips.
    flagged = conformed.select(pl.col(c).str.contains(r"^\s*$").any() for c in text).row(0)
    text = [c for c, blank in zip(text, flagged, strict=True) if blank]
    prepared = conformed.with_columns(
        pl.when(pl.col(c).str.strip_chars(_BLANKS) == "").then(None).otherwise(pl.col(c)).alias(c)
        for c in text
    )
    prepared = prepared.with_columns(
        as_written(prepared, raw, typed, reader) for typed, raw, reader in suites.WRITTEN[kind]
    )
    if "id_raw" in prepared.columns:
        raw = pl.col("id_raw")
        prepared = prepared.with_columns(
            pl.when(raw.str.contains(ids.INVISIBLE)).then(raw).alias(suites.INVISIBLE_ID)
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


# A costly row-wise group is validated on its distinct tuples when they are fewer than this
# share of the rows.  Measured for the resident-ID check on 1.26M rows: grouping plus GX on
# the tuples takes 0.5 s at 20 % distinct, 0.75-0.8 s at 35-50 %, ~1 s from 60 % on, where
# the full frame takes 0.8-1 s.
DEDUPE_BELOW = 0.5
_POS = "_pos"


def run_pandas(
    suite: suites.Suite,
    prepared: pl.DataFrame,
    *,
    dedupe_below: float = DEDUPE_BELOW,
    every_group: bool = False,
) -> dict[str, list[int]]:
    """Failing `_row`s (ascending) per failing check, in suite order: what one GX run of the
    full suite on the full frame returns (`run_whole`), computed faster.

    A costly row-wise group (suites.RowGroup.costly; `every_group`: any row-wise group) is
    deduplicated when its distinct tuples are fewer than `dedupe_below` of the rows (0: never;
    above 1: always); every other check runs on the full frame.
    """
    fmt = context.result_format("pandas")
    found: dict[str, list[int]] = {}
    # Cheap checks share one full-frame run rather than a run per group (~20 ms each).
    if every_group:
        groups, full = suite.row_groups, [suite.whole]
    else:
        groups, full = tuple(g for g in suite.row_groups if g.costly), [suite.rest]
    on_full = [s for s in full if s is not None]
    deduplicated: set[str] = set()
    for group in groups:
        distinct = _distinct(prepared, group.columns, dedupe_below)
        if distinct is None:
            on_full.append(group.suite)
            continue
        tuples, rows = distinct
        deduplicated.update(group.checks)
        batch = context.pandas_batch(suite.kind, tuples.to_pandas().set_index(context.ROW))
        hits = adapter.hits_from_result(batch.validate(group.suite, result_format=fmt), suite)
        for name, failing in hits.items():
            found[name] = rows.gather(failing).explode().sort().to_list()
    if on_full:
        columns = dict.fromkeys(
            c
            for name, check in suite.checks.items()
            if name not in deduplicated
            for c in check.columns
        )
        batch = context.pandas_batch(suite.kind, to_pandas(prepared, list(columns)))
        for gx_suite in on_full:
            result = batch.validate(gx_suite, result_format=fmt)
            found.update(adapter.hits_from_result(result, suite))
    return {name: found[name] for name in suite.checks if name in found}


def _distinct(
    prepared: pl.DataFrame, columns: tuple[str, ...], dedupe_below: float
) -> tuple[pl.DataFrame, pl.Series] | None:
    """The distinct tuples of `columns` (each the values of its first row, indexed 0..k-1 by
    `_row`) and, per tuple, the `_row`s holding it; None when deduplicating does not pay.

    Rows grouped together must look the same to GX.  polars groups nulls together and all
    NaNs together (pandas sees both as missing anyway), but also 0.0 with -0.0, which a check
    could tell apart (str(-0.0)): a float column adds its sign (1/x < 0) to the key.  The
    pandas dtypes do not change: a column has nulls among the tuples iff it has any.
    """
    if prepared.height == 0 or dedupe_below <= 0:
        return None
    floats = [c for c in columns if prepared.schema[c].is_float()]
    signs = [(1.0 / pl.col(c) < 0).alias(f"_negative_{c}") for c in floats]
    groups = (
        prepared.select(pl.int_range(pl.len()).alias(_POS), context.ROW, *columns, *signs)
        .group_by([*columns, *(f"_negative_{c}" for c in floats)], maintain_order=True)
        .agg(pl.col(_POS).first(), pl.col(context.ROW))
    )
    if groups.height >= dedupe_below * prepared.height:
        return None
    tuples = prepared.select(columns).gather(groups[_POS]).with_row_index(context.ROW)
    return tuples.with_columns(pl.col(context.ROW).cast(pl.Int64)), groups[context.ROW]


def run_whole(suite: suites.Suite, prepared: pl.DataFrame) -> dict[str, list[int]]:
    """The full suite in one GX run on the full frame (the reference `run_pandas` matches)."""
    batch = context.pandas_batch(suite.kind, to_pandas(prepared, suite.columns))
    result = batch.validate(suite.suite, result_format=context.result_format("pandas"))
    return adapter.hits_from_result(result, suite)


def run_sql(suite: suites.Suite, connection_string: str, table: str) -> dict[str, list[int]]:
    """The same suite on a staged SQL table holding the prepared frame (with `_row`)."""
    batch = context.sqlite_batch(connection_string, table)
    result = batch.validate(suite.suite, result_format=context.result_format("sql"))
    return adapter.hits_from_result(result, suite)


# Above this many rows, a suite whose every check judges a row on its own values (no
# `suite.whole`: the extracts, not the roster) runs on slices of the frame: the same issues
# (tests/expectations/test_row_wise.py), a fraction of the memory.  GX's pandas engine holds
# several copies of what it reads: the city's 12.6M-row enrolment extract in one go took
# 5 GB above the frame itself (benchmarks/nightly.py, scale 10).
SLICE_ROWS = 1_000_000


def validate(kind: str, frame: pl.DataFrame, slice_rows: int = SLICE_ROWS) -> pl.DataFrame:
    """Data-quality issues of one canonical frame (transforms.frames.ISSUE contract).

    kind: roster, village, dibao, enrolment or settlement.
    """
    suite = suites.build(kind, "pandas")
    if suite.whole is None and frame.height > slice_rows:
        parts = [
            validate(kind, frame.slice(offset, slice_rows), slice_rows)
            for offset in range(0, frame.height, slice_rows)
        ]
        return pl.concat(parts, how="vertical").sort(
            "file_id", "sheet", "row_no", "column", "kind", nulls_last=True
        )
    prepared = prepare(kind, frame)
    if prepared.height == 0:
        return empty(ISSUE)
    return adapter.issues_from_hits(suite, run_pandas(suite, prepared), prepared)


def validate_sql(
    kind: str, frame: pl.DataFrame, connection_string: str, table: str
) -> pl.DataFrame:
    """As `validate`, with GX querying `table` (the prepared frame, staged) instead."""
    suite = suites.build(kind, "sql")
    prepared = prepare(kind, frame)
    if prepared.height == 0:
        return empty(ISSUE)
    return adapter.issues_from_hits(suite, run_sql(suite, connection_string, table), prepared)


__all__ = [
    "prepare",
    "run_pandas",
    "run_sql",
    "run_whole",
    "to_pandas",
    "validate",
    "validate_sql",
]
