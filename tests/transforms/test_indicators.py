"""Indicators on tiny frames with numbers worked out by hand (see indicator_builders)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import polars as pl
import pytest

from config.settings import load_divisions, load_policy
from tests.transforms import indicator_builders as b
from transforms import indicators as ind

AS_OF = date(2018, 6, 30)
HOME = "440282"  # the whole-county entity of the home county's indicators: 南雄市's code
RECALL = {"severities": ("高",), "min_problems": 1}


def inputs(period: str = "2017", as_of: date = AS_OF, **kw) -> ind.IndicatorInputs:
    p = b.persons()
    args = dict(
        persons=p,
        villages=b.villages(),
        period=period,
        policy=b.test_policy(),
        divisions=load_divisions(),
        as_of=as_of,
        dibao=b.dibao(p),
        enrolment=b.enrolment(p, year=ind.parse_period(period).year),
        findings=b.findings(),
        issues=b.issues(),
    )
    args.update(kw)
    return ind.IndicatorInputs(**args)


def values(frame: pl.DataFrame, level: str, code: str) -> dict[str, float | None]:
    rows = frame.filter((pl.col("level") == level) & (pl.col("entity_code") == code))
    return dict(zip(rows["indicator"], rows["value"], strict=True))


@pytest.fixture(scope="module")
def y2017() -> pl.DataFrame:
    return ind.compute_all(inputs())


def test_long_format_matches_the_indicator_table(y2017: pl.DataFrame) -> None:
    assert y2017.schema == pl.Schema(ind.INDICATOR)
    keys = y2017.select("period", "level", "entity_code", "indicator")
    assert keys.is_unique().all(), "the warehouse table is unique on these columns"
    assert set(y2017["level"]) == set(ind.LEVELS)
    assert set(y2017["indicator"]) <= set(ind.INDICATORS)
    towns = y2017.filter(pl.col("level") == "township")["entity_code"].unique()
    assert towns.len() == 18  # every township, even without data
    assert y2017["unit"].null_count() == 0


def test_registration_counts(y2017: pl.DataFrame) -> None:
    city = values(y2017, "city", HOME)
    assert (city["households"], city["persons"]) == (7, 14)  # the dead spouse in H6 is not counted
    assert (
        city["households_attr_general"],
        city["households_attr_dibao"],
        city["households_attr_tekun"],
    ) == (5, 1, 1)
    assert (
        city["persons_attr_general"],
        city["persons_attr_dibao"],
        city["persons_attr_tekun"],
    ) == (11, 2, 1)
    assert city["households_labour_capable"] == 6
    assert (city["persons_labour_normal"], city["persons_labour_none"]) == (13, 1)
    assert (
        city["persons_health_healthy"],
        city["persons_health_serious"],
        city["persons_health_disabled"],
    ) == (12, 1, 1)
    a = values(y2017, "township", b.A)
    assert (a["households"], a["persons"]) == (3, 6)
    empty = values(y2017, "township", "440282122")  # 帽子峰镇: no data, zeros
    assert (empty["households"], empty["persons"]) == (0, 0)


def test_exit_progress_targets_ratings_and_tied_ranks(y2017: pl.DataFrame) -> None:
    # Targets: 70% of registered persons (70 of 100 in the test policy), rounded half up.
    a, bb, c = (values(y2017, "township", t) for t in (b.A, b.B, b.C))
    assert (a["persons_out"], a["target_persons_out"], a["target_progress"]) == (4, 4, 100.0)
    assert (bb["persons_out"], bb["target_persons_out"]) == (4, 4)  # 3.5 → 4
    assert (c["persons_out"], c["target_persons_out"], c["target_progress"]) == (1, 2, 50.0)
    assert (a["target_rating"], bb["target_rating"], c["target_rating"]) == (2, 2, 0)
    assert (a["target_rank"], bb["target_rank"], c["target_rank"]) == (1, 1, 3)  # tie shares rank 1
    assert values(y2017, "township", "440282122")["target_rank"] is None  # no target, no rank
    assert a["persons_out_dibao"] == 1  # H3, 特困供养
    assert a["exit_share"] == pytest.approx(400 / 6)
    city = values(y2017, "city", HOME)
    assert (city["persons_out"], city["target_persons_out"], city["target_progress"]) == (
        9,
        10,
        90.0,
    )
    assert city["target_rating"] == 1  # exactly 90%: 预警


def test_exit_counts_only_exits_up_to_the_period_year() -> None:
    y2016 = ind.compute_all(inputs("2016"))
    a = values(y2016, "township", b.A)
    assert a["persons_out"] == 3  # H1 (2016) only; H3 exited in 2017
    assert a["target_persons_out"] == 2  # 30% × 6 = 1.8


@pytest.mark.parametrize(
    ("period", "expected"),
    [
        ("2016H1", 2600),
        ("2016H2", 5200),
        ("2016", 5200),
        ("2017H1", 8200),
        ("2017", 11200),
        ("2018H1", 13544),
        ("2018H2", 15888),
    ],
)
def test_city_targets_of_the_plan_and_the_h1_interim(period: str, expected: int) -> None:
    policy = load_policy()
    share = ind.target_share(policy, ind.parse_period(period))
    assert ind.round_half_up(share * policy.persons) == expected


def test_h1_interim_target_per_township() -> None:
    h1 = ind.compute_all(inputs("2017H1", as_of=date(2017, 6, 30)))
    # 2017H1 share = 30% + (70% - 30%) / 2 = 50%: A 3.0 → 3, B 2.5 → 3, C 1.5 → 2, city 7.
    assert [values(h1, "township", t)["target_persons_out"] for t in (b.A, b.B, b.C)] == [3, 3, 2]
    assert values(h1, "city", HOME)["target_persons_out"] == 7


@pytest.mark.parametrize(
    ("out", "target", "code"),
    [
        (100, 100, 2),
        (101, 100, 2),
        (99, 100, 1),
        (90, 100, 1),
        (89.9, 100, 0),
        (0, 100, 0),
        (5, 0, None),
        (None, 10, None),
    ],
)
def test_rating_thresholds(out: float | None, target: float, code: int | None) -> None:
    rating = load_policy().assessment
    assert ind.rating_code(out, target, rating.rating_ok_share, rating.rating_warn_share) == code


def test_guarantees(y2017: pl.DataFrame) -> None:
    a, bb, c = (values(y2017, "township", t) for t in (b.A, b.B, b.C))
    assert (a["insured_share"], bb["insured_share"]) == (100.0, 80.0)  # H5 not insured
    assert a["dibao_coverage"] == 50.0  # H2 covered, H3 (特困, no labour) not: R03
    assert bb["dibao_coverage"] is None  # nobody needs it
    assert bb["housing_safe_share"] == 50.0  # H5 C级危房
    assert c["dropouts"] == 1
    assert bb["water_safe_share"] == 50.0
    assert a["exit_below_line"] == 1  # the open R10 of H1
    city = values(y2017, "city", HOME)
    assert city["insured_share"] == pytest.approx(1300 / 14)


def test_insured_share_uses_the_period_year() -> None:
    p = b.persons()
    frame = ind.compute_all(inputs(enrolment=b.enrolment(p, year=2016)))
    assert values(frame, "city", HOME)["insured_share"] == 0.0


def test_data_quality(y2017: pl.DataFrame) -> None:
    a, c = values(y2017, "township", b.A), values(y2017, "township", b.C)
    assert (a["open_findings"], a["overdue_findings"]) == (1, 1)
    assert a["open_findings_per_100"] == pytest.approx(100 / 6)
    assert a["median_days_fix_findings"] == 30.0  # 50 and 10 days
    assert (c["open_issues"], c["overdue_issues"]) == (2, 1)  # 60 days overdue, 16 days not
    bb = values(y2017, "township", b.B)
    assert bb["open_findings"] == 0  # R14 first seen after D = 2017-12-31
    assert "median_days_fix_issues" not in c  # nothing resolved yet


def test_period_in_progress_is_assessed_at_the_run_date() -> None:
    x = inputs("2018H1", as_of=date(2018, 3, 1))
    assert x.day == date(2018, 3, 1)
    frame = ind.compute_all(x)
    assert values(frame, "township", b.B)["open_findings"] == 1  # R14 seen 2018-01-05


def test_poor_villages_and_support_units(y2017: pl.DataFrame) -> None:
    v = y2017.filter(pl.col("level") == "village")
    zhuji = values(v, "village", "440282113201")  # 珠玑村委会 in the NBS list
    assert (zhuji["village_exited"], zhuji["village_infra_met"], zhuji["village_toilet_ok"]) == (
        1,
        8,
        1,
    )
    xintian = v.filter(pl.col("entity_name") == "新田村")
    xt = dict(zip(xintian["indicator"], xintian["value"], strict=True))
    assert (
        xt["village_exited"],
        xt["village_income_ok"],
        xt["village_infra_met"],
        xt["village_sewage"],
    ) == (0, 0, 6, 0)
    line = xintian.filter(pl.col("indicator") == "village_income")
    assert (line["numerator"][0], line["denominator"][0]) == (9000.0, 9820.0)
    unit = values(y2017, "support_unit", "东莞市甲局")
    assert (
        unit["unit_villages"],
        unit["unit_villages_exited"],
        unit["persons"],
        unit["persons_out"],
    ) == (1, 1, 6, 4)
    assert unit["overdue_findings"] == 1
    group = values(y2017, "support_unit", "界址镇驻镇帮扶工作组")
    assert (group["unit_poor_villages"], group["open_issues"], group["overdue_issues"]) == (0, 2, 1)


def test_unit_types_are_canonical() -> None:
    sheet = inputs().village_sheet
    assert (
        dict(zip(sheet["support_unit"], sheet["unit_type"], strict=True))["东莞市甲局"] == "东莞市"
    )


def test_targets_file_overrides_the_city_shares() -> None:
    targets = ind.targets_from_frame(
        pl.DataFrame(
            {"乡镇": ["珠玑", "珠玑镇"], "年度": [2016, 2017], "累计脱贫目标人数": [2, 6]}
        ),
        load_divisions(),
    )
    assert targets.rows() == [(b.A, 2016, 2.0), (b.A, 2017, 6.0)]
    year = ind.compute_all(inputs(targets=targets))
    assert values(year, "township", b.A)["target_persons_out"] == 6
    assert values(year, "township", b.A)["target_rating"] == 0  # 4 of 6
    assert values(year, "township", b.B)["target_persons_out"] == 4  # not in the file: city share
    h1 = ind.compute_all(inputs("2017H1", targets=targets))
    assert values(h1, "township", b.A)["target_persons_out"] == 4  # 2 + (6 - 2) / 2
    with pytest.raises(ValueError, match="unknown township"):
        ind.targets_from_frame(
            pl.DataFrame({"township_code": ["1"], "year": [2017], "target": [1]}),
            load_divisions(),
        )


def test_township_targets_set_in_the_policy() -> None:
    policy = b.test_policy()
    assert ind.targets_from_policy(policy, load_divisions()) is None  # none set: city shares
    years = {
        y: replace(p, township_targets={b.A: 2} if y == 2016 else {b.A: 6})
        for y, p in policy.years.items()
    }
    targets = ind.targets_from_policy(replace(policy, years=years), load_divisions())
    assert targets is not None
    assert targets.filter(pl.col("year") <= 2017).rows() == [(b.A, 2016, 2.0), (b.A, 2017, 6.0)]


def test_recurring_problems_streak() -> None:
    f = pl.DataFrame(
        {
            "rule": ["R01", "R01", "R12", "R03"],
            "township_code": [b.A, b.A, b.B, b.C],
            "village": ["珠玑村", "珠玑村委会", "新田村", "界址村"],
            "first_seen": [date(2017, 5, 1), date(2018, 1, 2), date(2017, 1, 1), date(2018, 3, 1)],
            "resolved_on": [date(2017, 12, 1), None, None, None],
        }
    )
    rec = ind.recurring_problems(f, "2018H1", date(2018, 6, 30), **RECALL)
    got = {r["village_key"]: (r["streak"], r["dates"]) for r in rec.iter_rows(named=True)}
    # 珠玑村: one R01 open at 2017-06-30, another at 2018-06-30, none at 2017-12-31 → streak 1.
    assert got["珠玑村"] == (1, [date(2018, 6, 30)])
    assert "新田村" not in got  # R12 is 低 severity
    assert got["界址村"] == (1, [date(2018, 6, 30)])
    f2 = f.with_columns(resolved_on=pl.lit(None, pl.Date))
    rec2 = {
        r["village_key"]: r["streak"]
        for r in ind.recurring_problems(f2, "2018H1", date(2018, 6, 30), **RECALL).iter_rows(
            named=True
        )
    }
    assert rec2["珠玑村"] == 3  # 2018-06-30, 2017-12-31, 2017-06-30
    direct = load_policy().assessment.direct_recall_unit_types
    assert ind.recall_route("东莞市", direct) == "向派出单位扶贫办发送召回建议"
    assert ind.recall_route("南雄市直", direct) == ind.recall_route("驻镇帮扶工作组", direct)
    assert ind.recall_route("南雄市直", direct) == "直接召回"


def test_periods() -> None:
    p = ind.parse_period("2018h1")
    assert (p.label, p.end, p.zh, p.is_year_end) == (
        "2018H1",
        date(2018, 6, 30),
        "2018年上半年",
        False,
    )
    assert ind.parse_period("2017").end == date(2017, 12, 31)
    assert ind.parse_period("2017").zh == "2017年度"
    assert ind.period_of(date(2018, 7, 1)) == "2018H2"
    assert ind.half_year_ends(date(2018, 3, 1), 3) == [
        date(2017, 12, 31),
        date(2017, 6, 30),
        date(2016, 12, 31),
    ]
    with pytest.raises(ValueError):
        ind.parse_period("2018Q1")


def test_problem_without_a_village_counts_for_its_township_only() -> None:
    extra = pl.DataFrame(
        [("bad_number", "k3", b.C, None, "open", date(2017, 11, 1), None)],
        schema=b.issues().schema,
        orient="row",
    )
    frame = ind.compute_all(inputs(issues=pl.concat([b.issues(), extra])))
    assert frame["entity_code"].null_count() == 0
    assert values(frame, "township", b.C)["open_issues"] == 3


def test_the_dibao_target_is_shared_out_at_year_ends_only() -> None:
    # 20 of the test policy's 100 persons through 低保 in 2017: township A (6 persons) gets
    # round(0.2 × 6) = 1; A's persons out through 兜底 (H3, 特困供养) is 1 → 100%.
    policy = b.test_policy()
    years = dict(policy.years)
    years[2017] = replace(years[2017], target_via_dibao=20)
    policy = replace(policy, years=years)
    year = ind.compute_all(inputs("2017", policy=policy))
    a = values(year, "township", b.A)
    assert (a["target_persons_out_dibao"], a["target_dibao_progress"]) == (1, 100.0)
    city = values(year, "city", HOME)
    assert city["target_persons_out_dibao"] == 3  # 0.2 × 14 = 2.8
    h1 = ind.compute_all(inputs("2017H1", as_of=date(2017, 6, 30), policy=policy))
    assert "target_persons_out_dibao" not in values(h1, "city", HOME)
    unset = ind.compute_all(inputs("2017"))  # no target_via_dibao that year: no such row
    assert "target_dibao_progress" not in values(unset, "city", HOME)


def test_every_poor_village_out_where_the_year_wants_it() -> None:
    policy = b.test_policy()
    years = dict(policy.years)
    years[2017] = replace(years[2017], all_villages_exit=True)
    year = ind.compute_all(inputs("2017", policy=replace(policy, years=years)))
    poor = year.filter((pl.col("level") == "village") & (pl.col("indicator") == "village_poor"))
    exited = year.filter((pl.col("level") == "village") & (pl.col("indicator") == "village_exited"))
    both = poor.join(exited, on="entity_code").filter(pl.col("value") == 1)
    city = values(year, "city", HOME)
    assert city["target_villages_exited"] == poor["value"].sum()
    assert city["villages_exit_progress"] == pytest.approx(
        100.0 * both["value_right"].sum() / poor["value"].sum()
    )
    assert "target_villages_exited" in values(year, "township", b.A)
    assert "target_villages_exited" not in values(ind.compute_all(inputs("2017")), "city", HOME)


@pytest.mark.parametrize("period", ["2016", "2017H1", "2018", "2018H2"])
def test_a_policy_without_its_countys_figures_has_no_target_indicators(period: str) -> None:
    """A county without a policy file of its own borrows the rules alone: every target
    indicator is absent (not zero, not 南雄市's), the rest is as with the figures; 2018 (every
    poor village out, 兜底 target in 2016) included."""
    day = date(2018, 12, 31)
    policy = b.test_policy()
    years = dict(policy.years)
    years[2016] = replace(years[2016], target_via_dibao=20)
    years[2018] = replace(years[2018], all_villages_exit=True)
    policy = replace(policy, years=years)
    with_figures = ind.compute_all(inputs(period, as_of=day, policy=policy))
    without = ind.compute_all(inputs(period, as_of=day, policy=policy.without_figures()))
    targets = pl.col("indicator").str.starts_with("target_") | pl.col("indicator").is_in(
        ["villages_exit_progress"]
    )
    assert with_figures.filter(targets).height > 0
    assert without.filter(targets).is_empty()
    assert without.equals(with_figures.filter(~targets))
