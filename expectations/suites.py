"""One expectation suite per source, as code.

A suite is a list of `Check`s: a GX expectation plus what the issue adapter needs to turn its
failing rows into data-quality issues (issue kind, the field it is about, the column whose
written text is quoted).  Each expectation carries `meta={"check": name}` so a GX result finds
its check again.

Only the expectations that matter for a source are in its suite: the enrolment extract
(1.26M rows, system-made) gets required cells, enumerations the reconciliation rules read and
ID validity; the township roster, typed by hand, gets everything.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Literal

import great_expectations as gx
from great_expectations.expectations.expectation import Expectation
from great_expectations.expectations.row_conditions import (
    Column,
    ComparisonCondition,
    NullityCondition,
)

from config import schema
from config.settings import load_divisions, village_short
from expectations import custom
from expectations.context import gx_context
from transforms import ids

Engine = Literal["pandas", "sql"]

EXIT_YEARS = (2016, 2020)
INCOME_MAX = 100_000  # yuan per person per year
FAMILY_SIZE_MAX = 30


@dataclass(frozen=True)
class Check:
    name: str  # unique within its suite; the expectation's meta["check"]
    issue: str  # config.schema.ISSUE_KINDS key
    field: str  # config.schema field key the issue is about (its Chinese header is the column)
    expectation: Expectation
    value: str | None = None  # frame column quoted as the issue's value (written text)
    allowed: tuple[str, ...] = ()  # for enumerations: the canonical values, for the message
    bounds: tuple[float, float] | None = None  # for ranges
    household: bool = False  # a household-level field: one issue per household, not per row
    unparsed_possible: bool = False  # null may also mean "written but not understood"
    columns: tuple[str, ...] = ()  # frame columns the expectation reads


@dataclass
class _Builder:
    source: schema.Source
    engine: Engine
    checks: list[Check] = field(default_factory=list)

    def add(
        self,
        name: str,
        issue: str,
        field_key: str,
        expectation: Expectation,
        *,
        columns: tuple[str, ...],
        **extra: Any,
    ) -> None:
        expectation.meta = {"check": name}
        household = self.source is schema.ROSTER and _is_household(self.source, field_key)
        self.checks.append(
            Check(
                name, issue, field_key, expectation, columns=columns, household=household, **extra
            )
        )

    def required(
        self,
        field_key: str,
        column: str | None = None,
        *,
        unparsed_possible: bool = False,
        condition: ComparisonCondition | NullityCondition | None = None,
    ) -> None:
        column = column or field_key
        self.add(
            f"{field_key}.required",
            "required_missing",
            field_key,
            gx.expectations.ExpectColumnValuesToNotBeNull(column=column, row_condition=condition),
            columns=(column,) + _condition_columns(condition),
            value=column,
            unparsed_possible=unparsed_possible,
        )

    def enum(self, field_key: str, values: Mapping[str, object], column: str | None = None) -> None:
        column = column or field_key
        allowed = tuple(values)
        self.add(
            f"{field_key}.in_set",
            "invalid_value",
            field_key,
            gx.expectations.ExpectColumnValuesToBeInSet(column=column, value_set=list(allowed)),
            columns=(column,),
            value=column,
            allowed=allowed,
        )

    def between(
        self,
        field_key: str,
        low: float,
        high: float,
        issue: str = "invalid_value",
        column: str | None = None,
        value: str | None = None,
    ) -> None:
        column = column or field_key
        self.add(
            f"{field_key}.between",
            issue,
            field_key,
            gx.expectations.ExpectColumnValuesToBeBetween(
                column=column, min_value=low, max_value=high
            ),
            columns=(column, *((value,) if value else ())),
            value=value or column,
            bounds=(low, high),
        )

    def parsed(self, field_key: str, issue: str, raw: str, parsed: str) -> None:
        self.add(
            f"{field_key}.parsed",
            issue,
            field_key,
            custom.ExpectColumnPairValuesToBeParsed(column_A=raw, column_B=parsed),
            columns=(raw, parsed),
            value=raw,
        )

    def resident_id(self) -> None:
        self.required("id_number", "id_raw")
        self.add(
            "id_number.valid",
            "invalid_id",
            "id_number",
            custom.ExpectColumnValuesToBeValidResidentId(column="id_norm"),
            columns=("id_norm", "id_status", "id_raw"),
            value="id_raw",
        )
        self.add(
            "id_number.excel",
            "excel_mangled_id",
            "id_number",
            gx.expectations.ExpectColumnValuesToNotBeInSet(
                column="id_status", value_set=[ids.EXCEL_MANGLED]
            ),
            columns=("id_status", "id_raw"),
            value="id_raw",
        )


def _is_household(source: schema.Source, key: str) -> bool:
    try:
        return source.field(key).household
    except KeyError:
        return False


def _condition_columns(condition: ComparisonCondition | NullityCondition | None) -> tuple[str, ...]:
    return () if condition is None else (condition.column.name,)


@cache
def township_villages() -> tuple[str, ...]:
    """`code|name` for every village, as registered (珠玑村委会) and as clerks write it (珠玑村)."""
    pairs = set()
    for village in load_divisions().villages:
        pairs.add(f"{village.township_code}|{village.name}")
        pairs.add(f"{village.township_code}|{village_short(village.name)}")
    return tuple(sorted(pairs))


def _household_checks(b: _Builder) -> None:
    if b.engine == "pandas":
        b.add(
            "household.head",
            "household_head",
            "relation",
            custom.ExpectHouseholdToHaveOneHead(
                column_list=custom.HOUSEHOLD_COLUMNS["household_head"]
            ),
            columns=tuple(custom.HOUSEHOLD_COLUMNS["household_head"]),
        )
        b.add(
            "household.size",
            "family_size_mismatch",
            "family_size",
            custom.ExpectHouseholdFamilySizeToMatchMembers(
                column_list=custom.HOUSEHOLD_COLUMNS["family_size_mismatch"]
            ),
            columns=tuple(custom.HOUSEHOLD_COLUMNS["family_size_mismatch"]),
            value="family_size_raw",
        )
        return
    queries = custom.household_sql_queries()
    b.add(
        "household.head",
        "household_head",
        "relation",
        gx.expectations.UnexpectedRowsExpectation(unexpected_rows_query=queries["household_head"]),
        columns=tuple(custom.HOUSEHOLD_COLUMNS["household_head"]),
    )
    b.add(
        "household.size",
        "family_size_mismatch",
        "family_size",
        gx.expectations.UnexpectedRowsExpectation(
            unexpected_rows_query=queries["family_size_mismatch"]
        ),
        columns=tuple(custom.HOUSEHOLD_COLUMNS["family_size_mismatch"]),
        value="family_size_raw",
    )


def roster_checks(engine: Engine) -> list[Check]:
    b = _Builder(schema.ROSTER, engine)
    # 乡镇: may come from the title row; only a township we cannot place at all is an issue.
    b.required("township", "township_code", condition=Column("township").is_null())
    b.parsed("township", "invalid_value", "township", "township_code")
    for key in (
        "village",
        "household_id",
        "name",
        "relation",
        "labour",
        "attribute",
        "exit_status",
    ):
        b.required(key)
    b.required("income", "income_raw")
    b.resident_id()
    b.enum("sex", schema.SEX)
    b.enum("relation", schema.RELATION)
    b.enum("labour", schema.LABOUR)
    b.enum("health", schema.HEALTH)
    b.enum("school", schema.SCHOOL)
    b.enum("person_status", schema.PERSON_STATUS)
    b.enum("attribute", schema.ATTRIBUTE)
    b.enum("exit_status", schema.EXIT_STATUS)
    b.enum("housing", schema.HOUSING)
    b.parsed("water_safe", "invalid_value", "water_safe_raw", "water_safe")
    b.parsed("income", "bad_number", "income_raw", "income")
    b.between("income", 0, INCOME_MAX, issue="implausible_income", value="income_raw")
    b.parsed("family_size", "bad_number", "family_size_raw", "family_size")
    b.between("family_size", 1, FAMILY_SIZE_MAX, value="family_size_raw")
    b.parsed("exit_year", "bad_date", "exit_year_raw", "exit_year")
    b.between("exit_year", *EXIT_YEARS, value="exit_year_raw")
    b.add(
        "exit_year.required",
        "exit_year_missing",
        "exit_year",
        gx.expectations.ExpectColumnValuesToNotBeNull(
            column="exit_year_raw", row_condition=Column("exit_status") == "已脱贫"
        ),
        columns=("exit_year_raw", "exit_status"),
        value="exit_year_raw",
    )
    b.add(
        "sex.matches_id",
        "sex_mismatch",
        "sex",
        custom.ExpectColumnPairSexToMatchResidentId(column_A="_valid_id", column_B="sex"),
        columns=("_valid_id", "sex"),
        value="sex",
    )
    b.add(
        "village.in_township",
        "village_not_in_township",
        "village",
        custom.ExpectColumnPairVillageToBeInTownship(
            column_A="township_code",
            column_B="village",
            township_villages=list(township_villages()),
        ),
        columns=("township_code", "village"),
        value="village",
    )
    _household_checks(b)
    return b.checks


def village_checks(engine: Engine) -> list[Check]:
    b = _Builder(schema.VILLAGES, engine)
    b.required("village")
    b.required("is_poor", unparsed_possible=True)
    b.enum("unit_type", schema.UNIT_TYPE)
    b.between("toilet_rate", 0, 100)
    b.between("income", 0, INCOME_MAX, issue="implausible_income")
    b.add(
        "village.in_township",
        "village_not_in_township",
        "village",
        custom.ExpectColumnPairVillageToBeInTownship(
            column_A="township_code",
            column_B="village",
            township_villages=list(township_villages()),
        ),
        columns=("township_code", "village"),
        value="village",
    )
    return b.checks


def dibao_checks(engine: Engine) -> list[Check]:
    b = _Builder(schema.DIBAO, engine)
    for key in ("family_id", "name", "category", "status"):
        b.required(key)
    b.required("start_date", "start_date_raw")
    b.resident_id()
    b.enum("category", schema.DIBAO_CATEGORY)
    b.enum("status", schema.DIBAO_STATUS)
    b.enum("stop_reason", schema.STOP_REASON)
    b.parsed("start_date", "bad_date", "start_date_raw", "start_date")
    b.parsed("stop_date", "bad_date", "stop_date_raw", "stop_date")
    b.parsed("family_size", "bad_number", "family_size_raw", "family_size")
    b.parsed("monthly_amount", "bad_number", "monthly_amount_raw", "monthly_amount")
    return b.checks


def enrolment_checks(engine: Engine) -> list[Check]:
    b = _Builder(schema.ENROLMENT, engine)
    b.required("name")
    b.required("year", unparsed_possible=True)
    b.required("enrol_status")
    b.resident_id()
    b.enum("enrol_status", schema.ENROL_STATUS)
    b.enum("person_status", schema.PERSON_STATUS)
    b.enum("subsidy", schema.SUBSIDY)
    b.parsed("birth_date", "bad_date", "birth_date_raw", "birth_date")
    b.parsed("year", "bad_date", "year_raw", "year")
    return b.checks


def settlement_checks(engine: Engine) -> list[Check]:
    b = _Builder(schema.SETTLEMENT, engine)
    b.required("settlement_id")
    for key in ("eligible_cost", "basic_paid", "assistance_paid"):
        b.required(key, unparsed_possible=True)
    b.resident_id()
    b.parsed("settle_date", "bad_date", "settle_date_raw", "settle_date")
    for key in ("total_cost", "eligible_cost", "basic_paid", "serious_paid", "assistance_paid"):
        b.parsed(key, "bad_number", f"{key}_raw", key)
    return b.checks


SUITES = {
    "roster": roster_checks,
    "village": village_checks,
    "dibao": dibao_checks,
    "enrolment": enrolment_checks,
    "settlement": settlement_checks,
}
SOURCES: dict[str, schema.Source] = {
    "roster": schema.ROSTER,
    "village": schema.VILLAGES,
    "dibao": schema.DIBAO,
    "enrolment": schema.ENROLMENT,
    "settlement": schema.SETTLEMENT,
}


@dataclass(frozen=True)
class Suite:
    kind: str
    engine: Engine
    suite: gx.ExpectationSuite
    checks: dict[str, Check]

    @property
    def columns(self) -> list[str]:
        """Frame columns the suite reads, in a stable order."""
        seen: dict[str, None] = {}
        for check in self.checks.values():
            seen.update(dict.fromkeys(check.columns))
        return list(seen)


@cache
def build(kind: str, engine: Engine = "pandas") -> Suite:
    """The GX suite of a source (built once per process)."""
    if kind not in SUITES:
        raise ValueError(f"unknown source kind {kind!r}; expected one of {sorted(SUITES)}")
    gx_context()  # a suite needs an active context
    checks = SUITES[kind](engine)
    suite = gx.ExpectationSuite(name=f"fupin_{kind}_{engine}")
    for check in checks:
        suite.add_expectation(check.expectation)
    return Suite(kind, engine, suite, {c.name: c for c in checks})
