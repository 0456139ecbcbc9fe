"""Values checked for sense: invisible characters leave IDs and names; amounts and dates that
cannot be right are read, kept as written in `*_raw`, and left out of the typed columns, so
that no rule, sum or indicator uses them (R13 neither creates nor hides a finding on them)."""

from __future__ import annotations

import math
from datetime import date

import polars as pl
import pytest

from config.schema import DIBAO, ENROLMENT, ROSTER, SETTLEMENT
from config.settings import POLICY_TOML, ValueLimits, load_policy, value_limits
from tests.transforms.bound import (
    normalise_dibao,
    normalise_enrolment,
    normalise_roster,
    normalise_settlement,
)
from tests.transforms.test_normalise import person, staged
from transforms import ids
from transforms.rules import RuleInputs, r13_medical_subsidy_short
from transforms.values import amount_as_written

ID = ids.make_id("440282", date(1962, 3, 14), 131)
READ_ON = date(2018, 7, 1)
INVISIBLE = {
    "U+200B zero-width space": "\u200b",
    "U+200C zero-width non-joiner": "\u200c",
    "U+200D zero-width joiner": "\u200d",
    "U+200E left-to-right mark": "\u200e",
    "U+202A left-to-right embedding": "\u202a",
    "U+202C pop directional formatting": "\u202c",
    "U+202E right-to-left override": "\u202e",
    "U+2066 left-to-right isolate": "\u2066",
    "U+2069 pop directional isolate": "\u2069",
    "U+2060 word joiner": "\u2060",
    "U+FEFF byte order mark": "\ufeff",
    "U+00AD soft hyphen": "\u00ad",
}


@pytest.mark.parametrize("mark", list(INVISIBLE.values()), ids=list(INVISIBLE))
def test_an_id_valid_once_invisible_characters_are_gone_is_valid(mark: str) -> None:
    for written in (mark + ID, ID[:6] + mark + ID[6:], ID + mark, ID[:9] + mark + mark + ID[9:]):
        parsed = ids.parse_id(written)
        assert (parsed.status, parsed.normalised) == (ids.VALID, ID), repr(written)
        assert parsed.raw == written  # what the cell said is kept


def test_normalised_ids_and_names_lose_invisible_characters_raw_keeps_them() -> None:
    rows = [
        person(household_id="H1", name="张\u202e三\u200b", id_number=ID[:6] + "\u200b" + ID,
               relation="户主", attribute="一般贫困户", income="5000", exit_status="未脱贫"),
    ]  # fmt: skip
    rows[0]["id_number"] = ID[:6] + "\u2066" + ID[6:] + "\u00ad"
    out = normalise_roster(staged(ROSTER, rows), "珠玑镇").row(0, named=True)
    assert (out["id_norm"], out["id_status"]) == (ID, ids.VALID)
    assert out["id_raw"] == ID[:6] + "\u2066" + ID[6:] + "\u00ad"
    assert out["name"] == "张三" and out["name_raw"] == "张\u202e三\u200b"


def test_amount_as_written_reads_what_is_no_finite_number() -> None:
    frame = pl.DataFrame({"v": ["-5,000", "1e15", "Inf", "-infinity", "NaN", "1e999", "七千"]})
    got = frame.select(amount_as_written(pl.col("v")))["v"].to_list()
    assert got[:2] == [-5000.0, 1e15]
    assert got[2] == math.inf and got[3] == -math.inf and math.isnan(got[4])
    assert got[5] == math.inf and got[6] is None


MONEY = ("total_cost", "eligible_cost", "basic_paid", "serious_paid", "assistance_paid")


def bill(sid: str, **cells: str | None) -> dict[str, str | None]:
    """A settlement row as the bureau writes it (every cell text), `cells` changed."""
    row: dict[str, str | None] = {
        "settlement_id": sid,
        "id_number": ID,
        "name": "张三",
        "settle_date": "2018-03-01",
        "total_cost": "1000",
        "eligible_cost": "800",
        "basic_paid": "500",
        "serious_paid": "0",
        "assistance_paid": "210",
    }
    return {**row, **cells}


def test_settlement_amounts_that_cannot_be_right_are_left_out_and_kept_as_written() -> None:
    bills = [
        bill("S1"),
        bill("S2", total_cost="-5000"),
        bill("S3", eligible_cost="1e15"),
        bill("S4", basic_paid="Inf"),
        bill("S5", assistance_paid="NaN"),
        bill("S6", serious_paid="10,000,001"),
        bill("S7", total_cost="10,000,000"),  # the ceiling itself is plausible
        bill("S8", total_cost="0"),
    ]
    out = normalise_settlement(staged(SETTLEMENT, bills), read_on=READ_ON)
    typed = {r["settlement_id"]: r for r in out.iter_rows(named=True)}
    assert [typed[f"S{i}"]["total_cost"] for i in (1, 2, 7, 8)] == [1000.0, None, 1e7, 0.0]
    assert typed["S2"]["total_cost_raw"] == "-5000"
    assert typed["S3"]["eligible_cost"] is None and typed["S3"]["eligible_cost_raw"] == "1e15"
    assert typed["S4"]["basic_paid"] is None and typed["S4"]["basic_paid_raw"] == "Inf"
    assert typed["S5"]["assistance_paid"] is None
    assert typed["S6"]["serious_paid"] is None
    for column in MONEY:  # nothing that is left can make a sum infinite
        assert out[column].drop_nulls().is_finite().all()


def test_ceilings_come_from_the_policy_file(tmp_path, monkeypatch) -> None:
    policy = tmp_path / "policy.toml"
    ours = POLICY_TOML.read_text(encoding="utf-8")
    values = ours[ours.index("[values]") : ours.index("\n[years.")]
    policy.write_text(
        ours.replace(
            values, "[values]\nsettlement_max = 500\nearliest_date = 1950-01-01\nyears_ahead = 2\n"
        ),
        encoding="utf-8",
    )
    monkeypatch.setenv("FUPIN_POLICY_FILE", str(policy))
    limits = value_limits()
    assert (limits.settlement_max, limits.earliest_date, limits.years_ahead) == (
        500.0,
        date(1950, 1, 1),
        2,
    )
    assert limits.income_max == ValueLimits().income_max  # unset: the default
    out = normalise_settlement(staged(SETTLEMENT, [bill("S1")]), limits=limits, read_on=READ_ON)
    assert out["total_cost"].to_list() == [None] and out["eligible_cost"].to_list() == [None]
    assert out["basic_paid"].to_list() == [500.0]


def test_dates_before_1900_or_more_than_a_year_after_reading_are_left_out() -> None:
    bills = [
        bill("S1", settle_date="2099-12-31"),
        bill("S2", settle_date="1850-01-01"),
        bill("S3", settle_date="2019-07-01"),  # read on 2018-07-01: a year ahead is the limit
        bill("S4", settle_date="2019-07-02"),
        bill("S5", settle_date="99999"),  # an Excel serial number: 2173-10-13
    ]
    out = normalise_settlement(staged(SETTLEMENT, bills), read_on=READ_ON)
    assert out["settle_date"].to_list() == [None, None, date(2019, 7, 1), None, None]
    assert out["settle_date_raw"].to_list() == [
        "2099-12-31",
        "1850-01-01",
        "2019-07-01",
        "2019-07-02",
        "99999",
    ]

    roll = [
        {"family_id": "D1", "name": "李四", "id_number": ID, "category": "农村低保",
         "status": "在保", "start_date": "2099-12-31", "stop_date": "1899-05-01",
         "monthly_amount": "-300"},
        {"family_id": "D2", "name": "王五", "id_number": ID, "category": "农村低保",
         "status": "在保", "start_date": "2016-05-01", "monthly_amount": "1e9"},
    ]  # fmt: skip
    dibao = normalise_dibao(staged(DIBAO, roll), read_on=READ_ON)
    assert dibao["start_date"].to_list() == [None, date(2016, 5, 1)]
    assert dibao["stop_date"].to_list() == [None, None]
    assert dibao["stop_date_raw"].to_list() == ["1899-05-01", None]
    assert dibao["monthly_amount"].to_list() == [None, None]
    assert dibao["monthly_amount_raw"].to_list() == ["-300", "1e9"]

    enrolled = [
        {"name": "赵六", "id_number": ID, "birth_date": "2099-12-31", "year": "2018"},
        {"name": "钱七", "id_number": ID, "birth_date": "1962-03-14", "year": "2018"},
    ]
    enrolment = normalise_enrolment(staged(ENROLMENT, enrolled), read_on=READ_ON)
    assert enrolment["birth_date"].to_list() == [None, date(1962, 3, 14)]
    assert enrolment["birth_date_raw"].to_list() == ["2099-12-31", "1962-03-14"]


def test_roster_income_and_exit_year_that_cannot_be_right_are_left_out() -> None:
    rows = [
        person(household_id="H1", name="张三", id_number=ID, relation="户主",
               attribute="一般贫困户", income="-5000", exit_status="已脱贫", exit_year="2099"),
        person(household_id="H2", name="李四", id_number=ID, relation="户主",
               attribute="一般贫困户", income="Inf", exit_status="已脱贫", exit_year="1850"),
        person(household_id="H3", name="王五", id_number=ID, relation="户主",
               attribute="一般贫困户", income="7365", exit_status="已脱贫", exit_year="2017"),
    ]  # fmt: skip
    out = normalise_roster(staged(ROSTER, rows), "珠玑镇", read_on=READ_ON)
    assert out["income"].to_list() == [None, None, 7365.0]
    assert out["income_raw"].to_list() == ["-5000", "Inf", "7365"]
    assert out["exit_year"].to_list() == [None, None, 2017]
    assert out["exit_year_raw"].to_list() == ["2099", "1850", "2017"]


# ---------------------------------------------------------------- R13


def _r13(bills: list[dict[str, str | None]]) -> list[str]:
    """R13's findings (settlement ids) for `bills` of one active roster person."""
    settlements = normalise_settlement(staged(SETTLEMENT, bills), read_on=READ_ON)
    rows = [
        person(household_id="H1", name="张三", id_number=ID, relation="户主",
               attribute="一般贫困户", income="5000", exit_status="未脱贫"),
    ]  # fmt: skip
    roster = normalise_roster(staged(ROSTER, rows), "珠玑镇").with_columns(
        identity=pl.col("id_norm")
    )
    x = RuleInputs(
        persons=roster,
        dibao=pl.DataFrame(),
        enrolment=pl.DataFrame(),
        settlements=settlements.with_columns(identity=pl.col("id_norm")),
        as_of=date(2018, 6, 30),
        exit_lines={2016: 7365.0},
        housing_deadline=load_policy().housing_deadline,
        assistance_share=load_policy().medical_assistance_share,
        assistance_tolerance=load_policy().medical_assistance_tolerance,
    )
    return sorted(r13_medical_subsidy_short(x)["key"].to_list())


def test_an_implausible_amount_neither_creates_nor_hides_an_r13_finding() -> None:
    # remaining = 800 - 500 - 0 = 300; 70% = 210: S1 is fine, S2 is short.
    bills = [
        bill("S1"),
        bill("S2", assistance_paid="100"),
        # would create a finding if the amount counted as 0 (or as itself)
        bill("S3", assistance_paid="-5000"),
        bill("S4", basic_paid="-5000"),
        bill("S5", serious_paid="NaN"),
        # would hide S2's shortfall if the amount counted
        bill("S6", assistance_paid="100", eligible_cost="-800"),
        bill("S7", assistance_paid="1e15"),
        bill("S8", assistance_paid="100", basic_paid="1e15"),
        # blank counts as 0, as before: short
        bill("S9", assistance_paid=None),
    ]
    assert _r13(bills) == ["S2", "S9"]
