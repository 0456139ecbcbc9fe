"""The county a text is about: its words (`County`), the whole-county entity of the indicators,
the alerts and the archive title, for another county and for 南雄市 as before."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import polars as pl
import pytest

from config.settings import load_divisions, load_policy, working_for
from tests.transforms import indicator_builders as b
from tests.transforms import test_alerts as T
from transforms import alerts as A
from transforms import indicators as ind
from transforms import snapshot as S
from transforms.county import HOME_PLAN, County

LECHANG = County("440281", "乐昌市")


@pytest.mark.parametrize(
    ("code", "name", "short", "whole", "direct", "office"),
    [
        ("440282", "南雄市", "南雄", "全市", "市直", "市扶贫办"),
        ("440281", "乐昌市", "乐昌", "全市", "市直", "市扶贫办"),
        ("440222", "始兴县", "始兴", "全县", "县直", "县扶贫办"),
        ("440232", "乳源瑶族自治县", "乳源", "全县", "县直", "县扶贫办"),
        ("440205", "曲江区", "曲江", "全区", "区直", "区扶贫办"),
    ],
)
def test_county_words(code, name, short, whole, direct, office):
    county = County.of(load_divisions(code))
    assert (county.code, county.name) == (code, name)
    assert (county.short, county.whole, county.direct, county.office_short) == (
        short,
        whole,
        direct,
        office,
    )
    assert county.office == f"{name}扶贫开发办公室"
    assert county.direct_units == f"{name}直"


def test_the_plan_is_cited_by_title_only_for_the_home_county():
    assert County.of(load_divisions()).plan == HOME_PLAN
    assert LECHANG.plan == "本市精准扶贫精准脱贫三年攻坚实施方案"
    assert County("440222", "始兴县").plan == "本县精准扶贫精准脱贫三年攻坚实施方案"


def test_direct_recall_types_read_the_home_countys_units_as_the_countys_own():
    policy_types = load_policy().assessment.direct_recall_unit_types
    assert County.of(load_divisions()).direct_types(policy_types) == policy_types
    assert LECHANG.direct_types(policy_types) == ("乐昌市直", "驻镇帮扶工作组")


# ---------------------------------------------------------------- indicators
def test_the_whole_county_entity_is_the_countys_own():
    persons = b.persons()
    args = dict(
        persons=persons,
        villages=b.villages(),
        period="2017",
        policy=b.test_policy(),
        as_of=date(2018, 6, 30),
        dibao=b.dibao(persons),
        enrolment=b.enrolment(persons),
    )
    home = ind.compute_all(ind.IndicatorInputs(divisions=load_divisions(), **args))
    other = ind.compute_all(ind.IndicatorInputs(divisions=load_divisions("440281"), **args))
    entity = pl.col("level") == "city"
    assert home.filter(entity).select("entity_code", "entity_name").unique().rows() == [
        ("440282", "南雄市")
    ]
    assert other.filter(entity).select("entity_code", "entity_name").unique().rows() == [
        ("440281", "乐昌市")
    ]
    # the home county's code is no entity of another county's indicators
    assert "440282" not in set(other["entity_code"])


# ---------------------------------------------------------------- alerts
def _frame() -> pl.DataFrame:
    return T.items(
        [T.finding("a", first_seen=T.D - timedelta(days=40)), T.finding("b")],
        [T.issue("i1")],
    )


NOTICES = [A.FileNotice(3, T.WUJING, "乌迳镇花名册.xlsx", "held", "人数变化过大")]


def _messages(county: County | None) -> tuple[tuple[str, str], tuple[str, str]]:
    frame = _frame()
    township = A.township_message(
        T.alert(frame), "运行#1", "清单.xlsx", None, False, NOTICES, county=county
    )
    digest = A.digest_message(
        A.compute_alert(frame, None, "市扶贫办", T.D, 30, None),
        A.digest_rows(frame, {T.WUJING: "乌迳镇"}, T.D, 30, None),
        "运行#1",
        notices=NOTICES,
        county=county,
    )
    return township, digest


def test_alerts_of_another_county_name_it():
    # A transform reads no file: the county comes from its caller, even inside working_for.
    assert "南雄市" in _with_lechang(lambda: _messages(None))[0][0]
    for township, digest in (_messages(LECHANG),):
        assert township[0] == "【逾期升级】乐昌市扶贫数据质量预警：乌迳镇（2018年6月30日）"
        assert township[1].endswith("乐昌市扶贫开发办公室（系统自动发送）")
        assert digest[0] == "【逾期升级】乐昌市扶贫数据质量日报（2018年6月30日）"
        assert digest[1].endswith("乐昌市扶贫开发办公室数据核查系统（自动发送）")
        assert "南雄" not in "".join((*township, *digest))


def test_alerts_of_a_county_say_xian():
    county = County("440222", "始兴县")
    (title, body), (_, digest) = _messages(county)
    assert title.startswith("【逾期升级】始兴县扶贫数据质量预警")
    assert "已升级报县扶贫办" in body and "请报县扶贫办确认" in body
    assert digest.startswith("县扶贫办：") and "后，全县未整改问题" in digest
    sheets = A.fix_list(_frame().with_columns(origin=pl.lit("dibao")), T.WUJING, T.D, 30, county)
    assert set(sheets[A.FINDING_SHEET]["origin"]) == {"民政局低保名册（核实后报县扶贫办）"}


def test_nanxiongs_alerts_stay_as_they_were():
    (title, body), (digest_title, digest) = _messages(None)
    assert title == "【逾期升级】南雄市扶贫数据质量预警：乌迳镇（2018年6月30日）"
    assert body.endswith("南雄市扶贫开发办公室（系统自动发送）")
    assert "已升级报市扶贫办" in body
    assert digest_title == "【逾期升级】南雄市扶贫数据质量日报（2018年6月30日）"
    assert digest.startswith("市扶贫办：") and "后，全市未整改问题" in digest
    assert digest.endswith("南雄市扶贫开发办公室数据核查系统（自动发送）")
    assert (title, body) == _messages(County.of(load_divisions()))[0]


# ---------------------------------------------------------------- archive
def _manifest(**kw) -> dict:
    return S.build_manifest(
        year=2017,
        created=datetime(2018, 1, 2, 3, 4, 5),
        code_version={},
        policy={},
        run=None,
        rows={},
        files={},
        **kw,
    )


def test_the_archive_title_names_the_county():
    assert _manifest()["title"] == "南雄市精准扶贫数据2017年度归档"
    assert _manifest(county="乐昌市")["title"] == "乐昌市精准扶贫数据2017年度归档"
    assert (
        _with_lechang(_manifest)["title"] == "南雄市精准扶贫数据2017年度归档"
    )  # given, not looked up


def _with_lechang(make):
    with working_for(LECHANG.code):
        return make()
