"""The divisions of every county of 韶关市, read from the city file beside Nanxiong's."""

from __future__ import annotations

import csv

import pytest

from config.settings import (
    CITY_DIVISIONS_CSV,
    DIVISIONS_CSV,
    HOME_COUNTY,
    city_counties,
    load_divisions,
    takes_part,
    village_short,
)


def test_the_city_file_holds_nanxiong_exactly() -> None:
    with DIVISIONS_CSV.open(encoding="utf-8") as fh:
        ours = [tuple(r.values()) for r in csv.DictReader(fh)]
    with CITY_DIVISIONS_CSV.open(encoding="utf-8") as fh:
        city = [
            (
                r["township_code"],
                r["township_name"],
                r["village_code"],
                r["village_name"],
                r["urban_rural_code"],
            )
            for r in csv.DictReader(fh)
            if r["county_code"] == HOME_COUNTY
        ]
    assert city == ours


def test_ten_counties_with_their_townships_and_villages() -> None:
    counties = city_counties()
    assert len(counties) == 10 and counties[HOME_COUNTY] == "南雄市"
    home = load_divisions()
    assert (len(home.townships), len(home.villages)) == (18, 208)
    assert load_divisions(HOME_COUNTY) == home
    lechang = load_divisions("440281")
    assert lechang.county_name == "乐昌市" and lechang.county_code == "440281"
    assert all(code.startswith("440281") for code in lechang.townships)
    assert all(v.township_code in lechang.townships for v in lechang.villages)
    # 村民委员会 counts as a village as 村委会 does (武江区 writes its villages so)
    assert len(load_divisions("440203").villages) == 51


def test_special_areas_keep_no_register() -> None:
    assert takes_part("440282001") and takes_part("440282100") and takes_part("440282200")
    assert not takes_part("440282400") and not takes_part("440224450")
    for code in city_counties():
        assert all(takes_part(t) for t in load_divisions(code).townships)


def test_an_unknown_county_is_refused_in_chinese() -> None:
    with pytest.raises(ValueError, match="不在韶关市区划表中"):
        load_divisions("440999")


def test_village_short_names() -> None:
    assert village_short("珠玑村委会") == "珠玑村"
    assert village_short("龙归村民委员会") == "龙归村"
    assert village_short("东区居委会") == "东区居委会"
