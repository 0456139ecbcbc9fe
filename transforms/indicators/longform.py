"""Long-format tools: per-village sums rolled up to township and city, and wide frames melted
into rows of the `indicator` table, each row named for its entity."""

from __future__ import annotations

from collections.abc import Iterable

import polars as pl

from transforms.indicators.catalogue import INDICATOR, INDICATORS, F, S
from transforms.indicators.inputs import IndicatorInputs


def entity_columns(x: IndicatorInputs, frame: pl.DataFrame, level: str) -> pl.DataFrame:
    """Add entity_code / entity_name for a frame grouped at `level`."""
    if level == "city":  # the whole county
        d = x.divisions
        return frame.with_columns(
            entity_code=pl.lit(d.county_code, S), entity_name=pl.lit(d.county_name, S)
        )
    if level == "township":
        names = {c: x.divisions.short_name(c) for c in x.divisions.townships}
        return frame.with_columns(
            entity_code=pl.col("township_code"),
            entity_name=pl.col("township_code").replace_strict(names, default=None, return_dtype=S),
        )
    if level == "village":
        return (
            frame.join(x.village_names, on=["township_code", "village_key"], how="left")
            .with_columns(
                entity_code=pl.coalesce(
                    pl.col("village_code"), pl.col("township_code") + "-" + pl.col("village_key")
                ),
                entity_name=pl.col("village_key"),
            )
            .drop("village_code")
        )
    return frame.with_columns(
        entity_code=pl.col("support_unit"), entity_name=pl.col("support_unit")
    )


def _keys(level: str) -> list[str]:
    return {
        "city": [],
        "township": ["township_code"],
        "village": ["township_code", "village_key"],
        "support_unit": ["support_unit"],
    }[level]


def _melt(
    x: IndicatorInputs,
    frame: pl.DataFrame,
    level: str,
    specs: Iterable[tuple[str, pl.Expr, pl.Expr | None, pl.Expr | None]],
) -> pl.DataFrame:
    """Turn a wide frame (one row per entity) into indicator rows.

    `specs`: (indicator, value, numerator, denominator) expressions over the wide frame.
    """
    frame = entity_columns(x, frame, level)
    parts = []
    for name, value, num, den in specs:
        parts.append(
            frame.select(
                period=pl.lit(x.period.label),
                level=pl.lit(level),
                entity_code="entity_code",
                entity_name="entity_name",
                indicator=pl.lit(name),
                value=value.cast(F),
                numerator=(num if num is not None else pl.lit(None)).cast(F),
                denominator=(den if den is not None else pl.lit(None)).cast(F),
                unit=pl.lit(INDICATORS[name].unit),
            )
        )
    if not parts:
        return pl.DataFrame(schema=INDICATOR)
    return pl.concat(parts)


def _pct(num: str, den: str) -> pl.Expr:
    return pl.when(pl.col(den) > 0).then(pl.col(num) * 100.0 / pl.col(den))


def _count(name: str, base: str | None = None) -> tuple[str, pl.Expr, pl.Expr, pl.Expr | None]:
    return (name, pl.col(name), pl.col(name), pl.col(base) if base else None)


def _share(name: str, num: str, den: str) -> tuple[str, pl.Expr, pl.Expr, pl.Expr]:
    return (name, _pct(num, den), pl.col(num), pl.col(den))


def _rollup(
    x: IndicatorInputs, wide: pl.DataFrame, sums: list[str], levels: Iterable[str]
) -> dict[str, pl.DataFrame]:
    """Sum per-village columns up to the township and city (every township present)."""
    out: dict[str, pl.DataFrame] = {}
    for level in levels:
        keys = _keys(level)
        if level == "village":
            # a problem whose row names no village counts for its township, not for a village
            frame = wide.filter(
                pl.col("township_code").is_not_null() & pl.col("village_key").is_not_null()
            )
            frame = frame.group_by(keys).agg(pl.col(sums).sum())
        elif level == "township":
            all_codes = pl.DataFrame(
                {"township_code": sorted(x.divisions.townships)}, schema={"township_code": S}
            )
            summed = wide.group_by(keys).agg(pl.col(sums).sum())
            frame = all_codes.join(summed, on=keys, how="left").with_columns(
                pl.col(sums).fill_null(0)
            )
        else:
            frame = (
                wide.select(pl.col(sums).sum())
                if wide.height
                else pl.DataFrame({c: [0] for c in sums})
            )
        out[level] = frame.sort(keys) if keys else frame
    return out
