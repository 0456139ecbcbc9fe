"""The city's summary report at the end of a city nightly: every county's whole-county
indicators, open findings and open data-quality issues (and the city extracts' issues) read
from the counties' schemas, handed to `reports.context.city`, rendered into
FUPIN_HOME/440200/reports/.

The warehouse and FUPIN_HOME come from the environment of the worker, as for every task of
`flows.city`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import polars as pl
from prefect import task
from prefect.cache_policies import NO_CACHE

from config.private import private_dir
from config.settings import city_counties, load_resources, load_settings
from flows.nightly import _logger, periods_of
from reports import CITY_SUMMARY, render
from reports.context.city import city_summary_data
from warehouse import db
from warehouse.schema import CITY_CODE

FINDING_COLUMNS = ("rule", "key", "severity", "status")


@dataclass(frozen=True)
class CityState:
    """What the summary reads of each county (and of the city's extracts), as plain frames."""

    indicators: pl.DataFrame  # each county's whole-county indicators (level city)
    findings: pl.DataFrame  # county_code, rule, key, severity, status
    issues: pl.DataFrame  # county_code, status; the extracts' under CITY_CODE


def read_city(database_url: str, counties: list[str]) -> CityState:
    """Every county's stored whole-county indicators, findings and issues (no personal
    data is kept: codes, rules, keys and statuses only)."""
    from flows.export import per_unit

    def tagged(frames: dict[str, pl.DataFrame]) -> list[pl.DataFrame]:
        return [f.with_columns(county_code=pl.lit(unit)) for unit, f in frames.items()]

    level = pl.col("level") == "city"
    indicators = list(
        per_unit(
            database_url, counties, lambda _, e: db.read_frame(e, "indicator").filter(level)
        ).values()
    )
    findings = tagged(
        per_unit(
            database_url, counties, lambda _, e: db.read_frame(e, "finding").select(FINDING_COLUMNS)
        )
    )
    issues = tagged(
        per_unit(
            database_url,
            [*counties, CITY_CODE],
            lambda _, e: db.read_frame(e, "dq_issue").select("status"),
        )
    )
    return CityState(
        indicators=pl.concat(indicators, how="diagonal_relaxed") if indicators else pl.DataFrame(),
        findings=pl.concat(findings, how="diagonal_relaxed") if findings else pl.DataFrame(),
        issues=pl.concat(issues, how="diagonal_relaxed"),
    )


def city_reports_dir(home: Path) -> Path:
    """FUPIN_HOME/440200/reports: the city's own home, beside its counties'."""
    return home / CITY_CODE / "reports"


def render_city_summary(
    counties: list[str], as_of: date, formats: list[str] | tuple[str, ...] = ("html",)
) -> list[Path]:
    """The summary of each period the run on `as_of` informs, into the city's reports."""
    settings = load_settings()
    policy = load_resources(settings).policy
    state = read_city(settings.database_url, counties)
    names = {code: city_counties().get(code, code) for code in counties}
    out = private_dir(city_reports_dir(settings.home))
    paths: list[Path] = []
    for period in periods_of(as_of):
        data = city_summary_data(
            names,
            state.indicators,
            state.findings,
            state.issues,
            period=period,
            as_of=as_of,
            policy=policy,
        )
        paths += render(CITY_SUMMARY, data, list(formats), out)
    return paths


@task(name="city-summary", cache_policy=NO_CACHE)
def city_summary(counties: list[str], as_of: str, formats: list[str]) -> list[str]:
    """The city's summary report (ranking of the counties), after every county is judged."""
    paths = render_city_summary(counties, date.fromisoformat(as_of), formats)
    _logger().info("生成全市汇总报告：%s", "、".join(p.name for p in paths) or "无")
    return [str(p) for p in paths]


__all__ = ["CityState", "city_reports_dir", "city_summary", "read_city", "render_city_summary"]
