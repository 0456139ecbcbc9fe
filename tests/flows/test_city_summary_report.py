"""The city nightly ends with the city's summary report: a generated city of two counties, run
in one process, leaves 韶关市's 数据核查汇总 in FUPIN_HOME/440200/reports naming both counties,
ranked from their stored whole-county indicators, with no personal data.

乐昌市 judges with its generated policy, installed in its home (operations.md §10); 南雄市,
left without one, with the configured policy, as a single county does."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest

from config.settings import load_policy
from flows.city import run_city
from flows.city_report import read_city
from tests.flows.city_world import NO_TARGETS, generate, install_policy

COUNTIES = {"440282": "南雄市", "440281": "乐昌市"}
AS_OF = date(2018, 6, 30)
ID_NUMBER = re.compile(r"\d{17}[\dXx]")


@pytest.mark.postgres
@pytest.mark.slow
def test_the_city_nightly_renders_the_summary_of_its_counties(
    harness, tmp_path: Path, pg_url: str
) -> None:
    world = tmp_path / "world"
    generate(world, COUNTIES, 11)
    home = tmp_path / "home"
    own = load_policy(install_policy(world, home, "440281"))
    result = run_city(str(world / "inbox"), AS_OF.isoformat(), pg_url, str(home), workers=0)

    path = home / "440200" / "reports" / "city_summary_2018H1_440200.html"
    assert result["reports"] == [str(path)]
    html = path.read_text(encoding="utf-8")
    assert "韶关市2018年上半年精准扶贫数据核查汇总（各县（市、区））" in html
    assert "韶关市扶贫开发领导小组办公室" in html
    for name in COUNTIES.values():
        assert name in html
    assert not ID_NUMBER.search(html), "no ID number in the summary"

    # Both counties are ranked (their indicators were stored), and the counts are theirs.
    state = read_city(pg_url, list(COUNTIES))
    ranked = state.indicators.filter(
        (state.indicators["period"] == "2018H1")
        & (state.indicators["indicator"] == "target_progress")
    )
    assert set(ranked["entity_code"]) == set(COUNTIES)
    assert set(state.findings["county_code"]) == set(COUNTIES)
    league = html.split('id="t-league"', 1)[1].split("</table>", 1)[0]
    assert league.count("<tr>") == 1 + len(COUNTIES)  # the header and one row per county
    assert "R16" in set(state.findings["rule"])
    # each county's report quotes its own policy's figures: 乐昌市 its generated ones
    for code, poor in (("440281", own.poor_villages), ("440282", load_policy().poor_villages)):
        page = (home / code / "reports" / "assessment_2018H1_all.html").read_text("utf-8")
        assert f"全市相对贫困村{poor}个" in page and NO_TARGETS not in page
