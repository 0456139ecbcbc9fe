"""Cell parsers: every variant of sources.md, as scalars and as column expressions."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from config.schema import ATTRIBUTE, EXIT_STATUS, HOUSING, LABOUR, SEX
from transforms.cells import (
    clean_label,
    is_blank,
    normalise_enum,
    normalise_name,
    parse_date,
    parse_int,
    parse_money,
    parse_percent,
    parse_yes_no,
    trimmed,
)

MAY_FIRST = date(2016, 5, 1)


@pytest.mark.parametrize(
    "text",
    [
        "2016-05-01",
        "2016-5-1",
        "2016/5/1",
        "2016/05/01",
        "20160501",
        "2016.5.1",
        "2016.05.01",
        "2016年5月1日",
        "2016 年 5 月 1 日",
        "２０１６年５月１日",  # full-width digits
        "2016-05-01 00:00:00",  # an Excel date-time cell as the reader renders it
        "2016-05-01 13:30:00",
        "2016-05-01T08:00",
        "42491",  # Excel serial number
        "42491.5625",
        " 2016-05-01\u3000",
    ],
)
def test_parse_date_every_written_form(text: str) -> None:
    assert parse_date(text) == MAY_FIRST


@pytest.mark.parametrize("text", ["201605", "2016年5月", "2016-05", "2016.5", "2016/5"])
def test_a_month_is_its_first_day(text: str) -> None:
    assert parse_date(text) == MAY_FIRST


@pytest.mark.parametrize(
    "text",
    [
        None,
        "",
        "  ",
        "2016",
        "abc",
        "2016-02-30",
        "2016-13-01",
        "20161301",
        "1/5/2016",
        "1705-05-01",
    ],
)
def test_parse_date_unreadable_is_null(text: str | None) -> None:
    assert parse_date(text) is None


def test_parse_date_leap_day_and_serial_epoch() -> None:
    assert parse_date("2016-02-29") == date(2016, 2, 29)
    assert parse_date("2017-02-29") is None
    assert parse_date("10000") == date(1927, 5, 18)  # Excel: 1927-05-18


def test_parse_date_as_column_expression() -> None:
    frame = pl.DataFrame({"d": ["2016/5/1", "201605", None, "x", "20160501"]})
    out = frame.select(parse_date(pl.col("d")))
    assert out.schema["d"] == pl.Date
    assert out["d"].to_list() == [MAY_FIRST, MAY_FIRST, None, None, MAY_FIRST]


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("7365", 7365.0),
        ("7,365", 7365.0),
        ("7，365", 7365.0),  # full-width comma
        ("7365元", 7365.0),
        ("7365.00", 7365.0),
        ("7365.5", 7365.5),
        ("7,365.00元", 7365.0),
        ("￥7,365", 7365.0),
        ("¥7365", 7365.0),
        ("7365元/人·年", 7365.0),
        ("７３６５", 7365.0),
        (" 7365 ", 7365.0),
        ("-12.5", -12.5),
        ("1,234,567.5", 1234567.5),
        ("0", 0.0),
        (7365, 7365.0),
        (7365.0, 7365.0),
    ],
)
def test_parse_money(text: object, value: float) -> None:
    assert parse_money(text) == value


@pytest.mark.parametrize("text", [None, "", "七千", "1.2万", "NaN", "inf", "7,36", "12-5", "元"])
def test_parse_money_unreadable_is_null(text: str | None) -> None:
    assert parse_money(text) is None


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("3", 3),
        ("３", 3),
        ("3.0", 3),
        ("3.00", 3),
        ("3人", 3),
        ("2017年", 2017),
        ("2017年度", 2017),
        ("-1", -1),
    ],
)
def test_parse_int(text: str, value: int) -> None:
    assert parse_int(text) == value


@pytest.mark.parametrize("text", [None, "", "3.5", "三", "x3", "1e3"])
def test_parse_int_unreadable_is_null(text: str | None) -> None:
    assert parse_int(text) is None


@pytest.mark.parametrize(
    ("text", "value"),
    [("85%", 85.0), ("85", 85.0), ("0.85", 85.0), ("85.5％", 85.5), ("1", 100.0), ("0", 0.0)],
)
def test_parse_percent(text: str, value: float) -> None:
    assert parse_percent(text) == pytest.approx(value)


@pytest.mark.parametrize(
    "text", ["是", "有", "√", "✓", "Y", "y", "Yes", "1", "true", "TRUE", "Ｙ", " 是 ", "是\u3000"]
)
def test_yes(text: str) -> None:
    assert parse_yes_no(text) is True


@pytest.mark.parametrize(
    "text", ["否", "无", "×", "✗", "N", "n", "no", "0", "false", "FALSE", "没有"]
)
def test_no(text: str) -> None:
    assert parse_yes_no(text) is False


@pytest.mark.parametrize("text", [None, "", "也许", "2", "是否"])
def test_yes_no_unknown_is_null(text: str | None) -> None:
    assert parse_yes_no(text) is None


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("张三", "张三"),
        ("张　三", "张三"),  # U+3000 padding
        ("张 三 ", "张三"),
        ("\u00a0张三", "张三"),  # NBSP
        ("张\u200b三", "张三"),  # zero-width space
        ("ＡＢＣ", "ABC"),  # full-width letters
        ("  ", None),
        ("\u3000", None),
        (None, None),
    ],
)
def test_normalise_name(text: str | None, name: str | None) -> None:
    assert normalise_name(text) == name


@pytest.mark.parametrize(
    ("mapping", "written", "canonical"),
    [
        (LABOUR, "有劳动能力", "普通劳动力"),
        (LABOUR, "丧失劳动能力", "丧失劳动力"),
        (LABOUR, "无劳动能力", "无劳动力"),
        (LABOUR, " 技能劳动力 ", "技能劳动力"),
        (LABOUR, "弱劳动力 或 半劳动力", "弱劳动力或半劳动力"),
        (ATTRIBUTE, "低保户", "低保贫困户"),
        (ATTRIBUTE, "五保户", "特困供养贫困户"),
        (ATTRIBUTE, "五保贫困户", "特困供养贫困户"),
        (EXIT_STATUS, "是", "已脱贫"),
        (EXIT_STATUS, "否", "未脱贫"),
        (HOUSING, "c级危房", "C级危房"),
        (HOUSING, "Ｄ级危房", "D级危房"),
        (SEX, "M", "男"),
        (SEX, "女", "女"),
    ],
)
def test_normalise_enum_recognised(mapping: dict, written: str, canonical: str) -> None:
    assert normalise_enum(written, mapping) == canonical


def test_normalise_enum_unrecognised_keeps_written_value_trimmed() -> None:
    assert normalise_enum(" 会 飞\u3000", LABOUR) == "会 飞"
    assert normalise_enum("", LABOUR) is None
    assert normalise_enum("\u3000", LABOUR) is None
    assert normalise_enum(None, LABOUR) is None


def test_normalise_enum_as_column_expression() -> None:
    frame = pl.DataFrame({"v": ["低保户", None, "外星户", "一般贫困户"]})
    out = frame.select(normalise_enum(pl.col("v"), ATTRIBUTE))
    assert out["v"].to_list() == ["低保贫困户", None, "外星户", "一般贫困户"]


def test_text_helpers() -> None:
    assert clean_label(" 珠玑 村\u3000") == "珠玑村"
    assert trimmed(" 南雄市 人民医院\u3000") == "南雄市 人民医院"
    assert trimmed("  ") is None
    frame = pl.DataFrame({"v": [None, "", " ", "\u3000", "\u200b", "x"]})
    assert frame.select(is_blank(pl.col("v")))["v"].to_list() == [
        True,
        True,
        True,
        True,
        True,
        False,
    ]


@given(st.integers(min_value=0, max_value=10**12), st.booleans(), st.booleans())
def test_money_round_trips_thousands_and_unit(value: int, grouped: bool, unit: bool) -> None:
    text = f"{value:,}" if grouped else str(value)
    assert parse_money(text + ("元" if unit else "")) == float(value)


@given(st.dates(min_value=date(1900, 3, 1), max_value=date(2099, 12, 31)))
def test_every_date_form_agrees(day: date) -> None:
    forms = [
        day.isoformat(),
        f"{day.year}/{day.month}/{day.day}",
        f"{day:%Y%m%d}",
        f"{day.year}.{day.month}.{day.day}",
        f"{day.year}年{day.month}月{day.day}日",
    ]
    assert {parse_date(f) for f in forms} == {day}
