"""Exit targets: the period's cumulative target per township (from the policy's city-wide
plan or its township table) and the traffic-light rating against it."""

from __future__ import annotations

import math
from collections.abc import Mapping

import polars as pl

from config.settings import Divisions, Policy
from transforms.indicators.periods import Period


def round_half_up(x: float) -> int:
    return int(math.floor(x + 0.5 + 1e-9))


def _year_target_share(policy: Policy, year: int) -> float:
    """Cumulative target as a share of the registered persons; 0 before the plan's first year.
    Only a policy with its county's figures has targets (`Policy.figures_known`)."""
    if year < min(policy.years):
        return 0.0
    target, persons = policy.year(year).target_persons_out, policy.persons
    if target is None or not persons:
        raise ValueError("the policy carries no targets of its county (figures not known)")
    return target / persons


def target_share(policy: Policy, period: Period) -> float:
    """The period's cumulative target as a share of registered persons.

    H1 takes the previous year-end target plus half the year's increment (2017H1: 5,200 +
    6,000/2 = 8,200 persons city-wide); H2 and a year take the year-end target.
    """
    end = _year_target_share(policy, period.year)
    if period.half != 1:
        return end
    prev = _year_target_share(policy, period.year - 1)
    return prev + (end - prev) / 2


def targets_from_policy(policy: Policy, divisions: Divisions) -> pl.DataFrame | None:
    """The township targets the policy sets ([years.YYYY.townships]), None when it sets none."""
    rows = policy.township_targets()
    if not rows:
        return None
    frame = pl.DataFrame(
        rows, schema={"township_code": pl.Utf8, "year": pl.Int64, "target": pl.Int64}, orient="row"
    )
    return targets_from_frame(frame, divisions)


def targets_from_frame(frame: pl.DataFrame, divisions: Divisions) -> pl.DataFrame:
    """A table of township targets as (township_code, year, target).

    Columns: `township_code` or `township` (乡镇, any spelling `Divisions.township_code`
    knows), `year` (年度) and `target` (累计脱贫目标人数, cumulative persons out).
    """
    aliases = {
        "乡镇": "township",
        "镇(街道)": "township",
        "乡镇代码": "township_code",
        "年度": "year",
        "累计脱贫目标人数": "target",
        "目标人数": "target",
        "target_persons_out": "target",
    }
    frame = frame.rename({c: aliases[c] for c in frame.columns if c in aliases})
    if "township_code" not in frame.columns:
        if "township" not in frame.columns:
            raise ValueError("targets file: needs a township_code or township (乡镇) column")
        codes = [divisions.township_code(str(n)) for n in frame["township"].to_list()]
        frame = frame.with_columns(township_code=pl.Series(codes, dtype=pl.Utf8))
    missing = [c for c in ("year", "target") if c not in frame.columns]
    if missing:
        raise ValueError(f"targets file: missing column(s) {missing}")
    out = frame.select(
        pl.col("township_code").cast(pl.Utf8),
        pl.col("year").cast(pl.Int64),
        pl.col("target").cast(pl.Float64),
    )
    unknown = out.filter(~pl.col("township_code").is_in(list(divisions.townships)))
    if unknown.height:
        raise ValueError(f"targets file: unknown township(s) {unknown['township_code'].to_list()}")
    return out


def township_targets(
    persons_by_township: Mapping[str, int],
    period: Period,
    policy: Policy,
    override: pl.DataFrame | None = None,
) -> dict[str, int]:
    """Cumulative target persons out per township for `period`."""
    share = target_share(policy, period)
    given: dict[tuple[str, int], float] = {}
    if override is not None:
        given = {
            (r["township_code"], r["year"]): r["target"] for r in override.iter_rows(named=True)
        }
    out: dict[str, int] = {}
    for code, n in persons_by_township.items():
        end = given.get((code, period.year))
        if end is None:
            out[code] = round_half_up(share * n)
            continue
        if period.half != 1:
            out[code] = round_half_up(end)
            continue
        prev = given.get((code, period.year - 1))
        if prev is None:
            prev = _year_target_share(policy, period.year - 1) * n
        out[code] = round_half_up(prev + (end - prev) / 2)
    return out


def rating_code(
    out: float | None, target: float | None, ok_share: float, warn_share: float
) -> int | None:
    """2 达标 (out ≥ ok_share of the target) / 1 预警 (≥ warn_share) / 0 未达标; None when
    there is no target to meet."""
    if out is None or not target:
        return None
    if out >= target * ok_share - 1e-9:
        return 2
    if out >= target * warn_share - 1e-9:
        return 1
    return 0
