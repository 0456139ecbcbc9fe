"""The indicator families (registration, exit progress, guarantees, data quality, poor
villages and support units), each `IndicatorInputs` in, indicator rows out, and
`compute_all`, every family in a stable order."""

from __future__ import annotations

from datetime import date

import polars as pl

from transforms.frames import conform
from transforms.indicators.catalogue import (
    _ATTR_KEYS,
    _HEALTH_KEYS,
    _LABOUR_KEYS,
    INDICATOR,
    LEVELS,
    VILLAGE_INFRA,
)
from transforms.indicators.inputs import IndicatorInputs, _lifecycle
from transforms.indicators.longform import _count, _keys, _melt, _pct, _rollup, _share
from transforms.indicators.targets import (
    rating_code,
    round_half_up,
    target_share,
    township_targets,
)
from transforms.rules import DANGEROUS, DIBAO_LIKE, EXITED, r03_dibao_missing
from transforms.values import plausible_amount


def registration(x: IndicatorInputs) -> pl.DataFrame:
    """Registered households and persons by attribute, labour capacity and health.

    The roster carries no 致贫原因 column (sources.md), so health is the cause breakdown.
    """
    h = x.households
    wide = h.group_by("township_code", "village_key").agg(
        households=pl.len(),
        persons=pl.col("persons").sum(),
        households_labour_capable=pl.col("labour_capable").sum(),
        **{f"households_attr_{k}": (pl.col("attribute") == a).sum() for a, k in _ATTR_KEYS.items()},
        **{
            f"persons_attr_{k}": pl.col("persons").filter(pl.col("attribute") == a).sum()
            for a, k in _ATTR_KEYS.items()
        },
        **{
            f"persons_labour_{k}": pl.col(f"persons_labour_{k}").sum()
            for k in _LABOUR_KEYS.values()
        },
        **{
            f"persons_health_{k}": pl.col(f"persons_health_{k}").sum()
            for k in _HEALTH_KEYS.values()
        },
    )
    sums = [c for c in wide.columns if c not in ("township_code", "village_key")]
    specs = [
        _count("households"),
        _count("persons"),
        _count("households_labour_capable", "households"),
        *[_count(f"households_attr_{k}", "households") for k in _ATTR_KEYS.values()],
        *[_count(f"persons_attr_{k}", "persons") for k in _ATTR_KEYS.values()],
        *[_count(f"persons_labour_{k}", "persons") for k in _LABOUR_KEYS.values()],
        *[_count(f"persons_health_{k}", "persons") for k in _HEALTH_KEYS.values()],
    ]
    rolled = _rollup(x, wide, sums, ("city", "township", "village"))
    return pl.concat([_melt(x, rolled[lv], lv, specs) for lv in ("city", "township", "village")])


def _exit_wide(x: IndicatorInputs) -> pl.DataFrame:
    out = (pl.col("exit_status") == EXITED) & (pl.col("exit_year") <= x.year)
    return x.households.group_by("township_code", "village_key").agg(
        persons=pl.col("persons").sum(),
        households_out=out.sum(),
        persons_out=pl.col("persons").filter(out).sum(),
        persons_out_dibao=pl.col("persons")
        .filter(out & pl.col("attribute").is_in(DIBAO_LIKE))
        .sum(),
    )


# An indicator as `_melt` takes it: code, value, numerator, denominator.
Spec = tuple[str, pl.Expr, pl.Expr | None, pl.Expr | None]


def exit_progress(x: IndicatorInputs) -> pl.DataFrame:
    """Persons out of poverty (cumulative) against the period's target: share, rating, rank.
    A county whose policy carries no figures of its own (`Policy.figures_known`) has no
    target: its target indicators are absent, not zero."""
    wide = _exit_wide(x)
    sums = ["persons", "households_out", "persons_out", "persons_out_dibao"]
    rolled = _rollup(x, wide, sums, ("city", "township", "village"))
    base_specs = [
        _count("persons_out", "persons"),
        _count("households_out"),
        _count("persons_out_dibao", "persons_out"),
        _share("exit_share", "persons_out", "persons"),
    ]
    town, city = rolled["township"], rolled["city"]
    target_specs: list[Spec] = []
    rank_specs: list[Spec] = []
    if x.policy.figures_known:
        town, city, target_specs = _against_targets(x, town, city)
        rank_specs = [("target_rank", pl.col("rank"), None, None)]
    frames = [
        _melt(x, city, "city", [*base_specs, *target_specs]),
        _melt(x, town, "township", [*base_specs, *target_specs, *rank_specs]),
        _melt(x, rolled["village"], "village", base_specs),
    ]
    return pl.concat(frames)


def _against_targets(
    x: IndicatorInputs, town: pl.DataFrame, city: pl.DataFrame
) -> tuple[pl.DataFrame, pl.DataFrame, list[Spec]]:
    """The townships and the whole county with their targets, ratings and (townships)
    ranks, and the specs of the target indicators."""
    per_town = dict(zip(town["township_code"], town["persons"], strict=True))
    targets = township_targets(per_town, x.period, x.policy, x.targets)
    town = town.with_columns(
        target=pl.col("township_code").replace_strict(targets, default=0, return_dtype=pl.Int64)
    )
    city_persons = int(city["persons"][0] or 0)
    if x.targets is not None and set(targets) == set(x.divisions.townships):
        city_target = sum(targets.values())
    else:
        city_target = round_half_up(target_share(x.policy, x.period) * city_persons)
    city = city.with_columns(target=pl.lit(city_target, pl.Int64))

    rating = x.policy.assessment

    def with_rating(frame: pl.DataFrame) -> pl.DataFrame:
        codes = [
            rating_code(o, t, rating.rating_ok_share, rating.rating_warn_share)
            for o, t in zip(frame["persons_out"], frame["target"], strict=True)
        ]
        return frame.with_columns(rating=pl.Series(codes, dtype=pl.Int64))

    town = with_rating(town)
    city = with_rating(city)
    # Ties: ratios equal to 9 decimals share a rank (1, 2, 2, 4).
    ratio = pl.when(pl.col("target") > 0).then((pl.col("persons_out") / pl.col("target")).round(9))
    town = town.with_columns(rank=ratio.rank(method="min", descending=True).cast(pl.Int64))
    target_specs: list[Spec] = [
        ("target_persons_out", pl.col("target"), pl.col("target"), None),
        ("target_progress", _pct("persons_out", "target"), pl.col("persons_out"), pl.col("target")),
        ("target_rating", pl.col("rating"), None, None),
    ]
    dibao_target = x.policy.year(x.year).target_via_dibao
    if dibao_target is not None and x.policy.persons and x.period.is_year_end:
        # Of the year's target, this many through 低保 coverage (兜底): shared out like the
        # persons target, by registered persons.
        share = dibao_target / x.policy.persons

        def with_dibao(frame: pl.DataFrame) -> pl.DataFrame:
            wanted = [round_half_up(share * (p or 0)) for p in frame["persons"]]
            return frame.with_columns(dibao_target=pl.Series(wanted, dtype=pl.Int64))

        town, city = with_dibao(town), with_dibao(city)
        target_specs += [
            ("target_persons_out_dibao", pl.col("dibao_target"), pl.col("dibao_target"), None),
            (
                "target_dibao_progress",
                _pct("persons_out_dibao", "dibao_target"),
                pl.col("persons_out_dibao"),
                pl.col("dibao_target"),
            ),
        ]
    return town, city, target_specs


def guarantees(x: IndicatorInputs) -> pl.DataFrame:
    """两不愁三保障: insurance, 低保 coverage, housing, schooling, water; exits below the line."""
    h = x.households
    needs = pl.col("active") & (pl.col("attribute").is_in(DIBAO_LIKE) | ~pl.col("labour_capable"))
    uncovered = r03_dibao_missing(x.rule_inputs).select("household_id")
    h = h.with_columns(
        needs_dibao=needs,
        dibao_ok=needs & ~pl.col("household_id").is_in(uncovered["household_id"].implode()),
        housing_ok=~pl.col("housing").fill_null("").is_in(DANGEROUS),
        water_ok=pl.col("water_safe").fill_null(False),
    )
    wide = h.group_by("township_code", "village_key").agg(
        households=pl.len(),
        persons=pl.col("persons").sum(),
        insured=pl.col("insured").sum(),
        needs_dibao=pl.col("needs_dibao").sum(),
        dibao_ok=pl.col("dibao_ok").sum(),
        housing_ok=pl.col("housing_ok").sum(),
        water_ok=pl.col("water_ok").sum(),
        dropouts=pl.col("dropouts").sum(),
    )
    r10 = (
        x.open_findings.filter(pl.col("rule") == "R10")
        .group_by("township_code", "village_key")
        .agg(exit_below_line=pl.len())
    )
    wide = (
        pl.concat(
            [wide, r10.select("township_code", "village_key", "exit_below_line")],
            how="diagonal_relaxed",
        )
        .group_by("township_code", "village_key")
        .agg(pl.all().fill_null(0).sum())
    )
    sums = [c for c in wide.columns if c not in ("township_code", "village_key")]
    specs = [
        _share("insured_share", "insured", "persons"),
        _share("dibao_coverage", "dibao_ok", "needs_dibao"),
        _share("housing_safe_share", "housing_ok", "households"),
        _count("dropouts", "persons"),
        _share("water_safe_share", "water_ok", "households"),
        _count("exit_below_line", "households"),
    ]
    rolled = _rollup(x, wide, sums, ("city", "township", "village"))
    return pl.concat([_melt(x, rolled[lv], lv, specs) for lv in ("city", "township", "village")])


def _median_days(frame: pl.DataFrame | None, day: date, keys: list[str]) -> pl.DataFrame:
    f = _lifecycle(frame, {})
    done = f.filter(pl.col("resolved_on").is_not_null() & (pl.col("resolved_on") <= day))
    done = done.with_columns(days=(pl.col("resolved_on") - pl.col("first_seen")).dt.total_days())
    if keys:
        return done.group_by(keys).agg(median=pl.col("days").median(), n=pl.len())
    return done.select(median=pl.col("days").median(), n=pl.len())


def _problem_counts(x: IndicatorInputs) -> pl.DataFrame:
    """Per village: open and overdue findings and issues at D."""
    parts = []
    for name, frame in (("findings", x.open_findings), ("issues", x.open_issues)):
        parts.append(
            frame.group_by("township_code", "village_key").agg(
                **{f"open_{name}": pl.len(), f"overdue_{name}": pl.col("overdue").sum()}
            )
        )
    persons = x.households.group_by("township_code", "village_key").agg(
        persons=pl.col("persons").sum()
    )
    return (
        pl.concat([persons, *parts], how="diagonal_relaxed")
        .group_by("township_code", "village_key")
        .agg(pl.all().fill_null(0).sum())
    )


def _problem_specs() -> list[tuple[str, pl.Expr, pl.Expr, pl.Expr | None]]:
    """Open and overdue findings and issues, and findings per 100 persons: the same five
    indicators for a township, a village and a support unit."""
    return [
        _count("open_findings"),
        _count("overdue_findings", "open_findings"),
        _count("open_issues"),
        _count("overdue_issues", "open_issues"),
        (
            "open_findings_per_100",
            _pct("open_findings", "persons"),
            pl.col("open_findings"),
            pl.col("persons"),
        ),
    ]


def data_quality(x: IndicatorInputs) -> pl.DataFrame:
    """Open and overdue findings and issues, per 100 registered persons; median days to fix."""
    wide = _problem_counts(x)
    sums = ["persons", "open_findings", "overdue_findings", "open_issues", "overdue_issues"]
    specs = [
        *_problem_specs(),
        (
            "open_issues_per_100",
            _pct("open_issues", "persons"),
            pl.col("open_issues"),
            pl.col("persons"),
        ),
    ]
    rolled = _rollup(x, wide, sums, ("city", "township", "village"))
    frames = [_melt(x, rolled[lv], lv, specs) for lv in ("city", "township", "village")]
    for name, source in (("findings", x.findings), ("issues", x.issues)):
        for level in ("city", "township"):
            keys = _keys(level)
            med = _median_days(source, x.day, keys)
            if level == "township":
                med = med.filter(pl.col("township_code").is_in(list(x.divisions.townships)))
            med = med.filter(pl.col("n") > 0).sort(keys) if keys else med.filter(pl.col("n") > 0)
            frames.append(
                _melt(
                    x,
                    med,
                    level,
                    [(f"median_days_fix_{name}", pl.col("median"), None, pl.col("n"))],
                )
            )
    return pl.concat(frames)


def village_wide(x: IndicatorInputs) -> pl.DataFrame:
    """The villages sheets in force, with exit line, infrastructure items met and 出列."""
    v = x.village_sheet
    line = float(x.policy.year(x.year).village_exit_line)
    if v.height == 0:
        return v
    # The village sheet keeps no raw text: an income that cannot be right (negative, not a
    # finite number, above the ceiling) is its row's implausible_income issue, not a value.
    ceiling = x.policy.values.income_max
    v = v.with_columns(plausible_amount(pl.col("income"), ceiling).alias("income"))
    infra = [pl.col(k).fill_null(False).cast(pl.Int64) for k in VILLAGE_INFRA]
    toilet_ok = (pl.col("toilet_rate") >= x.policy.assessment.toilet_rate_line).fill_null(False)
    return v.with_columns(
        line=pl.lit(line),
        income_ok=(pl.col("income") >= line).fill_null(False),
        toilet_ok=toilet_ok,
        infra_met=pl.sum_horizontal(*infra, toilet_ok.cast(pl.Int64)),
    ).with_columns(exited=pl.col("income_ok"))


def poor_villages(x: IndicatorInputs) -> pl.DataFrame:
    """Village sheet indicators of every village listed, and support-unit aggregates."""
    v = village_wide(x)
    if v.height == 0:
        return pl.DataFrame(schema=INDICATOR)
    as_int = lambda c: pl.col(c).cast(pl.Int64)  # noqa: E731
    specs: list[tuple[str, pl.Expr, pl.Expr | None, pl.Expr | None]] = [
        ("village_poor", as_int("is_poor"), None, None),
        ("village_income", pl.col("income"), pl.col("income"), pl.col("line")),
        ("village_income_ok", as_int("income_ok"), None, None),
        *[(f"village_{k}", as_int(k), None, None) for k in VILLAGE_INFRA],
        ("village_toilet_rate", pl.col("toilet_rate"), None, None),
        ("village_toilet_ok", as_int("toilet_ok"), None, None),
        ("village_infra_met", pl.col("infra_met"), pl.col("infra_met"), pl.lit(8)),
        ("village_exited", as_int("exited"), None, None),
    ]
    villages = _melt(x, v, "village", specs)
    units = support_units(x)
    return pl.concat([villages, units, _village_exit_target(x, v)])


def _village_exit_target(x: IndicatorInputs, v: pl.DataFrame) -> pl.DataFrame:
    """Where the policy wants every poor village out by the end of the year (2018): the
    target and how far each township and the city are, at the year-end assessments."""
    if not (x.policy.year(x.year).all_villages_exit and x.period.is_year_end):
        return pl.DataFrame(schema=INDICATOR)
    poor = v.filter(pl.col("is_poor").fill_null(False)).select(
        "township_code",
        "village_key",
        target_villages_exited=pl.lit(1, pl.Int64),
        villages_exited=pl.col("exited").cast(pl.Int64),
    )
    sums = ["target_villages_exited", "villages_exited"]
    rolled = _rollup(x, poor, sums, ("city", "township"))
    specs = [
        _count("target_villages_exited"),
        _share("villages_exit_progress", "villages_exited", "target_villages_exited"),
    ]
    return pl.concat([_melt(x, rolled[lv], lv, specs) for lv in ("city", "township")])


def support_units(x: IndicatorInputs) -> pl.DataFrame:
    """Per support unit: its villages, their progress and open problems."""
    v = village_wide(x)
    if v.height == 0:
        return pl.DataFrame(schema=INDICATOR)
    v = v.filter(pl.col("support_unit").is_not_null())
    exits = _exit_wide(x)
    problems = _problem_counts(x).drop("persons")
    per_village = (
        v.select("township_code", "village_key", "support_unit", "is_poor", "exited")
        .join(exits, on=["township_code", "village_key"], how="left")
        .join(problems, on=["township_code", "village_key"], how="left")
    )
    nums = [
        "persons",
        "persons_out",
        "open_findings",
        "overdue_findings",
        "open_issues",
        "overdue_issues",
    ]
    wide = (
        per_village.group_by("support_unit")
        .agg(
            unit_villages=pl.len(),
            unit_poor_villages=pl.col("is_poor").fill_null(False).sum(),
            unit_villages_exited=(pl.col("exited") & pl.col("is_poor").fill_null(False)).sum(),
            **{c: pl.col(c).fill_null(0).sum() for c in nums},
        )
        .sort("support_unit")
    )
    specs = [
        _count("unit_villages"),
        _count("unit_poor_villages", "unit_villages"),
        _count("unit_villages_exited", "unit_poor_villages"),
        _count("persons"),
        _count("persons_out", "persons"),
        _share("exit_share", "persons_out", "persons"),
        *_problem_specs(),
    ]
    return _melt(x, wide, "support_unit", specs)


FAMILIES = (registration, exit_progress, guarantees, data_quality, poor_villages)
_LEVEL_ORDER = {lv: i for i, lv in enumerate(LEVELS)}


def compute_all(x: IndicatorInputs) -> pl.DataFrame:
    """Every indicator of every family, in a stable order (level, entity, indicator)."""
    frame = pl.concat([family(x) for family in FAMILIES])
    return conform(frame, INDICATOR).sort(
        pl.col("level").replace_strict(_LEVEL_ORDER, return_dtype=pl.Int64),
        "entity_code",
        "indicator",
    )
