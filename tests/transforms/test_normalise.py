"""Staged → canonical: household fill (head row only, merged cells), township from the
title, names, IDs, enumerations, and the raw text kept beside every parsed value."""

from __future__ import annotations

import random
from datetime import date

import polars as pl
import pytest

from config.schema import DIBAO, ENROLMENT, ROSTER, SETTLEMENT, VILLAGES, Source
from tests.transforms.bound import (
    normalise_dibao,
    normalise_enrolment,
    normalise_roster,
    normalise_settlement,
    normalise_villages,
)
from transforms import frames, ids
from transforms.normalise import canonical_id_mask
from transforms.privacy import mask_id

HEAD = ids.make_id("440282", date(1962, 3, 14), 131)
WIFE = ids.make_id("440282", date(1965, 8, 2), 242)
SON = ids.make_id("440282", date(1990, 1, 1), 353)
OTHER = ids.make_id("440282", date(1948, 11, 30), 464)


def staged(source: Source, rows: list[dict[str, str | None]], first_row: int = 5) -> pl.DataFrame:
    """Staged rows as transforms.headers.stage makes them (text, provenance)."""
    data = {
        "file_id": [3] * len(rows),
        "sheet": ["花名册"] * len(rows),
        "row_no": list(range(first_row, first_row + len(rows))),
        **{k: [r.get(k) for r in rows] for k in source.keys},
        "extra": [None] * len(rows),
    }
    return pl.DataFrame(data, schema=frames.staged_schema(source))


def person(**cells: str | None) -> dict[str, str | None]:
    return {"village": "珠玑村", "labour": "普通劳动力", **cells}


def test_household_columns_on_the_head_row_only() -> None:
    rows = [
        person(household_id="H1", name="张三", id_number=HEAD, relation="户主", attribute="低保户",
               family_size="3", income="7,365元", exit_status="是", exit_year="2017年", water_safe="√",
               support_cadre="李 四", phone="13800138000"),
        person(household_id="H1", name="李梅", id_number=WIFE, relation="配偶"),
        person(household_id="H1", name="张小", id_number=SON, relation="之子"),
        person(household_id="H2", name="王五", id_number=OTHER, relation="户主", attribute="一般贫困户",
               income="5000", exit_status="未脱贫"),
    ]  # fmt: skip
    out = normalise_roster(staged(ROSTER, rows), "珠玑镇")
    assert out.schema == pl.Schema(frames.ROSTER_PERSON)
    assert out["attribute"].to_list() == ["低保贫困户"] * 3 + ["一般贫困户"]
    assert out["family_size"].to_list() == [3, 3, 3, None]
    assert out["family_size_raw"].to_list() == ["3", "3", "3", None]
    assert out["income"].to_list() == [7365.0, 7365.0, 7365.0, 5000.0]
    assert out["income_raw"].to_list()[:3] == ["7,365元"] * 3
    assert out["exit_status"].to_list() == ["已脱贫"] * 3 + ["未脱贫"]
    assert out["exit_year"].to_list() == [2017, 2017, 2017, None]
    assert out["exit_year_raw"].to_list()[1] == "2017年"
    assert out["water_safe"].to_list() == [True, True, True, None]
    assert out["water_safe_raw"].to_list()[2] == "√"
    assert out["support_cadre"].to_list() == ["李四"] * 3 + [None]
    assert out["phone"].to_list() == ["13800138000"] * 3 + [None]


def test_household_columns_as_merged_cells() -> None:
    """A merged 户编号 (and merged household cells) hold their value in the top row only."""
    rows = [
        person(household_id="H1", name="张三", id_number=HEAD, relation="户主", attribute="五保户", income="3000"),
        person(household_id=None, name="李梅", id_number=WIFE, relation="配偶"),
        person(household_id="", name="张小", id_number=SON, relation="之子"),
        person(household_id="H2", name="王五", id_number=OTHER, relation="户主", attribute="一般户"),
        person(household_id=None, name="王六", id_number=None, relation="之子"),
    ]  # fmt: skip
    out = normalise_roster(staged(ROSTER, rows), "440282113")
    assert out["household_id"].to_list() == ["H1", "H1", "H1", "H2", "H2"]
    assert out["attribute"].to_list() == ["特困供养贫困户"] * 3 + ["一般贫困户"] * 2
    assert out["income"].to_list() == [3000.0] * 3 + [None, None]


def test_household_value_written_on_a_later_member_is_broadcast_and_own_values_kept() -> None:
    rows = [
        person(household_id="H1", name="张三", relation="户主"),
        person(household_id="H1", name="李梅", relation="配偶", attribute="低保户", income="4000"),
        person(household_id="H1", name="张小", relation="之子", income="9999"),
    ]
    out = normalise_roster(staged(ROSTER, rows), None)
    assert out["attribute"].to_list() == ["低保贫困户"] * 3
    assert out["income"].to_list() == [4000.0, 4000.0, 9999.0]  # own value never overwritten


def test_a_head_without_household_id_does_not_join_the_household_above() -> None:
    rows = [
        person(household_id="H1", name="张三", relation="户主", attribute="低保户"),
        person(household_id=None, name="王五", relation="户主", attribute="一般贫困户"),
        person(household_id="H3", name="赵七", relation="户主"),
    ]
    out = normalise_roster(staged(ROSTER, rows), None)
    assert out["household_id"].to_list() == ["H1", None, "H3"]
    assert out["attribute"].to_list() == ["低保贫困户", "一般贫困户", None]


def test_a_head_row_typed_twice_stays_in_its_household() -> None:
    """户编号 on each household's first row only, and the clerk repeated the head's row right
    below itself (without 户编号): the copy and the members after it stay in the household."""
    rows = [
        person(household_id="H1", name="张三", id_number=HEAD, relation="户主", attribute="低保户"),
        person(household_id=None, name="张 三", id_number=HEAD, relation="户主"),
        person(household_id=None, name="李梅", id_number=WIFE, relation="配偶"),
        person(household_id=None, name="张小", id_number=SON, relation="之子"),
        person(household_id="H2", name="王五", id_number=OTHER, relation="户主"),
    ]
    out = normalise_roster(staged(ROSTER, rows), None)
    assert out["household_id"].to_list() == ["H1", "H1", "H1", "H1", "H2"]
    assert out["attribute"].to_list() == ["低保贫困户"] * 4 + [None]


def test_fill_does_not_cross_sheets() -> None:
    rows = [person(household_id="H1", name="张三", relation="户主", attribute="低保户")]
    first = staged(ROSTER, rows)
    second = staged(ROSTER, [person(household_id=None, name="李梅", relation="配偶")]).with_columns(
        pl.lit("另一表").alias("sheet")
    )
    out = normalise_roster(pl.concat([first, second]), None)
    assert out.filter(pl.col("sheet") == "另一表")["household_id"].to_list() == [None]


def test_township_from_column_or_title_hint() -> None:
    rows = [
        person(household_id="H1", name="甲", relation="户主"),
        person(household_id="H2", name="乙", relation="户主", township="珠玑"),
        person(household_id="H3", name="丙", relation="户主", township="乌迳镇"),
        person(household_id="H4", name="丁", relation="户主", township="外星镇"),
        person(household_id="H5", name="戊", relation="户主", township=" 雄州街道办事处 "),
    ]
    out = normalise_roster(staged(ROSTER, rows), "珠玑镇")
    assert out["township"].to_list() == ["珠玑镇", "珠玑", "乌迳镇", "外星镇", "雄州街道办事处"]
    assert out["township_code"].to_list() == [
        "440282113",
        "440282113",
        "440282100",
        None,
        "440282001",
    ]
    no_hint = normalise_roster(staged(ROSTER, rows[:1]), None)
    assert no_hint["township"].to_list() == [None] and no_hint["township_code"].to_list() == [None]
    by_code = normalise_roster(staged(ROSTER, rows[:1]), "440282113")
    assert by_code["township"].to_list() == ["珠玑镇"]


def test_names_ids_enums_and_defaults() -> None:
    mangled = "4.40282196203141E+17"
    rows = [
        person(household_id="H1", name="张　三 ", id_number=" ４４０２８２" + HEAD[6:], relation="户主",
               labour="有劳动能力", person_status=None, sex="男", housing="c级危房"),
        person(household_id="H1", name="李梅", id_number=mangled, relation="配偶", labour="丧失劳动能力",
               person_status="死亡", sex="女"),
        person(household_id="H1", name="", id_number="", relation="之孙", labour="会飞", person_status=" "),
    ]  # fmt: skip
    out = normalise_roster(staged(ROSTER, rows), None)
    assert out["name_raw"].to_list() == ["张　三 ", "李梅", ""]
    assert out["name"].to_list() == ["张三", "李梅", None]
    assert out["id_norm"].to_list() == [HEAD, "440282196203141000", ""]
    assert out["id_status"].to_list() == [ids.VALID, ids.EXCEL_MANGLED, ids.BLANK]
    assert out["id_raw"].to_list()[1] == mangled
    assert out["labour"].to_list() == ["普通劳动力", "丧失劳动力", "会飞"]
    assert out["relation"].to_list() == ["户主", "配偶", "之孙"]  # unknown kept for the suite
    assert out["person_status"].to_list() == ["正常", "死亡", "正常"]
    assert out["housing"].to_list() == ["C级危房"] * 3
    assert out["row_no"].to_list() == [5, 6, 7]


def test_villages() -> None:
    rows = [
        {"village": "珠玑村", "is_poor": "是", "registered_population": "3021人", "income": "6,500元",
         "bus": "√", "coverage_4g": "有", "toilet_rate": "85%", "unit_type": "东莞", "first_secretary": "陈　明"},
        {"village": "长迳村", "is_poor": "否", "toilet_rate": "0.92", "waste": "无", "unit_type": "某某"},
    ]  # fmt: skip
    out = normalise_villages(staged(VILLAGES, rows), "珠玑镇")
    assert out.schema == pl.Schema(frames.VILLAGE)
    assert out["township_code"].to_list() == ["440282113"] * 2
    assert out["is_poor"].to_list() == [True, False]
    assert out["registered_population"].to_list() == [3021, None]
    assert out["income"].to_list() == [6500.0, None]
    assert out["toilet_rate"].to_list() == pytest.approx([85.0, 92.0])
    assert out["waste"].to_list() == [None, False]
    assert out["unit_type"].to_list() == ["东莞市", "某某"]
    assert out["first_secretary"].to_list() == ["陈明", None]


def test_dibao() -> None:
    rows = [
        {"township": "珠玑镇", "village": "珠玑村", "family_id": " DB001", "name": "王　五", "id_number": OTHER,
         "relation": "户主", "category": "五保", "family_size": "1", "monthly_amount": "360元", "status": "在保",
         "start_date": "2016年5月1日", "stop_date": "", "stop_reason": None},
        {"family_id": "DB002", "name": "赵六", "id_number": "440282", "category": "城市低保", "status": "停保",
         "start_date": "201605", "stop_date": "2017/12/31", "stop_reason": "死亡"},
    ]  # fmt: skip
    out = normalise_dibao(staged(DIBAO, rows))
    assert out.schema == pl.Schema(frames.DIBAO_ROW)
    assert out["family_id"].to_list() == ["DB001", "DB002"]
    assert out["name"].to_list() == ["王五", "赵六"]
    assert out["category"].to_list() == ["特困供养", "城市低保"]
    assert out["monthly_amount"].to_list() == [360.0, None]
    assert out["start_date"].to_list() == [date(2016, 5, 1), date(2016, 5, 1)]
    assert out["start_date_raw"].to_list() == ["2016年5月1日", "201605"]
    assert out["stop_date"].to_list() == [None, date(2017, 12, 31)]
    assert out["id_status"].to_list() == [ids.VALID, ids.BAD_FORMAT]


def test_enrolment_and_settlement() -> None:
    enrol = [
        {"insured_key": " P1 ", "name": "张三", "id_number": HEAD, "sex": "男", "birth_date": "1962-03-14",
         "year": "2017", "enrol_status": "参保缴费", "person_status": "正常", "subsidy": "建档立卡贫困人口",
         "township": "珠玑镇", "village": "珠玑村"},
        {"insured_key": "P2", "name": "李梅", "id_number": WIFE.lower()[:-1] + "x", "birth_date": "19650802",
         "year": "2017.0", "enrol_status": "暂停参保", "person_status": "死亡", "subsidy": "无"},
    ]  # fmt: skip
    out = normalise_enrolment(staged(ENROLMENT, enrol))
    assert out.schema == pl.Schema(frames.ENROLMENT_ROW)
    assert out["insured_key"].to_list() == ["P1", "P2"]
    assert out["birth_date"].to_list() == [date(1962, 3, 14), date(1965, 8, 2)]
    assert out["year"].to_list() == [2017, 2017]
    assert out["person_status"].to_list() == ["正常", "死亡"]
    assert out["id_norm"][0] == HEAD

    claims = [
        {"settlement_id": "JS1", "id_number": HEAD, "name": "张三", "settle_date": "42796", "institution": " 南雄市人民医院 ",
         "total_cost": "5,200.50", "eligible_cost": "4800", "basic_paid": "3360元", "serious_paid": "",
         "assistance_paid": "1000"},
    ]  # fmt: skip
    out = normalise_settlement(staged(SETTLEMENT, claims))
    assert out.schema == pl.Schema(frames.SETTLEMENT_ROW)
    row = out.row(0, named=True)
    assert row["settle_date"] == date(2017, 3, 2)
    assert row["institution"] == "南雄市人民医院"
    assert (row["total_cost"], row["eligible_cost"], row["basic_paid"]) == (5200.5, 4800.0, 3360.0)
    assert row["serious_paid"] is None and row["assistance_paid"] == 1000.0


def test_nothing_is_dropped_and_order_is_kept() -> None:
    rows = [{"insured_key": f"P{i}", "id_number": [HEAD, "", None, "x"][i % 4]} for i in range(40)]
    out = normalise_enrolment(staged(ENROLMENT, rows, first_row=2))
    assert out.height == 40
    assert out["row_no"].to_list() == list(range(2, 42))
    assert out["insured_key"].to_list() == [f"P{i}" for i in range(40)]


def test_fast_id_path_agrees_with_parse_id() -> None:
    """The vectorised check of canonical IDs never accepts what parse_id would not."""
    rng = random.Random(11)
    values: list[str | None] = [None, "", "x" * 18, "+" + HEAD[1:], " " + HEAD[1:], HEAD[:17] + "x"]
    for _ in range(4000):
        born = date(1870 + rng.randrange(170), 1 + rng.randrange(12), 1 + rng.randrange(28))
        value = ids.make_id(rng.choice(["440282", "110101", "012345"]), born, rng.randrange(1000))
        roll = rng.random()
        if roll < 0.3:
            value = value[:17] + rng.choice("0123456789X")
        elif roll < 0.45:
            value = (
                value[:10]
                + rng.choice(["02", "13", "00", "04"])
                + rng.choice(["29", "30", "31"])
                + value[14:]
            )
        elif roll < 0.5:
            value = value[:15] + "000"
        values.append(value)
    frame = pl.DataFrame({"raw": values}, schema={"raw": pl.Utf8})
    fast = canonical_id_mask(frame, "raw").to_list()
    for value, accepted in zip(values, fast, strict=True):
        parsed = ids.parse_id(value)
        if accepted:
            assert parsed.status == ids.VALID and parsed.normalised == value, mask_id(value)
        elif (
            value and value[0] != "0" and parsed.status == ids.VALID and parsed.normalised == value
        ):
            pytest.fail(f"fast path missed a canonical ID {mask_id(value)}")
    assert any(fast) and not all(fast)
