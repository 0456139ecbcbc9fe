"""Who a report is about: the townships in its scope, and every village with the unit that
supports it and its first secretary (masked)."""

from __future__ import annotations

import polars as pl

from transforms import indicators as ind
from transforms.indicators import IndicatorInputs
from transforms.privacy import mask_name

# (support unit, unit type, masked first secretary) of a village
Unit = tuple[str, str, str]


def townships_in_scope(x: IndicatorInputs, township: str | None) -> list[str]:
    """The one township of a township report, every township (by code) otherwise."""
    codes = sorted(x.divisions.townships)
    return [township] if township else codes


def short_names(x: IndicatorInputs) -> dict[str, str]:
    """Township code → short name (珠玑镇), for every township."""
    return {c: x.divisions.short_name(c) for c in x.divisions.townships}


def village_directory(x: IndicatorInputs) -> pl.DataFrame:
    """Every village of the villages sheets with its entity code, support unit and type."""
    v = ind.village_wide(x)
    if v.height == 0:
        return pl.DataFrame(
            schema={
                "township_code": pl.Utf8,
                "village_key": pl.Utf8,
                "entity_code": pl.Utf8,
                "support_unit": pl.Utf8,
                "unit_type": pl.Utf8,
                "first_secretary": pl.Utf8,
                "is_poor": pl.Boolean,
            }
        )
    return ind.entity_columns(x, v, "village").select(
        "township_code",
        "village_key",
        "entity_code",
        "support_unit",
        "unit_type",
        "first_secretary",
        "is_poor",
    )


def unit_of(directory: pl.DataFrame, x: IndicatorInputs) -> dict[tuple[str, str], Unit]:
    """(township_code, village_key) → (support unit, unit type, masked first secretary)."""
    out: dict[tuple[str, str], Unit] = {}
    for r in directory.iter_rows(named=True):
        unit = r["support_unit"] or f"{x.township_name(r['township_code']) or ''}驻镇帮扶工作组"
        utype = r["unit_type"] or ind.WORK_GROUP
        out[(r["township_code"], r["village_key"])] = (unit, utype, mask_name(r["first_secretary"]))
    return out


def default_unit(x: IndicatorInputs, township_code: str | None) -> Unit:
    """The township's work group: who answers for a village the directory does not know."""
    return (f"{x.township_name(township_code) or ''}驻镇帮扶工作组", ind.WORK_GROUP, "")
