"""Accountability: villages with problems in consecutive half-year assessments, and the
route a support unit's recall takes."""

from __future__ import annotations

from datetime import date

import polars as pl

from config.rules import RULES
from transforms.indicators.catalogue import S
from transforms.indicators.inputs import _lifecycle, bare_village, open_at
from transforms.indicators.periods import Period, half_year_ends, parse_period


def recurring_problems(
    findings: pl.DataFrame | None,
    period: Period | str,
    as_of: date | None = None,
    *,
    severities: tuple[str, ...],
    min_problems: int,
    lookback: int = 6,
) -> pl.DataFrame:
    """Villages with problems in consecutive half-year assessments, up to this one.

    An assessment is held at each half-year end; the current one at D.  A village "has
    problems" at an assessment when at least `min_problems` findings of `severities` are open
    on that date.  `streak` counts consecutive assessments with problems back from D.
    """
    period = parse_period(period)
    d = period.evaluation_date(as_of)
    dates = [d, *[e for e in half_year_ends(d, lookback + 1) if e < d]][: lookback + 1]
    f = _lifecycle(findings, {"rule": S, "severity": S})
    severity = {c: r.severity for c, r in RULES.items()}
    f = f.with_columns(
        severity=pl.coalesce(
            pl.col("severity"),
            pl.col("rule").replace_strict(severity, default=None, return_dtype=S),
        ),
        village_key=bare_village(pl.col("village")),
    ).filter(
        pl.col("severity").is_in(list(severities))
        & pl.col("township_code").is_not_null()
        & pl.col("village_key").is_not_null()
    )
    schema: dict[str, pl.DataType] = {
        "township_code": S,
        "village_key": S,
        "streak": pl.Int64(),
        "dates": pl.List(pl.Date()),
        "problems_now": pl.Int64(),
    }
    if f.height == 0:
        return pl.DataFrame(schema=schema)
    counts = pl.concat(
        [
            f.filter(open_at(t))
            .group_by("township_code", "village_key")
            .agg(n=pl.len())
            .with_columns(i=pl.lit(i, pl.Int64), on=pl.lit(t))
            for i, t in enumerate(dates)
        ]
    ).filter(pl.col("n") >= min_problems)
    rows = []
    for (tc, vk), group in counts.group_by("township_code", "village_key", maintain_order=True):
        present = dict(zip(group["i"].to_list(), group["n"].to_list(), strict=True))
        streak = 0
        while streak in present:
            streak += 1
        if streak:
            rows.append((tc, vk, streak, dates[:streak], present[0]))
    return pl.DataFrame(rows, schema=schema, orient="row").sort("township_code", "village_key")


def recall_route(unit_type: str | None, direct_types: tuple[str, ...]) -> str:
    """直接召回 for Nanxiong's own units and township work groups (`direct_types`, policy.toml
    [assessment]); a recommendation to the sending unit otherwise."""
    return "直接召回" if unit_type in direct_types else "向派出单位扶贫办发送召回建议"
