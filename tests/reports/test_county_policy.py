"""A county's reports quote its own figures or none: a county other than 南雄市 without a
policy.toml of its own (`flows.city.unit_settings`) gets no target indicator and reports say
so, never 南雄市's 68 poor villages or 15,888 persons; with its own policy its own numbers
appear; 南雄市 without a file of its own reports as it always has."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from python_calamine import CalamineWorkbook

from config.settings import (
    HOME_COUNTY,
    POLICY_TOML,
    Policy,
    load_divisions,
    load_policy,
    load_resources,
    load_settings,
)
from flows.city import unit_settings
from reports import render
from tests.reports.test_county_names import LECHANG, SHIXING, data_for, html, inputs_for
from transforms import indicators as ind

NO_TARGETS = "本市未在 policy.toml 中配置脱贫计划目标，目标完成类指标暂不列示。"
NANXIONG_FIGURES = re.compile(r"15,?888|6,?289|(?<![\d.])68个|(?<![\d.])208个")


def county_policy(home: Path, county: str) -> Policy:
    """The policy a county's nightly judges with (its home under `home`)."""
    return load_resources(unit_settings(load_settings("sqlite:///x.db", home), county)).policy


def city_values(x: ind.IndicatorInputs) -> dict[str, float | None]:
    """The whole county's indicators."""
    frame = ind.compute_all(x)
    whole = frame.filter(
        (frame["level"] == "city") & (frame["entity_code"] == x.divisions.county_code)
    )
    return dict(zip(whole["indicator"], whole["value"], strict=True))


def pages(county: str, policy: Policy, period: str) -> dict[str, tuple[dict[str, Any], str]]:
    x = inputs_for(county, period, policy)
    return {k: (d := data_for(k, x), html(d)) for k in ("assessment", "accountability")}


@pytest.mark.parametrize("period", ["2016", "2017H1", "2018"])
def test_a_county_without_its_own_policy_reports_no_target_and_none_of_nanxiongs_figures(
    tmp_path: Path, period: str
) -> None:
    policy = county_policy(tmp_path, LECHANG)
    assert not policy.figures_known
    (assessment, a_page), (accountability, w_page) = pages(LECHANG, policy, period).values()
    for page in (a_page, w_page):
        assert not NANXIONG_FIGURES.search(page), NANXIONG_FIGURES.search(page)
        assert NO_TARGETS in page
        assert "累计目标人数" not in page and "贫困村全部出列" not in page
    villages = len(load_divisions(LECHANG).villages)
    assert f"全市共有行政村{villages}个，本市未在 policy.toml 中配置相对贫困村数" in a_page
    assert "目标完成率" not in a_page and "考核评级" not in a_page
    assert NO_TARGETS in assessment["notes"]  # the XLSX carries the notes
    summons = next(s for s in accountability["sections"] if s["id"] == "summons")
    assert summons["tables"] == [] and NO_TARGETS in summons["paragraphs"][0]
    # the registered households and persons it states are its own, from its data
    whole = city_values(inputs_for(LECHANG, period, policy))
    households, persons = int(whole["households"]), int(whole["persons"])
    assert f"乐昌市在册建档立卡贫困户{households:,}户{persons:,}人" in a_page


def test_the_xlsx_of_a_county_without_figures_says_so(tmp_path: Path) -> None:
    policy = county_policy(tmp_path, LECHANG)
    data, _ = pages(LECHANG, policy, "2017")["assessment"]
    (path,) = render("assessment", data, ["xlsx"], tmp_path)
    cover = CalamineWorkbook.from_path(str(path)).get_sheet_by_index(0).to_python()
    text = "".join(str(c) for row in cover for c in row)
    assert NO_TARGETS in text and not NANXIONG_FIGURES.search(text)


def test_a_xian_says_bence_xian() -> None:
    page = pages(SHIXING, load_policy().without_figures(), "2017")["assessment"][1]
    assert "本县未在 policy.toml 中配置脱贫计划目标，目标完成类指标暂不列示。" in page


def test_a_county_with_its_own_policy_reports_its_own_numbers(tmp_path: Path) -> None:
    own = (
        POLICY_TOML.read_text(encoding="utf-8")
        .replace("households = 6289", "households = 80")
        .replace("persons = 15888", "persons = 200")
        .replace("poor_villages = 68", "poor_villages = 23")
        .replace("target_persons_out = 11200", "target_persons_out = 100")
    )
    (tmp_path / LECHANG).mkdir()
    (tmp_path / LECHANG / "policy.toml").write_text(own, encoding="utf-8")
    policy = county_policy(tmp_path, LECHANG)
    assert (policy.persons, policy.poor_villages) == (200, 23)
    values = city_values(inputs_for(LECHANG, "2017", policy))
    # 2017: 100 of its 200 persons, i.e. half of the county's registered persons
    assert values["target_persons_out"] == round(values["persons"] / 2 + 1e-9)
    (_, a_page), (_, w_page) = pages(LECHANG, policy, "2017").values()
    assert "全市相对贫困村23个" in a_page
    assert f"2017年度累计脱贫目标{int(values['target_persons_out']):,}人" in a_page
    assert NO_TARGETS not in a_page + w_page and not NANXIONG_FIGURES.search(a_page)


def test_the_home_county_without_its_own_file_reports_as_it_always_has(tmp_path: Path) -> None:
    policy = county_policy(tmp_path, HOME_COUNTY)
    assert policy == load_policy() and policy.persons == 15888
    x = inputs_for(HOME_COUNTY, "2018", policy)
    today = inputs_for(HOME_COUNTY, "2018", load_policy())
    for kind in ("assessment", "accountability"):
        assert html(data_for(kind, x)) == html(data_for(kind, today))
    page = html(data_for("assessment", x))
    assert "全市相对贫困村68个" in page and "2018年度累计脱贫目标" in page
    assert "未在 policy.toml 中配置" not in page


def test_definitions_need_no_figures() -> None:
    policy = load_policy().without_figures()
    assert "各个镇（街道）" in ind.definition("target_rank", policy)
