"""Identity resolution tier by tier, on frames of a few rows.

Each test builds the roster rows and the 低保/insurance rows the way the pipeline has them
(written IDs parsed by transforms.ids) and checks the tier, the identity, the suggestion and
the evidence `resolve_roster` records.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import polars as pl
import pytest

from transforms import ids
from transforms.identity import (
    AMBIGUOUS,
    EXACT,
    EXCEL_PREFIX,
    LEGACY15,
    NONE,
    TYPO,
    one_edit_variants,
    reference_ids,
    resolve_roster,
    source_identity,
)
from transforms.names import pinyin_key

from .builders import pid

TRUE = pid(11, born=date(1975, 3, 18))  # 44028219750318011 + check character


def substituted(valid: str, pos: int) -> str:
    """`valid` with the digit at `pos` replaced: always invalid (the check character moves)."""
    digit = str((int(valid[pos]) + 1) % 10)
    return valid[:pos] + digit + valid[pos + 1 :]


def swapped(valid: str, pos: int) -> str:
    assert valid[pos] != valid[pos + 1]
    return valid[:pos] + valid[pos + 1] + valid[pos] + valid[pos + 2 :]


def excel(valid: str) -> str:
    """What a cell shows once Excel stored the ID as a number: 15 significant digits."""
    return format(float(valid[:15] + "000"), ".15g").upper()


def second_neighbour(written: str) -> str:
    """Another valid ID one edit from an invalid `written`: its check character corrected."""
    other = written[:17] + ids.check_char(written[:17])
    assert ids.parse_id(other).status == ids.VALID and other != written
    return other


def _frame(rows: list[tuple[Any, ...]]) -> pl.DataFrame:
    """(name, written ID[, village]) rows, IDs parsed as the normalisers do."""
    records = [
        {"name": r[0], "id_raw": r[1], "village": r[2] if len(r) > 2 else "珠玑村"} for r in rows
    ]
    frame = pl.DataFrame(records, schema={"name": pl.Utf8, "id_raw": pl.Utf8, "village": pl.Utf8})
    return ids.parse_id_column(frame, "id_raw")


def resolve(roster: list[tuple[Any, ...]], extract: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    return resolve_roster(_frame(roster), reference_ids(_frame(extract))).to_dicts()


def one(roster: tuple[Any, ...], extract: list[tuple[Any, ...]]) -> dict[str, Any]:
    (row,) = resolve([roster], extract)
    return row


# ---------------------------------------------------------------- the tiers
def test_valid_written_id_is_exact():
    row = one(("李明", TRUE), [("李明", TRUE)])
    assert row["tier"] == EXACT and row["identity"] == TRUE
    assert row["suggested_id"] is None and row["candidates"] is None
    assert row["match_score"] == 1.0 and row["name_agreement"] is None


def test_valid_id_without_any_reference_row_is_still_exact():
    row = one(("李明", TRUE), [])
    assert (row["tier"], row["identity"]) == (EXACT, TRUE)


def test_correct_15_digit_id_is_legacy15_and_converted():
    eighteen = pid(11, born=date(1967, 4, 1))
    fifteen = eighteen[:6] + eighteen[8:17]
    row = one(("李明", fifteen), [])
    assert row["tier"] == LEGACY15 and row["identity"] == eighteen
    assert row["id_norm"] == eighteen and row["suggested_id"] is None


@pytest.mark.parametrize("pos", [0, 5, 6, 9, 12, 14, 16])
def test_one_substituted_digit_with_same_name_is_typo(pos):
    written = substituted(TRUE, pos)
    row = one(("李明", written), [("李明", TRUE)])
    assert row["tier"] == TYPO
    assert row["suggested_id"] == TRUE and row["identity"] == TRUE
    assert row["id_norm"] == written
    assert row["name_agreement"] == "same_chars" and row["match_score"] == 0.95


def test_wrong_check_character_is_typo():
    last = "X" if TRUE[17] != "X" else "0"
    row = one(("李明", TRUE[:17] + last), [("李明", TRUE)])
    assert (row["tier"], row["suggested_id"]) == (TYPO, TRUE)


def test_check_character_x_is_reachable_from_a_digit():
    with_x = next(
        p for p in (pid(s, born=date(1980, 5, 6)) for s in range(1, 400)) if p.endswith("X")
    )
    row = one(("王芳", with_x[:17] + "3"), [("王芳", with_x)])
    assert (row["tier"], row["suggested_id"]) == (TYPO, with_x)


@pytest.mark.parametrize("pos", [1, 7, 10, 13, 14])
def test_swap_of_neighbours_is_typo(pos):
    row = one(("李明", swapped(TRUE, pos)), [("李明", TRUE)])
    assert (row["tier"], row["suggested_id"]) == (TYPO, TRUE)


def test_two_substitutions_are_not_repaired():
    written = substituted(substituted(TRUE, 3), 12)
    row = one(("李明", written), [("李明", TRUE)])
    assert row["tier"] == NONE and row["identity"] is None


def test_dropped_digit_is_not_repaired():
    row = one(("李明", TRUE[:10] + TRUE[11:]), [("李明", TRUE)])
    assert row["tier"] == NONE and row["suggested_id"] is None


def test_typo_with_a_different_name_has_no_candidate():
    row = one(("李明", substituted(TRUE, 12)), [("王芳", TRUE)])
    assert row["tier"] == NONE and row["identity"] is None and row["candidates"] is None
    assert row["match_score"] == 0.0


def test_village_agreement_is_recorded_not_required():
    same = one(("李明", substituted(TRUE, 12), "珠玑村委会"), [("李明", TRUE, "珠玑村")])
    assert same["tier"] == TYPO and same["village_agrees"] is True
    other = one(("李明", substituted(TRUE, 12), "黄坑村"), [("李明", TRUE, "珠玑村")])
    assert other["tier"] == TYPO and other["village_agrees"] is False


# ---------------------------------------------------------------- homophones
@pytest.mark.parametrize(
    ("surname", "homophone", "reading"),
    [("单", "善", "shan"), ("曾", "增", "zeng"), ("解", "谢", "xie"), ("区", "欧", "ou")],
)
def test_surname_readings_make_homophones(surname, homophone, reading):
    assert pinyin_key(surname + "小明") == f"{reading} xiao ming"
    assert pinyin_key(surname + "小明") == pinyin_key(homophone + "小明")
    row = one((surname + "小明", substituted(TRUE, 12)), [(homophone + "小明", TRUE)])
    assert row["tier"] == TYPO and row["suggested_id"] == TRUE
    assert row["name_agreement"] == "same_pinyin" and row["match_score"] == 0.85


def test_surname_reading_applies_to_the_first_character_only():
    assert pinyin_key("王单") == "wang dan"
    row = one(("王单", substituted(TRUE, 12)), [("王善", TRUE)])
    assert row["tier"] == NONE


def test_common_reading_of_a_surname_character_is_not_a_homophone():
    # as a surname 单 is shan, so 单 and 丹 (dan) are different names
    row = one(("单明", substituted(TRUE, 12)), [("丹明", TRUE)])
    assert row["tier"] == NONE


# ---------------------------------------------------------------- several candidates
def test_two_same_name_candidates_are_ambiguous():
    written = substituted(TRUE, 16)
    other = second_neighbour(written)
    row = one(("李明", written), [("李明", TRUE), ("李明", other)])
    assert row["tier"] == AMBIGUOUS
    assert row["identity"] is None and row["suggested_id"] is None
    assert row["candidates"] == sorted([TRUE, other])
    assert row["match_score"] == 0.0 and row["name_agreement"] is None


def test_same_chars_and_same_pinyin_candidates_together_are_ambiguous():
    written = substituted(TRUE, 16)
    other = second_neighbour(written)
    row = one(("曾明", written), [("曾明", TRUE), ("增明", other)])
    assert row["tier"] == AMBIGUOUS and row["candidates"] == sorted([TRUE, other])


def test_one_id_under_two_names_is_one_candidate():
    row = one(("李明", substituted(TRUE, 12)), [("李明", TRUE), ("李名", TRUE)])
    assert (row["tier"], row["suggested_id"]) == (TYPO, TRUE)


def test_a_different_name_candidate_does_not_make_it_ambiguous():
    written = substituted(TRUE, 16)
    row = one(("李明", written), [("李明", TRUE), ("王芳", second_neighbour(written))])
    assert (row["tier"], row["suggested_id"]) == (TYPO, TRUE)


# ---------------------------------------------------------------- Excel prefix
def test_excel_mangled_id_is_repaired_from_prefix_and_name():
    written = excel(TRUE)
    row = one(("李明", written), [("李明", TRUE)])
    assert row["id_status"] == ids.EXCEL_MANGLED and row["id_norm"] == TRUE[:15] + "000"
    assert row["tier"] == EXCEL_PREFIX and row["identity"] == TRUE
    assert row["suggested_id"] == TRUE


def test_excel_prefix_with_two_same_name_candidates_is_ambiguous():
    twin = TRUE[:15] + "99"
    twin += ids.check_char(twin)
    row = one(("李明", excel(TRUE)), [("李明", TRUE), ("李明", twin)])
    assert row["tier"] == AMBIGUOUS and row["candidates"] == sorted([TRUE, twin])
    assert row["identity"] is None and row["suggested_id"] is None


def test_excel_prefix_ignores_other_names_sharing_the_digits():
    twin = TRUE[:15] + "99"
    twin += ids.check_char(twin)
    row = one(("李明", excel(TRUE)), [("李明", TRUE), ("王芳", twin)])
    assert (row["tier"], row["suggested_id"]) == (EXCEL_PREFIX, TRUE)


def test_excel_prefix_needs_the_same_fifteen_digits():
    elsewhere = substituted(TRUE, 3)[:17]
    elsewhere += ids.check_char(elsewhere)
    row = one(("李明", excel(TRUE)), [("李明", elsewhere)])
    assert row["tier"] == NONE


def test_excel_mangled_id_is_repaired_by_its_prefix_only():
    mangled = TRUE[:15] + "000"
    # a valid same-name ID one substitution from the mangled digits, outside the prefix
    near = next(
        c
        for pos in range(3, 15)
        for d in "0123456789"
        if d != mangled[pos]
        for c in [mangled[:pos] + d + mangled[pos + 1 :]]
        if ids.parse_id(c).status == ids.VALID
    )
    row = one(("李明", excel(TRUE)), [("李明", near)])
    assert row["tier"] == NONE


# ---------------------------------------------------------------- blanks and wrong owners
@pytest.mark.parametrize("blank", [None, "", "   ", "\u3000"])
def test_blank_id_has_no_identity_and_no_candidates(blank):
    row = one(("李明", blank), [("李明", TRUE)])
    assert row["id_status"] == ids.BLANK
    assert row["tier"] == NONE and row["identity"] is None
    assert row["candidates"] is None and row["suggested_id"] is None


def test_invalid_id_with_blank_name_has_no_candidate():
    row = one((None, substituted(TRUE, 12)), [("李明", TRUE)])
    assert row["tier"] == NONE


def test_valid_id_of_someone_else_stays_the_identity():
    row = one(("李明", TRUE), [("王芳", TRUE)])
    assert (row["tier"], row["identity"]) == (EXACT, TRUE)


def test_valid_id_of_someone_else_stays_even_when_a_namesake_holds_another():
    namesake = pid(77, born=date(1975, 3, 18))
    row = one(("李明", TRUE), [("王芳", TRUE), ("李明", namesake)])
    assert (row["tier"], row["identity"], row["suggested_id"]) == (EXACT, TRUE, None)


def test_rows_keep_their_order_and_count():
    roster = [
        ("李明", TRUE),
        ("王芳", None),
        ("李明", substituted(TRUE, 12)),
        ("李明", excel(TRUE)),
    ]
    rows = resolve(roster, [("李明", TRUE)])
    assert [r["tier"] for r in rows] == [EXACT, NONE, TYPO, EXCEL_PREFIX]
    assert [r["identity"] for r in rows] == [TRUE, None, TRUE, TRUE]


# ---------------------------------------------------------------- building blocks
def test_reference_holds_valid_ids_once_per_name_with_village():
    legacy = pid(12, born=date(1960, 2, 2))
    extract = _frame(
        [
            ("李明", TRUE, "珠玑村"),
            ("李明", TRUE, "黄坑村"),  # same person, second row
            ("李名", TRUE),  # same ID, another name
            ("王芳", substituted(TRUE, 4)),  # invalid: never a candidate
            ("张三", legacy[:6] + legacy[8:17]),  # 15-digit: candidate under 18 digits
            ("赵四", None),
        ]
    )
    ref = reference_ids(extract)
    assert ref.to_dicts() == [
        {"candidate": TRUE, "candidate_name": "李明", "candidate_village": "珠玑村"},
        {"candidate": TRUE, "candidate_name": "李名", "candidate_village": "珠玑村"},
        {"candidate": legacy, "candidate_name": "张三", "candidate_village": "珠玑村"},
    ]


def test_reference_without_village_column_and_without_frames():
    no_village = _frame([("李明", TRUE)]).drop("village")
    assert reference_ids(no_village)["candidate_village"].to_list() == [None]
    empty = reference_ids()
    assert empty.is_empty() and empty.columns == [
        "candidate",
        "candidate_name",
        "candidate_village",
    ]


def test_empty_reference_resolves_exact_ids_only():
    rows = resolve_roster(
        _frame([("李明", TRUE), ("李明", substituted(TRUE, 12))]), reference_ids()
    ).to_dicts()
    assert [r["tier"] for r in rows] == [EXACT, NONE]


def test_one_edit_variants_are_substitutions_and_neighbour_swaps():
    variants = one_edit_variants(TRUE)
    swaps = sum(TRUE[i] != TRUE[i + 1] for i in range(17))
    assert len(variants) == 17 * 9 + 10 + swaps
    assert TRUE not in variants
    assert substituted(TRUE, 5) in variants
    assert all(v[:17].isdigit() for v in variants)  # X only as the check character
    assert TRUE[:17] + "X" in variants or TRUE[17] == "X"


def test_source_identity_keeps_valid_ids_only():
    frame = source_identity(
        _frame([("李明", TRUE), ("王芳", substituted(TRUE, 3)), ("赵四", None)])
    )
    assert frame["identity"].to_list() == [TRUE, None, None]
