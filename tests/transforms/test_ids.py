from __future__ import annotations

from datetime import date

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from transforms import ids


@pytest.mark.parametrize("valid", ["11010519491231002X", "440524188001010014"])
def test_standard_worked_examples_are_valid(valid):
    parsed = ids.parse_id(valid)
    assert parsed.status == ids.VALID and parsed.normalised == valid


def test_legacy_15_digit_becomes_18():
    parsed = ids.parse_id("130503670401001")
    assert parsed.status == ids.LEGACY15 and parsed.normalised == "130503196704010016"
    assert parsed.is_valid


def test_legacy_15_digit_stored_as_number_is_intact():
    assert ids.parse_id(130503670401001.0).normalised == "130503196704010016"
    assert ids.parse_id(130503670401001).normalised == "130503196704010016"


@pytest.mark.parametrize(
    "written",
    [
        "１１０１０５１９４９１２３１００２Ｘ",
        "11010519491231002x",
        " 110105 19491231002X ",
        "110105\u300019491231002X",
        "'11010519491231002X",
    ],
)
def test_width_spaces_case_and_quotes_are_normalised(written):
    assert ids.parse_id(written).normalised == "11010519491231002X"
    assert ids.parse_id(written).is_valid


@pytest.mark.parametrize(
    "cell",
    ["4.40282199001011E+17", "4.40282199001011e17", 4.40282199001011e17, "440282199001011000"],
)
def test_excel_mangled_ids_are_detected_and_shown_as_excel_shows_them(cell):
    parsed = ids.parse_id(cell)
    assert parsed.status == ids.EXCEL_MANGLED
    assert parsed.normalised == "440282199001011000"


def test_float_is_read_with_15_significant_digits_never_int_float():
    true = ids.make_id("440282", date(1990, 1, 1), 123)
    # int(float(true)) would invent digits; Excel keeps 15 significant ones.
    assert ids.parse_id(float(true)).normalised == true[:15] + "000"


def test_genuine_id_ending_in_000_with_right_check_stays_valid():
    genuine = next(
        body + "0"
        for body in (f"44028219900101{n:01d}00" for n in range(10))
        if ids.check_char(body) == "0"
    )
    assert ids.parse_id(genuine).status == ids.VALID
    # the same digits arriving as a number cell are still Excel's damage
    assert ids.parse_id(float(genuine)).status == ids.EXCEL_MANGLED


def test_text_ending_in_000_with_impossible_birth_date_is_a_typo_not_excel():
    # Valid 440282197204214000 with its month mistyped (seed 11, 低保 roll): Excel keeps the
    # first 15 digits, so it cannot have produced month 72.
    assert ids.parse_id("440282197204214000").status == ids.VALID
    parsed = ids.parse_id("440282197274214000")
    assert parsed.status == ids.BAD_DATE
    assert parsed.normalised == "440282197274214000"


@pytest.mark.parametrize(
    ("written", "status"),
    [
        ("110105194912310021", ids.BAD_CHECK),
        ("110105194913310024", ids.BAD_DATE),
        ("11010519491231002", ids.BAD_FORMAT),
        ("1101051949123100AX", ids.BAD_FORMAT),
        ("", ids.BLANK),
        ("\u3000", ids.BLANK),
        (None, ids.BLANK),
    ],
)
def test_invalid_ids_say_why(written, status):
    assert ids.parse_id(written).status == status
    assert not ids.parse_id(written).is_valid


def test_sex_and_birth_date_from_id():
    assert ids.sex_of("11010519491231002X") == "女"
    assert ids.birth_date_of("11010519491231002X") == date(1949, 12, 31)


@given(st.dates(min_value=date(1900, 1, 1), max_value=date(2020, 12, 31)), st.integers(1, 999))
def test_every_made_id_is_valid_and_any_single_substitution_breaks_it(born, seq):
    made = ids.make_id("440282", born, seq)
    assert ids.parse_id(made).status == ids.VALID
    for pos in (3, 10, 15):
        digit = str((int(made[pos]) + 1) % 10)
        assert not ids.parse_id(made[:pos] + digit + made[pos + 1 :]).is_valid


def test_parse_id_column_uses_unique_values():
    frame = pl.DataFrame({"raw": ["130503670401001", "130503670401001", None]})
    out = ids.parse_id_column(frame, "raw")
    assert out["id_norm"].to_list() == ["130503196704010016", "130503196704010016", ""]
    assert out["id_status"].to_list() == [ids.LEGACY15, ids.LEGACY15, ids.BLANK]
