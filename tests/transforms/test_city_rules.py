"""Rules across counties: R16 over every county's resolved roster, R11 judging a county's own
低保 families against every county's roster, R05 from another county's roll."""

from __future__ import annotations

import dataclasses
from datetime import date

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.transforms.builders import dibao, inputs, person, pid
from transforms import rules
from transforms.city import city_rules, r16_duplicate_across_counties

NAMES = {"440282": "南雄市", "440281": "乐昌市", "440224": "仁化县"}
FILES = {1: "珠玑镇花名册.xlsx", 2: "乐昌花名册.xlsx", 3: "仁化花名册.xlsx"}


def _persons(rows: list[tuple[str, str | None, str]]) -> pl.DataFrame:
    """(county, identity, status) rows, numbered in order within their county's file."""
    file_of = {"440282": 1, "440281": 2, "440224": 3}
    return pl.DataFrame(
        [
            {
                "county_code": county,
                "identity": identity,
                "id_norm": identity,
                "person_status": status,
                "file_id": file_of[county],
                "sheet": "花名册",
                "row_no": 4 + n,
                "township_code": f"{county}100",
                "village": "某村",
                "household_id": f"H{n}",
                "name": "张三丰",
            }
            for n, (county, identity, status) in enumerate(rows)
        ],
        schema={
            "county_code": pl.Utf8,
            "identity": pl.Utf8,
            "id_norm": pl.Utf8,
            "person_status": pl.Utf8,
            "file_id": pl.Int64,
            "sheet": pl.Utf8,
            "row_no": pl.Int64,
            "township_code": pl.Utf8,
            "village": pl.Utf8,
            "household_id": pl.Utf8,
            "name": pl.Utf8,
        },
    )


def test_r16_one_row_per_county_involved_with_one_key() -> None:
    a, b = pid(1), pid(2)
    found = r16_duplicate_across_counties(
        _persons(
            [
                ("440282", a, "正常"),
                ("440281", a, "正常"),
                ("440282", b, "正常"),
                ("440281", b, "迁出"),
            ]
        ),
        NAMES,
        FILES,
    )
    assert found.select("county_code", "key").rows() == [("440281", a), ("440282", a)]
    assert found["township_code"].to_list() == ["440281100", "440282100"]
    detail = found["detail"][0]
    assert (
        "乐昌市《乐昌花名册.xlsx》第5行" in detail and "南雄市《珠玑镇花名册.xlsx》第4行" in detail
    )
    assert a not in detail and "张三丰" not in detail  # masked
    assert all(len(e) == 2 for e in found["evidence"].to_list())


def test_r16_counts_counties_not_rows() -> None:
    a = pid(3)
    twice_here = _persons([("440282", a, "正常"), ("440282", a, "正常")])
    assert r16_duplicate_across_counties(twice_here, NAMES, FILES).is_empty()  # R06's, not R16's
    three = _persons(
        [("440282", a, "正常"), ("440282", a, "正常"), ("440281", a, "正常"), ("440224", a, "正常")]
    )
    found = r16_duplicate_across_counties(three, NAMES, FILES)
    assert found["county_code"].to_list() == ["440224", "440281", "440282"]
    assert all(len(e) == 4 for e in found["evidence"].to_list())
    unknown = _persons([("440282", None, "正常"), ("440281", None, "正常")])
    assert r16_duplicate_across_counties(unknown, NAMES, FILES).is_empty()


def test_city_rules_prefix_keys_give_severity_and_isolate_a_failure() -> None:
    a = pid(4)
    run = city_rules(_persons([("440282", a, "正常"), ("440281", a, "正常")]), NAMES, FILES)
    assert run.ran == ["R16"] and not run.failed
    assert set(run.findings["key"]) == {f"R16:{a}"} and set(run.findings["severity"]) == {"高"}
    broken = city_rules(pl.DataFrame({"identity": [a]}), NAMES, FILES)
    assert broken.ran == [] and set(broken.failed) == {"R16"} and broken.findings.is_empty()
    assert a not in broken.failed["R16"]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(list(NAMES)),
            st.sampled_from([pid(n) for n in range(1, 6)] + [None]),
            st.sampled_from(["正常", "正常", "迁出", "死亡"]),
        ),
        max_size=25,
    )
)
def test_r16_is_exactly_the_identities_active_in_two_counties(rows) -> None:
    found = r16_duplicate_across_counties(_persons(rows), NAMES, FILES)
    active: dict[str, set[str]] = {}
    for county, identity, status in rows:
        if identity is not None and status == "正常":
            active.setdefault(identity, set()).add(county)
    expected = {(c, i) for i, cs in active.items() if len(cs) > 1 for c in cs}
    assert set(found.select("county_code", "key").rows()) == expected
    assert found.height == len(expected)


def _in_city(x: rules.RuleInputs, counties: list[str], **kw) -> rules.RuleInputs:
    dibao_rows = x.dibao.with_columns(county_code=pl.Series(counties, dtype=pl.Utf8))
    return dataclasses.replace(x, dibao=dibao_rows, **kw)


def test_r11_judges_its_own_families_against_every_county_roster() -> None:
    elsewhere, nobody, theirs = pid(70), pid(71), pid(72)
    x = inputs(
        [person()],
        dibaos=[
            dibao(elsewhere, family_id="DB1", name="赵一"),  # ours, registered in 乐昌市
            dibao(nobody, family_id="DB2", name="赵二", row_no=3),  # ours, registered nowhere
            dibao(theirs, family_id="DB3", name="赵三", row_no=4),  # 乐昌市's family
        ],
    )
    city = _in_city(
        x,
        ["440282", "440282", "440281"],
        county="440282",
        city_registered=pl.Series([elsewhere], dtype=pl.Utf8),
    )
    assert rules.r11_dibao_not_registered(city)["key"].to_list() == ["DB2"]
    # a single county judges every family of its roll, as always
    assert sorted(rules.r11_dibao_not_registered(x)["key"].to_list()) == ["DB1", "DB2", "DB3"]


def test_r05_from_another_countys_roll_and_r03_covered_elsewhere() -> None:
    me = pid(11)
    x = inputs(
        [person(attribute="低保贫困户")],
        dibaos=[
            dibao(
                me,
                family_id="LC9",
                stop_reason="死亡",
                status="停保",
                stop_date=date(2018, 3, 1),
            )
        ],
    )
    x = _in_city(x, ["440281"], county="440282")
    assert rules.r05_deceased_listed(x)["key"].to_list() == [me]
    covered = _in_city(
        inputs([person(attribute="低保贫困户")], dibaos=[dibao(me, family_id="LC9")]),
        ["440281"],
        county="440282",
    )
    assert rules.r03_dibao_missing(covered).is_empty()
