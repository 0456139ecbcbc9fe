"""Every report names the county it is about: another county's 考核报告 and 问责通报 carry its
name, code, 发文 unit and wording, never 南雄市's; 南雄市's stay as they were."""

from __future__ import annotations

from datetime import date
from typing import Any

import polars as pl
import pytest

from config.settings import Policy, load_divisions, working_for
from reports import context
from reports.html import render_html
from tests.reports.conftest import RUN, SOURCES, report_data
from tests.transforms import indicator_builders as b
from transforms import indicators as ind
from transforms.county import HOME_PLAN
from transforms.privacy import scrub_data

LECHANG, SHIXING = "440281", "440222"  # 乐昌市 (a 县级市), 始兴县


def move(frame: pl.DataFrame, county: str) -> pl.DataFrame:
    """The builders' frames (three townships of 南雄市) as if they were `county`'s: its first
    three townships, and 南雄市 in any text (support units, unit types) read as its name."""
    d = load_divisions(county)
    codes = sorted(d.townships)[:3]
    to_code = dict(zip((b.A, b.B, b.C), codes, strict=True))
    to_name = {b.NAMES[old]: d.short_name(new) for old, new in to_code.items()}
    texts = [c for c, t in frame.schema.items() if t == pl.Utf8 and c != "township_code"]
    out = frame.with_columns(pl.col(texts).str.replace_all("南雄市", d.county_name))
    if "township_code" in out.columns:
        out = out.with_columns(pl.col("township_code").replace(to_code))
    if "township" in out.columns:
        out = out.with_columns(pl.col("township").replace(to_name))
    return out


def inputs_for(
    county: str, period: str = "2017", policy: Policy | None = None
) -> ind.IndicatorInputs:
    """The tiny frames moved to `county`, with a 高 finding open since 2017-05 in the village
    its own department (市直 / 县直) supports, so that the village is up for a direct recall;
    under the test policy unless `policy` is given."""
    p = move(b.persons(), county)
    recurring = pl.DataFrame(
        [("R01", "R01:y", b.B, "新田村", "H4", "open", date(2017, 5, 1), None)],
        schema=b.findings().schema,
        orient="row",
    )
    return ind.IndicatorInputs(
        persons=p,
        villages=move(b.villages(), county),
        period=period,
        policy=policy or b.test_policy(),
        divisions=load_divisions(county),
        as_of=date(2018, 6, 30),
        dibao=b.dibao(p),
        enrolment=b.enrolment(p),
        findings=move(pl.concat([b.findings(), recurring]), county),
        issues=move(b.issues(), county),
    )


def data_for(kind: str, x: ind.IndicatorInputs, township: str | None = None) -> dict[str, Any]:
    indicators = ind.compute_all(x)
    meta = context.build_meta(kind, x, township=township, run=RUN, sources=SOURCES)
    if kind == "assessment":
        return context.assessment_data(x, indicators, meta, township=township)
    return context.accountability_data(x, indicators, meta, township=township)


def html(data: dict[str, Any]) -> str:
    return render_html(scrub_data(data))


@pytest.fixture(scope="module")
def lechang() -> dict[str, dict[str, Any]]:
    x = inputs_for(LECHANG, "2018H1")
    return {kind: data_for(kind, x) for kind in ("assessment", "accountability")}


def test_another_countys_assessment_names_it_and_not_nanxiong(lechang):
    data = lechang["assessment"]
    meta, page = data["meta"], html(data)
    assert meta["title"] == "乐昌市精准扶贫精准脱贫2018年上半年考核报告"
    assert meta["issuer"] == "乐昌市扶贫开发领导小组办公室"
    assert meta["recipients"].startswith("各镇（街道）党委、政府（办事处），市直及驻乐昌各帮扶单位")
    assert meta["doc_no"] == "KH-2018H1-440281"
    assert "根据本市精准扶贫精准脱贫三年攻坚实施方案关于" in page  # no invented title
    assert "本文件由乐昌市扶贫数据比对系统" in page
    assert "乐昌市" in page and "南雄" not in page


def test_another_countys_accountability_report_names_it_and_recalls_its_own_units(lechang):
    data = lechang["accountability"]
    page = html(data)
    assert data["meta"]["title"] == "关于乐昌市精准扶贫精准脱贫2018年上半年考核问责情况的通报"
    assert "乐昌市" in page and "南雄" not in page
    assert "根据本市精准扶贫精准脱贫三年攻坚实施方案“严格考核督查问责”的规定" in page
    recall = next(s for s in data["sections"] if s["id"] == "recall")
    direct = next(t for t in recall["tables"] if t["id"] == "recall_direct")
    assert direct["title"] == "（一）直接召回（乐昌市直单位、驻镇帮扶工作组）"
    # the village its own department (乐昌市直) supports: recalled directly, as 南雄市直 at home
    assert [(r["unit_type"], r["route"]) for r in direct["rows"]] == [("乐昌市直", "直接召回")]
    assert any("乐昌市直单位和驻镇帮扶工作组派出的干部直接召回" in n for n in data["notes"])


def test_a_county_not_a_city_says_xian():
    x = inputs_for(SHIXING, "2017")
    data = data_for("accountability", x)
    meta, page = data["meta"], html(data)
    assert meta["issuer"] == "始兴县扶贫开发领导小组办公室"
    assert "县直及驻始兴各帮扶单位" in meta["recipients"]
    assert meta["copy_to"] == "县委办、县政府办、县委组织部、县纪委监委"
    assert "根据本县精准扶贫精准脱贫三年攻坚实施方案" in page
    assert "在全县通报" in page and "报县扶贫办" in page
    assert "南雄" not in page
    assessment = html(data_for("assessment", x))
    assert "始兴县" in assessment and "南雄" not in assessment
    assert "全县年度累计目标" in assessment  # the footnote of the target, too


def test_working_for_another_county_reports_on_it():
    """Inside `working_for`, the divisions of the run (load_divisions()) are the county's."""
    with working_for(LECHANG):
        x = inputs_for(LECHANG)
        assert x.divisions == load_divisions()
        page = html(data_for("assessment", x, township=sorted(x.divisions.townships)[1]))
    assert "乐昌市" in page and "南雄" not in page
    assert "在全市17个镇（街道）中排第" in page  # its own number of townships (南雄市: 18)


def test_nanxiongs_reports_stay_as_they_were():
    assessment = report_data("assessment")
    meta, page = assessment["meta"], html(assessment)
    assert meta["issuer"] == "南雄市扶贫开发领导小组办公室"
    assert meta["recipients"] == (
        "各镇（街道）党委、政府（办事处），市直及驻南雄各帮扶单位，各驻村（驻镇）帮扶工作队："
    )
    assert meta["copy_to"] == "市委办、市政府办、市委组织部、市纪委监委"
    assert meta["doc_no"] == "KH-2017-440282"
    assert f"根据{HOME_PLAN}关于“每年两次定期开展检查或考核”的要求" in page
    assert HOME_PLAN == "《南雄市新时期精准扶贫精准脱贫三年攻坚实施方案》"
    assert "本文件由南雄市扶贫数据比对系统依据" in page
    accountability = report_data("accountability")
    page = html(accountability)
    assert f"根据{HOME_PLAN}“严格考核督查问责”的规定，对推进缓慢的单位在全市通报" in page
    recall = next(s for s in accountability["sections"] if s["id"] == "recall")
    assert recall["tables"][0]["title"] == "（一）直接召回（南雄市直单位、驻镇帮扶工作组）"
