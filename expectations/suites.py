"""One expectation suite per source, as code.

A suite is a list of `Check`s: a GX expectation plus what the issue adapter needs to turn its
failing rows into data-quality issues (issue kind, the field it is about, the column whose
written text is quoted).  Each expectation carries `meta={"check": name}` so a GX result finds
its check again.

Only the expectations that matter for a source are in its suite: the enrolment extract
(1.26M rows, system-made) gets required cells, enumerations the reconciliation rules read and
ID validity; the township roster, typed by hand, gets everything.

Most checks are row-wise: whether a row fails depends only on that row's values in the
check's columns.  `build` also groups them by those columns into sub-suites, so that
`expectations.run.run_pandas` can validate a group on the distinct value tuples of its
columns (430k IDs instead of 1.26M enrolment rows) and expand the failures back to every row
holding the tuple; it does so for the groups whose expectations are costly per row.  Checks
that look at several rows (the roster's household checks) are only ever run on the whole
frame.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any, Literal

import great_expectations as gx
import polars as pl
from great_expectations.expectations.expectation import Expectation
from great_expectations.expectations.row_conditions import (
    AndCondition,
    Column,
    ComparisonCondition,
    Condition,
    NullityCondition,
    OrCondition,
)

from config import schema
from config.settings import (
    HOME_COUNTY,
    current_county,
    load_divisions,
    value_limits,
    village_short,
)
from expectations import custom
from expectations.context import gx_context
from transforms import ids
from transforms.cells import parse_date, parse_int
from transforms.values import amount_as_written

if TYPE_CHECKING:
    from great_expectations.expectations.row_conditions import RowConditionType

Engine = Literal["pandas", "sql"]

EXIT_YEARS = (2016, 2020)
FAMILY_SIZE_MAX = 30
INVISIBLE_ID = "_id_invisible"  # expectations.run.prepare: id_raw where it holds a Cf character

# Typed columns the normaliser leaves null when the value cannot be right (transforms.values),
# per kind: (typed column, its raw text, how the text reads as a value).  expectations.run.prepare
# adds `_written_<typed>` (the text where it reads as a value, plausible or not), so that a
# suite tells text that is no number or date (bad_number, bad_date) from a value left out.
WRITTEN: dict[str, tuple[tuple[str, str, Callable[[pl.Expr], pl.Expr]], ...]] = {
    "roster": (
        ("income", "income_raw", amount_as_written),
        ("exit_year", "exit_year_raw", parse_int),
    ),
    "village": (),
    "dibao": (
        ("monthly_amount", "monthly_amount_raw", amount_as_written),
        ("start_date", "start_date_raw", parse_date),
        ("stop_date", "stop_date_raw", parse_date),
    ),
    "enrolment": (("birth_date", "birth_date_raw", parse_date),),
    "settlement": (
        ("settle_date", "settle_date_raw", parse_date),
        *(
            (k, f"{k}_raw", amount_as_written)
            for k in (
                "total_cost",
                "eligible_cost",
                "basic_paid",
                "serious_paid",
                "assistance_paid",
            )
        ),
    ),
}


def written(typed: str) -> str:
    """The `_written_<typed>` column of `WRITTEN`."""
    return f"_written_{typed}"


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
    # A row's result depends only on that row's `columns` (see ROW_WISE_EXPECTATIONS); False
    # is always safe: the check then runs on the whole frame.
    row_wise: bool = False


# Expectations whose pandas metric judges each row on its own values (nulls, set membership,
# bounds, the custom ID/pair rules).  Deliberately a list: a map expectation is not
# necessarily row-wise (ExpectColumnValuesToBeUnique compares rows, the household checks
# group them), so a new expectation type runs on the whole frame until it is added here.
ROW_WISE_EXPECTATIONS: tuple[type[Expectation], ...] = (
    gx.expectations.ExpectColumnValuesToNotBeNull,
    gx.expectations.ExpectColumnValuesToBeNull,
    gx.expectations.ExpectColumnValuesToBeInSet,
    gx.expectations.ExpectColumnValuesToNotBeInSet,
    gx.expectations.ExpectColumnValuesToBeBetween,
    custom.ExpectColumnValuesToBeValidResidentId,
    custom.ExpectColumnPairSexToMatchResidentId,
    custom.ExpectColumnPairVillageToBeInTownship,
    custom.ExpectColumnPairValuesToBeParsed,
)
# Row-wise expectations whose pandas metric does per-value Python/string work: on the full
# 1.26M-row enrolment extract (or the roster repeated to that size) each costs 0.75-1.9 s, the
# built-in ones and the parsed pair 0.05-0.35 s.  Only these are worth deduplicating: grouping
# 1.26M rows costs 0.05-0.5 s (high-cardinality text is the slow end).
COSTLY_PER_ROW: tuple[type[Expectation], ...] = (
    custom.ExpectColumnValuesToBeValidResidentId,
    custom.ExpectColumnPairSexToMatchResidentId,
    custom.ExpectColumnPairVillageToBeInTownship,
)
_COLUMN_KWARGS = ("column", "column_A", "column_B", "column_list")


def _row_condition_columns(condition: RowConditionType | Condition) -> tuple[str, ...] | None:
    """Columns a structured row_condition reads; None for a query string (unknown columns)."""
    if condition is None:
        return ()
    if isinstance(condition, ComparisonCondition | NullityCondition):
        return (condition.column.name,)
    if isinstance(condition, AndCondition | OrCondition):
        parts = [_row_condition_columns(c) for c in condition.conditions]
        if any(p is None for p in parts):
            return None
        return tuple(c for p in parts if p is not None for c in p)
    return None


def expectation_columns(expectation: Expectation) -> tuple[str, ...] | None:
    """The frame columns an expectation reads (its column domain kwargs and row_condition
    columns, first occurrence order), or None when a row_condition is a query string."""
    kwargs = expectation.configuration.kwargs
    found: list[str] = []
    for key in _COLUMN_KWARGS:
        value = kwargs.get(key)
        if isinstance(value, str):
            found.append(value)
        elif value:
            found.extend(value)
    condition = _row_condition_columns(getattr(expectation, "row_condition", None))
    if condition is None:
        return None
    return tuple(dict.fromkeys([*found, *condition]))


def is_row_wise(expectation: Expectation) -> bool:
    """Whether the expectation's result for a row depends only on that row.  `mostly` below 1
    would make success depend on the share of failing rows, which deduplication changes."""
    return (
        type(expectation) in ROW_WISE_EXPECTATIONS
        and getattr(expectation, "mostly", 1) == 1
        and expectation_columns(expectation) is not None
    )


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
        row_wise = is_row_wise(expectation)
        reads = expectation_columns(expectation)
        # Row-wise checks are deduplicated on exactly `columns`: a column missing from it
        # would merge rows the expectation tells apart, an extra one would only cost time.
        if row_wise and (reads is None or set(columns) != set(reads)):
            raise ValueError(
                f"check {name}: columns {columns} must be the columns its expectation reads "
                f"({reads})"
            )
        self.checks.append(
            Check(
                name,
                issue,
                field_key,
                expectation,
                columns=columns,
                household=household,
                row_wise=row_wise,
                **extra,
            )
        )

    def required(
        self,
        field_key: str,
        column: str | None = None,
        *,
        unparsed_possible: bool = False,
        condition: ComparisonCondition | NullityCondition | None = None,
        value: str | None = None,
    ) -> None:
        column = column or field_key
        self.add(
            f"{field_key}.required",
            "required_missing",
            field_key,
            gx.expectations.ExpectColumnValuesToNotBeNull(column=column, row_condition=condition),
            columns=(column,) + _condition_columns(condition),
            value=value or column,
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
            columns=(column,),
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

    def read(self, field_key: str, unreadable: str, implausible: str) -> None:
        """A typed value of `WRITTEN`: its text is no value at all (`unreadable`), or a value
        the normaliser left out because it cannot be right (`implausible`)."""
        raw = f"{field_key}_raw"
        self.parsed(field_key, unreadable, raw, written(field_key))
        self.add(
            f"{field_key}.plausible",
            implausible,
            field_key,
            custom.ExpectColumnPairValuesToBeParsed(
                column_A=written(field_key), column_B=field_key
            ),
            columns=(written(field_key), field_key),
            value=raw,
        )

    def resident_id(self) -> None:
        # id_norm, not id_raw: a cell of nothing but spaces, quotes or invisible characters
        # holds no ID either.
        self.required("id_number", "id_norm", value="id_raw")
        self.add(
            "id_number.invisible",
            "invisible_chars",
            "id_number",
            gx.expectations.ExpectColumnValuesToBeNull(column=INVISIBLE_ID),
            columns=(INVISIBLE_ID,),
            value="id_raw",
        )
        self.add(
            "id_number.valid",
            "invalid_id",
            "id_number",
            custom.ExpectColumnValuesToBeValidResidentId(column="id_norm"),
            columns=("id_norm",),
            value="id_raw",
        )
        self.add(
            "id_number.excel",
            "excel_mangled_id",
            "id_number",
            gx.expectations.ExpectColumnValuesToNotBeInSet(
                column="id_status", value_set=[ids.EXCEL_MANGLED]
            ),
            columns=("id_status",),
            value="id_raw",
        )


def _is_household(source: schema.Source, key: str) -> bool:
    try:
        return source.field(key).household
    except KeyError:
        return False


def _condition_columns(condition: ComparisonCondition | NullityCondition | None) -> tuple[str, ...]:
    return () if condition is None else (condition.column.name,)


def township_villages() -> tuple[str, ...]:
    """`code|name` for every village of the county worked for, as registered (珠玑村委会) and
    as clerks write it (珠玑村)."""
    return _township_villages(current_county())


@cache
def _township_villages(county: str) -> tuple[str, ...]:
    pairs = set()
    for village in load_divisions(county).villages:
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
    b.read("income", "bad_number", "implausible_income")
    b.parsed("family_size", "bad_number", "family_size_raw", "family_size")
    b.between("family_size", 1, FAMILY_SIZE_MAX, value="family_size_raw")
    b.read("exit_year", "bad_date", "implausible_date")
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
    # No raw text kept for the village sheet: its income is judged as read, and left out of
    # the indicators when implausible (transforms.indicators.village_wide).
    b.between("income", 0, value_limits().income_max, issue="implausible_income")
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
    b.read("start_date", "bad_date", "implausible_date")
    b.read("stop_date", "bad_date", "implausible_date")
    b.parsed("family_size", "bad_number", "family_size_raw", "family_size")
    b.read("monthly_amount", "bad_number", "implausible_amount")
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
    b.read("birth_date", "bad_date", "implausible_date")
    b.parsed("year", "bad_date", "year_raw", "year")
    return b.checks


def settlement_checks(engine: Engine) -> list[Check]:
    b = _Builder(schema.SETTLEMENT, engine)
    b.required("settlement_id")
    for key in ("eligible_cost", "basic_paid", "assistance_paid"):
        # Blank or no amount at all; an amount left out as implausible is implausible_amount
        # (b.read below), not also a missing one.
        b.required(key, written(key), unparsed_possible=True, value=f"{key}_raw")
    b.resident_id()
    b.read("settle_date", "bad_date", "implausible_date")
    for key in ("total_cost", "eligible_cost", "basic_paid", "serious_paid", "assistance_paid"):
        b.read(key, "bad_number", "implausible_amount")
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
class RowGroup:
    """Row-wise checks reading exactly `columns`, as their own GX suite."""

    columns: tuple[str, ...]
    suite: gx.ExpectationSuite
    checks: tuple[str, ...]
    costly: bool  # holds a COSTLY_PER_ROW expectation: worth deduplicating


@dataclass(frozen=True)
class Suite:
    kind: str
    engine: Engine
    suite: gx.ExpectationSuite  # every check (the SQL data source runs this one)
    checks: dict[str, Check]
    # The same checks split for run_pandas (None: no such check): the row-wise ones grouped
    # by columns; those that must see the whole frame; and every check outside the costly
    # row groups (what run_pandas validates on the whole frame unless told otherwise).
    row_groups: tuple[RowGroup, ...] = ()
    whole: gx.ExpectationSuite | None = None
    rest: gx.ExpectationSuite | None = None

    @property
    def columns(self) -> list[str]:
        """Frame columns the suite reads, in a stable order."""
        seen: dict[str, None] = {}
        for check in self.checks.values():
            seen.update(dict.fromkeys(check.columns))
        return list(seen)


def build(kind: str, engine: Engine = "pandas") -> Suite:
    """The GX suite of a source (built once per process and county: the village checks
    hold the county's villages)."""
    return _build(kind, engine, current_county())


@cache
def _build(kind: str, engine: Engine, county: str) -> Suite:
    if kind not in SUITES:
        raise ValueError(f"unknown source kind {kind!r}; expected one of {sorted(SUITES)}")
    gx_context()  # a suite needs an active context
    checks = SUITES[kind](engine)
    name = f"fupin_{kind}_{engine}" + ("" if county == HOME_COUNTY else f"_{county}")
    suite = _gx_suite(name, checks, copy=False)
    by_columns: dict[frozenset[str], list[Check]] = {}
    for check in checks:
        if check.row_wise:
            by_columns.setdefault(frozenset(check.columns), []).append(check)
    groups = tuple(
        RowGroup(
            group[0].columns,
            _gx_suite(f"{name}_rows{i}", group),
            tuple(c.name for c in group),
            any(isinstance(c.expectation, COSTLY_PER_ROW) for c in group),
        )
        for i, group in enumerate(by_columns.values())
    )
    costly = {n for g in groups if g.costly for n in g.checks}
    whole = [c for c in checks if not c.row_wise]
    rest = [c for c in checks if c.name not in costly]
    return Suite(
        kind,
        engine,
        suite,
        {c.name: c for c in checks},
        groups,
        _gx_suite(f"{name}_whole", whole) if whole else None,
        _gx_suite(f"{name}_rest", rest) if rest else None,
    )


def _gx_suite(name: str, checks: list[Check], *, copy: bool = True) -> gx.ExpectationSuite:
    """A GX suite of the checks' expectations.  An expectation object belongs to one suite
    (GX binds its save callback to the suite it is added to), so sub-suites get fresh copies
    built from its configuration (same kwargs and meta, no id)."""
    suite = gx.ExpectationSuite(name=name)
    for check in checks:
        suite.add_expectation(
            check.expectation.configuration.to_domain_obj() if copy else check.expectation
        )
    # GX silently drops an expectation equal to one already added (meta aside): each check
    # must stay its own expectation or its failures would be reported under another check.
    if len(suite.expectations) != len(checks):
        raise ValueError(f"suite {name}: two checks have the same expectation")
    return suite
