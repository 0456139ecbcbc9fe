"""The roster suite: each issue kind fires on the bad row, with the right place and message,
and stays quiet on good rows.

GX costs ~1 s a run whatever the size, so the cases below are validated together, once: each
case is the clean two-household roster of `builders.clean_rows` with one defect, its
households renamed `<case>.H1`/`<case>.H2` and its rows moved to `100 * n + row`.  A test
sees only its own case's issues, with row numbers moved back.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import polars as pl
import pytest

from expectations import validate
from tests.expectations.builders import (
    FILE_ID,
    HEAD_ID,
    SHEET,
    SPOUSE_ID,
    ZHUJI,
    clean_rows,
    person,
    roster,
)
from transforms import ids
from transforms.frames import ISSUE
from transforms.privacy import mask_id

FULL_ID = re.compile(r"\d{17}[\dX]|\d{15}")


def mutate(*changes: tuple[int, dict[str, Any]]) -> list[dict[str, Any]]:
    rows = clean_rows()
    for index, over in changes:
        rows[index] = {**rows[index], **over}
    return rows


def both(**over: Any) -> list[dict[str, Any]]:
    """The same change on both rows of household H1 (a household-level field)."""
    return mutate((0, over), (1, over))


BAD_CHECK = HEAD_ID[:17] + ("1" if HEAD_ID[17] != "1" else "2")
BAD_DATE = "44028219610231031" + ids.check_char("44028219610231031")  # 31 February
EXCEL = "4.40282196104120E+17"
# Excel's `…000` form that passes the check digit by chance (its sex digit 0 says 女)
EXCEL_LUCKY = next(
    f"{d[0]}.{d[1:]}E+17"
    for d in (f"4402821961041{n:02d}" for n in range(100))
    if ids.check_char(d + "00") == "0"
)

CASES: dict[str, list[dict[str, Any]]] = {
    "clean": clean_rows(),
    "labour": mutate((1, {"labour": "劳力"})),
    "blank_name": mutate((1, {"name_raw": "　", "name": None})),
    "blank_id": mutate((1, {"id_raw": "  "})),
    "bad_check": mutate((0, {"id_raw": BAD_CHECK})),
    "bad_birth": mutate((0, {"id_raw": BAD_DATE})),
    "excel": mutate((0, {"id_raw": EXCEL})),
    "sex": mutate((1, {"sex": "男"})),
    "sex_legacy15": mutate((2, {"sex": "女"})),
    "sex_of_excel_id": mutate((0, {"id_raw": EXCEL_LUCKY, "sex": "男"})),
    "village": mutate((2, {"village": "乌迳村"})),
    "township": mutate((0, {"township": "珠机乡", "township_code": None})),
    # An implausible income is read and left out by the normaliser (transforms.values).
    "income_negative": mutate((2, {"income": None, "income_raw": "-300"})),
    "income_huge": mutate((2, {"income": None, "income_raw": "150000"})),
    "income_text": mutate((2, {"income": None, "income_raw": "七千元"})),
    "income_blank": mutate((2, {"income": None, "income_raw": None})),
    "income_household": both(income=None, income_raw="-5"),
    "exit_year_text": both(exit_year=None, exit_year_raw="去年"),
    "exit_year_blank": both(exit_year=None, exit_year_raw=None),
    "two_heads": mutate((1, {"relation": "户主"})),
    "dead_head": mutate((0, {"person_status": "死亡"})),
    "family_size": both(family_size=3, family_size_raw="3"),
    "family_size_dead": mutate(
        (0, {"family_size": 1, "family_size_raw": "1"}),
        (1, {"family_size": 1, "family_size_raw": "1", "person_status": "死亡"}),
    ),
    "other_township_same_household_id": [
        *clean_rows(),
        person(
            row_no=8,
            township_code="440282100",
            township="乌迳镇",
            village="乌迳村",
            household_id="H2",
            id_raw=ids.make_id("440282", date(1970, 1, 1), 11),
            family_size=1,
            family_size_raw="1",
        ),
    ],
    "many_ids": [
        *clean_rows(),
        person(row_no=9, household_id="H9", id_raw=BAD_CHECK, family_size=1, family_size_raw="1"),
        person(row_no=10, household_id="H10", id_raw=EXCEL, family_size=1, family_size_raw="1"),
        person(
            row_no=11,
            household_id="H11",
            id_raw="44028219610412",
            family_size=1,
            family_size_raw="1",
        ),
    ],
}


def _combined() -> tuple[pl.DataFrame, dict[str, int]]:
    rows, offsets = [], {}
    for n, (case, case_rows) in enumerate(CASES.items(), start=1):
        offsets[case] = 100 * n
        for row in case_rows:
            rows.append(
                {
                    **row,
                    "household_id": f"{case}.{row['household_id']}",
                    "row_no": 100 * n + row["row_no"],
                }
            )
    return roster(rows), offsets


@pytest.fixture(scope="module")
def combined() -> pl.DataFrame:
    frame, _ = _combined()
    return validate("roster", frame)


@pytest.fixture(scope="module")
def results(combined: pl.DataFrame) -> dict[str, pl.DataFrame]:
    assert combined.schema == pl.Schema(ISSUE)
    _, offsets = _combined()
    return {
        case: combined.filter(pl.col("household_id").str.starts_with(f"{case}.")).with_columns(
            pl.col("row_no") - offset, pl.col("household_id").str.strip_prefix(f"{case}.")
        )
        for case, offset in offsets.items()
    }


def only(issues: pl.DataFrame) -> dict[str, Any]:
    assert issues.height == 1, issues.select("kind", "row_no", "column", "message").to_dicts()
    return issues.row(0, named=True)


def place(issue: dict[str, Any]) -> tuple[str, int, str]:
    return issue["kind"], issue["row_no"], issue["column"]


def test_clean_roster_has_no_issues(results: dict[str, pl.DataFrame]) -> None:
    """A legacy15 ID, two 户主 named 王小明 in two households, an income of exactly 0, and a
    village written with and without 委会: all good."""
    assert ids.parse_id(clean_rows()[2]["id_raw"]).status == ids.LEGACY15
    assert results["clean"].height == 0, results["clean"].to_dicts()


def test_same_household_id_in_two_townships_is_two_households(
    results: dict[str, pl.DataFrame],
) -> None:
    assert results["other_township_same_household_id"].height == 0


def test_invalid_value_names_file_sheet_row_column_and_allowed_values() -> None:
    """Run alone, so the message and key are exactly what a clerk sees."""
    issue = only(validate("roster", roster(mutate((1, {"labour": "劳力"})))))
    assert (issue["file_id"], issue["sheet"], issue["row_no"]) == (FILE_ID, SHEET, 6)
    assert (issue["kind"], issue["column"], issue["source"]) == (
        "invalid_value",
        "劳动技能",
        "roster",
    )
    assert issue["value"] == "劳力"
    assert issue["message"] == (
        "第6行「劳动技能」填写为“劳力”，不在允许取值内"
        "（普通劳动力、技能劳动力、弱劳动力或半劳动力、丧失劳动力、无劳动力）"
    )
    assert "普通劳动力" in issue["suggested_fix"]
    assert issue["key"] == f"roster|invalid_value|{ZHUJI}|H1|{SPOUSE_ID}|劳动技能"
    assert (issue["township_code"], issue["village"], issue["household_id"]) == (
        ZHUJI,
        "珠玑村",
        "H1",
    )


def test_labour_in_combined_run(results: dict[str, pl.DataFrame]) -> None:
    assert place(only(results["labour"])) == ("invalid_value", 6, "劳动技能")


def test_required_blank_cell(results: dict[str, pl.DataFrame]) -> None:
    issue = only(results["blank_name"])
    assert place(issue) == ("required_missing", 6, "姓名")
    assert issue["message"].endswith("行「姓名」为空，此项必须填写")
    assert issue["value"] == ""


def test_blank_id_is_required_missing_only(results: dict[str, pl.DataFrame]) -> None:
    assert place(only(results["blank_id"])) == ("required_missing", 6, "证件号码")


def test_invalid_check_character_is_masked(results: dict[str, pl.DataFrame]) -> None:
    issue = only(results["bad_check"])
    assert place(issue) == ("invalid_id", 5, "证件号码")
    assert issue["value"] == mask_id(BAD_CHECK)
    assert "校验码不符" in issue["message"]
    assert not FULL_ID.search(issue["message"] + issue["value"])


def test_invalid_birth_date_in_id(results: dict[str, pl.DataFrame]) -> None:
    issue = only(results["bad_birth"])
    assert place(issue) == ("invalid_id", 5, "证件号码")
    assert "出生日期不存在" in issue["message"]


def test_excel_mangled_id_says_digits_cannot_be_recovered(results: dict[str, pl.DataFrame]) -> None:
    issue = only(results["excel"])
    assert place(issue) == ("excel_mangled_id", 5, "证件号码")
    assert "无法从该单元格恢复" in issue["message"]
    assert "文本" in issue["suggested_fix"] and "重新录入" in issue["suggested_fix"]
    assert not FULL_ID.search(issue["value"] + issue["message"])


def test_sex_digit_disagrees_with_sex(results: dict[str, pl.DataFrame]) -> None:
    issue = only(results["sex"])
    assert place(issue) == ("sex_mismatch", 6, "性别")
    assert issue["message"].endswith("行「性别」填写为“男”，但证件号码第17位表示女性")


def test_sex_of_legacy15_id_is_checked_on_the_converted_id(
    results: dict[str, pl.DataFrame],
) -> None:
    assert place(only(results["sex_legacy15"])) == ("sex_mismatch", 7, "性别")


def test_sex_is_not_judged_on_an_excel_mangled_id(results: dict[str, pl.DataFrame]) -> None:
    assert ids.parse_id(EXCEL_LUCKY).normalised[17] == "0"  # the 000 form passes the check
    kinds = results["sex_of_excel_id"]["kind"].to_list()
    assert kinds == ["excel_mangled_id"]


def test_village_of_another_township(results: dict[str, pl.DataFrame]) -> None:
    issue = only(results["village"])
    assert place(issue) == ("village_not_in_township", 7, "行政村")
    assert issue["message"].endswith("行「行政村」填写为“乌迳村”，珠玑镇没有这个行政村")


def test_unknown_township_name_keeps_the_member_in_the_household(
    results: dict[str, pl.DataFrame],
) -> None:
    issue = only(results["township"])
    assert place(issue) == ("invalid_value", 5, "乡镇")
    assert "珠机乡" in issue["message"]


@pytest.mark.parametrize(
    ("case", "kind", "text"),
    [
        ("income_negative", "implausible_income", "为负数"),
        ("income_huge", "implausible_income", "超过每人每年100,000元"),
        ("income_text", "bad_number", "无法识别为数字"),
        ("income_blank", "required_missing", "为空"),
    ],
)
def test_income(results: dict[str, pl.DataFrame], case: str, kind: str, text: str) -> None:
    issue = only(results[case])
    assert place(issue) == (kind, 7, "年人均可支配收入")
    assert text in issue["message"]


def test_household_field_issue_is_reported_once_per_household(
    results: dict[str, pl.DataFrame],
) -> None:
    issue = only(results["income_household"])
    assert (issue["kind"], issue["row_no"]) == ("implausible_income", 5)


def test_unparseable_exit_year_is_bad_date_not_missing(results: dict[str, pl.DataFrame]) -> None:
    issue = only(results["exit_year_text"])
    assert place(issue) == ("bad_date", 5, "脱贫年度")
    assert issue["value"] == "去年"


def test_exited_without_exit_year(results: dict[str, pl.DataFrame]) -> None:
    issue = only(results["exit_year_blank"])
    assert place(issue) == ("exit_year_missing", 5, "脱贫年度")
    assert issue["message"].endswith("户编号exit_year_blank.H1标记为已脱贫，但未填写「脱贫年度」")


def test_two_heads_in_one_household(results: dict[str, pl.DataFrame]) -> None:
    issue = only(results["two_heads"])
    assert place(issue) == ("household_head", 5, "与户主关系")
    assert issue["key"] == f"roster|household_head|{ZHUJI}|two_heads.H1||与户主关系"
    assert issue["household_id"] == "H1"
    assert "登记了2名户主" in issue["message"]


def test_dead_head_leaves_household_without_head(results: dict[str, pl.DataFrame]) -> None:
    issue = only(results["dead_head"])
    assert issue["kind"] == "household_head"
    assert "没有户主" in issue["message"]


def test_family_size_not_matching_members(results: dict[str, pl.DataFrame]) -> None:
    issue = only(results["family_size"])
    assert (issue["kind"], issue["column"]) == ("family_size_mismatch", "家庭人口")
    assert issue["key"] == f"roster|family_size_mismatch|{ZHUJI}|family_size.H1||家庭人口"
    assert "填写为3人，但花名册列出2人" in issue["message"]


def test_family_size_may_exclude_a_dead_member(results: dict[str, pl.DataFrame]) -> None:
    assert results["family_size_dead"].height == 0


def test_no_full_id_or_name_in_any_value_or_message(results: dict[str, pl.DataFrame]) -> None:
    issues = results["many_ids"]
    assert sorted(issues["kind"]) == ["excel_mangled_id", "invalid_id", "invalid_id"]
    texts = (
        issues["value"].to_list() + issues["message"].to_list() + issues["suggested_fix"].to_list()
    )
    for text in texts:
        assert not FULL_ID.search(text or ""), text
        assert "王小明" not in (text or "")


def test_keys_are_unique_and_stable(combined: pl.DataFrame) -> None:
    keys = combined["key"].to_list()
    assert len(set(keys)) == len(keys)
    frame, _ = _combined()
    assert keys == validate("roster", frame)["key"].to_list()
